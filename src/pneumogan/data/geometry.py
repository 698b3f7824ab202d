"""How a radiograph of any shape becomes the square the models see: the geometry every model records.

Three ways to make a square (`data.fit`):

- `crop`: centre-crop to the short side, then resize (the MedMNIST recipe; it cuts the sides off a landscape film);
- `squeeze`: resize straight to a square, the aspect ratio lost (how the Kermany 224 px copies were made);
- `pad`: letterbox to a square with the image's own border value, then resize (nothing cut, nothing distorted).

A model is only right on inputs shaped the way its training images were, so the geometry is resolved once
at prepare time, written into every checkpoint (`preprocessing.fit`) and applied from there by every
inference path. Checkpoints written before the setting existed were centre-cropped (`LEGACY_FIT`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
from PIL import Image

Fit = Literal["crop", "squeeze", "pad"]
FITS: tuple[Fit, ...] = ("crop", "squeeze", "pad")
LEGACY_FIT: Fit = "crop"  # what the project did before `data.fit` existed

RECIPES: dict[str, str] = {
    "crop": "centre crop to square",
    "squeeze": "squeeze to square (aspect ratio not kept)",
    "pad": "letterbox to square with the border value",
}


def fit_square(array: np.ndarray, size: int, fit: str) -> np.ndarray:
    """A 2-D uint8 image made square by `fit`, then resized to `size`×`size` (bicubic, anti-aliased)."""
    if fit == "crop":
        square = _centre_crop(array)
    elif fit == "pad":
        square = _letterbox(array)
    elif fit == "squeeze":
        square = array
    else:
        raise ValueError(f"unknown fit '{fit}'; use one of {', '.join(FITS)}")
    if square.shape == (size, size):
        return np.ascontiguousarray(square)
    return np.asarray(Image.fromarray(square).resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def _centre_crop(array: np.ndarray) -> np.ndarray:
    h, w = array.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return array[top : top + side, left : left + side]


def border_value(array: np.ndarray) -> int:
    """The median of the outermost rows and columns: the film's background, which padding continues."""
    edge = np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])
    return int(np.median(edge))


def _letterbox(array: np.ndarray) -> np.ndarray:
    h, w = array.shape
    if h == w:
        return array
    side = max(h, w)
    out = np.full((side, side), border_value(array), dtype=np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = array
    return out


def recipe(fit: str) -> str:
    """The preprocessing recipe as stored in checkpoints and the ONNX metadata."""
    return f"grayscale uint8 → {RECIPES[fit]} → bicubic resize → (x/255 − mean)/std"


def resolve_fit(requested: str, source_default: str) -> Fit:
    """`data.fit` as prepare applies it: `auto` takes the source's own default (`Source.default_fit`)."""
    fit = source_default if requested == "auto" else requested
    if fit not in FITS:
        raise ValueError(f"unknown fit '{fit}'; use one of auto, {', '.join(FITS)}")
    return fit  # type: ignore[return-value]


def checkpoint_fit(meta: dict[str, Any]) -> Fit:
    """The geometry a checkpoint's model was trained with (old checkpoints: centre crop)."""
    return (meta.get("preprocessing") or {}).get("fit", LEGACY_FIT)


def square_source(sizes: Iterable[tuple[int, int]]) -> int | None:
    """The side when every image of a source is one square size (someone resized them), else None."""
    distinct = set(sizes)
    if len(distinct) != 1:
        return None
    w, h = distinct.pop()
    return w if w == h else None


def square_source_advice(side: int, fit: str) -> str:
    """What a source of equal squares means for the model trained on it, in plain words."""
    return (
        f"every image is {side}×{side} px: these are resized copies and their original aspect ratio is unknown. "
        f"A model trained on them records fit={fit}, and serving makes full-resolution uploads square the same "
        "way. If the copies were made by plain resizing (as Kermany's 224 px set), fit=squeeze matches them; "
        "if they were centre-cropped (as MedMNIST), set data.fit=crop; if letterboxed, data.fit=pad."
    )
