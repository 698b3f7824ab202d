from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from pneumogan.evaluate.metrics import (
    binary_metrics,
    bootstrap_ci,
    choose_threshold,
    expected_calibration_error,
    threshold_interval,
)


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.round(np.clip(0.35 * y + 0.65 * rng.random(400), 0, 1), 2)  # rounded: ties exercise the tie rules
    return y, p


def test_agrees_with_scikit_learn(scores):
    y, p = scores
    m = binary_metrics(y, p, 0.5)
    pred = (p >= 0.5).astype(int)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["recall"] == pytest.approx(recall_score(y, pred))
    assert m["specificity"] == pytest.approx(recall_score(1 - y, 1 - pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert np.sum(m["confusion_matrix"]) == len(y)


def test_ece_known_values():
    assert expected_calibration_error(np.array([0, 1, 0, 1]), np.array([0.0, 1.0, 0.0, 1.0])) == 0.0
    # All predictions 0.8 while half are positive: miscalibrated by 0.3.
    assert expected_calibration_error(np.array([0, 1, 0, 1]), np.full(4, 0.8)) == pytest.approx(0.3)


def test_threshold_selection_on_constructed_example():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9, 0.95])
    # Youden's J: 0.8 at threshold 0.7 (sensitivity 0.8, specificity 1.0), 0.75 at 0.4, less elsewhere.
    assert choose_threshold(y, p, "youden") == pytest.approx(0.7)
    # The highest threshold reaching 100 % sensitivity is the lowest positive score.
    assert choose_threshold(y, p, "sensitivity", 1.0 - 1e-9) == pytest.approx(0.4)
    assert choose_threshold(y, p, "sensitivity", 0.5) == pytest.approx(0.8)


def test_threshold_interval_is_narrow_when_val_pins_the_threshold_and_wide_when_it_does_not():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 250)
    separable = np.concatenate([rng.uniform(0, 0.3, 250), rng.uniform(0.7, 1.0, 250)])
    lo, hi = threshold_interval(y, separable)
    # Youden picks the lowest positive score; resampling moves it only among the lowest few positives.
    assert 0.7 <= lo <= choose_threshold(y, separable) <= hi < 0.73
    y_small = np.repeat([0, 1], 30)
    overlapping = np.concatenate([rng.normal(0.4, 0.15, 30), rng.normal(0.6, 0.15, 30)])
    lo2, hi2 = threshold_interval(y_small, overlapping)
    assert hi2 - lo2 > 0.1 and lo2 < choose_threshold(y_small, overlapping) < hi2
    assert threshold_interval(y_small, overlapping) == [lo2, hi2]  # seeded


def test_bootstrap_ci_brackets_the_point_estimate(scores):
    y, p = scores
    m = binary_metrics(y, p, 0.5)
    ci = bootstrap_ci(y, p, 0.5, n_boot=300, seed=1)
    for key in ("accuracy", "roc_auc", "f1", "specificity"):
        lo, hi = ci[key]
        assert lo <= m[key] <= hi and hi - lo < 0.2
    assert ci == bootstrap_ci(y, p, 0.5, n_boot=300, seed=1)  # seeded
