"""Calibration fitted on validation, and the transductive prior-shift adjustment (reported apart).

- Temperature scaling (Guo et al. 2017): one scalar T > 0 divides the log-probabilities; fitted by minimising
  the validation negative log-likelihood. For a binary model it keeps the ranking, so AUC is unchanged.
- Bias-corrected temperature scaling (BCTS: T plus one bias per class), the calibration that Alexandari et
  al. (2020) found EM label-shift adaptation needs: class weighting and balanced sampling leave the model's
  posteriors biased towards a prior that is neither the training split's nor the validation split's.
- EM prior re-estimation (Saerens, Latinne & Decaestecker 2002): given posteriors calibrated for a source
  prior, iterate "adjust every posterior to the current prior estimate, re-estimate the prior as their mean"
  on *unlabelled* target images. It looks at the test images, so its numbers are transductive and never part
  of a headline.

All functions take probability matrices (N, C); log-probabilities stand in for logits (softmax of log p / T
equals softmax of z / T, as the log-sum-exp constant cancels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax

from pneumogan.evaluate.metrics import binary_metrics, choose_threshold

EPS = 1e-12


@dataclass(frozen=True)
class Calibration:
    """log p_cal = log_softmax(log p / temperature + bias)."""

    temperature: float = 1.0
    bias: list[float] = field(default_factory=list)  # empty: plain temperature scaling

    def apply(self, proba: np.ndarray) -> np.ndarray:
        z = np.log(np.clip(np.asarray(proba, np.float64), EPS, 1.0)) / self.temperature
        if self.bias:
            z = z + np.asarray(self.bias)
        return np.exp(log_softmax(z, axis=1))

    def as_dict(self) -> dict[str, float | list[float]]:
        return asdict(self)


def _nll(params: np.ndarray, log_p: np.ndarray, labels: np.ndarray, with_bias: bool) -> float:
    z = log_p / np.exp(params[0])
    if with_bias:
        z = z + np.concatenate([[0.0], params[1:]])  # class 0's bias is fixed: only differences matter
    return float(-np.mean(log_softmax(z, axis=1)[np.arange(len(labels)), labels]))


def fit_calibration(proba: np.ndarray, labels: np.ndarray, with_bias: bool = False) -> Calibration:
    """Temperature (and with `with_bias` per-class biases) minimising the NLL of `labels` (class indices)."""
    proba, labels = np.asarray(proba, np.float64), np.asarray(labels).astype(int)
    if proba.ndim != 2 or len(proba) != len(labels) or len(labels) == 0:
        raise ValueError(f"need (N, C) probabilities and N labels, got {proba.shape} and {labels.shape}")
    log_p = np.log(np.clip(proba, EPS, 1.0))
    n_classes = proba.shape[1]
    start = np.zeros(n_classes if with_bias else 1)
    fit = minimize(_nll, start, args=(log_p, labels, with_bias), method="L-BFGS-B")
    temperature = float(np.exp(fit.x[0]))
    bias = [0.0, *map(float, fit.x[1:])] if with_bias else []
    return Calibration(temperature=temperature, bias=bias)


def class_prior(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Empirical class frequencies of integer labels."""
    counts = np.bincount(np.asarray(labels).astype(int), minlength=n_classes).astype(float)
    return counts / counts.sum()


def adjust_to_prior(proba: np.ndarray, source_prior: np.ndarray, target_prior: np.ndarray) -> np.ndarray:
    """Bayes' rule: posteriors for `source_prior` re-weighted to `target_prior` (same likelihoods)."""
    w = np.asarray(proba, np.float64) * (np.asarray(target_prior) / np.clip(source_prior, EPS, None))
    return w / w.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class PriorShift:
    prior: list[float]  # the estimated target prior
    iterations: int
    converged: bool


def estimate_prior_em(
    proba: np.ndarray, source_prior: np.ndarray, tol: float = 1e-6, max_iter: int = 1000
) -> PriorShift:
    """Saerens et al. (2002): the maximum-likelihood class prior of unlabelled images whose calibrated
    posteriors (for `source_prior`) are `proba`."""
    source_prior = np.asarray(source_prior, np.float64)
    prior = source_prior.copy()
    for it in range(1, max_iter + 1):
        new = adjust_to_prior(proba, source_prior, prior).mean(axis=0)
        if np.max(np.abs(new - prior)) < tol:
            return PriorShift(prior=new.tolist(), iterations=it, converged=True)
        prior = new
    return PriorShift(prior=prior.tolist(), iterations=max_iter, converged=False)


def calibrate_on_val(
    proba_val: np.ndarray, labels_val: np.ndarray, target_sensitivity: float = 0.95
) -> dict[str, object]:
    """Everything fitted on validation that evaluation later applies to test: the temperature, the BCTS
    calibration and val's class prior (for the prior-shift adjustment), and the threshold that reaches
    `target_sensitivity` on val (so test can report specificity at a fixed val sensitivity)."""
    labels_val = np.asarray(labels_val).astype(int)
    y = (labels_val > 0).astype(int)
    return {
        "temperature": fit_calibration(proba_val, labels_val).temperature,
        "bcts": fit_calibration(proba_val, labels_val, with_bias=True).as_dict(),
        "val_prior": class_prior(labels_val, np.asarray(proba_val).shape[1]).tolist(),
        "target_sensitivity": target_sensitivity,
        "threshold_at_target_sensitivity": choose_threshold(
            y,
            1.0 - np.asarray(proba_val)[:, 0],
            "sensitivity",
            target_sensitivity,  # P(not NORMAL)
        ),
    }


def _positive(proba: np.ndarray) -> np.ndarray:
    return 1.0 - np.asarray(proba)[:, 0]  # P(not NORMAL), as classify.inference.positive_score


def calibration_report(y: np.ndarray, proba: np.ndarray, fitted: dict) -> dict[str, object]:
    """ECE and Brier of the binary score before and after the val-fitted temperature."""
    before = binary_metrics(y, _positive(proba))
    after = binary_metrics(y, _positive(Calibration(fitted["temperature"]).apply(proba)))
    return {
        "temperature": fitted["temperature"],
        "fitted_on": "val",
        "before": {"ece": before["ece"], "brier": before["brier"]},
        "after_temperature": {"ece": after["ece"], "brier": after["brier"]},
    }


def prior_shift_report(y: np.ndarray, proba: np.ndarray, fitted: dict) -> dict[str, object]:
    """TRANSDUCTIVE: BCTS-calibrated posteriors, the class prior EM estimates from the unlabelled evaluation
    images, and the decisions at 0.5 before and after adjusting to it (the labels `y` only score them)."""
    calibrated = Calibration(**fitted["bcts"]).apply(proba)
    source = np.asarray(fitted["val_prior"])
    shift = estimate_prior_em(calibrated, source)
    adjusted = adjust_to_prior(calibrated, source, np.asarray(shift.prior))
    keys = ("accuracy", "recall", "specificity", "precision", "f1", "roc_auc", "brier", "ece")
    unadjusted = binary_metrics(y, _positive(calibrated), 0.5)
    after = binary_metrics(y, _positive(adjusted), 0.5)
    return {
        "transductive": True,
        "method": "EM prior re-estimation (Saerens et al. 2002) on BCTS-calibrated posteriors; decisions at 0.5",
        "source_prior_val": source.tolist(),
        "estimated_prior": shift.prior,
        "estimated_positive_share": float(1.0 - shift.prior[0]),
        "true_positive_share": float(np.mean(y)),
        "em_iterations": shift.iterations,
        "em_converged": shift.converged,
        "calibrated_at_0.5": {k: unadjusted[k] for k in keys},
        "adjusted_at_0.5": {k: after[k] for k in keys},
    }
