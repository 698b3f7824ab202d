"""Images the out-of-distribution check learns from: synthetic non-X-rays, and X-rays under acquisition variation.

Outlier exposure (Hendrycks et al. 2019) teaches a detector what "not a chest X-ray" looks like from examples.
None may be downloaded, so the examples are made here: dead-leaves images (occluding discs, statistically close
to natural photographs), 1/f noise, random polygons and lines, X-rays cut into shuffled tiles (right texture,
wrong anatomy), and crops of the few photographs and maps that matplotlib ships. `bench_ood.py` judges the
check on other sources (scikit-image's samples, LFW faces, colour fields, text, noise, flat images).

`acquisition_variation` makes the mildly rotated, zoomed, blurred and re-exposed versions of real X-rays the
check must *not* flag: they train the detector to tolerate such variation and set its thresholds, a test-free
stand-in for the shift between the training images and a later time window or another scanner.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pneumogan.data.geometry import fit_square


def acquisition_variation(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One version of a square uint8 X-ray under mild variation: rotation ±5°, zoom 90–100 %, a slight blur on
    half, gamma 0.8–1.25, contrast ×0.85–1.15, brightness ±0.08."""
    size = image.shape[0]
    im = Image.fromarray(image).rotate(rng.uniform(-5, 5), resample=Image.Resampling.BILINEAR)
    side = int(size * rng.uniform(0.9, 1.0))
    top, left = rng.integers(0, size - side + 1, 2)
    im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    a = np.asarray(im, dtype=np.float64) / 255.0
    a = a ** rng.uniform(0.8, 1.25)
    a = (a - 0.5) * rng.uniform(0.85, 1.15) + 0.5 + rng.uniform(-0.08, 0.08)
    return np.round(255 * np.clip(a, 0, 1)).astype(np.uint8)


def vary_all(images: np.ndarray, copies: int, seed: int) -> np.ndarray:
    """`copies` varied versions of every image, (copies × N, S, S) uint8."""
    rng = np.random.default_rng(seed)
    return np.stack([acquisition_variation(np.asarray(x), rng) for _ in range(copies) for x in images])


def _dead_leaves(size: int, rng: np.random.Generator) -> np.ndarray:
    big = 2 * size
    im = Image.new("L", (big, big), int(rng.integers(0, 256)))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(30, 300))):
        r = (rng.pareto(2.0) + 1) * rng.uniform(2, 8) * big / 128  # a heavy tail of radii, as in natural scenes
        x, y = rng.uniform(0, big, 2)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.integers(0, 256)))
    if rng.random() < 0.5:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3) * big / 128))
    return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC))


def _pink_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    big = 2 * size
    f = np.fft.fftfreq(big)[:, None] ** 2 + np.fft.fftfreq(big)[None, :] ** 2
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / np.maximum(f, 1e-4) ** (
        rng.uniform(1.0, 3.0) / 2
    )
    x = np.real(np.fft.ifft2(spectrum))
    x = (x - x.min()) / max(float(np.ptp(x)), 1e-9)
    return fit_square(np.round(255 * x).astype(np.uint8), size, "crop")


def _shapes(size: int, rng: np.random.Generator) -> np.ndarray:
    big = 2 * size
    im = Image.new("L", (big, big), int(rng.integers(0, 256)))
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(3, 25))):
        points = [tuple(rng.uniform(0, big, 2)) for _ in range(int(rng.integers(3, 7)))]
        if rng.random() < 0.5:
            draw.polygon(points, fill=int(rng.integers(0, 256)))
        else:
            draw.line(points, fill=int(rng.integers(0, 256)), width=max(1, int(rng.integers(1, 6) * big / 128)))
    return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC))


def _shuffled_tiles(xrays: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    x = fit_square(np.asarray(xrays[rng.integers(len(xrays))]), size, "crop")
    k = int(rng.choice([2, 4, 8]))
    t = size // k
    tiles = [x[i * t : (i + 1) * t, j * t : (j + 1) * t] for i in range(k) for j in range(k)]
    order = rng.permutation(len(tiles))
    out = np.block([[tiles[order[i * k + j]] for j in range(k)] for i in range(k)])
    return fit_square(out, size, "crop") if out.shape[0] != size else out


@functools.cache
def matplotlib_samples() -> tuple[np.ndarray, ...]:
    """The photographs, logos and elevation maps in matplotlib's sample data, as grayscale uint8 arrays (read once
    per process: every classifier training fits the check)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "sample_data"
    out = []
    for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"):
        if (folder / name).is_file():
            out.append(np.asarray(Image.open(folder / name).convert("L")))
    for name in ("topobathy.npz", "jacksboro_fault_dem.npz"):
        if (folder / name).is_file():
            with np.load(folder / name) as z:
                a = z[z.files[0]].astype(np.float64)
            out.append(np.round(255 * (a - a.min()) / max(float(np.ptp(a)), 1e-9)).astype(np.uint8))
    for a in out:
        a.flags.writeable = False  # shared by every caller through the cache
    return tuple(out)


def _sample_crop(samples: tuple[np.ndarray, ...], size: int, rng: np.random.Generator) -> np.ndarray:
    a = samples[rng.integers(len(samples))]
    h, w = a.shape
    side = max(8, int(min(h, w) * rng.uniform(0.3, 1.0)))
    top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = fit_square(np.ascontiguousarray(a[top : top + side, left : left + side]), size, "crop")
    if rng.random() < 0.5:  # blurry, like a small picture blown up
        small = Image.fromarray(crop).resize((max(4, size // 4),) * 2, Image.Resampling.BICUBIC)
        crop = np.asarray(small.resize((size, size), Image.Resampling.BICUBIC))
    return crop


def synthetic_outliers(size: int, n: int, seed: int, xrays: np.ndarray) -> np.ndarray:
    """(n, size, size) uint8 non-X-ray images, an equal share from each kind (shuffled tiles cut from `xrays`)."""
    rng = np.random.default_rng(seed)
    samples = matplotlib_samples()
    makers: list[Callable[[], np.ndarray]] = [
        lambda: _dead_leaves(size, rng),
        lambda: _pink_noise(size, rng),
        lambda: _shapes(size, rng),
        lambda: _shuffled_tiles(xrays, size, rng),
    ]
    if samples:
        makers.append(lambda: _sample_crop(samples, size, rng))
    return np.stack([makers[k % len(makers)]() for k in range(n)])
