"""A pretrained encoder folder: `encoder.safetensors` (the backbone's weights under the classifier's own
parameter names, head excluded) + `meta.json` (architecture, image size, normalisation, data fingerprint);
and starting a classifier from it (`classify.init_from`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from torch import nn

from pneumogan.artefacts import EncoderMeta, stamp
from pneumogan.classify.models import head_parameter_names
from pneumogan.errors import PneumoganError
from pneumogan.layout import ENCODER_WEIGHTS, META
from pneumogan.runs import atomic_save_tensors, atomic_write_json


def save_encoder(directory: str | Path, encoder: nn.Module, meta: dict[str, Any]) -> str:
    """Write the encoder and its meta.json; returns the weights' SHA-256 (recorded by classifiers)."""
    directory = Path(directory)
    path = atomic_save_tensors(directory / ENCODER_WEIGHTS, encoder)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    atomic_write_json(directory / META, stamp({**meta, "encoder_sha256": digest}))
    return digest


def read_encoder_meta(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    if not (directory / ENCODER_WEIGHTS).is_file() or not (directory / META).is_file():
        raise PneumoganError(
            f"{directory} is not a pretrained encoder (needs {ENCODER_WEIGHTS} and {META}); "
            "make one with `pneumogan ssl pretrain --out DIR`"
        )
    meta = json.loads((directory / META).read_text())
    if meta.get("kind") != "ssl_encoder":
        raise PneumoganError(f"{directory}/{META} does not describe a self-supervised encoder")
    return EncoderMeta.model_validate(meta).as_dict()


def init_from_encoder(model: nn.Module, arch: str, directory: str | Path) -> dict[str, Any]:
    """Load an encoder's weights into classifier `model` (architecture `arch`): every parameter but the final
    Linear layer's must come from the encoder. Returns the encoder's meta."""
    from safetensors.torch import load_file

    meta = read_encoder_meta(directory)
    if meta["arch"] != arch:
        raise PneumoganError(
            f"the encoder in {directory} is a {meta['arch']} backbone; set classify.arch={meta['arch']} to use it"
        )
    state = load_file(str(Path(directory) / ENCODER_WEIGHTS))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if set(missing) != head_parameter_names(arch) or unexpected:
        raise PneumoganError(
            f"the encoder in {directory} does not fit {arch}: missing {sorted(set(missing))[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    return meta
