"""Statistics that settle the experiment: mean ± CI over seeds, paired bootstrap differences against the
baseline on the same test images, and verdict sentences computed from those intervals (never hand-written)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pneumogan.evaluate.metrics import binary_metrics, roc_auc


def seed_summary(values: list[float], level: float = 0.95, bounds: tuple[float, float] = (0.0, 1.0)) -> dict[str, Any]:
    """Mean and Student-t CI of a metric over seeds, clipped to the metric's range (`bounds`: every metric
    here is a proportion); with one seed the CI is None (report the bootstrap CI)."""
    v = np.asarray(values, dtype=float)
    out: dict[str, Any] = {"mean": float(v.mean()), "values": v.tolist(), "n_seeds": len(v), "ci": None}
    if len(v) > 1:
        from scipy import stats

        half = float(stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
        out["ci"] = [max(bounds[0], out["mean"] - half), min(bounds[1], out["mean"] + half)]
    return out


@dataclass
class Scores:
    """One trained classifier's test scores: labels, positive-class probabilities, decision threshold."""

    y: np.ndarray
    p: np.ndarray
    threshold: float


def _metric(name: str, y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    if name == "roc_auc":
        return roc_auc(y, p)
    return float(binary_metrics(y, p, threshold)[name])


def paired_difference(
    baseline: list[Scores], condition: list[Scores], metric: str, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """condition − baseline for `metric`, averaged over seeds (paired by seed), with a 95 % bootstrap CI.

    Both models of a pair are scored on the same resampled test images, so the interval reflects the test-set
    sampling of the difference itself rather than two independent intervals.
    """
    if len(baseline) != len(condition) or not baseline:
        raise ValueError("paired_difference needs the same, non-zero number of seeds on both sides")
    y = baseline[0].y
    for s in (*baseline, *condition):
        if len(s.y) != len(y) or not np.array_equal(s.y, y):
            raise ValueError("paired_difference needs the same test images in the same order")

    def diff(idx: np.ndarray | None) -> float:
        sel = (lambda a: a) if idx is None else (lambda a: a[idx])
        return float(
            np.mean(
                [
                    _metric(metric, sel(y), sel(c.p), c.threshold) - _metric(metric, sel(y), sel(b.p), b.threshold)
                    for b, c in zip(baseline, condition, strict=True)
                ]
            )
        )

    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if len(set(y[idx].tolist())) < 2:
            continue
        draws.append(diff(idx))
    per_seed = [
        _metric(metric, y, c.p, c.threshold) - _metric(metric, y, b.p, b.threshold)
        for b, c in zip(baseline, condition, strict=True)
    ]
    return {
        "metric": metric,
        "difference": diff(None),
        "ci": [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))],
        "per_seed": per_seed,
        "n_boot": len(draws),
    }


METRIC_WORDS = {"roc_auc": ("AUC", 100, "points"), "accuracy": ("accuracy", 100, "points")}


def verdict(condition: str, diff: dict[str, Any]) -> str:
    """One sentence from a difference and its CI: improved / worse / no significant difference."""
    word, scale, unit = METRIC_WORDS.get(diff["metric"], (diff["metric"], 1, ""))
    d, (lo, hi) = diff["difference"] * scale, (diff["ci"][0] * scale, diff["ci"][1] * scale)
    span = f"{d:+.1f} {unit} [95 % CI {lo:+.1f}, {hi:+.1f}]".replace("  ", " ")
    if lo > 0:
        return f"{condition}: improved {word} over the baseline by {span}."
    if hi < 0:
        return f"{condition}: worse {word} than the baseline, {span}."
    return f"{condition}: no significant difference in {word} from the baseline ({span})."
