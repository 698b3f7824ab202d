"""Using a trained classifier: probabilities for uint8 images and the positive-class score.

Training, evaluation, prediction, TTA, occlusion, ONNX checks and the GAN metrics all score images through
these functions, so "P(pneumonia)" means the same thing everywhere.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pneumogan.data.datasets import normalise
from pneumogan.device import autocast


def model_outputs(
    model: nn.Module,
    images: np.ndarray,
    mean: float,
    std: float,
    device: torch.device,
    batch_size: int = 256,
    precision: str = "fp32",
) -> np.ndarray:
    """The model's raw outputs (logits, or features for an encoder) as float32 (N, D) for uint8 images
    (N, S, S); `precision` is a resolved one (fp32 | bf16)."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            # A copy: the prepared arrays may be a read-only memory map.
            batch = torch.tensor(np.asarray(images[start : start + batch_size], dtype=np.uint8))[:, None]
            with autocast(device, precision):
                outputs = model(normalise(batch, mean, std).to(device))
            out.append(outputs.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.float32)


def predict_proba(
    model: nn.Module,
    images: np.ndarray,
    mean: float,
    std: float,
    device: torch.device,
    batch_size: int = 256,
    precision: str = "fp32",
) -> np.ndarray:
    """Softmax probabilities (N, C) for uint8 images (N, S, S); `precision` is a resolved one (fp32 | bf16)."""
    logits = model_outputs(model, images, mean, std, device, batch_size, precision)
    return torch.softmax(torch.from_numpy(logits), dim=1).numpy() if len(logits) else logits


def positive_score(proba: np.ndarray) -> np.ndarray:
    """P(pneumonia) = 1 − P(NORMAL), for binary and 3-class models alike (class 0 is NORMAL in both)."""
    return 1.0 - np.asarray(proba)[..., 0]
