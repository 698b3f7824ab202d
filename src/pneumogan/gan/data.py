"""The images a GAN learns from: the real training split only, in [-1, 1], with the labels G is conditioned on."""

from __future__ import annotations

import numpy as np
import torch

from pneumogan.config import Config
from pneumogan.data.labels import BINARY_CLASSES, THREE_CLASSES
from pneumogan.data.loading import load_splits
from pneumogan.errors import PneumoganError
from pneumogan.generator_families import is_conditional


def real_images_config(meta: dict) -> Config:
    """The config whose `training_images` are the real images of every class the generator of `meta` makes.
    A per-class generator (`gan combine`) carries a one-class DCGAN's recipe, a diffusion model the gan
    section's defaults; their classes are a conditional run's."""
    cfg = Config.model_validate(meta["config"])
    if meta["model"].get("per_class"):
        cfg.gan.family = "cgan"
    if meta.get("kind") == "diffusion":  # conditional over its own classes, whatever the gan section says
        cfg.gan.family, cfg.gan.num_classes = "cgan", meta["model"]["num_classes"]
    return cfg


def training_images(cfg: Config) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Real training-split images in [-1, 1], their GAN labels, and the class names G is conditioned on."""
    real_only = cfg.model_copy(deep=True)
    real_only.data.extra_train, real_only.data.train_real = [], True
    train = load_splits(real_only).train
    gan_cfg = cfg.gan
    if not is_conditional(gan_cfg.family):  # one model per class: its own class only
        names = list(BINARY_CLASSES) + list(THREE_CLASSES[1:])
        target = gan_cfg.target_class.upper()
        if target not in names:
            raise PneumoganError(f"gan.target_class must be one of {names}, got {gan_cfg.target_class}")
        mask = (
            (train.labels == BINARY_CLASSES.index(target))
            if target in BINARY_CLASSES
            else (train.labels3 == THREE_CLASSES.index(target))
        )
        labels, class_names = np.zeros(int(mask.sum()), np.int64), [target]
    elif gan_cfg.num_classes == 3:
        mask, class_names = train.labels3 >= 0, list(THREE_CLASSES)
        labels = train.labels3[mask].astype(np.int64)
    else:
        mask, class_names = np.ones(len(train), bool), list(BINARY_CLASSES)
        labels = train.labels.astype(np.int64)
    images = torch.from_numpy(np.asarray(train.images)[mask].astype(np.float32)).div_(127.5).sub_(1.0)[:, None]
    if len(images) < gan_cfg.batch_size:
        raise PneumoganError(f"only {len(images)} training images for the GAN; lower gan.batch_size")
    return images, torch.from_numpy(labels), class_names
