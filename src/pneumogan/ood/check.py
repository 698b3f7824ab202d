"""Is this a frontal chest X-ray at all? An out-of-distribution check fitted on the training images.

A classifier gives a confident label to anything, a cat included. Three independent signals guard it:

- **features**: a linear outlier head on the classifier's penultimate features (outlier exposure, Hendrycks
  et al. 2019): logistic regression that tells the training X-rays, and mildly varied copies of them, from
  synthetic non-X-ray images (`outliers.py`); its logit is the score. Checkpoints fitted before it carry the
  earlier signal, the Mahalanobis distance to the training images' features (one Gaussian with a Ledoit-Wolf
  shrunk covariance; Lee et al. 2018), and still load. The Gaussian put a blurry grayscale face as far from
  the training X-rays as a slightly rotated, re-exposed X-ray (`benchmarks/bench_ood_margins.py`);
- **statistics**: the Mahalanobis distance over a dozen image statistics (intensity percentiles, dark and
  bright fractions, edge strength, left-right symmetry, histogram entropy), which catch noise, text and blank
  images whatever the network makes of them;
- **decoding**: a colour image (channels that differ), a DICOM whose `ViewPosition` is lateral.

Both scores get thresholds on the *validation* images (never test) — on three varied versions of each
(`acquisition_variation`), so that a modest shift in acquisition does not raise alarms — each at the
1 − (1 − quantile)/2 quantile, so that the two together flag about 1 − quantile of those images. Each signal
over its threshold adds one sentence to `warnings`; an empty list means nothing looked unusual.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pneumogan.data.decoded import DecodedImage
from pneumogan.errors import PneumoganError
from pneumogan.evaluate.gan_metrics import penultimate_layer
from pneumogan.layout import OOD_META, OOD_WEIGHTS
from pneumogan.ood.outliers import synthetic_outliers, vary_all
from pneumogan.runs import atomic_save, atomic_write_json

DEFAULT_QUANTILE = 0.995
FIT_LIMIT = 6000  # training images the Gaussians are fitted on (a seeded sample above this)
N_OUTLIERS = 1000  # synthetic non-X-ray images the outlier head learns from
VARIED_COPIES = 3  # varied versions of each val image the thresholds are set on
OUTLIER_HEAD_C = 0.1  # inverse L2 strength of the logistic regression; not tuned (1.0 scored alike in a scratch check)
METHODS = ("outlier_exposure", "mahalanobis")
OOD_FIT_PRECISION = "fp32"  # features are fitted and checked in fp32 whatever precision predicts (see Predictor)
#: Mean spread between the colour channels, in [0, 1], above which an input counts as a colour image. A
#: radiograph saved as RGB differs between channels only by JPEG chroma noise (< 0.01).
COLOUR_LIMIT = 0.04
LATERAL_VIEWS = frozenset({"LL", "RL", "LAT", "LATERAL", "LLD", "RLD"})
STATISTICS = (
    "mean",
    "std",
    "p02",
    "p50",
    "p98",
    "dark_fraction",
    "bright_fraction",
    "edge_strength",
    "edge_to_contrast",
    "mirror_correlation",
    "centre_minus_border",
    "top_minus_bottom",
    "entropy",
)


def image_statistics(images: np.ndarray) -> np.ndarray:
    """(N, S, S) uint8 → (N, len(STATISTICS)) float64: cheap descriptors of what a radiograph looks like."""
    x = np.asarray(images, dtype=np.float64).reshape(len(images), images.shape[-2], images.shape[-1]) / 255.0
    flat = x.reshape(len(x), -1)
    p02, p50, p98 = np.percentile(flat, [2, 50, 98], axis=1)
    std = flat.std(axis=1)
    edges = 0.5 * (np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2)))
    centred = flat - flat.mean(axis=1, keepdims=True)
    mirrored = x[:, :, ::-1].reshape(len(x), -1) - flat.mean(axis=1, keepdims=True)
    mirror = (centred * mirrored).sum(axis=1) / np.maximum((centred**2).sum(axis=1), 1e-12)
    s = x.shape[-1]
    q = s // 4
    centre = x[:, q : s - q, q : s - q].mean(axis=(1, 2))
    border = (x.sum(axis=(1, 2)) - x[:, q : s - q, q : s - q].sum(axis=(1, 2))) / max(s * s - (s - 2 * q) ** 2, 1)
    half = x.shape[1] // 2
    hist = np.stack([np.histogram(row, bins=32, range=(0.0, 1.0))[0] for row in flat]) / flat.shape[1]
    entropy = -(hist * np.log(np.where(hist > 0, hist, 1.0))).sum(axis=1) / np.log(32)
    return np.stack(
        [
            flat.mean(axis=1),
            std,
            p02,
            p50,
            p98,
            (flat < 10 / 255).mean(axis=1),
            (flat > 245 / 255).mean(axis=1),
            edges,
            edges / np.maximum(std, 1e-3),
            mirror,
            centre - border,
            x[:, :half].mean(axis=(1, 2)) - x[:, half:].mean(axis=(1, 2)),
            entropy,
        ],
        axis=1,
    )


class FeatureTap:
    """Collects the input of each member's last Linear layer (the penultimate features) while the model runs.

    Used as a context manager around ordinary inference, so the OOD check costs no extra forward pass; for an
    ensemble the members' features are concatenated.
    """

    def __init__(self, model: nn.Module) -> None:
        members = list(model.members) if isinstance(getattr(model, "members", None), nn.ModuleList) else [model]
        try:
            self.layers = [penultimate_layer(member) for member in members]
        except ValueError as exc:
            raise PneumoganError(str(exc)) from None
        self.batches: list[list[torch.Tensor]] = [[] for _ in self.layers]
        self.handles: list[Any] = []

    def __enter__(self) -> FeatureTap:
        for k, layer in enumerate(self.layers):
            self.handles.append(layer.register_forward_hook(self._keeper(k)))
        return self

    def _keeper(self, k: int):
        def keep(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
            self.batches[k].append(inputs[0].detach().float().flatten(1).cpu())

        return keep

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def features(self) -> np.ndarray:
        """(N, D) float64 of everything seen so far, then forget it."""
        parts = [torch.cat(b).numpy().astype(np.float64) for b in self.batches]
        self.batches = [[] for _ in self.layers]
        return np.concatenate(parts, axis=1)


@dataclass
class Gaussian:
    """A mean and a (shrunk) precision matrix: `distance(x)` is the Mahalanobis distance per row / √D."""

    mean: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Gaussian:
        from sklearn.covariance import LedoitWolf

        lw = LedoitWolf().fit(x)
        return cls(lw.location_.astype(np.float64), lw.precision_.astype(np.float64))

    def distance(self, x: np.ndarray) -> np.ndarray:
        d = np.asarray(x, dtype=np.float64) - self.mean
        squared = np.einsum("nd,de,ne->n", d, self.precision, d)
        return np.sqrt(np.maximum(squared, 0.0) / len(self.mean))


@dataclass
class OutlierHead:
    """Logistic regression on standardised features: `distance(x)` is its logit for "not a chest X-ray"."""

    shift: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: float

    @classmethod
    def fit(cls, inliers: np.ndarray, outliers: np.ndarray, c: float = OUTLIER_HEAD_C) -> OutlierHead:
        from sklearn.linear_model import LogisticRegression

        x = np.concatenate([inliers, outliers]).astype(np.float64)
        y = np.r_[np.zeros(len(inliers)), np.ones(len(outliers))]
        shift, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
        # Balanced: the two sets differ in size, and neither should dominate the boundary.
        clf = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit((x - shift) / scale, y)
        return cls(shift, scale, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]))

    def distance(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.shift) / self.scale) @ self.weight + self.bias


@dataclass
class OodDetector:
    """The fitted check: a feature score (outlier head or Gaussian), a statistics Gaussian, their thresholds
    (chosen on validation images) and how they were set."""

    features: OutlierHead | Gaussian
    statistics: Gaussian
    feature_threshold: float
    statistics_threshold: float
    info: dict[str, Any]

    @property
    def feature_label(self) -> str:
        return "outlier score" if isinstance(self.features, OutlierHead) else "feature distance"

    def scores(self, features: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
        return {
            "feature_score": self.features.distance(features),
            "statistics_distance": self.statistics.distance(image_statistics(images)),
        }

    def flags(self, features: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
        s = self.scores(features, images)
        return {
            "features": s["feature_score"] > self.feature_threshold,
            "statistics": s["statistics_distance"] > self.statistics_threshold,
        }

    def warnings(self, features: np.ndarray, images: np.ndarray) -> list[list[str]]:
        """One list of sentences per image (empty: in distribution)."""
        s = self.scores(features, images)
        out: list[list[str]] = []
        for fd, sd in zip(s["feature_score"], s["statistics_distance"], strict=True):
            found = []
            if fd > self.feature_threshold:
                found.append(
                    f"does not look like the chest X-rays the model was trained on ({self.feature_label} {fd:.2f} > "
                    f"{self.feature_threshold:.2f}); the prediction is unreliable"
                )
            if sd > self.statistics_threshold:
                found.append(
                    f"its brightness, contrast or texture are unlike a chest X-ray's (statistics distance {sd:.2f} "
                    f"> {self.statistics_threshold:.2f})"
                )
            out.append(found)
        return out

    def save(self, directory: str | Path) -> None:
        from safetensors.numpy import save_file

        directory = Path(directory)
        if isinstance(self.features, OutlierHead):
            head = self.features
            feature_arrays = {
                "head_shift": head.shift,
                "head_scale": head.scale,
                "head_weight": head.weight,
                "head_bias": np.array([head.bias]),
            }
        else:
            feature_arrays = {"feature_mean": self.features.mean, "feature_precision": self.features.precision}
        arrays = {
            **feature_arrays,
            "statistics_mean": self.statistics.mean,
            "statistics_precision": self.statistics.precision,
        }
        atomic_save(directory / OOD_WEIGHTS, lambda tmp: save_file(arrays, str(tmp)))
        thresholds = {"feature_threshold": self.feature_threshold, "statistics_threshold": self.statistics_threshold}
        atomic_write_json(directory / OOD_META, {**thresholds, **self.info})


def load_ood(directory: str | Path) -> OodDetector | None:
    """The detector saved beside a checkpoint, or None when it has none (older checkpoints)."""
    directory = Path(directory)
    if not (directory / OOD_WEIGHTS).is_file() or not (directory / OOD_META).is_file():
        return None
    from safetensors.numpy import load_file

    arrays = load_file(str(directory / OOD_WEIGHTS))
    info = json.loads((directory / OOD_META).read_text())
    if "head_weight" in arrays:
        features: OutlierHead | Gaussian = OutlierHead(
            arrays["head_shift"], arrays["head_scale"], arrays["head_weight"], float(arrays["head_bias"][0])
        )
    else:  # fitted before the outlier head existed
        features = Gaussian(arrays["feature_mean"], arrays["feature_precision"])
    return OodDetector(
        features,
        Gaussian(arrays["statistics_mean"], arrays["statistics_precision"]),
        float(info.pop("feature_threshold")),
        float(info.pop("statistics_threshold")),
        info,
    )


def per_signal_quantile(quantile: float) -> float:
    """Each of the two scores' threshold quantile: the false-alarm budget 1 − `quantile` split between them."""
    return 1 - (1 - quantile) / 2


def threshold_images(val_images: np.ndarray, seed: int) -> np.ndarray:
    """The images the thresholds are set on: `VARIED_COPIES` varied versions of each validation image."""
    return vary_all(np.asarray(val_images), VARIED_COPIES, seed + 3)


def fit_ood(
    extract: Any,
    train_images: np.ndarray,
    val_images: np.ndarray,
    quantile: float = DEFAULT_QUANTILE,
    seed: int = 0,
    method: str = "outlier_exposure",
) -> OodDetector:
    """Fit on (a sample of) the training images; thresholds on `VARIED_COPIES` varied versions of each validation
    image, each signal at the 1 − (1 − quantile)/2 quantile of their scores, so that the check as a whole
    flags about 1 − `quantile` of them.

    `extract(images) -> (N, D)` gives the classifier's penultimate features for uint8 images. `method`:
    `outlier_exposure` (an outlier head learns training X-rays and varied copies against synthetic non-X-rays)
    or `mahalanobis` (the distance to a Gaussian of the training images' features).
    """
    if not 0.5 < quantile < 1:
        raise PneumoganError(f"the OOD quantile must lie in (0.5, 1), not {quantile}")
    if method not in METHODS:
        raise PneumoganError(f"unknown OOD method {method!r}; choose one of {', '.join(METHODS)}")
    if len(train_images) < 20 or len(val_images) < 20:
        raise PneumoganError("the OOD check needs at least 20 training and 20 validation images")
    rng = np.random.default_rng(seed)
    if len(train_images) > FIT_LIMIT:
        train_images = train_images[np.sort(rng.choice(len(train_images), FIT_LIMIT, replace=False))]
    train_images, val_images = np.asarray(train_images), np.asarray(val_images)
    train_features = extract(train_images)
    if method == "outlier_exposure":
        varied_train = extract(vary_all(train_images, 1, seed + 1))
        size = train_images.shape[-1]
        outliers = extract(synthetic_outliers(size, N_OUTLIERS, seed + 2, train_images))
        features: OutlierHead | Gaussian = OutlierHead.fit(np.concatenate([train_features, varied_train]), outliers)
        method_text = "outlier head (logistic regression, penultimate features) and Mahalanobis image statistics"
    else:
        features = Gaussian.fit(train_features)
        method_text = "Mahalanobis distance (Ledoit-Wolf) of penultimate features and of image statistics"
    statistics = Gaussian.fit(image_statistics(train_images))
    varied_val = threshold_images(val_images, seed)
    varied_features = features.distance(extract(varied_val))
    varied_statistics = statistics.distance(image_statistics(varied_val))
    per_signal = per_signal_quantile(quantile)
    feature_threshold = float(np.quantile(varied_features, per_signal))
    statistics_threshold = float(np.quantile(varied_statistics, per_signal))
    val_features = features.distance(extract(val_images))
    val_statistics = statistics.distance(image_statistics(val_images))
    on_val = (val_features > feature_threshold) | (val_statistics > statistics_threshold)
    on_varied = (varied_features > feature_threshold) | (varied_statistics > statistics_threshold)
    info = {
        "method": method_text,
        "feature_method": method,
        "statistics": list(STATISTICS),
        "quantile": quantile,
        "per_signal_quantile": per_signal,
        "threshold_split": "val",
        "threshold_images": f"{VARIED_COPIES} varied versions of each val image (outliers.acquisition_variation)",
        "n_fit": len(train_images),
        "n_val": len(val_images),
        "n_outliers": N_OUTLIERS if method == "outlier_exposure" else 0,
        "feature_dim": int(train_features.shape[1]),
        "val_false_alarm_rate": float(on_val.mean()),
        "varied_val_false_alarm_rate": float(on_varied.mean()),
        "colour_limit": COLOUR_LIMIT,
    }
    return OodDetector(features, statistics, feature_threshold, statistics_threshold, info)


def decoding_warnings(image: DecodedImage) -> list[str]:
    """What the decoder saw that a frontal radiograph would not show: colour, a lateral DICOM view."""
    found = []
    if image.colour > COLOUR_LIMIT:
        found.append(
            f"a colour image (channel spread {image.colour:.2f}); radiographs are grayscale — is this a chest X-ray?"
        )
    view = (image.view_position or "").strip().upper()
    if view in LATERAL_VIEWS:
        found.append(f"the DICOM ViewPosition is '{view}' (lateral); the model was trained on frontal views only")
    return found


def describe(detector: OodDetector) -> str:
    i = detector.info
    varied = i.get("varied_val_false_alarm_rate")
    return (
        f"out-of-distribution check ({detector.feature_label}) fitted on {i['n_fit']} training images; thresholds "
        f"at the {i.get('per_signal_quantile', i['quantile']):.2%} quantile of {i['n_val']} val images"
        + (f" × {VARIED_COPIES} varied versions" if varied is not None else "")
        + f" (features {detector.feature_threshold:.2f}, statistics {detector.statistics_threshold:.2f}): "
        f"{i['val_false_alarm_rate']:.1%} of val flagged"
        + (f", {varied:.1%} of the varied versions" if varied is not None else "")
    )
