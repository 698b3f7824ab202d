"""Batch prediction over files and folders of PNG/JPEG/DICOM, any size; bad files are reported, not fatal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from pneumogan.bundled import resolve_checkpoint
from pneumogan.classify.checkpoint import load_checkpoint
from pneumogan.classify.inference import positive_score, predict_proba
from pneumogan.data.decoded import IMAGE_SUFFIXES, DecodedImage
from pneumogan.data.geometry import checkpoint_fit, fit_square
from pneumogan.data.images import read_image
from pneumogan.device import resolve_device, resolve_precision
from pneumogan.errors import ImageReadError, PneumoganError
from pneumogan.ood.check import OOD_FIT_PRECISION, FeatureTap, decoding_warnings, load_ood


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


def for_csv(row: dict[str, Any]) -> dict[str, Any]:
    """A prediction row with its `warnings` list joined into one cell ("; " between sentences)."""
    return {**row, "warnings": "; ".join(row["warnings"])} if isinstance(row.get("warnings"), list) else row


class Predictor:
    """A loaded checkpoint that turns any supported input into probabilities, a thresholded label and
    `warnings` (the out-of-distribution check: empty when the image looks like the training X-rays)."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", precision: str = "auto") -> None:
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.checkpoint = checkpoint = resolve_checkpoint(checkpoint)
        self.model, self.meta = load_checkpoint(checkpoint, self.device)
        self.pre = self.meta["preprocessing"]
        self.fit = checkpoint_fit(self.meta)  # how its training images were made square: applied to every input
        self.names: list[str] = self.meta["class_names"]
        stored = self.meta.get("threshold")
        self.threshold: float = 0.5 if stored is None else float(stored)  # None: training never finished
        self.ood = load_ood(checkpoint)  # None for checkpoints from before the check existed

    def to_array(self, src: Any, name: str = "") -> np.ndarray:
        return self.read(src, name)[0]

    def decode(self, src: Any, name: str = "") -> DecodedImage:
        return read_image(src, max_pixels=self.pre["max_pixels"], name=name)

    def read(self, src: Any, name: str = "") -> tuple[np.ndarray, list[str]]:
        """The model-size array and what decoding noticed (colour, a lateral DICOM view)."""
        image = self.decode(src, name)
        return self.model_input(image.array), decoding_warnings(image)

    def model_input(self, array: np.ndarray, size: int | None = None) -> np.ndarray:
        """A decoded image of any shape made square the checkpoint's way, at the model's size (or `size`)."""
        return fit_square(array, size or self.pre["size"], self.fit)

    @property
    def operating_points(self) -> dict[str, dict[str, Any]]:
        """The val-chosen operating points (`sens90`, `sens95`, `sens99`) this checkpoint records, if any."""
        return self.meta["operating_points"]

    def threshold_for(self, operating_point: str | None) -> float:
        """The decision threshold of a named operating point; None or `default`: the checkpoint's own."""
        if operating_point in (None, "", "default"):
            return self.threshold
        if operating_point not in self.operating_points:
            known = ", ".join(["default", *self.operating_points]) if self.operating_points else "default only"
            raise PneumoganError(f"unknown operating point '{operating_point}' for this model (it has: {known})")
        return float(self.operating_points[operating_point]["threshold"])

    def predict_arrays(
        self, arrays: np.ndarray, notes: list[list[str]] | None = None, operating_point: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows of probabilities, label, threshold and `warnings` (`notes`: decoding warnings per image), the label
        at the threshold of `operating_point` (None: the checkpoint's own)."""
        threshold = self.threshold_for(operating_point)
        if self.ood is None:
            proba, found = self.proba(arrays), [[] for _ in arrays]
        else:
            # The check's features in the precision it was fitted in: bf16 features sit far from an fp32 fit
            # (every test X-ray was flagged on an AMX CPU), so a bf16 prediction costs one more fp32 pass here.
            with FeatureTap(self.model) as tap:
                fitted = self.proba(arrays, OOD_FIT_PRECISION)
            proba = fitted if self.precision == OOD_FIT_PRECISION else self.proba(arrays)
            found = self.ood.warnings(tap.features(), arrays)
        notes = notes or [[] for _ in arrays]
        rows = []
        for pr, before, after in zip(proba, notes, found, strict=True):
            p_pos = float(positive_score(pr))
            label = "PNEUMONIA" if p_pos >= threshold else "NORMAL"
            if len(self.names) > 2 and label == "PNEUMONIA":
                label = self.names[1 + int(np.argmax(pr[1:]))]
            rows.append(
                {
                    **{f"p_{n}": float(v) for n, v in zip(self.names, pr, strict=True)},
                    "p_pneumonia": p_pos,
                    "label": label,
                    "threshold": threshold,
                    "operating_point": operating_point or "default",
                    "warnings": [*before, *after],
                }
            )
        return rows

    def proba(self, arrays: np.ndarray, precision: str | None = None) -> np.ndarray:
        return predict_proba(
            self.model, arrays, self.pre["mean"], self.pre["std"], self.device, precision=precision or self.precision
        )


@torch.no_grad()
def predict_files(
    checkpoint: str | Path,
    paths: list[str | Path],
    batch_size: int = 64,
    precision: str = "auto",
    operating_point: str | None = None,
) -> dict[str, Any]:
    predictor = Predictor(checkpoint, precision=precision)
    threshold = predictor.threshold_for(operating_point)  # an unknown name fails before any file is read
    files = expand_inputs(paths)
    if not files:
        raise PneumoganError("no input files found")
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, str]] = []
    good: list[tuple[Path, np.ndarray, list[str]]] = []
    for path in files:
        try:
            good.append((path, *predictor.read(path)))
        except ImageReadError as exc:
            bad.append({"file": str(path), "reason": exc.reason, "detail": exc.detail})
    for start in range(0, len(good), batch_size):
        chunk = good[start : start + batch_size]
        preds = predictor.predict_arrays(np.stack([a for _, a, _ in chunk]), [w for _, _, w in chunk], operating_point)
        rows += [{"file": str(p), **pred} for (p, _, _), pred in zip(chunk, preds, strict=True)]
    model = {
        "arch": predictor.meta["arch"],
        "threshold": threshold,
        "operating_point": operating_point or "default",
        "classes": predictor.names,
    }
    return {"predictions": rows, "bad": bad, "model": {**model, "ood_check": predictor.ood is not None}}
