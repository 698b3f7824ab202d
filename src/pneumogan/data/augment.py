"""Batched, seeded augmentation for classifier training: one `affine_grid` + `grid_sample` per batch.

The classic augmentation (flip, rotation, zoom, shear, shift, contrast, brightness) with the semantics of the
MONAI transforms it replaces (`RandFlip`, `RandAffine` with border padding, `RandScaleIntensityFixedMean`,
`RandShiftIntensity`, then a clip to [0, 1]), applied to a whole (B, 1, H, W) batch at once.

Every image's random draws come from a counter-based hash of (seed, epoch, image index, draw number), not from
a stream: an image gets the same augmentation whatever batch, process or position it lands in, so a run
repeats exactly, a resumed run continues exactly, and DDP ranks (which hold disjoint image indices of an
epoch) draw disjoint, deterministic augmentations.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from pneumogan.config import AugmentConfig

# The draws each image gets, in a fixed order (adding one at the end keeps the earlier ones unchanged).
_FLIP, _AFFINE, _ROTATE, _SCALE_X, _SCALE_Y, _SHEAR_X, _SHEAR_Y, _SHIFT_X, _SHIFT_Y = range(9)
_CONTRAST, _CONTRAST_FACTOR, _BRIGHTNESS, _BRIGHTNESS_OFFSET = range(9, 13)
DRAWS = 13

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 whose outputs look independent for nearby inputs."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniforms(seed: int, epoch: int, indices: np.ndarray, draws: int = DRAWS) -> np.ndarray:
    """(len(indices), draws) floats in [0, 1), a pure function of (seed, epoch, index, draw)."""
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
        key = _mix64(np.uint64(seed % 2**64) + _GOLDEN)
        key = _mix64(key ^ (np.uint64(epoch % 2**64) * _GOLDEN))
        per_image = _mix64(key ^ (np.asarray(indices, dtype=np.int64).astype(np.uint64) * _GOLDEN))
        counters = np.arange(1, draws + 1, dtype=np.uint64) * _GOLDEN
        bits = _mix64(per_image[:, None] + counters[None, :])
    return (bits >> np.uint64(11)).astype(np.float64) / float(2**53)


def _symmetric(u: torch.Tensor, half_width: float) -> torch.Tensor:
    """A uniform draw in [0, 1) mapped to [-half_width, +half_width)."""
    return (2.0 * u - 1.0) * half_width


class BatchAugment:
    """`augment(x, indices, epoch)` for x of shape (B, 1, H, W) in [0, 1] (float) → the same shape and dtype."""

    def __init__(self, cfg: AugmentConfig, seed: int) -> None:
        self.cfg, self.seed = cfg, seed

    @property
    def affine(self) -> bool:
        c = self.cfg
        return c.prob > 0 and any((c.rotate_deg, c.zoom, c.shear, c.translate))

    def __call__(self, x: torch.Tensor, indices: np.ndarray, epoch: int) -> torch.Tensor:
        if not self.cfg.enabled:
            return x
        c = self.cfg
        u = torch.from_numpy(uniforms(self.seed, epoch, indices)).to(x.device, torch.float32)
        x = x.clone()
        if c.flip_prob > 0:
            flip = u[:, _FLIP] < c.flip_prob
            x[flip] = x[flip].flip(-1)  # left-right
        if self.affine:
            chosen = u[:, _AFFINE] < c.prob
            if bool(chosen.any()):
                x[chosen] = _warp(x[chosen], u[chosen], c)
        if c.contrast > 0:
            chosen = (u[:, _CONTRAST] < c.prob).view(-1, 1, 1, 1)
            factor = (1.0 + _symmetric(u[:, _CONTRAST_FACTOR], c.contrast)).view(-1, 1, 1, 1)
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = torch.where(chosen, (x - mean) * factor + mean, x)
        if c.brightness > 0:
            chosen = (u[:, _BRIGHTNESS] < c.prob).view(-1, 1, 1, 1)
            offset = _symmetric(u[:, _BRIGHTNESS_OFFSET], c.brightness).view(-1, 1, 1, 1)
            x = torch.where(chosen, x + offset, x)
        return x.clamp_(0.0, 1.0)


def _warp(x: torch.Tensor, u: torch.Tensor, c: AugmentConfig) -> torch.Tensor:
    """Rotation, per-axis zoom, shear and shift, as MONAI's RandAffine draws them, with edge padding.

    The matrix maps output coordinates to input coordinates (as `affine_grid` wants), in the normalised
    [-1, 1] frame of a square image, where a shift of t pixels is 2t / size.
    """
    angle = _symmetric(u[:, _ROTATE], math.radians(c.rotate_deg))
    sx, sy = 1.0 + _symmetric(u[:, _SCALE_X], c.zoom), 1.0 + _symmetric(u[:, _SCALE_Y], c.zoom)
    hx, hy = _symmetric(u[:, _SHEAR_X], c.shear), _symmetric(u[:, _SHEAR_Y], c.shear)
    tx, ty = _symmetric(u[:, _SHIFT_X], 2.0 * c.translate), _symmetric(u[:, _SHIFT_Y], 2.0 * c.translate)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # rotate @ shear @ scale, written out: [[cos, -sin], [sin, cos]] @ [[1, hx], [hy, 1]] @ diag(sx, sy)
    a00, a01 = (cos - sin * hy) * sx, (cos * hx - sin) * sy
    a10, a11 = (sin + cos * hy) * sx, (sin * hx + cos) * sy
    theta = torch.stack([torch.stack([a00, a01, tx], 1), torch.stack([a10, a11, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
