"""Batch prediction over files and folders of PNG/JPEG/DICOM, any size; bad files are reported, not fatal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from pneumogan.classify.checkpoint import load_checkpoint
from pneumogan.classify.inference import positive_score, predict_proba
from pneumogan.data.decoded import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES
from pneumogan.data.images import load_for_model
from pneumogan.device import resolve_device, resolve_precision
from pneumogan.errors import ImageReadError, PneumoganError


def expand_inputs(paths: list[str | Path]) -> list[Path]:
    """Files as given; folders expanded recursively to the image files inside them."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)
    return files


class Predictor:
    """A loaded checkpoint that turns any supported input into probabilities and a thresholded label."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", precision: str = "auto") -> None:
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.model, self.meta = load_checkpoint(checkpoint, self.device)
        self.pre = self.meta["preprocessing"]
        self.names: list[str] = self.meta["class_names"]
        stored = self.meta.get("threshold")
        self.threshold: float = 0.5 if stored is None else float(stored)  # None: training never finished

    def to_array(self, src: Any, name: str = "") -> np.ndarray:
        return load_for_model(src, self.pre["size"], self.pre.get("max_pixels", DEFAULT_MAX_PIXELS), name=name)

    def predict_arrays(self, arrays: np.ndarray) -> list[dict[str, Any]]:
        proba = predict_proba(
            self.model, arrays, self.pre["mean"], self.pre["std"], self.device, precision=self.precision
        )
        rows = []
        for pr in proba:
            p_pos = float(positive_score(pr))
            label = "PNEUMONIA" if p_pos >= self.threshold else "NORMAL"
            if len(self.names) > 2 and label == "PNEUMONIA":
                label = self.names[1 + int(np.argmax(pr[1:]))]
            rows.append(
                {
                    **{f"p_{n}": float(v) for n, v in zip(self.names, pr, strict=True)},
                    "p_pneumonia": p_pos,
                    "label": label,
                    "threshold": self.threshold,
                }
            )
        return rows


@torch.no_grad()
def predict_files(
    checkpoint: str | Path, paths: list[str | Path], batch_size: int = 64, precision: str = "auto"
) -> dict[str, Any]:
    predictor = Predictor(checkpoint, precision=precision)
    files = expand_inputs(paths)
    if not files:
        raise PneumoganError("no input files found")
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, str]] = []
    good: list[tuple[Path, np.ndarray]] = []
    for path in files:
        try:
            good.append((path, predictor.to_array(path)))
        except ImageReadError as exc:
            bad.append({"file": str(path), "reason": exc.reason, "detail": exc.detail})
    for start in range(0, len(good), batch_size):
        chunk = good[start : start + batch_size]
        preds = predictor.predict_arrays(np.stack([a for _, a in chunk]))
        rows += [{"file": str(p), **pred} for (p, _), pred in zip(chunk, preds, strict=True)]
    return {
        "predictions": rows,
        "bad": bad,
        "model": {"arch": predictor.meta["arch"], "threshold": predictor.threshold, "classes": predictor.names},
    }
