"""Fitting the out-of-distribution check (`pneumogan.ood`) for a classifier: its features through ordinary
inference, and a saved checkpoint refitted on the data its meta.json names (`classify fit-ood`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pneumogan.ood.check import DEFAULT_QUANTILE, OOD_FIT_PRECISION, FeatureTap, OodDetector, describe, fit_ood


def feature_extractor(
    model: nn.Module, mean: float, std: float, device: torch.device, precision: str = OOD_FIT_PRECISION
):
    """`extract(images) -> features` for `fit_ood`: ordinary inference with a `FeatureTap` around it."""
    from pneumogan.classify.inference import model_outputs

    def extract(images: np.ndarray) -> np.ndarray:
        with FeatureTap(model) as tap:
            model_outputs(model, images, mean, std, device, precision=precision)
        return tap.features()

    return extract


def fit_checkpoint_ood(
    checkpoint: str | Path,
    quantile: float = DEFAULT_QUANTILE,
    data_source: str | None = None,
    log: Any = print,
    method: str = "outlier_exposure",
) -> OodDetector:
    """Fit the check for a saved checkpoint (single model or ensemble) on the data its meta.json names, and save
    it beside the weights: what `classify fit-ood` runs for checkpoints trained before the check existed."""
    from pneumogan.classify.checkpoint import load_checkpoint
    from pneumogan.config import Config
    from pneumogan.data.loading import load_splits
    from pneumogan.device import resolve_device

    device = resolve_device("auto")
    model, meta = load_checkpoint(checkpoint, device)
    cfg = Config.model_validate(meta["config"])
    if data_source:
        cfg.data.source = data_source
    data = load_splits(cfg)
    pre = meta["preprocessing"]
    extract = feature_extractor(model, pre["mean"], pre["std"], device)
    detector = fit_ood(extract, data.train.images, data.val.images, quantile, seed=cfg.seed, method=method)
    detector.save(checkpoint)
    log(describe(detector))
    return detector
