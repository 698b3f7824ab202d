"""Evaluate a checkpoint on a split of the data it was trained with, applying its stored threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pneumogan.classify.checkpoint import load_checkpoint
from pneumogan.classify.inference import positive_score, predict_proba
from pneumogan.config import Config
from pneumogan.data.labels import BINARY_CLASSES, targets
from pneumogan.data.loading import load_splits
from pneumogan.device import resolve_device, resolve_precision
from pneumogan.errors import PneumoganError
from pneumogan.evaluate import plots
from pneumogan.evaluate.metrics import evaluate_scores
from pneumogan.layout import EVAL_METRICS, EVAL_SCORES, eval_dir
from pneumogan.runs import atomic_write_json


def evaluate_checkpoint(
    checkpoint: str | Path,
    split: str = "test",
    out_dir: str | Path | None = None,
    n_boot: int | None = None,
    data_source: str | None = None,
    precision: str = "auto",
) -> dict[str, Any]:
    """Metrics with 95 % bootstrap CIs at the checkpoint's val-chosen threshold (and at 0.5), plus plots."""
    checkpoint = Path(checkpoint)
    device = resolve_device("auto")
    model, meta = load_checkpoint(checkpoint, device)
    if meta.get("threshold") is None:
        raise PneumoganError(f"{checkpoint} has no decision threshold; was training interrupted before the end?")
    cfg = Config.model_validate(meta["config"])
    if data_source:
        cfg.data.source = data_source
    data = load_splits(cfg)
    ds = data.get(split)
    y_all, keep = targets(ds, meta["num_classes"])
    ds = ds.select(keep)
    pre = meta["preprocessing"]
    resolved = resolve_precision(precision, device)
    proba = predict_proba(model, ds.images, pre["mean"], pre["std"], device, precision=resolved)
    y = (y_all[keep] > 0).astype(int)
    p = positive_score(proba)
    result = evaluate_scores(y, p, meta["threshold"], n_boot=n_boot or cfg.classify.bootstrap, seed=cfg.seed)
    if meta["num_classes"] == 3:
        pred3 = proba.argmax(1)
        result["accuracy_3class"] = float(np.mean(pred3 == y_all[keep]))
    from sklearn.metrics import classification_report

    names = list(BINARY_CLASSES)
    result["classification_report"] = classification_report(
        y, (p >= meta["threshold"]).astype(int), target_names=names, output_dict=True, zero_division=0
    )
    result.update(split=split, checkpoint=str(checkpoint), arch=meta["arch"], data_fingerprint=data.fingerprint)
    result["compute_precision"] = resolved  # fp32 | bf16 (not the PPV metric "precision")
    result["threshold_interval"] = meta.get("threshold_interval")  # how firmly val pinned the threshold down
    if data.fingerprint != meta.get("data_fingerprint"):
        result["warning"] = "data or split differs from the one the checkpoint was trained with"
    out = Path(out_dir) if out_dir else eval_dir(checkpoint, split)
    plots.plot_roc(y, p, out / "roc.png", meta["threshold"], label=meta["arch"])
    plots.plot_pr(y, p, out / "pr.png")
    plots.plot_confusion(result["confusion_matrix"], names, out / "confusion.png")
    plots.plot_reliability(y, p, out / "reliability.png")
    np.savez(out / EVAL_SCORES, y=y, p=p, paths=ds.paths)
    atomic_write_json(out / EVAL_METRICS, result)
    return result
