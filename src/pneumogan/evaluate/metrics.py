"""Classification metrics with 95 % bootstrap confidence intervals, and validation-chosen thresholds.

Binary metrics treat PNEUMONIA (any non-NORMAL class) as positive, with score p = P(not NORMAL).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_curve

POINT_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "pr_auc", "brier", "ece")


def confusion(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """[[TN, FP], [FN, TP]] for binary labels."""
    y, pred = np.asarray(y).astype(int), np.asarray(pred).astype(int)
    return np.array(
        [
            [np.sum((y == 0) & (pred == 0)), np.sum((y == 0) & (pred == 1))],
            [np.sum((y == 1) & (pred == 0)), np.sum((y == 1) & (pred == 1))],
        ]
    )


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed positive rate − mean predicted probability| over equal-width bins, weighted by count."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = idx == b
        if mask.any():
            total += mask.mean() * abs(y[mask].mean() - p[mask].mean())
    return float(total)


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC by the rank-sum (Mann–Whitney) formula; ties count half. Same value as scikit-learn, and fast
    enough to bootstrap a thousand times."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall step curve, as scikit-learn's `average_precision_score`."""
    y = np.asarray(y).astype(int)
    if not y.any():
        return float("nan")
    order = np.argsort(-np.asarray(p, float), kind="mergesort")
    p_sorted, y_sorted = np.asarray(p, float)[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(p_sorted)), len(y) - 1]
    tps = np.cumsum(y_sorted)[last_of_tie]
    precision = tps / (last_of_tie + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=float)
    pred = (p >= threshold).astype(int)
    (tn, fp), (fn, tp) = confusion(y, pred)
    precision, recall = _safe_div(tp, tp + fp), _safe_div(tp, tp + fn)
    both = len(set(y.tolist())) == 2
    return {
        "accuracy": _safe_div(tp + tn, len(y)),
        "precision": precision,
        "recall": recall,
        "specificity": _safe_div(tn, tn + fp),
        "f1": _safe_div(2 * precision * recall, precision + recall),
        "roc_auc": roc_auc(y, p) if both else float("nan"),
        "pr_auc": average_precision(y, p) if both else float("nan"),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p),
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "threshold": float(threshold),
        "n": len(y),
    }


def bootstrap_ci(
    y: np.ndarray, p: np.ndarray, threshold: float, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, list[float]]:
    """Percentile bootstrap CI of every point metric, resampling images with replacement."""
    y, p = np.asarray(y).astype(int), np.asarray(p, float)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in POINT_METRICS}
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if len(set(y[idx].tolist())) < 2:
            continue  # AUC undefined on a one-class resample
        stats = binary_metrics(y[idx], p[idx], threshold)
        for m in POINT_METRICS:
            draws[m].append(stats[m])
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {m: [float(np.percentile(v, lo)), float(np.percentile(v, hi))] for m, v in draws.items() if v}


def choose_threshold(y: np.ndarray, p: np.ndarray, method: str = "youden", target_sensitivity: float = 0.95) -> float:
    """Threshold on validation scores: max Youden's J (sensitivity + specificity − 1), or the highest
    threshold whose sensitivity reaches `target_sensitivity`."""
    fpr, tpr, thresholds = roc_curve(np.asarray(y).astype(int), np.asarray(p, float), drop_intermediate=False)
    finite = np.isfinite(thresholds)
    fpr, tpr, thresholds = fpr[finite], tpr[finite], thresholds[finite]
    if method == "youden":
        return float(thresholds[int(np.argmax(tpr - fpr))])
    if method == "sensitivity":
        ok = np.flatnonzero(tpr >= target_sensitivity)
        return float(thresholds[ok[0]]) if len(ok) else float(thresholds[-1])
    raise ValueError(f"unknown threshold method {method!r}")


# Operating points: a threshold per target sensitivity, chosen on val. Which one to use is a clinical decision
# (screening wants sens99, a second reader sens90); the checkpoint's own threshold stays the default.
OPERATING_POINTS: dict[str, float] = {"sens90": 0.90, "sens95": 0.95, "sens99": 0.99}


def operating_points(y_val: np.ndarray, p_val: np.ndarray) -> dict[str, dict[str, Any]]:
    """For each target sensitivity, the highest val threshold that reaches it, with the val figures there."""
    y_val = np.asarray(y_val).astype(int)
    out = {}
    for name, target in OPERATING_POINTS.items():
        threshold = choose_threshold(y_val, p_val, "sensitivity", target)
        m = binary_metrics(y_val, p_val, threshold)
        out[name] = {
            "target_sensitivity": target,
            "threshold": threshold,
            "val_sensitivity": m["recall"],
            "val_specificity": m["specificity"],
            "val_positives": int(y_val.sum()),
            "val_negatives": int((1 - y_val).sum()),
        }
    return out


def threshold_interval(
    y: np.ndarray,
    p: np.ndarray,
    method: str = "youden",
    target_sensitivity: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
) -> list[float]:
    """95 % bootstrap interval of the threshold `choose_threshold` picks on these (val) scores.

    A near-separable val split leaves a wide band of equally good thresholds, so the chosen point can move a
    lot with a few images; this interval makes that visible next to the threshold itself.
    """
    y, p = np.asarray(y).astype(int), np.asarray(p, float)
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) == 2:
            picks.append(choose_threshold(y[idx], p[idx], method, target_sensitivity))
    return [float(np.percentile(picks, 2.5)), float(np.percentile(picks, 97.5))]


def evaluate_scores(
    y: np.ndarray, p: np.ndarray, threshold: float, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Metrics at `threshold` with CIs, plus the 0.5-threshold figures for comparison."""
    out = binary_metrics(y, p, threshold)
    out["ci"] = bootstrap_ci(y, p, threshold, n_boot=n_boot, seed=seed)
    at_half = binary_metrics(y, p, 0.5)
    out["at_0.5"] = {
        k: at_half[k] for k in ("accuracy", "precision", "recall", "specificity", "f1", "confusion_matrix")
    }
    return out
