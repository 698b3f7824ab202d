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
from pneumogan.runs import atomic_write_json

G_FILE, D_FILE, META = "generator.safetensors", "discriminator.safetensors", "meta.json"


def _save(module: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp))
    tmp.replace(path)


def save_gan(directory: Path, generator, discriminator, meta: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    _save(generator, directory / G_FILE)
    _save(discriminator, directory / D_FILE)
    atomic_write_json(directory / META, {**meta, "versions": package_versions()})


def generator_hash(directory: str | Path) -> str:
    return hashlib.sha256((Path(directory) / G_FILE).read_bytes()).hexdigest()[:16]


def load_generator(directory: str | Path, device: str | torch.device = "cpu") -> tuple[Generator, dict[str, Any]]:
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / META).is_file() or not (directory / G_FILE).is_file():
        raise PneumoganError(f"{directory} is not a GAN checkpoint (needs {G_FILE} and {META})")
    meta = json.loads((directory / META).read_text())
    m = meta["model"]
    g, _ = build(m["family"], m["size"], m["num_classes"], m["z_dim"], m["g_channels"], m["d_channels"])
    g.load_state_dict(load_file(str(directory / G_FILE)))
    return g.to(device).eval(), meta
