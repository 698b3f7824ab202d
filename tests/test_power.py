"""Power of the seed-paired comparisons: the stated 80 %-power effect is what a simulated t-test detects 80 % of
the time; the committed standard run's figures are as the experiment issue computed them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from pneumogan.pipeline.power import comparison_power, design_table, detectable_effect, power, seeds_needed

ROOT = Path(__file__).resolve().parents[1]


def _simulated_rejection_rate(effect: float, sd: float, n: int, alpha: float, runs: int = 40_000) -> float:
    rng = np.random.default_rng(0)
    diffs = rng.normal(effect, sd, size=(runs, n))
    t = diffs.mean(1) / (diffs.std(1, ddof=1) / math.sqrt(n))
    return float(np.mean(np.abs(t) > stats.t.ppf(1 - alpha / 2, n - 1)))


@pytest.mark.parametrize("n, alpha", [(3, 0.05), (5, 0.05), (5, 0.05 / 47), (10, 0.01)])
def test_the_80_percent_effect_is_detected_80_percent_of_the_time_in_simulation(n, alpha):
    sd = 0.02
    effect = detectable_effect(sd / math.sqrt(n), n - 1, alpha)
    assert _simulated_rejection_rate(effect, sd, n, alpha) == pytest.approx(0.8, abs=0.01)
    assert _simulated_rejection_rate(effect * 0.5, sd, n, alpha) < 0.6  # and a smaller effect is not


def test_seeds_needed_is_the_fewest_that_reach_the_power():
    sd, effect, alpha = 0.02, 0.01, 0.05
    n = seeds_needed(effect, sd, alpha)
    assert power(effect, sd / math.sqrt(n), n - 1, alpha) >= 0.8 > power(effect, sd / math.sqrt(n - 1), n - 2, alpha)
    assert seeds_needed(1e-6, sd, alpha) is None  # beyond any affordable design


def test_the_standard_runs_half_widths_are_detected_about_half_the_time_and_holm_needs_3_8_times_more():
    results = json.loads((ROOT / "benchmarks" / "results" / "standard_run" / "results.json").read_text())
    rows = {(r["condition"], r["fraction"], r["metric"]): r for r in design_table(results)}
    primary = rows[("enlarged", 0.05, "roc_auc")]
    assert primary["primary"] and primary["alpha"] == 0.05
    assert primary["power_at_half_width"] == pytest.approx(0.56, abs=0.01)
    key = ("enlarged", 0.1, "roc_auc")
    secondary = rows[key]  # the experiment issue: stated 0.89, actually about 3.4 points
    record = next(c for c in results["comparisons"] if (c["condition"], c["fraction"], c["metric"]) == key)
    half = (record["ci"][1] - record["ci"][0]) / 2
    assert half * 100 == pytest.approx(0.89, abs=0.005)
    assert secondary["alpha"] == pytest.approx(0.05 / 47)
    assert secondary["detectable_effect"] * 100 == pytest.approx(3.37, abs=0.02)
    assert secondary["detectable_effect"] / half == pytest.approx(3.8, abs=0.05)


def test_a_comparison_with_fewer_than_two_seeds_has_no_power_figure():
    assert comparison_power({"n_seeds": 1, "ci": None}, 0.05)["detectable_effect"] is None


def test_verdict_sentences_state_the_80_percent_effect():
    from pneumogan.config import RunConfig
    from pneumogan.pipeline.verdicts import comparison_records, sentence

    diff = {"n_seeds": 5, "difference": 0.001, "ci": [-0.006, 0.008], "ci_method": "t", "p_value": 0.7}
    results = {"fractions": {"10pct": {"fraction": 0.1, "conditions": {"enlarged": {"vs_real": {"roc_auc": diff}}}}}}
    record = comparison_records(results, RunConfig(conditions=["real", "enlarged"]))[0]
    assert record["power"]["detectable_effect"] > 0.007  # more than the half-width
    text = sentence(record)
    assert "would be detected 80% of the time" in text and "only 56%" in text


def test_the_statistics_page_quotes_the_standard_runs_power_as_computed():
    results = json.loads((ROOT / "benchmarks" / "results" / "standard_run" / "results.json").read_text())
    rows = design_table(results, effect=0.01)
    page = " ".join((ROOT / "docs" / "statistics.md").read_text().split())
    primary = next(r for r in rows if r["primary"])
    secondary = [r["seeds_needed"] for r in rows if not r["primary"] and r["metric"] == "roc_auc"]
    assert f"detects {primary['detectable_effect'] * 100:.2f} AUC points with 80 % power" in page
    assert f"needs {primary['seeds_needed']} seeds for the primary comparison" in page
    assert f"between {min(secondary)} and {max(secondary)} for its ROC-AUC secondaries" in page
