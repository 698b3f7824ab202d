"""Statistical power of the seed-paired comparisons: the effect a design detects 80 % of the time, and the
seeds it would need for a given effect.

A comparison's interval is a t-interval over n per-seed paired differences, so its test is a two-sided one-sample
t-test with n − 1 degrees of freedom and standard error se = half-width / t(1 − α/2, n − 1). Its half-width (the
"smallest detectable effect" of earlier reports) is detected only about half the time; the effect detected with
power 1 − β solves P(|T| > t_crit) = 1 − β for T noncentral-t with noncentrality δ / se. Secondary comparisons are
Holm-corrected over m of them: the level used here is the first Holm step, α / m, the one a comparison must clear
when it is the strongest of them (so the stated effect is what a secondary needs to be sure of detection).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import optimize, stats

POWER = 0.8


@lru_cache(maxsize=64)
def _variance_draws(df: int, points: int = 20_000) -> np.ndarray:
    """sqrt(V / df) at evenly spaced quantiles of V ~ chi-square(df): a fixed quadrature over the variance estimate."""
    return np.sqrt(stats.chi2.ppf((np.arange(points) + 0.5) / points, df) / df)


def power(effect: float, se: float, df: int, alpha: float) -> float:
    """Probability that a two-sided t-test at level `alpha` (df degrees of freedom, standard error `se`) rejects
    when the true difference is `effect`: the normal averaged over the chi-square of the variance estimate (scipy's
    noncentral t is unstable at the large noncentralities that strict Holm levels need)."""
    spread = stats.t.ppf(1 - alpha / 2, df) * _variance_draws(df)
    shift = abs(effect) / se
    return float(np.mean(stats.norm.cdf(shift - spread) + stats.norm.cdf(-shift - spread)))


def detectable_effect(se: float, df: int, alpha: float, target: float = POWER) -> float:
    """The true difference detected with probability `target`."""
    return float(optimize.brentq(lambda x: power(x * se, se, df, alpha) - target, 0.0, 1000.0)) * se


def seeds_needed(
    effect: float, sd: float, alpha: float, target: float = POWER, most: int = 500, test_se: float = 0.0
) -> int | None:
    """The fewest seeds (≥ 3) whose paired t-test detects `effect` with probability `target`, given the per-seed
    SD of the differences and the test images' sampling SE of the mean difference (`test_se`, which more seeds do
    not shrink); None if more than `most` would be needed. Power grows with n: a binary search."""

    def enough(n: int) -> bool:
        return power(effect, math.hypot(sd / math.sqrt(n), test_se), n - 1, alpha) >= target

    if not enough(most):
        return None
    low, high = 3, most
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle + 1, high)
    return low


def standard_error(record: dict[str, Any]) -> float | None:
    """The standard error behind a comparison's 95 % t-interval (None without an interval over ≥ 2 seeds)."""
    n, ci = record.get("n_seeds") or 0, record.get("ci")
    if ci is None or n < 2:
        return None
    return (ci[1] - ci[0]) / 2 / stats.t.ppf(0.975, n - 1)


def comparison_power(record: dict[str, Any], alpha: float, target: float = POWER) -> dict[str, Any]:
    """What one comparison could detect: the effect found with probability `target` at its own level `alpha`,
    and how often a true effect of its interval's half-width would be found."""
    se = standard_error(record)
    if se is None or se == 0:
        return {"alpha": alpha, "power": target, "detectable_effect": None, "power_at_half_width": None}
    df = record["n_seeds"] - 1
    half = (record["ci"][1] - record["ci"][0]) / 2
    return {
        "alpha": alpha,
        "power": target,
        "detectable_effect": detectable_effect(se, df, alpha, target),
        "power_at_half_width": power(half, se, df, alpha),
    }


def levels(records: list[dict[str, Any]], alpha: float = 0.05) -> list[float]:
    """Each record's level: α for the primary comparison, α / m (Holm's first step) for the m secondaries of its
    family (against the real baseline; against the count-matched control)."""

    def family(r: dict[str, Any]) -> bool:
        return r.get("baseline", "real") == "real"

    m = {
        f: sum(1 for r in records if family(r) == f and not r["primary"] and r.get("p_value") is not None)
        for f in (True, False)
    }
    return [alpha if r["primary"] else alpha / max(m[family(r)], 1) for r in records]


def design_table(results: dict[str, Any], effect: float | None = None, target: float = POWER) -> list[dict[str, Any]]:
    """Per comparison of a results.json: its level, the effect detectable with power `target`, and (with `effect`,
    a difference as a fraction, 0.01 = 1 AUC point) the seeds that effect would need at the observed seed SD."""
    records = results["comparisons"]
    rows = []
    for record, alpha in zip(records, levels(records), strict=True):
        row = {k: record[k] for k in ("condition", "fraction", "metric", "primary", "n_seeds", "difference", "ci")}
        row["baseline"] = record.get("baseline", "real")
        row.update(comparison_power(record, alpha, target))
        se_seed = record.get("se_seed") or standard_error(record)  # older results: the seed interval only
        if effect is not None:
            sd = se_seed * math.sqrt(record["n_seeds"]) if se_seed else None
            test_se = record.get("se_test") or 0.0
            row["effect"] = effect
            row["seeds_needed"] = seeds_needed(effect, sd, alpha, target, test_se=test_se) if sd else None
        rows.append(row)
    return rows


def design_lines(rows: list[dict[str, Any]], effect_points: float | None = None) -> list[str]:
    """`design_table`'s rows in words, one line per comparison."""
    from pneumogan.pipeline.wording import condition_title

    lines = []
    for r in rows:
        role = "primary" if r["primary"] else "secondary"
        where = f"{condition_title(r['condition'])} vs {r['baseline']} at {r['fraction'] * 100:g} %, {r['metric']}"
        line = f"{where} ({role}, {r['n_seeds']} seeds, α {r['alpha']:.2g}): "
        found = r["detectable_effect"]
        line += f"{found * 100:.2f} points detected {r['power']:.0%} of the time" if found else "not estimable"
        if effect_points is not None:
            need = r.get("seeds_needed")
            line += f"; {effect_points:g} points needs {need or 'more than 500'} seeds"
        lines.append(line)
    return lines
