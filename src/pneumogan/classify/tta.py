"""Test-time augmentation: average the softmax over small shifts and scalings of each image.

Kept out of the default path: `benchmarks/bench_tta.py` measures whether it helps before anything uses it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pneumogan.classify.inference import predict_proba

# (dx, dy, scale) per view, shifts in pixels at the model's input size; the identity view comes first.
DEFAULT_VIEWS: tuple[tuple[int, int, float], ...] = (
    (0, 0, 1.0),
    (2, 0, 1.0),
    (-2, 0, 1.0),
    (0, 2, 1.0),
    (0, -2, 1.0),
    (0, 0, 1.08),
    (0, 0, 0.93),
)


def _view(images: np.ndarray, dx: int, dy: int, scale: float) -> np.ndarray:
    x = torch.from_numpy(np.array(images, dtype=np.float32))[:, None]
    n, _, h, w = x.shape
    theta = torch.tensor([[1 / scale, 0, -2 * dx / w], [0, 1 / scale, -2 * dy / h]], dtype=torch.float32)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def tta_proba(
    model: nn.Module,
    images: np.ndarray,
    mean: float,
    std: float,
    device: torch.device,
    views: tuple[tuple[int, int, float], ...] = DEFAULT_VIEWS,
) -> np.ndarray:
    """Mean softmax over `views` of uint8 images (N, S, S)."""
    return np.mean([predict_proba(model, _view(images, *v), mean, std, device) for v in views], axis=0)
