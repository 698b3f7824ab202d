"""Augmentation for classifier training, built from MONAI transforms on (1, H, W) float tensors in [0, 1]."""

from __future__ import annotations

import math

from pneumogan.config import AugmentConfig


def build_train_transform(cfg: AugmentConfig, size: int):
    """The classic augmentation of the seeds (flip, rotation, zoom, shear, shift, brightness/contrast).

    Returns None when augmentation is disabled, so evaluation and training share one code path.
    """
    if not cfg.enabled:
        return None
    from monai.transforms import (
        Compose,
        RandAffine,
        RandFlip,
        RandScaleIntensityFixedMean,
        RandShiftIntensity,
        ScaleIntensityRange,
    )

    steps = []
    if cfg.flip_prob > 0:
        steps.append(RandFlip(prob=cfg.flip_prob, spatial_axis=1))  # axis 1 of (H, W): left-right
    if any((cfg.rotate_deg, cfg.zoom, cfg.shear, cfg.translate)):
        steps.append(
            RandAffine(
                prob=cfg.prob,
                rotate_range=math.radians(cfg.rotate_deg),
                scale_range=(cfg.zoom, cfg.zoom),
                shear_range=(cfg.shear, cfg.shear),
                translate_range=(cfg.translate * size, cfg.translate * size),
                padding_mode="border",  # repeat the edge instead of inventing black borders
                spatial_size=(size, size),
                cache_grid=True,
            )
        )
    if cfg.contrast > 0:
        steps.append(RandScaleIntensityFixedMean(prob=cfg.prob, factors=cfg.contrast))
    if cfg.brightness > 0:
        steps.append(RandShiftIntensity(prob=cfg.prob, offsets=cfg.brightness))
    steps.append(ScaleIntensityRange(a_min=0.0, a_max=1.0, b_min=0.0, b_max=1.0, clip=True))
    return Compose(steps)
