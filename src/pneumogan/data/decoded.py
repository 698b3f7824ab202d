"""What decoding an image produces, and the limits and reasons every reader shares.

Kept apart from `images` (PIL) and `dicom` (pydicom) so that both readers, the config and the integrity
scan can use these definitions without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pneumogan.errors import ImageReadError

#: Default limit on width × height, checked from the header before any pixel is decoded. The largest
#: Kermany original is about 2,916 × 2,713 (7.9 MP); 50 MP leaves room for full-resolution DICOMs.
DEFAULT_MAX_PIXELS = 50_000_000

#: File suffixes the folder sources pick up. Anything else in a class folder is reported, not read.
IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".dcm", ".dicom"})

# Stable reasons, shared by the integrity report, prepare, predict and the API.
EMPTY = "empty file"
NOT_IMAGE = "not an image"
TRUNCATED = "truncated or corrupt image data"
OVERSIZED = "oversized image"
MULTI_FRAME = "multi-frame image"
UNREADABLE = "unreadable file"


@dataclass
class DecodedImage:
    """A radiograph as a 2-D uint8 array plus what we learned while decoding it."""

    array: np.ndarray
    mode: str
    width: int
    height: int
    format: str
    notes: list[str] = field(default_factory=list)
    colour: float = 0.0  # mean spread between the colour channels before conversion, in [0, 1] (0: gray)
    view_position: str | None = None  # DICOM ViewPosition (PA, AP, LL, …) when the file says


def channel_spread(rgb: np.ndarray) -> float:
    """Mean over pixels of (max − min) across the colour channels, in [0, 1]: 0 for a gray image stored as RGB."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        return 0.0
    channels = rgb[..., :3].astype(np.float32)
    spread = channels.max(axis=-1) - channels.min(axis=-1)
    top = 255.0 if rgb.dtype == np.uint8 else max(float(channels.max()) - float(channels.min()), 1e-12)
    return float(spread.mean() / top)


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageReadError(
            OVERSIZED, f"{width}×{height} = {width * height:,} px exceeds the limit of {max_pixels:,} px"
        )


def scale_to_uint8(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Map `values` linearly from [low, high] (default: their min and max) to 0..255."""
    values = np.asarray(values, dtype=np.float64)
    low = float(np.min(values)) if low is None else low
    high = float(np.max(values)) if high is None else high
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (np.clip(values, low, high) - low) * (255.0 / (high - low))
    return np.rint(scaled).astype(np.uint8)
