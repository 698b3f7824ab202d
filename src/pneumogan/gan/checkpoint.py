"""GAN checkpoints: `generator.safetensors` (the EMA copy when EMA is on), `discriminator.safetensors`,
`meta.json`. Sampling needs only the generator and meta.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from pneumogan.artefacts import GeneratorMeta, stamp
from pneumogan.errors import PneumoganError
from pneumogan.gan.models import Generator, PerClassGenerator, build
from pneumogan.layout import DISCRIMINATOR_WEIGHTS as D_FILE
from pneumogan.layout import GENERATOR_WEIGHTS as G_FILE
from pneumogan.layout import META
from pneumogan.runs import atomic_save_tensors, atomic_write_json


def save_gan(directory: Path, generator, discriminator, meta: dict[str, Any]) -> None:
    atomic_save_tensors(directory / G_FILE, generator)
    atomic_save_tensors(directory / D_FILE, discriminator)
    atomic_write_json(directory / META, stamp(meta))


def read_gan_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / META
    if not path.is_file():
        raise PneumoganError(f"{directory} is not a GAN checkpoint (no {META})")
    return GeneratorMeta.model_validate(json.loads(path.read_text())).as_dict()


def generator_hash(directory: str | Path) -> str:
    return hashlib.sha256((Path(directory) / G_FILE).read_bytes()).hexdigest()[:16]


def load_generator(directory: str | Path, device: str | torch.device = "cpu") -> tuple[Generator, dict[str, Any]]:
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / META).is_file() or not (directory / G_FILE).is_file():
        raise PneumoganError(f"{directory} is not a generator checkpoint (needs {G_FILE} and {META})")
    meta = read_gan_meta(directory)
    if meta.get("kind") == "diffusion":  # not a GAN, but sampled like one (diffusion/checkpoint.py)
        from pneumogan.diffusion.checkpoint import load_diffusion

        return load_diffusion(directory, meta, device), meta
    m = meta["model"]
    if m.get("per_class"):
        g = PerClassGenerator([_build_generator(member) for member in m["members"]])
    else:
        g = _build_generator(m)
    g.load_state_dict(load_file(str(directory / G_FILE)))
    return g.to(device).eval(), meta


def _build_generator(m: dict[str, Any]):
    widths = (m["z_dim"], m["g_channels"], m["d_channels"])
    conditioning = m.get("g_conditioning", "concat")  # folders written before cbn existed concatenate
    return build(m["family"], m["size"], m["num_classes"], *widths, g_conditioning=conditioning)[0]


def combine_generators(members: list[str | Path], out: str | Path) -> Path:
    """One class-conditional generator folder (`PerClassGenerator`) from unconditional ones, one per class
    (`gan.family=dcgan` runs with different `gan.target_class`), in the order given."""
    members, out = [Path(d) for d in members], Path(out)
    metas = [read_gan_meta(d) for d in members]
    conditional = [str(d) for d, m in zip(members, metas, strict=True) if len(m["class_names"]) != 1]
    if conditional:
        raise PneumoganError(f"combine takes unconditional generators (one class each); not {conditional}")
    names = [m["class_names"][0] for m in metas]
    if len(set(names)) != len(names) or len(names) < 2:
        raise PneumoganError(f"combine needs one generator per class, at least two classes; got {names}")
    shapes = {(m["model"]["size"], m["model"]["z_dim"]) for m in metas}
    if len(shapes) != 1:
        raise PneumoganError(f"the generators differ in image size or latent size: {sorted(shapes)}")
    g = PerClassGenerator([load_generator(d)[0] for d in members])
    size, z_dim = shapes.pop()
    first = metas[0]["model"]
    meta = {
        "model": {
            **{k: first[k] for k in ("family", "g_channels", "d_channels")},
            "size": size,
            "z_dim": z_dim,
            "num_classes": len(names),
            "per_class": True,
            "members": [m["model"] for m in metas],
        },
        "class_names": names,
        "config": metas[0]["config"],  # the shared recipe (each member's own config is in `members`)
        "members": [
            {"source": str(d), "generator_hash": generator_hash(d), "config": m["config"]}
            for d, m in zip(members, metas, strict=True)
        ],
        "ema": metas[0].get("ema"),
        "output_range": [-1, 1],
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_save_tensors(out / G_FILE, g)
    atomic_write_json(out / META, stamp(meta))
    return out
