"""PNG plots: training curves, ROC, PR, confusion matrix, reliability diagram (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def plot_training_curves(history: list[dict[str, Any]], path: str | Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    epochs = [h["epoch"] + 1 for h in history]
    for ax, (key, title) in zip(axes, (("loss", "loss"), ("acc", "accuracy"), ("auc", "val ROC-AUC")), strict=True):
        for split in ("train", "val"):
            values = [h.get(f"{split}_{key}") for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", ms=3, label=split)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_roc(y: np.ndarray, p: np.ndarray, path: str | Path, threshold: float | None = None, label: str = "") -> Path:
    from sklearn.metrics import roc_curve

    from pneumogan.evaluate.metrics import roc_auc

    plt = _plt()
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(fpr, tpr, label=f"{label} AUC {roc_auc(y, p):.3f}".strip())
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    if threshold is not None:
        pred = p >= threshold
        ax.plot(np.mean(pred[y == 0]), np.mean(pred[y == 1]), "o", color="red", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("sensitivity")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_pr(y: np.ndarray, p: np.ndarray, path: str | Path) -> Path:
    from sklearn.metrics import precision_recall_curve

    from pneumogan.evaluate.metrics import average_precision

    plt = _plt()
    precision, recall, _ = precision_recall_curve(y, p)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.step(recall, precision, where="post", label=f"AP {average_precision(y, p):.3f}")
    ax.axhline(np.mean(y), ls="--", color="grey", lw=1, label="prevalence")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion(matrix: list[list[int]], names: list[str], path: str | Path) -> Path:
    plt = _plt()
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > m.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return _save(fig, path)


def plot_reliability(y: np.ndarray, p: np.ndarray, path: str | Path, bins: int = 10) -> Path:
    plt = _plt()
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    centres, observed, counts = [], [], []
    for b in range(bins):
        mask = idx == b
        if mask.any():
            centres.append(p[mask].mean())
            observed.append(y[mask].mean())
            counts.append(mask.sum())
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.plot(centres, observed, "o-", label="model")
    ax.set_xlabel("predicted P(pneumonia)")
    ax.set_ylabel("observed fraction with pneumonia")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)
