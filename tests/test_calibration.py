"""Temperature scaling, BCTS and EM prior re-estimation on simulated scores with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from pneumogan.evaluate.calibration import (
    Calibration,
    adjust_to_prior,
    calibrate_on_val,
    calibration_report,
    class_prior,
    estimate_prior_em,
    fit_calibration,
    prior_shift_report,
)


def _overconfident(n: int, factor: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the "model" reports softmax(factor · z): overconfident by `factor`."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, 2))
    labels = (rng.random(n) < softmax(z, axis=1)[:, 1]).astype(int)
    return softmax(factor * z, axis=1), labels


def test_temperature_recovers_the_overconfidence_factor():
    proba, labels = _overconfident(20_000, 2.5)
    fitted = fit_calibration(proba, labels)
    assert fitted.temperature == pytest.approx(2.5, rel=0.08)
    assert fit_calibration(*_overconfident(20_000, 1.0)).temperature == pytest.approx(1.0, rel=0.08)


def test_temperature_keeps_the_binary_ranking_and_improves_calibration():
    proba, labels = _overconfident(5_000, 3.0, seed=1)
    fitted = fit_calibration(proba, labels)
    after = fitted.apply(proba)
    assert np.array_equal(np.argsort(proba[:, 1], kind="stable"), np.argsort(after[:, 1], kind="stable"))
    report = calibration_report(labels, proba, {"temperature": fitted.temperature})
    assert report["after_temperature"]["ece"] < 0.5 * report["before"]["ece"]
    assert report["after_temperature"]["brier"] < report["before"]["brier"]


def test_bcts_learns_a_prior_bias_that_temperature_cannot():
    proba, labels = _overconfident(20_000, 1.0, seed=2)
    shifted = adjust_to_prior(proba, np.array([0.5, 0.5]), np.array([0.1, 0.9]))  # biased towards class 1
    bcts = fit_calibration(shifted, labels, with_bias=True)
    # the bias that undoes it: log(0.5/0.1) − log(0.5/0.9) = −log 9 on class 1 relative to class 0
    assert bcts.bias[1] - bcts.bias[0] == pytest.approx(-np.log(9), abs=0.15)
    assert bcts.temperature == pytest.approx(1.0, rel=0.08)


def _label_shift(n: int, target_share: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two Gaussian classes; exact posteriors under a 30:70 source prior for a target with another prior."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < target_share).astype(int)
    x = rng.normal(np.where(y == 1, 1.0, -1.0), 1.0)
    source = np.array([0.3, 0.7])
    lik = np.stack([np.exp(-((x + 1) ** 2) / 2), np.exp(-((x - 1) ** 2) / 2)], axis=1)
    post = lik * source
    return post / post.sum(1, keepdims=True), y, source


@pytest.mark.parametrize("target_share", [0.2, 0.7, 0.9])
def test_em_recovers_the_target_prior(target_share):
    proba, y, source = _label_shift(20_000, target_share, seed=3)
    shift = estimate_prior_em(proba, source)
    assert shift.converged
    assert shift.prior[1] == pytest.approx(np.mean(y), abs=0.02)


def test_adjusting_to_the_same_prior_changes_nothing_and_priors_are_frequencies():
    proba, _, source = _label_shift(100, 0.5, seed=4)
    assert np.allclose(adjust_to_prior(proba, source, source), proba)
    assert class_prior(np.array([0, 1, 1, 2]), 3).tolist() == [0.25, 0.5, 0.25]


def test_prior_shift_report_is_labelled_transductive_and_moves_towards_the_truth():
    val_proba, val_y, _ = _label_shift(4_000, 0.7, seed=5)
    test_proba, test_y, _ = _label_shift(4_000, 0.25, seed=6)
    fitted = calibrate_on_val(val_proba, val_y)
    report = prior_shift_report(test_y, test_proba, fitted)
    assert report["transductive"] is True
    assert report["estimated_positive_share"] == pytest.approx(0.25, abs=0.04)
    # the adjusted decisions fit the rarer positives better than the unadjusted ones
    assert report["adjusted_at_0.5"]["accuracy"] > report["calibrated_at_0.5"]["accuracy"]


def test_val_fit_threshold_reaches_the_target_sensitivity_on_val():
    proba, y, _ = _label_shift(3_000, 0.6, seed=7)
    fitted = calibrate_on_val(proba, y, target_sensitivity=0.95)
    sensitivity = np.mean(1 - proba[y == 1, 0] >= fitted["threshold_at_target_sensitivity"])
    assert 0.95 <= sensitivity < 0.96
    assert fitted["val_prior"] == pytest.approx([1 - np.mean(y), np.mean(y)])
    assert Calibration(**fitted["bcts"]).apply(proba).shape == proba.shape


def test_test_time_batchnorm_takes_the_statistics_of_the_evaluation_images_and_leaves_the_model():
    import torch
    from torch import nn

    from pneumogan.classify.test_time_bn import adapt_batchnorm, batchnorm_report

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model.append(nn.Linear(3, 2)).eval()
    images = np.random.default_rng(0).integers(150, 256, (10, 8, 8), dtype=np.uint8)  # brighter than training
    before = model[1].running_mean.clone()
    adapted = adapt_batchnorm(model, images, 0.5, 0.5, torch.device("cpu"), batch_size=4)  # batches of 4, 3, 3
    assert torch.equal(model[1].running_mean, before) and not adapted.training
    x = (torch.tensor(images, dtype=torch.float32)[:, None] / 255 - 0.5) / 0.5
    conv = model[0](x)
    batches = [conv[:4], conv[4:7], conv[7:]]
    expected = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)  # equal weight per batch
    assert torch.allclose(adapted[1].running_mean, expected, atol=1e-5)
    y = np.array([0, 1] * 5)
    pre = {"mean": 0.5, "std": 0.5}
    report = batchnorm_report(model, images, y, 0.5, pre, torch.device("cpu"))
    assert report["transductive"] and report["applicable"] and 0 <= report["accuracy"] <= 1
    plain = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    assert batchnorm_report(plain, images, y, 0.5, pre, torch.device("cpu"))["applicable"] is False
