"""Test-time augmentation views: the identity view is the image, shifts move it, and the TTA output is the mean
of the views' probabilities."""

from __future__ import annotations

import numpy as np
import torch

from pneumogan.classify import models
from pneumogan.classify.inference import predict_proba
from pneumogan.classify.tta import _view, tta_proba


def test_views_identity_shift_and_zoom():
    img = np.zeros((1, 32, 32), np.uint8)
    img[0, 10:20, 10:20] = 200
    assert np.array_equal(_view(img, 0, 0, 1.0), img)
    shifted = _view(img, 2, 0, 1.0)
    assert np.array_equal(shifted[0, 10:20, 12:22], img[0, 10:20, 10:20])  # content moved 2 px to the right
    assert (_view(img, 0, 0, 1.5) > 0).sum() > (img > 0).sum()  # zoom in enlarges the square


class BrightnessModel(torch.nn.Module):
    """P(class 1) rises with the mean brightness of the left half: shifts change it, so views matter."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = x[..., : x.shape[-1] // 2].mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(left), 4 * left], dim=1)


def test_tta_proba_is_the_mean_over_the_views():
    model, cpu = BrightnessModel(), torch.device("cpu")
    images = np.zeros((2, 32, 32), np.uint8)
    images[:, :, 14:18] = 255  # a bright stripe at the centre: a 2 px shift moves it across the halves
    views = ((0, 0, 1.0), (2, 0, 1.0), (-2, 0, 1.0))
    per_view = [predict_proba(model, _view(images, *v), 0.5, 0.5, cpu) for v in views]
    assert not np.allclose(per_view[1], per_view[2])  # the shifted views really differ
    p = tta_proba(model, images, 0.5, 0.5, cpu, views=views)
    assert np.allclose(p, np.mean(per_view, axis=0), atol=1e-6) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert not np.allclose(p, per_view[0])  # not just the identity view
    only_identity = tta_proba(model, images, 0.5, 0.5, cpu, views=views[:1])
    assert np.allclose(only_identity, per_view[0], atol=1e-6)


def test_tta_on_a_real_network_keeps_shapes():
    torch.manual_seed(0)
    model = models.build("simple_cnn", 2, image_size=32).eval()
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32), dtype=np.uint8)
    p = tta_proba(model, images, 0.5, 0.5, torch.device("cpu"))
    assert p.shape == (3, 2) and np.allclose(p.sum(1), 1, atol=1e-5)
