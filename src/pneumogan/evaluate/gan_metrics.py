"""GAN metrics in the feature space of an in-domain reference classifier (penultimate layer).

Fréchet distance (FD) and kernel inception-style distance (KID) use the reference classifier's features,
NOT Inception-v3's: the numbers are comparable between runs that share a reference network, never with
published Inception-FID values. Precision/recall of the generative distribution follow Kynkäänniemi et
al. (2019) with k-NN manifolds. The near-copy check compares each synthetic image's nearest real training
image with the real-to-real nearest-neighbour distances.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from scipy import linalg
from torch import nn

FEATURE_NOTE = (
    "FD and KID are computed in the penultimate-layer feature space of an in-domain reference classifier; "
    "they are not comparable to Inception-FID/KID values from the literature."
)


#: The matrix square root of Σa Σb is real in exact arithmetic; an imaginary part above this share of its
#: trace means the covariances are too poorly estimated (too few images for the feature dimension).
IMAGINARY_TOLERANCE = 1e-3


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) between Gaussian fits of two feature sets."""
    return frechet_details(a, b)["fd"]


def frechet_details(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """The Fréchet distance and the size of the imaginary part its matrix square root dropped (relative to
    the root's trace); warns (RuntimeWarning) when that part is not negligible."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # near-singular products are handled below
        covmean = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(covmean).all():  # singular product: regularise as in the reference implementation
            eps = np.eye(len(cov_a)) * 1e-6
            covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    imaginary = float(np.max(np.abs(np.imag(covmean)))) if np.iscomplexobj(covmean) else 0.0
    relative = imaginary / max(abs(float(np.trace(covmean.real))), 1e-12)
    if relative > IMAGINARY_TOLERANCE:
        warnings.warn(
            f"Fréchet distance: the matrix square root has an imaginary part of {relative:.2%} of its trace "
            f"({len(a)} and {len(b)} images for {a.shape[1]} features): the FD is unreliable",
            RuntimeWarning,
            stacklevel=2,
        )
    fd = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean.real))
    return {"fd": fd, "imaginary_relative": relative}


def kernel_distance(a: np.ndarray, b: np.ndarray, subsets: int = 50, subset_size: int = 1000, seed: int = 0) -> float:
    """KID: unbiased MMD² with the cubic polynomial kernel, averaged over random subsets."""
    return kernel_distance_stats(a, b, subsets, subset_size, seed)[0]


def kernel_distance_stats(
    a: np.ndarray, b: np.ndarray, subsets: int = 50, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float | None]:
    """KID's mean and standard deviation over `subsets` random subsets of `subset_size` images per side.
    With no more images per side than `subset_size` every subset is the whole set: one value, and the
    standard deviation is None (not a misleading 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rng = np.random.default_rng(seed)
    m = min(len(a), len(b), subset_size)
    d = a.shape[1]
    values = []
    if m == len(a) == len(b):
        subsets = 1
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        values.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None


def kid_text(kid: float, kid_std: float | None) -> str:
    """KID for a table or a log line, with its spread over subsets where there is one."""
    return f"{kid:.4f}" if kid_std is None else f"{kid:.4f} ± {kid_std:.4f}"


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ta, tb = torch.from_numpy(np.asarray(a, np.float32)), torch.from_numpy(np.asarray(b, np.float32))
    return torch.cdist(ta, tb).numpy()


def knn_radii(x: np.ndarray, k: int = 3) -> np.ndarray:
    d = _pairwise(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Precision: share of fakes inside the real k-NN manifold; recall: share of reals inside the fake one."""
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    d = _pairwise(fake, real)  # (n_fake, n_real)
    precision = float(np.mean((d <= r_real[None, :]).any(axis=1)))
    recall = float(np.mean((r_fake[None, :] >= d.T).any(axis=1)))
    return precision, recall


def nearest(a: np.ndarray, b: np.ndarray, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each row of `a` to its nearest row of `b`, and that row's index (chunked for memory)."""
    dist, idx = np.empty(len(a)), np.empty(len(a), np.int64)
    for start in range(0, len(a), 512):
        d = _pairwise(a[start : start + 512], b)
        if exclude_self:
            rows = np.arange(start, min(start + 512, len(a)))
            d[rows - start, rows] = np.inf
        idx[start : start + len(d)] = d.argmin(1)
        dist[start : start + len(d)] = d[np.arange(len(d)), idx[start : start + len(d)]]
    return dist, idx


def near_copies(fake: np.ndarray, real: np.ndarray, quantile: float = 0.01, scale: float = 0.5) -> dict[str, Any]:
    """Flag synthetic images closer to a real training image than `scale` × the `quantile` of real-to-real
    nearest-neighbour distances.

    A generator that matches the data without memorising it puts about `quantile` of its samples below the
    quantile itself, so the threshold is halved: what falls below is closer to a training image than almost
    any two distinct real radiographs are to each other. Exact duplicates inside the real set (distance 0)
    are left out of the reference distribution.
    """
    d_fake, idx = nearest(fake, real)
    d_real, _ = nearest(real, real, exclude_self=True)
    positive = d_real[d_real > 0]
    threshold = scale * float(np.quantile(positive, quantile)) if len(positive) else 0.0
    flagged = d_fake <= threshold
    return {
        "fraction": float(flagged.mean()),
        "threshold": threshold,
        "fake_nn": d_fake,
        "real_index": idx,
        "real_nn_median": float(np.median(d_real)),
        "fake_nn_median": float(np.median(d_fake)),
    }


def penultimate_layer(model: nn.Module) -> nn.Linear:
    """The classifier's last Linear layer: its input is the penultimate features (every architecture here ends
    in one, after global pooling)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear layer to take features from")
    return linears[-1]


class FeatureExtractor:
    """Penultimate-layer features and class probabilities of a classifier: the input of its last Linear."""

    def __init__(self, model: nn.Module, mean: float, std: float, size: int, device: torch.device) -> None:
        self.model, self.mean, self.std, self.size, self.device = model.eval(), mean, std, size, device
        last = penultimate_layer(model)
        self._features: torch.Tensor | None = None
        last.register_forward_hook(lambda _m, inp, _out: setattr(self, "_features", inp[0].detach()))

    @torch.no_grad()
    def __call__(self, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (N, H, W) → (features (N, F), probabilities (N, C))."""
        feats, probs = [], []
        for start in range(0, len(images), batch_size):
            x = torch.tensor(np.asarray(images[start : start + batch_size]), dtype=torch.float32)[:, None] / 255.0
            if x.shape[-1] != self.size:
                x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
            logits = self.model(((x - self.mean) / self.std).to(self.device))
            feats.append(self._features.float().cpu().numpy())
            probs.append(torch.softmax(logits.float(), 1).cpu().numpy())
        return np.concatenate(feats), np.concatenate(probs)


def real_floor(real_features: np.ndarray, n: int, seed: int = 0) -> float | None:
    """FD between two disjoint random halves of n real images each (the real-vs-real floor at this n)."""
    if len(real_features) < 2 * n or n < 2:
        return None
    pick = np.random.default_rng(seed + 1).permutation(len(real_features))[: 2 * n]
    return float(frechet_details(real_features[pick[:n]], real_features[pick[n:]])["fd"])


def compare(
    real_u8: np.ndarray,
    fake_u8: np.ndarray,
    extractor: FeatureExtractor,
    seed: int = 0,
    kid_subsets: int = 50,
) -> dict[str, Any]:
    """All distribution metrics between two uint8 image sets (features computed here).

    FD, KID and precision/recall compare equal numbers of images (the larger side is subsampled with a fixed
    seed: FD is biased by n, so unequal sets are not comparable); the near-copy check searches every real
    image, since a copy of any training image counts.
    """
    n = min(len(real_u8), len(fake_u8))
    rng = np.random.default_rng(seed)

    def equal_n(count: int) -> np.ndarray:
        return np.arange(count) if count == n else np.sort(rng.choice(count, n, replace=False))

    real_eq, fake_eq = equal_n(len(real_u8)), equal_n(len(fake_u8))
    # each image's features computed once: the equal-n subsets index the full sets' features
    fr_all, _ = extractor(real_u8)
    ff_all, _ = extractor(fake_u8)
    fr, ff = fr_all[real_eq], ff_all[fake_eq]
    precision, recall = precision_recall(fr, ff)
    pix = near_copies(fake_u8.reshape(len(fake_u8), -1) / 255.0, real_u8.reshape(len(real_u8), -1) / 255.0)
    feat = near_copies(ff_all, fr_all)
    fd = frechet_details(fr, ff)
    kid, kid_std = kernel_distance_stats(fr, ff, subsets=kid_subsets, seed=seed)
    floor = real_floor(fr_all, n, seed)
    return {
        "fd": fd["fd"],
        # the FD of two disjoint real samples of the same n: what a perfect generator would score (FD is biased
        # by n), so fd_ratio = fd / fd_floor reads the same at every n; None with fewer than 2n real images
        "fd_floor": floor,
        "fd_ratio": fd["fd"] / floor if floor else None,
        "fd_imaginary_relative": fd["imaginary_relative"],
        "kid": kid,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
        "near_copy_fraction": pix["fraction"],
        "near_copy_fraction_features": feat["fraction"],
        "near_copy": {k: v for k, v in pix.items() if not isinstance(v, np.ndarray)},
        "n": n,
        "n_real": len(real_u8),
        "n_fake": len(fake_u8),
        "_pixel_nn": pix,
    }
