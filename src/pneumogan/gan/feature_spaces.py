"""Feature spaces for the GAN metrics: a classifier's penultimate layer (trained to separate the classes) and a
self-supervised encoder's (trained on the real training images without labels, so not blind by construction
to what the labels ignore). Each is a `FeatureExtractor`: uint8 images → features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pneumogan.classify.encoder import init_from_encoder, read_encoder_meta
from pneumogan.classify.models import build
from pneumogan.evaluate.gan_metrics import FeatureExtractor


def encoder_extractor(directory: str | Path, device: torch.device) -> tuple[FeatureExtractor, dict[str, Any]]:
    """The features of an `ssl pretrain` encoder (its backbone's pooled output; the classifier head that
    `FeatureExtractor` hooks is untrained and only its input is used)."""
    meta = read_encoder_meta(directory)
    model = build(meta["arch"], 2, image_size=meta["image_size"])
    init_from_encoder(model, meta["arch"], directory)
    pre = meta["preprocessing"]
    extractor = FeatureExtractor(model.to(device), pre["mean"], pre["std"], meta["image_size"], device)
    # the weights' hash names the space exactly: two folders with the same hash give the same features
    info = {"space": "ssl_encoder", "path": str(Path(directory).resolve()), "arch": meta["arch"]}
    return extractor, info | {"encoder_sha256": meta.get("encoder_sha256")}
