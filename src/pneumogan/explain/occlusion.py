"""Shortcut check by occlusion: how well does a classifier do when it sees only the border, or only the chest?

A model that still separates the classes with the central thoracic box blanked out is reading something other
than the lungs (collimation edges, markers, body size). Grad-CAM says where a map points; this says whether
the prediction depends on it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from pneumogan.classify.inference import positive_score, predict_proba
from pneumogan.data.regions import THORAX_BOX, Box, box_slices
from pneumogan.evaluate.metrics import evaluate_scores

Keep = Literal["all", "centre", "border"]
VIEWS: tuple[Keep, ...] = ("all", "centre", "border")


def occlude(images: np.ndarray, keep: Keep, fill: int, box: Box = THORAX_BOX) -> np.ndarray:
    """Copy of uint8 images (N, H, W) with the part not kept set to the grey level `fill`.

    keep="centre" blanks everything outside `box`; keep="border" blanks the box itself; "all" changes nothing.
    One constant for every image (the training mean, which the model sees as 0): a per-image fill such as the
    image's own mean would carry information from the blanked part into the kept one.
    """
    out = np.array(images, dtype=np.uint8)  # a copy: the caller's (possibly memory-mapped) array stays as it is
    if keep == "all":
        return out
    rows, cols = box_slices(out.shape, box)
    mask = np.zeros(out.shape[-2:], dtype=bool)
    mask[rows, cols] = True
    if keep == "centre":
        mask = ~mask
    elif keep != "border":
        raise ValueError(f"keep must be one of {VIEWS}, not {keep!r}")
    out[:, mask] = fill
    return out


def occlusion_check(
    model: torch.nn.Module,
    preprocessing: dict[str, Any],
    images: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    device: torch.device,
    box: Box = THORAX_BOX,
    n_boot: int = 1000,
) -> dict[Keep, dict[str, Any]]:
    """Test metrics (with bootstrap CIs) of the model on the full images, the centre only and the border only."""
    results: dict[Keep, dict[str, Any]] = {}
    fill = round(255 * preprocessing["mean"])
    for keep in VIEWS:
        proba = predict_proba(
            model, occlude(images, keep, fill, box), preprocessing["mean"], preprocessing["std"], device
        )
        res = evaluate_scores(np.asarray(labels), positive_score(proba), threshold, n_boot=n_boot, seed=0)
        results[keep] = {k: res[k] for k in ("accuracy", "roc_auc", "recall", "specificity")}
        results[keep]["ci"] = {k: res["ci"][k] for k in ("accuracy", "roc_auc")}
    return results
