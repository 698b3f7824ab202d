"""The class-conditional denoising diffusion model: a `diffusers` UNet, its noise schedule and a few-step sampler.

`DiffusionSampler` turns the trained UNet into a generator with the GANs' interface — `z_dim`, `num_classes`,
`forward(z, y)` → images in [-1, 1] — where the "latent" `z` is the starting noise x_T. Both samplers are
deterministic (DPM-Solver++ and DDIM with η = 0), so an image is a function of its latent seed, as for a GAN,
and synthetic sets, the metrics, the UI and every pipeline condition take a diffusion model like a GAN.

Classifier-free guidance (Ho & Salimans 2022): training shows a share of images with the extra "no class" label
(index `num_classes`); sampling mixes the conditional and unconditional predictions, ε = ε_∅ + w (ε_c − ε_∅).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

NORM_GROUPS = 8  # GroupNorm groups: divides every width we use (32, 64, 128)


def unet_config(size: int, num_classes: int, channels: tuple[int, ...], layers: int, attention: bool) -> dict:
    """The `UNet2DModel` arguments, kept in meta.json so that a checkpoint rebuilds without our config."""
    levels = len(channels)
    down = ["DownBlock2D"] * levels
    up = ["UpBlock2D"] * levels
    if attention:  # self-attention only at the lowest resolution, where it is cheap
        down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
    return {
        "sample_size": size,
        "in_channels": 1,
        "out_channels": 1,
        "block_out_channels": list(channels),
        "layers_per_block": layers,
        "down_block_types": down,
        "up_block_types": up,
        "add_attention": attention,
        "norm_num_groups": NORM_GROUPS,
        "num_class_embeds": num_classes + 1,  # the last index is "no class" (classifier-free guidance)
    }


def build_unet(config: dict) -> nn.Module:
    from diffusers import UNet2DModel

    return UNet2DModel(**config)


def schedule_config(timesteps: int, schedule: str, prediction: str) -> dict[str, Any]:
    """The forward process: shared by training (adding noise) and every sampler."""
    return {"num_train_timesteps": timesteps, "beta_schedule": schedule, "prediction_type": prediction}


def noise_scheduler(config: dict[str, Any]):
    """The DDPM forward process (`add_noise`, `get_velocity`, `alphas_cumprod`) for training."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**config, clip_sample=False)


def sampling_scheduler(config: dict[str, Any], sampler: str):
    """A fresh deterministic sampler (schedulers keep per-call state, so one per call)."""
    if sampler == "dpm_solver":
        from diffusers import DPMSolverMultistepScheduler

        return DPMSolverMultistepScheduler(**config, algorithm_type="dpmsolver++", solver_order=2)
    if sampler == "ddim":
        from diffusers import DDIMScheduler

        return DDIMScheduler(**config, clip_sample=False)
    raise ValueError(f"unknown sampler '{sampler}'; use dpm_solver or ddim")


class DiffusionSampler(nn.Module):
    """A trained UNet as a generator: `forward(z, y)` with z the starting noise (N, S·S) and y the classes."""

    def __init__(
        self,
        unet: nn.Module,
        size: int,
        num_classes: int,
        schedule: dict[str, Any],
        sampler: str = "dpm_solver",
        steps: int = 20,
        guidance: float = 1.0,
    ) -> None:
        super().__init__()
        self.unet, self.size, self.num_classes = unet, size, num_classes
        self.schedule, self.sampler, self.steps, self.guidance = schedule, sampler, steps, guidance
        self.z_dim = size * size  # the latent is x_T, flattened like a GAN's z

    def denoise(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The network's prediction at step t, guided: one batched pass for the conditional and "no class" halves."""
        t = t.expand(len(x)) if t.dim() == 0 else t
        if self.guidance == 1.0:
            return self.unet(x, t, class_labels=y).sample
        null = torch.full_like(y, self.num_classes)
        both = self.unet(torch.cat([x, x]), torch.cat([t, t]), class_labels=torch.cat([y, null])).sample
        cond, uncond = both.chunk(2)
        return uncond + self.guidance * (cond - uncond)

    @torch.no_grad()
    def forward(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ValueError("a diffusion model is class-conditional: give the classes")
        scheduler = sampling_scheduler(self.schedule, self.sampler)
        scheduler.set_timesteps(self.steps)
        x = z.reshape(len(z), 1, self.size, self.size).float() * scheduler.init_noise_sigma
        x = x.contiguous(memory_format=torch.channels_last)
        for t in scheduler.timesteps:
            out = self.denoise(scheduler.scale_model_input(x, t), t.to(x.device), y)
            x = scheduler.step(out.float(), t, x).prev_sample
        return x.clamp(-1, 1)
