"""Classifier checkpoints: `model.safetensors` (weights only) + `meta.json` (everything needed to use them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pneumogan.artefacts import ClassifierMeta, stamp
from pneumogan.classify.ensemble_model import ARCH as ENSEMBLE
from pneumogan.classify.ensemble_model import MEMBERS, Ensemble
from pneumogan.errors import PneumoganError
from pneumogan.layout import CLASSIFIER_WEIGHTS as WEIGHTS
from pneumogan.layout import META
from pneumogan.runs import atomic_save_tensors, atomic_write_json


def save_checkpoint(directory: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    directory = Path(directory)
    atomic_save_tensors(directory / WEIGHTS, model)
    atomic_write_json(directory / META, stamp(meta))
    return directory


def read_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / META
    if not path.is_file():
        raise PneumoganError(f"{directory} is not a classifier checkpoint (no {META})")
    return ClassifierMeta.model_validate(json.loads(path.read_text())).as_dict()


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the architecture named in meta.json and load its safetensors weights (never pickles); an
    ensemble folder loads as one `Ensemble` module."""
    from safetensors.torch import load_file

    from pneumogan.classify.models import build

    directory = Path(directory)
    meta = read_meta(directory)
    if meta.get("arch") == ENSEMBLE:
        return load_ensemble(directory, meta).to(device).eval(), meta
    if not (directory / WEIGHTS).is_file():
        raise PneumoganError(f"{directory} has no {WEIGHTS}")
    model = build(
        meta["arch"],
        meta["num_classes"],
        meta["in_channels"],
        blank_border=meta["blank_border"],
        standardise_input=meta["standardise_input"],
    )
    model.load_state_dict(load_file(str(directory / WEIGHTS)))
    return model.to(device).eval(), meta


def load_ensemble(directory: Path, meta: dict[str, Any]) -> Ensemble:
    """The members stored in `directory`/members/<k>/ as one `Ensemble` module (`meta`: the ensemble's)."""
    loaded = [load_checkpoint(directory / MEMBERS / str(k)) for k in range(len(meta["members"]))]
    pre = [m["preprocessing"] for _, m in loaded]
    return Ensemble([net for net, _ in loaded], [p["size"] for p in pre], [(p["mean"], p["std"]) for p in pre])


def init_from_classifier(model: nn.Module, arch: str, directory: str | Path) -> dict[str, Any]:
    """Load every weight of a trained classifier checkpoint (same architecture and classes) into `model`: the
    start of fine-tuning a model trained elsewhere (e.g. on synthetic images only, then on real ones). Returns
    the facts `classify.init_from` records, shaped like an encoder's meta."""
    import hashlib

    from safetensors.torch import load_file

    directory = Path(directory)
    meta = read_meta(directory)
    if meta.get("arch") != arch:
        raise PneumoganError(f"{directory} holds a {meta.get('arch')} classifier; set classify.arch={meta.get('arch')}")
    state = load_file(str(directory / WEIGHTS))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise PneumoganError(f"the classifier in {directory} does not fit this model: {str(exc)[:300]}") from None
    return {
        "method": "trained classifier checkpoint",
        "epochs": (meta.get("epoch") or 0) + 1,
        "image_size": meta["image_size"],
        "preprocessing": meta["preprocessing"],
        "encoder_sha256": hashlib.sha256((directory / WEIGHTS).read_bytes()).hexdigest(),
    }
