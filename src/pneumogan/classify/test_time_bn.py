"""TRANSDUCTIVE test-time batch-norm adaptation (Nado et al. 2020, "Evaluating prediction-time batch
normalization"; Schneider et al. 2020): the BatchNorm layers' running statistics are re-estimated on the
unlabelled evaluation images, everything else stays as trained. It looks at the evaluation split, so its
figures are reported apart and never as a headline."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from pneumogan.data.datasets import normalise

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, BATCHNORMS)]


@torch.no_grad()
def adapt_batchnorm(
    model: nn.Module, images: np.ndarray, mean: float, std: float, device: torch.device, batch_size: int = 128
) -> nn.Module:
    """A copy of `model` whose BatchNorm statistics are the average over the batches of `images` (uint8
    (N, S, S)); the original model is untouched. Batches are equally weighted (cumulative average)."""
    adapted = copy.deepcopy(model).eval()
    layers = batchnorm_layers(adapted)
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average over the batches seen
        layer.train()
    # near-equal batches: a last batch of one image would have no batch variance
    for rows in np.array_split(np.arange(len(images)), max(1, -(-len(images) // batch_size))):
        batch = torch.tensor(np.asarray(images[rows[0] : rows[-1] + 1], dtype=np.uint8))[:, None]
        adapted(normalise(batch, mean, std).to(device))
    for layer in layers:
        layer.eval()
    return adapted


def batchnorm_report(
    model: nn.Module, images: np.ndarray, y: np.ndarray, threshold: float, pre: dict, device: torch.device
) -> dict[str, object]:
    """TRANSDUCTIVE: metrics at the val-chosen threshold after re-estimating BatchNorm statistics on the
    unlabelled evaluation images (the labels `y` only score the result)."""
    from pneumogan.classify.inference import positive_score, predict_proba
    from pneumogan.evaluate.metrics import binary_metrics

    report: dict[str, object] = {"transductive": True, "method": "test-time BatchNorm statistics (no labels)"}
    if not batchnorm_layers(model):
        return {**report, "applicable": False, "reason": "the model has no BatchNorm layers"}
    adapted = adapt_batchnorm(model, images, pre["mean"], pre["std"], device)
    p = positive_score(predict_proba(adapted, images, pre["mean"], pre["std"], device))
    keys = ("accuracy", "recall", "specificity", "precision", "f1", "roc_auc")
    metrics = binary_metrics(y, p, threshold)
    return {**report, "applicable": True, "threshold": threshold, **{k: metrics[k] for k in keys}}
