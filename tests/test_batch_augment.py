from __future__ import annotations

import math

import numpy as np
import torch
from tests.corpus import xray_like

from pneumogan.config import AugmentConfig
from pneumogan.data.augment import BatchAugment, uniforms
from pneumogan.data.datasets import TrainBatches

OFF = dict(rotate_deg=0, zoom=0, shear=0, translate=0, brightness=0, contrast=0, flip_prob=0)


def images(n: int = 6, size: int = 32) -> np.ndarray:
    return np.stack([xray_like(size, seed=i) for i in range(n)])


def as_batch(imgs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(imgs).float().div(255)[:, None]


def test_uniforms_are_a_function_of_seed_epoch_and_index_only():
    a = uniforms(0, 0, np.array([5, 6, 7]))
    assert a.shape == (3, 13) and (a >= 0).all() and (a < 1).all()
    assert np.array_equal(uniforms(0, 0, np.array([7, 5]))[:, :], a[[2, 0]])  # order / company do not matter
    assert not np.allclose(uniforms(0, 1, np.array([5])), a[:1])  # a new epoch draws anew
    assert not np.allclose(uniforms(1, 0, np.array([5])), a[:1])  # so does a new seed
    big = uniforms(3, 2, np.arange(20_000))
    assert abs(big.mean() - 0.5) < 0.01 and abs(np.corrcoef(big[:, 0], big[:, 1])[0, 1]) < 0.03


def test_disabled_or_identity_settings_return_the_input():
    x = as_batch(images())
    idx = np.arange(len(x))
    assert BatchAugment(AugmentConfig(enabled=False), 0)(x, idx, 0) is x
    same = BatchAugment(AugmentConfig(prob=1.0, **OFF), 0)(x, idx, 0)
    assert torch.equal(same, x) and same is not x


def test_seeded_per_image_whatever_the_batch_and_rank():
    aug = BatchAugment(AugmentConfig(prob=1.0, flip_prob=0.5), seed=4)
    x = as_batch(images())
    whole = aug(x, np.arange(6), epoch=2)
    assert torch.equal(whole, aug(x, np.arange(6), epoch=2))  # same run, same batch
    # Two "ranks" holding disjoint halves of the epoch reproduce exactly the single-process images.
    rank0, rank1 = aug(x[0::2], np.arange(0, 6, 2), 2), aug(x[1::2], np.arange(1, 6, 2), 2)
    assert torch.allclose(rank0, whole[0::2], atol=1e-6) and torch.allclose(rank1, whole[1::2], atol=1e-6)
    assert not torch.allclose(whole, aug(x, np.arange(6), epoch=3))
    assert not torch.allclose(whole, BatchAugment(AugmentConfig(prob=1.0, flip_prob=0.5), 5)(x, np.arange(6), 2))
    assert whole.shape == x.shape and whole.dtype == torch.float32
    assert whole.min() >= 0 and whole.max() <= 1


def test_each_part_does_what_its_name_says():
    x = as_batch(images(4))
    idx = np.arange(4)
    flipped = BatchAugment(AugmentConfig(prob=1.0, **{**OFF, "flip_prob": 1.0}), 0)(x, idx, 0)
    assert torch.equal(flipped, x.flip(-1))
    # A pure shift moves content: rows/columns match the input shifted by a whole number of pixels or so.
    shift = BatchAugment(AugmentConfig(prob=1.0, **{**OFF, "translate": 0.2}), 0)(x, idx, 0)
    assert not torch.allclose(shift, x) and shift.shape == x.shape
    # Contrast about the image mean keeps the mean (before clipping, on a mid-grey image nothing clips).
    grey = torch.full((4, 1, 16, 16), 0.5) + 0.1 * torch.linspace(-1, 1, 16).view(1, 1, 1, 16)
    contrast = BatchAugment(AugmentConfig(prob=1.0, **{**OFF, "contrast": 0.3}), 0)(grey, idx, 0)
    assert torch.allclose(contrast.mean(dim=(1, 2, 3)), grey.mean(dim=(1, 2, 3)), atol=1e-5)
    ratio = (contrast - 0.5).abs().amax(dim=(1, 2, 3)) / 0.1
    assert ((ratio > 0.7 - 1e-4) & (ratio < 1.3 + 1e-4)).all() and not torch.allclose(ratio, torch.ones(4))
    bright = BatchAugment(AugmentConfig(prob=1.0, **{**OFF, "brightness": 0.2}), 0)(grey, idx, 0)
    offset = (bright - grey).mean(dim=(1, 2, 3))
    assert torch.allclose(bright - grey, offset.view(-1, 1, 1, 1), atol=1e-6) and offset.abs().max() <= 0.2


def test_rotation_matches_the_configured_range():
    # A bright dot off centre rotates about the centre by an angle within ±rotate_deg.
    size, deg = 33, 20.0
    x = torch.zeros(64, 1, size, size)
    x[:, :, 16, 26] = 1.0  # 10 px right of the centre
    out = BatchAugment(AugmentConfig(prob=1.0, **{**OFF, "rotate_deg": deg}), 1)(x, np.arange(64), 0)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    w = out[:, 0]
    cy = (w * ys).sum((1, 2)) / w.sum((1, 2)) - 16
    cx = (w * xs).sum((1, 2)) / w.sum((1, 2)) - 16
    angles = torch.rad2deg(torch.atan2(cy, cx))
    assert angles.abs().max() <= deg + 1.5 and angles.abs().max() > deg / 2  # the range is used, not exceeded
    assert torch.allclose(torch.hypot(cx, cy), torch.full((64,), 10.0), atol=0.6)  # a rotation keeps radius
    assert math.isclose(float(out.sum((1, 2, 3)).mean()), 1.0, abs_tol=0.05)


def test_augmented_images_stay_recognisable_and_labels_travel_with_them():
    imgs, labels = images(), np.array([0, 1, 0, 1, 1, 0])
    batches = TrainBatches(imgs, labels, BatchAugment(AugmentConfig(prob=1.0), 0), mean=0.5, std=0.5)
    x, y = batches.batch([4, 1, 0], epoch=0)
    assert y.tolist() == [1, 1, 0] and x.shape == (3, 1, 32, 32) and x.dtype == torch.float32
    plain = (as_batch(imgs[[4, 1, 0]]) - 0.5) / 0.5
    assert not torch.allclose(x, plain)
    for a, b in zip(x, plain, strict=True):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.5
    assert x.min() >= -1 and x.max() <= 1


def test_train_batches_cover_the_order_in_batches():
    imgs, labels = images(5), np.arange(5) % 2
    plain = TrainBatches(imgs, labels)
    got = list(plain.epoch([3, 1, 4, 0, 2], batch_size=2, epoch=0))
    assert [len(y) for _, y in got] == [2, 2, 1]
    assert torch.equal(torch.cat([y for _, y in got]), torch.tensor([1, 1, 0, 0, 0]))
    assert torch.allclose(got[0][0][0, 0], (torch.from_numpy(imgs[3]).float() / 255 - 0.5) / 0.5)
