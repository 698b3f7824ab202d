"""The images the OOD check learns from: synthetic non-X-rays of several kinds, reproducible from a seed, and
X-rays under mild acquisition variation that stay recognisably the same picture."""

from __future__ import annotations

import numpy as np

from pneumogan.ood.outliers import acquisition_variation, matplotlib_samples, synthetic_outliers, vary_all


def fake_xrays(n: int, size: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    base = 60 + 150 * np.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (size * 4))
    return np.clip(base[None] + np.random.default_rng(0).normal(0, 5, (n, size, size)), 0, 255).astype(np.uint8)


def test_acquisition_variation_changes_pixels_not_the_picture() -> None:
    image = fake_xrays(1)[0]
    out = acquisition_variation(image, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)
    assert np.corrcoef(out.ravel().astype(float), image.ravel().astype(float))[0, 1] > 0.8
    assert vary_all(fake_xrays(4), 3, seed=1).shape == (12, 32, 32)
    assert np.array_equal(vary_all(fake_xrays(4), 2, seed=1), vary_all(fake_xrays(4), 2, seed=1))


def test_synthetic_outliers_are_varied_and_reproducible() -> None:
    xrays = fake_xrays(10)
    out = synthetic_outliers(32, 20, seed=3, xrays=xrays)
    assert out.shape == (20, 32, 32) and out.dtype == np.uint8
    assert np.array_equal(out, synthetic_outliers(32, 20, seed=3, xrays=xrays))
    assert not np.array_equal(out, synthetic_outliers(32, 20, seed=4, xrays=xrays))
    kinds = 5 if matplotlib_samples() else 4
    assert len({img.tobytes() for img in out}) == 20
    # kind k % kinds: the shuffled-tile images reuse an X-ray's pixels, the others do not look like one
    tiles = out[3::kinds]
    assert all(sorted(t.ravel().tolist()) in [sorted(x.ravel().tolist()) for x in xrays] for t in tiles)
    assert float(out.std(axis=(1, 2)).min()) > 1  # no blank images


def test_matplotlib_samples_are_grayscale_arrays() -> None:
    samples = matplotlib_samples()
    assert samples, "matplotlib ships sample photographs and maps; the outlier set uses them"
    assert all(s.ndim == 2 and s.dtype == np.uint8 and min(s.shape) >= 64 for s in samples)
