"""GAN training speed at 64 px, batch 64: images/s and achieved FLOP/s as a fraction of this CPU's fp32
matmul peak (measured here). Variants: plain DCGAN, the default stabilised AC-GAN, channels-last.

Usage: python benchmarks/bench_gan_speed.py [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

from pneumogan.gan import losses
from pneumogan.gan.augment import diff_augment
from pneumogan.gan.models import build


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times)


def make_step(family: str, sn: bool, policy: list[str], channels_last: bool, batch: int = 64, size: int = 64):
    g, d = build(family, size, 2, 128, 32, 32, spectral_norm=sn)  # the CPU defaults of GanConfig
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    og, od = torch.optim.Adam(g.parameters(), 2e-4), torch.optim.Adam(d.parameters(), 2e-4)
    real = torch.rand(batch, 1, size, size) * 2 - 1
    if channels_last:
        real = real.to(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,))
    cond = None if family == "dcgan" else y

    def step() -> None:
        z = torch.randn(batch, 128)
        with torch.no_grad():
            fake = g(z, cond)
        rl, _ = d(diff_augment(real, policy), cond)
        fl, _ = d(diff_augment(fake, policy), cond)
        loss = losses.d_loss(rl, fl, "hinge")
        od.zero_grad()
        loss.backward()
        od.step()
        lg, _ = d(diff_augment(g(torch.randn(batch, 128), cond), policy), cond)
        gl = losses.g_loss(lg, "hinge")
        og.zero_grad()
        gl.backward()
        og.step()

    return step


def measure(step, steps: int, repeats: int) -> float:
    step()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        runs.append((time.perf_counter() - t) / steps)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    peak = statistics.median(matmul_peak() for _ in range(3))
    print(f"fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s ({torch.get_num_threads()} threads)")
    variants = {
        "dcgan_plain": ("dcgan", False, [], False),
        "dcgan_plain_channels_last": ("dcgan", False, [], True),
        "acgan_sn_diffaugment": ("acgan", True, ["translation", "cutout", "color"], False),
        "acgan_sn_diffaugment_channels_last": ("acgan", True, ["translation", "cutout", "color"], True),
    }
    results = {}
    for name, (family, sn, policy, cl) in variants.items():
        step = make_step(family, sn, policy, cl)
        with FlopCounterMode(display=False) as counter:
            step()
        flops = counter.get_total_flops()
        sec = measure(step, args.steps, args.repeats)
        results[name] = {
            "s_per_step": sec,
            "images_per_s": 64 / sec,
            "gflop_per_step": flops / 1e9,
            "achieved_gflops": flops / sec / 1e9,
            "fraction_of_peak": flops / sec / peak,
        }
        r = results[name]
        print(
            f"{name:28s} {r['images_per_s']:6.1f} img/s  {r['achieved_gflops']:6.1f} GFLOP/s "
            f"({r['fraction_of_peak']:.0%} of peak)  {r['gflop_per_step']:.1f} GFLOP/step"
        )
    save("gan_speed_64px", {"peak_gflops": peak / 1e9, "batch": 64, "variants": results})


if __name__ == "__main__":
    main()
