"""Generators of small real image files, good and bad, for tests (no fixtures checked into git)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def xray_like(size: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth grayscale image with two darker 'lung' ellipses: enough structure for resize tests."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 200 - 60 * (((xx - 0.3) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1)
    img = img - 60 * (((xx - 0.7) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2 < 1)
    img = img + rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg_bytes(array: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def png_header_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A tiny PNG whose header claims width×height pixels: refused before decoding, or it would blow up."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytearray(data[16:29])  # after signature (8) + length (4) + b"IHDR" (4)
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


#: file name → expected outcome: a bad-file reason, or "converted" for valid images stored unusually.
BAD_CORPUS_EXPECTED = {
    "truncated.jpeg": "truncated or corrupt image data",
    "empty.jpeg": "empty file",
    "text.jpeg": "not an image",
    "animated.gif": "multi-frame image",
    "bomb.png": "oversized image",
    "sixteen.png": "converted",
    "rgba.png": "converted",
    "cmyk.jpeg": "converted",
}


def write_bad_corpus(folder: Path) -> dict[str, Path]:
    """Write one file per entry of `BAD_CORPUS_EXPECTED` into `folder`; returns name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    base = xray_like(64, seed=7)
    files: dict[str, bytes] = {
        "truncated.jpeg": jpeg_bytes(xray_like(128, seed=8))[:1500],
        "empty.jpeg": b"",
        "text.jpeg": b"this is a text file, not a radiograph\n",
        "bomb.png": png_header_bomb(),
    }
    gif = io.BytesIO()
    frames = [Image.fromarray(base).convert("P"), Image.fromarray(255 - base).convert("P")]
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    files["animated.gif"] = gif.getvalue()
    png16 = io.BytesIO()
    Image.fromarray(base.astype(np.uint16) * 16).save(png16, format="PNG")
    files["sixteen.png"] = png16.getvalue()
    rgba = io.BytesIO()
    Image.fromarray(np.dstack([base, base, base, np.full_like(base, 255)])).save(rgba, format="PNG")
    files["rgba.png"] = rgba.getvalue()
    cmyk = io.BytesIO()
    Image.fromarray(base).convert("CMYK").save(cmyk, format="JPEG", quality=90)
    files["cmyk.jpeg"] = cmyk.getvalue()
    paths = {}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    return paths


def write_kaggle_folder(root: Path, per_class: dict[str, dict[str, list[str]]]) -> Path:
    """Write JPEGs named as given: {split: {class: [file names]}}; pixels differ per file."""
    seed = 0
    for split, classes in per_class.items():
        for cls, names in classes.items():
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                seed += 1
                (folder / name).write_bytes(jpeg_bytes(xray_like(48 + seed % 5 * 8, seed=seed)))
    return root
