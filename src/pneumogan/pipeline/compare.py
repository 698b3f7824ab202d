"""Statistics that settle the experiment: mean ± CI over seeds, differences from the baseline with intervals
that hold training variance given this test set (every seed is scored on the same test images), the image-only
paired bootstrap (test sampling only, shown for one-seed runs), verdict categories, and the Holm correction.
`verdicts.py` turns them into words."""

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
        "se": float(np.std(draws, ddof=1)) if len(draws) > 1 else None,  # test sampling's SE of the mean difference
        "per_seed": per_seed,
        "n_boot": len(draws),
    }


MIN_SEEDS = 3  # fewer seeds cannot estimate training variance: every verdict is "inconclusive"
SEED_CI_METHOD = "t-interval over per-seed paired differences (training variance given this test set)"
VERDICTS = ("improved", "worse", "no_detectable_difference", "inconclusive")


def seed_paired_difference(
    baseline: list[Scores], condition: list[Scores], metric: str, level: float = 0.95
) -> dict[str, Any]:
    """condition − baseline for `metric` with an interval that includes seed-to-seed training variance.

    Seeds are paired by index and each pair is scored on the same test images, so a per-seed difference
    carries both the training run's variance and the test images' sampling; the Student-t interval over the
    per-seed differences covers both (`paired_difference` above resamples test images only, which is too
    narrow when seeds differ). See `interval_over_seeds`.
    """
    if len(baseline) != len(condition) or not baseline:
        raise ValueError("seed_paired_difference needs the same, non-zero number of seeds on both sides")
    per_seed = []
    for b, c in zip(baseline, condition, strict=True):
        if len(b.y) != len(c.y) or not np.array_equal(b.y, c.y):
            raise ValueError("a seed pair must be scored on the same test images in the same order")
        per_seed.append(_metric(metric, c.y, c.p, c.threshold) - _metric(metric, b.y, b.p, b.threshold))
    return interval_over_seeds(per_seed, metric, level)


def interval_over_seeds(per_seed: list[float], metric: str, level: float = 0.95) -> dict[str, Any]:
    """Mean of per-seed paired differences with its Student-t interval (None under two seeds) and the
    two-sided one-sample t-test p-value against zero (for the Holm correction)."""
    d = np.asarray(per_seed, dtype=float)
    out: dict[str, Any] = {
        "metric": metric,
        "difference": float(d.mean()),
        "per_seed": d.tolist(),
        "n_seeds": len(d),
        "ci": None,
        "p_value": None,
        "ci_method": SEED_CI_METHOD,
        "level": level,
    }
    if len(d) >= 2:
        from scipy import stats

        sem = float(d.std(ddof=1) / np.sqrt(len(d)))
        half = float(stats.t.ppf((1 + level) / 2, len(d) - 1) * sem)
        out["ci"] = [out["difference"] - half, out["difference"] + half]
        t_stat = d.mean() / sem if sem > 0 else (0.0 if d.mean() == 0 else np.inf)
        out["p_value"] = float(2 * stats.t.sf(abs(t_stat), len(d) - 1))
    return out


COMBINED_CI_METHOD = (
    "t-interval on the seeds' standard error combined with the test images' sampling (paired bootstrap) standard "
    "error of the mean difference, n − 1 degrees of freedom"
)


def test_sampling_se(test_sampling: dict[str, Any] | None) -> float | None:
    """The paired bootstrap's standard error of the mean difference; for results written before it was stored,
    read off its 95 % percentile interval (width / 2 × 1.96)."""
    if not test_sampling:
        return None
    if test_sampling.get("se") is not None:
        return float(test_sampling["se"])
    ci = test_sampling.get("ci")
    return (ci[1] - ci[0]) / (2 * 1.959964) if ci else None


def combined_difference(seed: dict[str, Any], test_se: float | None, level: float = 0.95) -> dict[str, Any]:
    """The seed-aware difference widened by the test images' sampling variance.

    Every seed is scored on the same test images, so the spread of per-seed differences (`seed`, from
    `interval_over_seeds`) holds training variance given this test set; a new test set would move all seeds
    together by the test-sampling error of the mean difference, which the seeds never see. The two add:
    se² = s²/n + se_test². Degrees of freedom stay n − 1 (conservative). Without a seed interval, the fields are None.
    """
    out: dict[str, Any] = {"ci": None, "p_value": None, "se": None, "se_seed": None, "se_test": test_se}
    n, ci = seed.get("n_seeds", 0), seed.get("ci")
    if ci is None or n < 2:
        return out
    from scipy import stats

    quantile = stats.t.ppf((1 + seed.get("level", 0.95)) / 2, n - 1)
    se_seed = (ci[1] - ci[0]) / 2 / quantile
    se = float(np.hypot(se_seed, test_se or 0.0))
    diff = seed["difference"]
    out.update(se=se, se_seed=float(se_seed), ci_method=COMBINED_CI_METHOD)
    out["ci"] = interval_at(diff, se, n - 1, level)
    t_stat = diff / se if se > 0 else (0.0 if diff == 0 else np.inf)
    out["p_value"] = float(2 * stats.t.sf(abs(t_stat), n - 1))
    return out


def interval_at(difference: float, se: float, df: int, level: float) -> list[float]:
    """The Student-t interval of a difference at `level` (e.g. a Holm-matched level above 95 %)."""
    from scipy import stats

    half = float(stats.t.ppf((1 + level) / 2, df) * se)
    return [difference - half, difference + half]


def classify_verdict(diff: dict[str, Any], min_seeds: int = MIN_SEEDS) -> str:
    """One of `improved`, `worse`, `no_detectable_difference`, `inconclusive` from a seed-aware difference."""
    if diff.get("n_seeds", 0) < min_seeds or diff.get("ci") is None:
        return "inconclusive"
    lo, hi = diff["ci"]
    if lo > 0:
        return "improved"
    if hi < 0:
        return "worse"
    return "no_detectable_difference"


def smallest_detectable_effect(diff: dict[str, Any]) -> float | None:
    """The smallest true difference this comparison could have told from zero: the interval's half-width."""
    if diff.get("ci") is None:
        return None
    lo, hi = diff["ci"]
    return (hi - lo) / 2


def holm_adjust(p_values: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down), in the input order; monotone and capped at 1."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, (len(p) - rank) * p[idx])
        adjusted[idx] = min(1.0, running)
    return adjusted.tolist()
