"""Two random views of each image for self-supervised pretraining, made a whole batch at a time.

Stronger than the classifier's augmentation (the objective needs views that differ): a random resized crop
with a small rotation (one `affine_grid` per batch), brightness and contrast, Gaussian blur and pixel noise.
Draws come from `data.augment.uniforms` keyed by (seed, epoch, image index, view), so a pretraining run
repeats exactly and a resumed one continues exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from pneumogan.config import SslConfig
from pneumogan.data.augment import uniforms

# Draw numbers per view (fixed order; a new one goes at the end).
_SCALE, _RATIO, _CX, _CY, _ROT, _BRIGHT, _CONTRAST, _BLUR, _SIGMA, _FLIP, _NOISE_SEED = range(11)
_DRAWS = 11
_MAX_SIGMA = 0.02  # blur sigma up to this fraction of the image side (≈ 1.3 px at 64 px, 4.5 px at 224 px)


def _crop_and_rotate(x: torch.Tensor, u: torch.Tensor, cfg: SslConfig) -> torch.Tensor:
    """A crop of area fraction in `crop_scale`, aspect ratio in [3/4, 4/3], anywhere inside the image,
    rotated by up to ±rotate_deg, resized back to the full side (output → input coordinates, as affine_grid
    wants, in the [-1, 1] frame)."""
    lo, hi = cfg.crop_scale
    area = lo + (hi - lo) * u[:, _SCALE]
    log_ratio = (2 * u[:, _RATIO] - 1) * math.log(4 / 3)
    ratio = torch.exp(log_ratio)
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx, cy = (2 * u[:, _CX] - 1) * (1 - w), (2 * u[:, _CY] - 1) * (1 - h)
    angle = (2 * u[:, _ROT] - 1) * math.radians(cfg.rotate_deg)
    flip = torch.where(u[:, _FLIP] < cfg.flip_prob, -1.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos * w * flip, -sin * h, cx], 1), torch.stack([sin * w * flip, cos * h, cy], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _blur(x: torch.Tensor, u: torch.Tensor, cfg: SslConfig) -> torch.Tensor:
    """Per-image Gaussian blur (probability blur_prob, sigma up to 2 % of the side), as one grouped conv."""
    b, _, size, _ = x.shape
    sigma = (0.1 + u[:, _SIGMA] * (_MAX_SIGMA * size - 0.1)).clamp(min=0.1)
    sigma = torch.where(u[:, _BLUR] < cfg.blur_prob, sigma, torch.full_like(sigma, 1e-3))  # ~identity kernel
    radius = max(1, math.ceil(3 * _MAX_SIGMA * size))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma[:, None]) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).to(x.dtype)  # (B, 2r + 1)
    rows = F.pad(x.view(1, b, size, size), (radius, radius, 0, 0), mode="replicate")
    rows = F.conv2d(rows, kernel.view(b, 1, 1, -1), groups=b)
    cols = F.pad(rows, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(cols, kernel.view(b, 1, -1, 1), groups=b).view(b, 1, size, size)


def view(x: torch.Tensor, indices: np.ndarray, epoch: int, which: int, seed: int, cfg: SslConfig) -> torch.Tensor:
    """One random view of a batch x (B, 1, H, W) in [0, 1]; `which` (0 or 1) tells the two views apart."""
    draws = uniforms(seed * 2 + which, epoch, indices, _DRAWS)
    u = torch.from_numpy(draws).to(x.device, torch.float32)
    x = _crop_and_rotate(x, u, cfg)
    if cfg.intensity > 0:
        factor = (1 + (2 * u[:, _CONTRAST] - 1) * cfg.intensity).view(-1, 1, 1, 1)
        offset = ((2 * u[:, _BRIGHT] - 1) * cfg.intensity * 0.5).view(-1, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * factor + mean + offset
    if cfg.blur_prob > 0:
        x = _blur(x, u, cfg)
    if cfg.noise_std > 0:
        # One generator per batch, seeded from the first image's draw: deterministic, and cheap.
        gen = torch.Generator(device="cpu").manual_seed(int(draws[0, _NOISE_SEED] * 2**62))
        x = x + cfg.noise_std * torch.randn(x.shape, generator=gen).to(x.device)
    return x.clamp(0.0, 1.0)
