"""GAN checkpoints: `generator.safetensors` (the EMA copy when EMA is on), `discriminator.safetensors`,
`meta.json`. Sampling needs only the generator and meta.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from pneumogan.classify.checkpoint import package_versions
from pneumogan.errors import PneumoganError
from pneumogan.gan.models import Generator, build
from pneumogan.layout import DISCRIMINATOR_WEIGHTS as D_FILE
from pneumogan.layout import GENERATOR_WEIGHTS as G_FILE
from pneumogan.layout import META
from pneumogan.runs import atomic_save_tensors, atomic_write_json


def save_gan(directory: Path, generator, discriminator, meta: dict[str, Any]) -> None:
    atomic_save_tensors(directory / G_FILE, generator)
    atomic_save_tensors(directory / D_FILE, discriminator)
    atomic_write_json(directory / META, {**meta, "versions": package_versions()})


def read_gan_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / META
    if not path.is_file():
        raise PneumoganError(f"{directory} is not a GAN checkpoint (no {META})")
    return json.loads(path.read_text())


def generator_hash(directory: str | Path) -> str:
    return hashlib.sha256((Path(directory) / G_FILE).read_bytes()).hexdigest()[:16]


def load_generator(directory: str | Path, device: str | torch.device = "cpu") -> tuple[Generator, dict[str, Any]]:
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / META).is_file() or not (directory / G_FILE).is_file():
        raise PneumoganError(f"{directory} is not a GAN checkpoint (needs {G_FILE} and {META})")
    meta = read_gan_meta(directory)
    m = meta["model"]
    g, _ = build(m["family"], m["size"], m["num_classes"], m["z_dim"], m["g_channels"], m["d_channels"])
    g.load_state_dict(load_file(str(directory / G_FILE)))
    return g.to(device).eval(), meta
