"""Conditioning really conditions: a conditional GAN trained on two visibly different classes (dark and bright
images) samples dark images for one class and bright ones for the other. Built from generated files, no real
data needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pneumogan.config import load_config
from pneumogan.gan.checkpoint import load_generator
from pneumogan.gan.sample import generate, latent_seed
from pneumogan.gan.train import train_gan

SIZE = 28


def write_two_class_folder(root, per_class: int = 48):
    """NORMAL: dark images; PNEUMONIA: bright ones (both with noise and a soft blob, so they are not flat)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    for split in ("train", "test"):
        for cls, level in (("NORMAL", 50), ("PNEUMONIA", 200)):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(per_class if split == "train" else 4):
                blob = 30 * np.exp(-(((xx - rng.random()) ** 2 + (yy - rng.random()) ** 2) / 0.05))
                img = np.clip(level + blob + rng.normal(0, 10, (SIZE, SIZE)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f"person{i}_{cls.lower()}_{i}.png")
    return root


@pytest.mark.parametrize("family", ["cgan", "acgan"])
def test_conditional_families_produce_class_dependent_samples(family, tmp_path):
    source = write_two_class_folder(tmp_path / "data")
    cfg = load_config(
        None,
        [
            f"data.source={source}",
            f"data.cache_dir={tmp_path / 'cache'}",
            f"data.size={SIZE}",
            f"gan.family={family}",
            "gan.steps=150",
            "gan.batch_size=16",
            "gan.z_dim=16",
            "gan.g_channels=16",
            "gan.d_channels=16",
            "gan.lr_g=0.002",
            "gan.lr_d=0.002",
            "gan.diffaugment=",
            "gan.ema=false",
            "gan.sample_every=150",
            "gan.checkpoint_every=150",
            "split.val_fraction=0.2",
        ],
    )
    out = train_gan(cfg, tmp_path / "gan", log=lambda *_: None)
    g, meta = load_generator(out)
    assert meta["class_names"] == ["NORMAL", "PNEUMONIA"]
    seeds = [latent_seed(0, 0, i) for i in range(32)]
    normal, pneumonia = generate(g, 0, seeds, torch.device("cpu")), generate(g, 1, seeds, torch.device("cpu"))
    # The same latents, only the class differs: the bright class must come out brighter, by a wide margin.
    assert pneumonia.mean() - normal.mean() > 40, (normal.mean(), pneumonia.mean())
