"""Test-time augmentation views: the identity view is the image, shifts move it, probabilities stay valid."""

from __future__ import annotations

import numpy as np
import torch

from pneumogan.classify import models
from pneumogan.classify.tta import _view, tta_proba


def test_views_identity_shift_and_zoom():
    img = np.zeros((1, 32, 32), np.uint8)
    img[0, 10:20, 10:20] = 200
    assert np.array_equal(_view(img, 0, 0, 1.0), img)
    shifted = _view(img, 2, 0, 1.0)
    assert np.array_equal(shifted[0, 10:20, 12:22], img[0, 10:20, 10:20])  # content moved 2 px to the right
    assert (_view(img, 0, 0, 1.5) > 0).sum() > (img > 0).sum()  # zoom in enlarges the square


def test_tta_proba_is_a_distribution():
    torch.manual_seed(0)
    model = models.build("simple_cnn", 2, image_size=32).eval()
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32), dtype=np.uint8)
    p = tta_proba(model, images, 0.5, 0.5, torch.device("cpu"))
    assert p.shape == (3, 2) and np.allclose(p.sum(1), 1, atol=1e-5)
