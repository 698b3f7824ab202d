"""Diffusion checkpoints: `generator.safetensors` (the EMA UNet, all sampling needs) + `meta.json` (kind
`diffusion`: UNet arguments, noise schedule, sampler defaults, classes, geometry). No discriminator, no pickles.

`gan.checkpoint.load_generator` hands a folder whose meta says `kind: diffusion` to `load_diffusion`, so every
consumer of generators (sampling, metrics, the UI, the pipeline) takes a diffusion model like a GAN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from pneumogan.diffusion.model import DiffusionSampler, build_unet
from pneumogan.layout import GENERATOR_WEIGHTS, META
from pneumogan.runs import atomic_save_tensors, atomic_write_json

KIND = "diffusion"


def save_diffusion(directory: Path, unet: nn.Module, meta: dict[str, Any]) -> None:
    from pneumogan.artefacts import stamp

    atomic_save_tensors(directory / GENERATOR_WEIGHTS, unet)
    atomic_write_json(directory / META, stamp(meta))


def sampler_from(unet: nn.Module, meta: dict[str, Any], **sampling: Any) -> DiffusionSampler:
    """A generator over `unet` with the meta's sampler defaults (`sampling` overrides sampler/steps/guidance)."""
    settings = {**meta["sampling"], **{k: v for k, v in sampling.items() if v is not None}}
    model = meta["model"]
    return DiffusionSampler(unet, model["size"], model["num_classes"], meta["schedule"], **settings)


def load_diffusion(directory: str | Path, meta: dict[str, Any], device: str | torch.device = "cpu") -> DiffusionSampler:
    """The sampler of a diffusion folder whose (migrated) `meta` was read by the caller."""
    from safetensors.torch import load_file

    unet = build_unet(meta["model"]["unet"])
    unet.load_state_dict(load_file(str(Path(directory) / GENERATOR_WEIGHTS)))
    unet = unet.to(device).to(memory_format=torch.channels_last).eval()
    return sampler_from(unet, meta).to(device).eval()
