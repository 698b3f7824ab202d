"""Decode any image a user may hand us (path, bytes, PIL image, array, DICOM) into a grayscale uint8 array.

Every reader in the project (integrity scan, prepare, predict, UI, API) goes through `read_image`, so a
file is judged the same way everywhere. Unusable files raise `ImageReadError` with a short, stable reason;
valid radiographs stored in an unusual way (16-bit, RGBA, CMYK, palette) are converted and the conversion
is recorded in `DecodedImage.notes`.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pneumogan.data.decoded import (
    DEFAULT_MAX_PIXELS,
    EMPTY,
    MULTI_FRAME,
    NOT_IMAGE,
    OVERSIZED,
    TRUNCATED,
    UNREADABLE,
    DecodedImage,
    channel_spread,
    check_pixels,
    scale_to_uint8,
)
from pneumogan.errors import ImageReadError

ImageInput = str | Path | bytes | Image.Image | np.ndarray


def is_dicom_bytes(head: bytes) -> bool:
    """DICOM Part 10 files carry the magic 'DICM' after a 128-byte preamble."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def read_image(src: ImageInput, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "") -> DecodedImage:
    """Decode `src` into a grayscale uint8 radiograph, or raise `ImageReadError` saying why not.

    `name` is the original file name when `src` is bytes (an upload); its suffix helps spot DICOM.
    """
    if isinstance(src, np.ndarray):
        return _from_array(src)
    if isinstance(src, Image.Image):
        return _from_pil(src, max_pixels)
    data = _read_bytes(src)
    if not data:
        raise ImageReadError(EMPTY, "0 bytes")
    suffix = Path(src if isinstance(src, str | Path) else name).suffix.lower()
    if is_dicom_bytes(data[:132]) or suffix in {".dcm", ".dicom"}:
        from pneumogan.data.dicom import read_dicom  # pydicom is only imported when a DICOM shows up

        return read_dicom(data, max_pixels=max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageReadError(OVERSIZED, str(exc)) from None
    except UnidentifiedImageError:
        raise ImageReadError(NOT_IMAGE, "no known image format (is it a text or other file?)") from None
    except Exception as exc:  # PIL raises many types on hostile headers
        raise ImageReadError(UNREADABLE, f"{type(exc).__name__}: {exc}") from None
    return _from_pil(im, max_pixels)


def _read_bytes(src: str | Path | bytes) -> bytes:
    if isinstance(src, bytes):
        return src
    path = Path(src)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(UNREADABLE, f"no such file: {path}") from None
    except OSError as exc:
        raise ImageReadError(UNREADABLE, f"{exc.strerror or exc}") from None


def _from_pil(im: Image.Image, max_pixels: int) -> DecodedImage:
    width, height = im.size
    mode, fmt = im.mode, (im.format or "")
    check_pixels(width, height, max_pixels)  # header only: nothing decoded yet
    if getattr(im, "n_frames", 1) > 1:
        raise ImageReadError(MULTI_FRAME, f"{im.n_frames} frames ({fmt}); expected a single radiograph")
    try:
        im.load()
    except Exception as exc:
        raise ImageReadError(TRUNCATED, f"{type(exc).__name__}: {exc}") from None
    notes: list[str] = []
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # broken EXIF must not cost us an otherwise valid image
        notes.append("EXIF orientation ignored (unreadable)")
    array = _pil_to_gray(im, notes)
    colour = channel_spread(np.asarray(im.convert("RGB"))) if im.mode not in GRAY_MODES else 0.0
    return DecodedImage(array=array, mode=mode, width=width, height=height, format=fmt, notes=notes, colour=colour)


GRAY_MODES = frozenset({"L", "LA", "1", "I;16", "I;16B", "I;16L", "I", "F"})


def _pil_to_gray(im: Image.Image, notes: list[str]) -> np.ndarray:
    mode = im.mode
    if mode == "L":
        return np.asarray(im, dtype=np.uint8).copy()
    if mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        notes.append(f"{mode} high-bit-depth image scaled to 8-bit (min–max)")
        return scale_to_uint8(np.asarray(im, dtype=np.float64))
    if mode in {"RGBA", "LA", "PA"} or (mode == "P" and "transparency" in im.info):
        notes.append(f"{mode}: alpha channel dropped")
        im = im.convert("RGBA").convert("RGB")
    elif mode == "CMYK":
        notes.append("CMYK converted to grayscale")
    elif mode not in {"RGB", "1", "P", "YCbCr"}:
        notes.append(f"{mode} converted to grayscale")
    return np.asarray(im.convert("L"), dtype=np.uint8).copy()


def _from_array(array: np.ndarray) -> DecodedImage:
    notes: list[str] = []
    arr = np.asarray(array)
    colour = channel_spread(arr) if arr.ndim == 3 and arr.shape[-1] in (3, 4) else 0.0
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        notes.append("colour array averaged to grayscale")
        arr = arr[..., :3].mean(axis=-1)
    elif arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ImageReadError(NOT_IMAGE, f"array of shape {array.shape} is not a 2-D image")
    if arr.dtype != np.uint8:
        notes.append(f"{arr.dtype} array scaled to 8-bit (min–max)")
        arr = scale_to_uint8(arr)
    return DecodedImage(
        array=np.ascontiguousarray(arr),
        mode=str(array.dtype),
        width=arr.shape[1],
        height=arr.shape[0],
        format="array",
        notes=notes,
        colour=colour,
    )
