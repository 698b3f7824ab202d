"""Classifier augmentation throughput, batch 64 at 64 px, three ways: the MONAI per-image pipeline the project
used before (flip, RandAffine with border padding, contrast, brightness, clip — one image at a time), the
project's batched `data.augment.BatchAugment` (one affine_grid per batch), and kornia's batched equivalent when
kornia is installed (it is not a dependency). Images/s, median of several batches; the same settings
(`augment` defaults, prob 0.8) for all three.

Usage: python benchmarks/bench_augment.py [--size 64] [--repeats 20]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

from pneumogan.config import AugmentConfig
from pneumogan.data.augment import BatchAugment


def rate(fn: Callable[[], object], repeats: int, batch: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def monai_per_image(cfg: AugmentConfig, size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    from monai.transforms import Compose, RandAffine, RandScaleIntensityFixedMean, RandShiftIntensity

    pipeline = Compose(
        [
            RandAffine(
                prob=cfg.prob,
                rotate_range=math.radians(cfg.rotate_deg),
                scale_range=(cfg.zoom, cfg.zoom),
                shear_range=(cfg.shear, cfg.shear),
                translate_range=(cfg.translate * size, cfg.translate * size),
                padding_mode="border",
                spatial_size=(size, size),
                cache_grid=True,
            ),
            RandScaleIntensityFixedMean(prob=cfg.prob, factors=cfg.contrast),
            RandShiftIntensity(prob=cfg.prob, offsets=cfg.brightness),
        ]
    )
    return lambda x: torch.stack([torch.as_tensor(pipeline(img)).clamp(0, 1) for img in x])


def kornia_batched(cfg: AugmentConfig):
    try:
        import kornia.augmentation as K
    except ImportError:
        return None
    pipeline = K.AugmentationSequential(
        K.RandomAffine(
            degrees=cfg.rotate_deg,
            translate=(cfg.translate, cfg.translate),
            scale=(1 - cfg.zoom, 1 + cfg.zoom),
            shear=math.degrees(math.atan(cfg.shear)),
            padding_mode="border",
            p=cfg.prob,
        ),
        K.RandomContrast(contrast=(1 - cfg.contrast, 1 + cfg.contrast), p=cfg.prob, clip_output=False),
        K.RandomBrightness(brightness=(1 - cfg.brightness, 1 + cfg.brightness), p=cfg.prob, clip_output=True),
    )
    return lambda x: pipeline(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    cfg = AugmentConfig()
    x = torch.rand(args.batch, 1, args.size, args.size)
    idx = np.arange(args.batch)
    ours = BatchAugment(cfg, seed=0)
    per_image = monai_per_image(cfg, args.size)
    results = {
        "monai_per_image": rate(lambda: per_image(x), args.repeats, args.batch),
        "batch_augment": rate(lambda: ours(x, idx, 0), args.repeats, args.batch),
    }
    kornia = kornia_batched(cfg)
    if kornia is not None:
        import kornia as kornia_pkg

        results["kornia"] = rate(lambda: kornia(x), args.repeats, args.batch)
        results["kornia_version"] = kornia_pkg.__version__
    for name, value in results.items():
        print(f"{name:<16} {value if isinstance(value, str) else f'{value:,.0f} images/s'}")
    save(f"augment_{args.size}px", {"args": vars(args), "images_per_s": results})


if __name__ == "__main__":
    main()
