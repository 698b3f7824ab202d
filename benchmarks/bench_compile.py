"""Does `torch.compile` speed up training on this CPU? Eager vs compiled train step, batch 64, channels_last,
fused AdamW, synthetic tensors, in fp32 or under bf16 autocast (`--precision bf16`, for CPUs where `auto` picks
it); steps alternate between the two so drift affects both alike.

Usage: python benchmarks/bench_compile.py [--nets simple_cnn@64 resnet18@128] [--steps 8] [--precision bf16]
Saves benchmarks/results/speed/compile.json, merged by CPU model, keyed `net` (fp32) or `net/bf16` (needs a C++
compiler: the script says if none).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, result_path

from pneumogan.classify import models
from pneumogan.device import cpu_kind

OUT = result_path("speed/compile")


def measure(arch: str, size: int, steps: int, precision: str = "fp32") -> dict[str, float]:
    torch.manual_seed(0)
    model = models.build(arch, 2, pretrained=False, image_size=size).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    x = torch.randn(64, 1, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (64,))

    def step(net: nn.Module) -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = nn.functional.cross_entropy(net(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    compiled = torch.compile(model)
    compile_s = step(compiled)  # the first call compiles
    eager, fast = [], []
    for i in range(steps + 2):
        e, c = step(model), step(compiled)
        if i >= 2:
            eager.append(e)
            fast.append(c)
    eager_rate, compiled_rate = 64 / statistics.median(eager), 64 / statistics.median(fast)
    return {
        "eager_images_per_s": round(eager_rate, 2),
        "compiled_images_per_s": round(compiled_rate, 2),
        "speedup": round(compiled_rate / eager_rate, 3),
        "compile_and_first_step_s": round(compile_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", nargs="*", default=["simple_cnn@64", "resnet18@128"])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()
    if shutil.which("c++") is None and shutil.which("g++") is None:
        sys.exit("torch.compile on a CPU needs a C++ compiler (g++); none found on PATH")
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    entry = saved.setdefault(cpu_kind(), {"machine": machine(), "nets": {}})
    for net in args.nets:
        arch, size = net.split("@")
        key = net if args.precision == "fp32" else f"{net}/{args.precision}"
        entry["nets"][key] = rec = measure(arch, int(size), args.steps, args.precision)
        print(
            f"{key}: eager {rec['eager_images_per_s']} img/s, compiled {rec['compiled_images_per_s']} img/s "
            f"(×{rec['speedup']}), compile + first step {rec['compile_and_first_step_s']} s",
            flush=True,
        )
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(saved, indent=2) + "\n")
    print(f"saved {OUT}")


if __name__ == "__main__":
    main()
