"""Sample grids: many small images in one PNG, one class per row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from pneumogan.gan.models import to_uint8


def save_grid(images: torch.Tensor, rows: int, path: Path) -> Path:
    """Save images in [-1, 1] as a grid PNG with `rows` rows (one class per row)."""
    from PIL import Image

    arr = to_uint8(images)
    n, h, w = arr.shape
    cols = math.ceil(n / rows)
    canvas = np.full((rows * (h + 2), cols * (w + 2)), 255, np.uint8)
    for i, im in enumerate(arr):
        r, c = divmod(i, cols)
        canvas[r * (h + 2) + 1 : r * (h + 2) + 1 + h, c * (w + 2) + 1 : c * (w + 2) + 1 + w] = im
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(canvas).save(path)
    return path
