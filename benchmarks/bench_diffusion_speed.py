"""Diffusion model speed on this machine: training images/s and sampling seconds per 1,000 images, at 32 and
64 px, in bf16 autocast and fp32, with the default `diffusion` config (the project's UNet, noise schedule and
sampler, on synthetic tensors: the data pipeline is measured by the training runs themselves).

Targets of the generator issue on a bf16 CPU: training ≥ 150 images/s at 32 px, sampling ≤ 60 s per 1,000 images
at 32 px (with the default classifier-free guidance, which doubles the network passes).

    python benchmarks/bench_diffusion_speed.py [--sizes 32 64] [--precisions bf16 fp32]

Saves benchmarks/results/diffusion/speed.json. Run it alone on the machine: timings under load mean nothing.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import save
from torch.nn import functional as F


def training_rate(size: int, precision: str, batch: int, steps: int) -> tuple[float, int]:
    """Steady-state images/s of the training step (forward, v-prediction loss, backward, AdamW)."""
    from pneumogan.config import DiffusionConfig
    from pneumogan.device import autocast
    from pneumogan.diffusion.model import build_unet, noise_scheduler, schedule_config, unet_config

    d = DiffusionConfig()
    unet = build_unet(unet_config(size, 2, d.channels, d.layers_per_block, d.attention))
    unet = unet.to(memory_format=torch.channels_last)
    noise = noise_scheduler(schedule_config(d.train_timesteps, d.schedule, d.prediction))
    opt = torch.optim.AdamW(unet.parameters(), lr=d.lr)
    device = torch.device("cpu")
    x0 = torch.randn(batch, 1, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 3, (batch,))

    def step() -> None:
        eps, t = torch.randn_like(x0), torch.randint(0, d.train_timesteps, (batch,))
        with autocast(device, precision):
            out = unet(noise.add_noise(x0, eps, t), t, class_labels=y).sample
        loss = F.mse_loss(out.float(), noise.get_velocity(x0, eps, t))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start), sum(p.numel() for p in unet.parameters())


def sampling_seconds(size: int, precision: str, n: int, guidance: float) -> float:
    """Seconds to sample n images with the default sampler and steps, scaled to 1,000 images."""
    from pneumogan.config import DiffusionConfig
    from pneumogan.device import autocast
    from pneumogan.diffusion.model import DiffusionSampler, build_unet, schedule_config, unet_config

    d = DiffusionConfig()
    unet = build_unet(unet_config(size, 2, d.channels, d.layers_per_block, d.attention)).eval()
    unet = unet.to(memory_format=torch.channels_last)
    sampler = DiffusionSampler(
        unet, size, 2, schedule_config(d.train_timesteps, d.schedule, d.prediction), d.sampler, d.sample_steps, guidance
    )
    z, y = torch.randn(n, size * size), torch.zeros(n, dtype=torch.long)
    with autocast(torch.device("cpu"), precision):
        sampler(z[:8], y[:8])  # warm-up
        start = time.perf_counter()
        for k in range(0, n, 250):
            sampler(z[k : k + 250], y[k : k + 250])
    return (time.perf_counter() - start) * 1000 / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=int, default=[32, 64])
    ap.add_argument("--precisions", nargs="+", default=["bf16", "fp32"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="timed training steps")
    ap.add_argument("--n", type=int, default=500, help="images sampled per timing (scaled to 1,000)")
    args = ap.parse_args()
    from pneumogan.config import DiffusionConfig

    d = DiffusionConfig()
    rows = []
    for size in args.sizes:
        for precision in args.precisions:
            rate, params = training_rate(size, precision, args.batch, args.steps)
            plain = sampling_seconds(size, precision, args.n, 1.0)
            guided = sampling_seconds(size, precision, args.n, d.guidance)
            rows.append(
                {
                    "size": size,
                    "precision": precision,
                    "parameters": params,
                    "train_images_per_s": rate,
                    "sample_s_per_1000_no_guidance": plain,
                    f"sample_s_per_1000_guidance_{d.guidance:g}": guided,
                }
            )
            print(
                f"{size} px {precision}: train {rate:.0f} img/s; sample 1,000 in {plain:.0f} s "
                f"({guided:.0f} s with guidance {d.guidance:g})",
                flush=True,
            )
            save(  # after every row: a long 64 px fp32 row cut short keeps the others
                "diffusion/speed",
                {
                    "config": d.model_dump(mode="json"),
                    "batch": args.batch,
                    "timed_training_steps": args.steps,
                    "sampled_images_per_timing": args.n,
                    "sampler": f"{d.sampler}, {d.sample_steps} steps",
                    "targets": {"train_images_per_s_32px_min": 150, "sample_s_per_1000_32px_max": 60},
                    "rows": rows,
                },
            )


if __name__ == "__main__":
    main()
