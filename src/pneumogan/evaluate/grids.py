"""Sample grids: many small images in one PNG, one class per row, enlarged so that people can see them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

#: Tiles smaller than this are enlarged by a whole factor (nearest neighbour: no invented detail).
MIN_DISPLAY_SIDE = 128


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Generator output (B, 1, H, W) in [-1, 1] → uint8 (B, H, W), as saved to disk."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()[:, 0]


def display_factor(side: int, min_side: int = MIN_DISPLAY_SIDE) -> int:
    """The whole-number enlargement that brings a `side`-px image to at least `min_side` px (1 if it is)."""
    return max(1, math.ceil(min_side / max(side, 1)))


def enlarge(images: np.ndarray, min_side: int = MIN_DISPLAY_SIDE) -> np.ndarray:
    """uint8 images (N, S, S) or one (S, S), each pixel repeated so that S reaches `min_side`."""
    factor = display_factor(images.shape[-1], min_side)
    if factor == 1:
        return images
    return images.repeat(factor, axis=-2).repeat(factor, axis=-1)


def save_grid(images: torch.Tensor, rows: int, path: Path, min_side: int = MIN_DISPLAY_SIDE) -> Path:
    """Save images in [-1, 1] as a grid PNG with `rows` rows (one class per row), tiles enlarged for display."""
    from PIL import Image

    arr = enlarge(to_uint8(images), min_side)
    n, h, w = arr.shape
    cols = math.ceil(n / rows)
    canvas = np.full((rows * (h + 2), cols * (w + 2)), 255, np.uint8)
    for i, im in enumerate(arr):
        r, c = divmod(i, cols)
        top, left = r * (h + 2) + 1, c * (w + 2) + 1
        canvas[top : top + h, left : left + w] = im
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(path)
    return path
