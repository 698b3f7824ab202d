"""Coverage by simulation: intervals for a difference between two training recipes must include seed-to-seed
training variance, not test-image sampling alone.

The model: each simulated experiment draws a fresh test set (labels and a per-image difficulty shared by
every classifier, i.e. image variance) and, per recipe and seed, a training-run effect (seed variance) and
per-image noise. A classifier's score for image i is (2y − 1)·(μ_recipe + σ_seed·z) + u_i + ε. The true
difference is the expected ROC-AUC of recipe B minus recipe A over training runs and test sets, which has a
closed form here: AUC(z) = Φ(2(μ + σ_seed·z) / √(2(σ_u² + σ_ε²))), averaged over z ~ N(0, 1).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pneumogan.pipeline.compare import (
    Scores,
    classify_verdict,
    holm_adjust,
    paired_difference,
    seed_paired_difference,
    smallest_detectable_effect,
)

N_TEST, POSITIVE_SHARE = 624, 0.625
MU_A, MU_B, SIGMA_SEED, SIGMA_U, SIGMA_EPS = 1.0, 1.06, 0.06, 1.0, 0.5


def expected_auc(mu: float) -> float:
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    scale = np.sqrt(2 * (SIGMA_U**2 + SIGMA_EPS**2))
    return float(np.sum(weights * stats.norm.cdf(2 * (mu + SIGMA_SEED * nodes) / scale)) / np.sqrt(2 * np.pi))


TRUE_DIFFERENCE = expected_auc(MU_B) - expected_auc(MU_A)


def simulate(rng: np.random.Generator, seeds: int) -> tuple[list[Scores], list[Scores]]:
    y = (rng.random(N_TEST) < POSITIVE_SHARE).astype(int)
    difficulty = rng.normal(0, SIGMA_U, N_TEST)  # shared by every classifier scored on this test set

    def run(mu: float) -> Scores:
        signal = (2 * y - 1) * (mu + SIGMA_SEED * rng.normal())
        score = signal + difficulty + rng.normal(0, SIGMA_EPS, N_TEST)
        return Scores(y, 1 / (1 + np.exp(-score)), 0.5)

    return [run(MU_A) for _ in range(seeds)], [run(MU_B) for _ in range(seeds)]


def covers(ci: list[float], value: float) -> bool:
    return ci[0] <= value <= ci[1]


@pytest.mark.parametrize("seeds", [3, 5])
def test_seed_aware_interval_covers_the_true_difference(seeds):
    rng = np.random.default_rng(seeds)
    hits = [covers(seed_paired_difference(*simulate(rng, seeds), "roc_auc")["ci"], TRUE_DIFFERENCE) for _ in range(400)]
    assert np.mean(hits) >= 0.90, np.mean(hits)


def test_image_only_bootstrap_misses_the_seed_variance():
    rng = np.random.default_rng(7)
    hits = [
        covers(paired_difference(*simulate(rng, 3), "roc_auc", n_boot=100, seed=k)["ci"], TRUE_DIFFERENCE)
        for k in range(80)
    ]
    assert np.mean(hits) < 0.75, np.mean(hits)  # nominally 95 %


def _scores(values_a: list[float], values_b: list[float]) -> tuple[list[Scores], list[Scores]]:
    """Seeds whose accuracy at threshold 0.5 is exactly the given values (100 images, all positive)."""
    y = np.ones(100, int)

    def with_accuracy(acc: float) -> Scores:
        p = np.where(np.arange(100) < round(acc * 100), 0.9, 0.1)
        return Scores(y, p, 0.5)

    return [with_accuracy(a) for a in values_a], [with_accuracy(b) for b in values_b]


def test_verdicts_know_their_limits():
    one_seed = seed_paired_difference(*_scores([0.80], [0.90]), "accuracy")
    assert one_seed["ci"] is None and classify_verdict(one_seed) == "inconclusive"
    two_seeds = seed_paired_difference(*_scores([0.80, 0.81], [0.90, 0.92]), "accuracy")
    assert two_seeds["ci"] is not None and classify_verdict(two_seeds) == "inconclusive"
    better = seed_paired_difference(*_scores([0.80, 0.81, 0.79], [0.90, 0.92, 0.89]), "accuracy")
    assert better["difference"] == pytest.approx(0.1033, abs=1e-3) and classify_verdict(better) == "improved"
    worse = seed_paired_difference(*_scores([0.90, 0.92, 0.89], [0.80, 0.81, 0.79]), "accuracy")
    assert classify_verdict(worse) == "worse" and worse["p_value"] < 0.01
    unclear = seed_paired_difference(*_scores([0.80, 0.90, 0.85], [0.88, 0.82, 0.86]), "accuracy")
    assert classify_verdict(unclear) == "no_detectable_difference"
    lo, hi = unclear["ci"]
    assert smallest_detectable_effect(unclear) == pytest.approx((hi - lo) / 2)


def test_seed_pairs_must_share_test_images():
    a, b = _scores([0.8, 0.8, 0.8], [0.9, 0.9, 0.9])
    b[1] = Scores(np.zeros(100, int), b[1].p, 0.5)
    with pytest.raises(ValueError):
        seed_paired_difference(a, b, "accuracy")


def test_holm_adjustment():
    # Holm by hand: sorted 0.01, 0.02, 0.04, 0.30 → ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.08, 0.30 (monotone)
    assert holm_adjust([0.04, 0.01, 0.30, 0.02]) == pytest.approx([0.08, 0.04, 0.30, 0.06])
    assert holm_adjust([0.5, 0.6]) == pytest.approx([1.0, 1.0])
