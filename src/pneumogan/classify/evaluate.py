"""Evaluate a checkpoint on a split of the data it was trained with, applying its stored threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from pneumogan.classify.checkpoint import load_checkpoint
from pneumogan.classify.inference import positive_score, predict_proba
from pneumogan.classify.test_time_bn import batchnorm_report
from pneumogan.config import Config
from pneumogan.data.labels import BINARY_CLASSES, targets
from pneumogan.data.loading import load_splits
from pneumogan.device import resolve_device, resolve_precision
from pneumogan.errors import PneumoganError
from pneumogan.evaluate import plots
from pneumogan.evaluate.calibration import calibrate_on_val, calibration_report, prior_shift_report
from pneumogan.evaluate.metrics import binary_metrics, bootstrap_ci, evaluate_scores
from pneumogan.layout import EVAL_METRICS, EVAL_SCORES, eval_dir
from pneumogan.runs import atomic_write_json


def evaluate_checkpoint(
    checkpoint: str | Path,
    split: str = "test",
    out_dir: str | Path | None = None,
    n_boot: int | None = None,
    data_source: str | None = None,
    precision: str = "auto",
    transductive: bool = False,
) -> dict[str, Any]:
    """Metrics with 95 % bootstrap CIs at the checkpoint's val-chosen threshold (and at 0.5), plus plots;
    calibration before/after the val-fitted temperature; specificity at the threshold that reached the target
    sensitivity on val. `transductive` adds the EM prior-shift section, which looks at the unlabelled split."""
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
    n_boot = n_boot or cfg.classify.bootstrap
    result = evaluate_scores(y, p, meta["threshold"], n_boot=n_boot, seed=cfg.seed)
    fitted = meta.get("calibration") or _fit_on_val(model, data, meta, cfg, device, resolved)
    result["calibration"] = calibration_report(y, proba, fitted)
    result["at_val_target_sensitivity"] = _at_threshold(
        y, p, fitted["threshold_at_target_sensitivity"], n_boot, cfg.seed, fitted["target_sensitivity"]
    )
    if meta.get("operating_points"):  # each val-chosen operating point, read out on this split
        result["operating_points"] = {
            name: _at_threshold(y, p, point["threshold"], n_boot, cfg.seed, point["target_sensitivity"])
            for name, point in meta["operating_points"].items()
        }
    if transductive:
        result["transductive_prior_shift"] = prior_shift_report(y, proba, fitted)
        result["transductive_batchnorm"] = batchnorm_report(model, ds.images, y, meta["threshold"], pre, device)
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


def add_operating_points(checkpoint: str | Path, data_source: str | None = None) -> dict[str, Any]:
    """Choose the operating points of a checkpoint trained before they were recorded, on its val split, and
    write them into its meta.json (weights, threshold and everything else untouched)."""
    from pneumogan.evaluate.metrics import operating_points
    from pneumogan.layout import META

    checkpoint = Path(checkpoint)
    model, meta = load_checkpoint(checkpoint, "cpu")
    cfg = Config.model_validate(meta["config"])
    if data_source:
        cfg.data.source = data_source
    data = load_splits(cfg)
    if data.fingerprint != meta.get("data_fingerprint"):
        raise PneumoganError(f"{checkpoint}: the data or split differs from training; its val split is not here")
    labels, proba = _val_proba(model, data, meta, torch.device("cpu"), "fp32")
    points = operating_points((labels > 0).astype(int), positive_score(proba))
    atomic_write_json(checkpoint / META, {**meta, "operating_points": points})
    return points


def _val_proba(model, data, meta: dict, device, precision: str) -> tuple[np.ndarray, np.ndarray]:
    """The labels and predicted probabilities of the val images the checkpoint's classes cover."""
    labels, keep = targets(data.val, meta["num_classes"])
    pre = meta["preprocessing"]
    proba = predict_proba(model, data.val.select(keep).images, pre["mean"], pre["std"], device, precision=precision)
    return labels[keep], proba


def _fit_on_val(model, data, meta: dict, cfg: Config, device, precision: str) -> dict[str, Any]:
    """The val-fitted calibration for a checkpoint trained before it was stored in `meta.json`."""
    labels, proba = _val_proba(model, data, meta, device, precision)
    return calibrate_on_val(proba, labels, cfg.classify.target_sensitivity)


def _at_threshold(
    y: np.ndarray, p: np.ndarray, threshold: float, n_boot: int, seed: int, target: float
) -> dict[str, Any]:
    """Test metrics at the threshold that reached `target` sensitivity on val, with bootstrap CIs."""
    point = binary_metrics(y, p, threshold)
    ci = bootstrap_ci(y, p, threshold, n_boot=n_boot, seed=seed)
    keys = ("accuracy", "recall", "specificity", "precision", "f1")
    return {
        "val_sensitivity_target": target,
        "threshold": float(threshold),
        **{k: point[k] for k in keys},
        "confusion_matrix": point["confusion_matrix"],
        "ci": {k: ci[k] for k in keys if k in ci},
    }


def summary_lines(res: dict[str, Any]) -> list[str]:
    """The evaluation as lines of text for a terminal."""
    split, ci = res["split"], res["ci"]
    lines = [f"{res['arch']} on {split} (n={res['n']}, threshold {res['threshold']:.4f} from val)"]
    if res.get("threshold_interval"):
        lo, hi = res["threshold_interval"]
        lines.append(f"  threshold 95 % bootstrap interval over val: {lo:.4f}–{hi:.4f}")
    for key in ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "pr_auc", "brier", "ece"):
        lo, hi = ci.get(key, [float("nan")] * 2)
        lines.append(f"  {key:12s} {res[key]:.4f}  [{lo:.4f}, {hi:.4f}]")
    lines.append(f"  confusion [[TN, FP], [FN, TP]] = {res['confusion_matrix']}")
    half = res["at_0.5"]
    lines.append(
        f"  at threshold 0.5: accuracy {half['accuracy']:.4f}, sensitivity {half['recall']:.4f}, "
        f"specificity {half['specificity']:.4f}"
    )
    cal = res.get("calibration")
    if cal:
        b, a = cal["before"], cal["after_temperature"]
        lines.append(
            f"  calibration (temperature {cal['temperature']:.3f} fitted on val): ECE {b['ece']:.4f} → {a['ece']:.4f}, "
            f"Brier {b['brier']:.4f} → {a['brier']:.4f}"
        )
    at = res.get("at_val_target_sensitivity")
    if at:
        lo, hi = at["ci"].get("specificity", [float("nan")] * 2)
        lines.append(
            f"  at val {at['val_sensitivity_target']:.0%} sensitivity (threshold {at['threshold']:.4f}): "
            f"sensitivity {at['recall']:.4f}, specificity {at['specificity']:.4f} [{lo:.4f}, {hi:.4f}]"
        )
    shift = res.get("transductive_prior_shift")
    if shift:
        adj = shift["adjusted_at_0.5"]
        lines.append(
            f"  TRANSDUCTIVE (looks at the unlabelled {split} images; not a headline figure): EM estimates "
            f"{shift['estimated_positive_share']:.1%} pneumonia (true {shift['true_positive_share']:.1%}); "
            f"adjusted at 0.5: accuracy {adj['accuracy']:.4f}, sensitivity {adj['recall']:.4f}, "
            f"specificity {adj['specificity']:.4f}"
        )
    bn = res.get("transductive_batchnorm")
    if bn and bn["applicable"]:
        lines.append(
            f"  TRANSDUCTIVE test-time BatchNorm (statistics from the unlabelled {split} images; not a headline "
            f"figure): accuracy {bn['accuracy']:.4f}, sensitivity {bn['recall']:.4f}, specificity "
            f"{bn['specificity']:.4f}, ROC-AUC {bn['roc_auc']:.4f}"
        )
    if "warning" in res:
        lines.append(f"warning: {res['warning']}")
    return lines
