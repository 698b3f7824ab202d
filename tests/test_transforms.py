from __future__ import annotations

import numpy as np
import torch
from tests.corpus import xray_like

from pneumogan.config import AugmentConfig
from pneumogan.data.datasets import ImageDataset
from pneumogan.data.transforms import build_train_transform


def make_ds(cfg: AugmentConfig, seed: int = 0) -> ImageDataset:
    images = np.stack([xray_like(32, seed=i) for i in range(4)])
    return ImageDataset(images, np.array([0, 1, 0, 1]), build_train_transform(cfg, 32), seed=seed)


def test_disabled_augmentation_is_identity_and_normalised():
    ds = make_ds(AugmentConfig(enabled=False))
    x, y = ds[1]
    assert ds.transform is None and y == 1 and x.shape == (1, 32, 32) and x.dtype == torch.float32
    expected = (torch.from_numpy(xray_like(32, seed=1)).float() / 255 - 0.5) / 0.5
    assert torch.allclose(x[0], expected)


def test_augmentation_is_seeded_per_epoch_and_index():
    ds = make_ds(AugmentConfig(prob=1.0, flip_prob=0.5))
    a, b = ds[0][0], ds[0][0]
    assert torch.equal(a, b)  # same (seed, epoch, index) → same sample
    ds.set_epoch(1)
    assert not torch.equal(a, ds[0][0])  # a new epoch draws new augmentation
    other = make_ds(AugmentConfig(prob=1.0, flip_prob=0.5), seed=1)
    assert not torch.equal(a, other[0][0])
    assert a.min() >= -1.0 and a.max() <= 1.0 and type(a) is torch.Tensor


def test_augmentation_changes_the_image_but_keeps_it_recognisable():
    ds_aug, ds_plain = make_ds(AugmentConfig(prob=1.0)), make_ds(AugmentConfig(enabled=False))
    aug, plain = ds_aug[2][0].ravel().numpy(), ds_plain[2][0].ravel().numpy()
    assert not np.allclose(aug, plain)
    assert np.corrcoef(aug, plain)[0, 1] > 0.5
