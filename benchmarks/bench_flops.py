"""How close to this CPU's arithmetic ceiling do the training steps run? Counts the FLOPs of one training step
per image for every net of `bench_throughput.py` (torch's FlopCounterMode on the project's own step, at batch
8; for GANs the D and G phases without lazy R1, which the counter cannot follow), measures the fp32 matmul
peak of this CPU (2048², median of 3; the highest reading kept for the CPU model) — and the bf16 one where a
record trained in bf16 — and adds to each of this CPU's records in benchmarks/results/speed/throughput.json:
`gflop_per_image`, `achieved_gflops` (= the measured end-to-end images/s × GFLOP per image) and
`fraction_of_matmul_peak` (of the peak in the record's precision).
Run it after bench_throughput.py; it times nothing but the matmul.

Usage: python benchmarks/bench_flops.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA
from bench_throughput import CLASSIFIERS, OUT, _config

from pneumogan.device import cpu_kind

BATCH = 8


def matmul_peak_gflops(n: int = 2048, dtype: torch.dtype = torch.float32) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = []
    for _ in range(3):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - start)
        best.append(min(times))
    return 2 * n**3 / statistics.median(best) / 1e9


def counted(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def classifier_gflop_per_image(net: str, data: str, tmp: Path) -> float:
    from pneumogan.classify import train as ct

    run = ct.set_up(_config(net, data, ["classify.batch_size=8", "classify.precision=fp32"]), tmp / "c", print)
    x, y = run.batches.batch(list(range(BATCH)), epoch=0)
    return counted(lambda: ct.train_step(run, run.model.train(), x, y)) / BATCH / 1e9


def gan_gflop_per_image(net: str, data: str, tmp: Path) -> float:
    from pneumogan.gan import train as gt

    cfg = _config(net, data, ["gan.batch_size=8", "gan.precision=fp32"])
    run = gt.set_up(cfg, tmp / "g", print)
    batch = gt.draw_batch(run, 0)
    # FlopCounterMode cannot follow R1's autograd.grad (torch 2.13 raises), so the count covers the plain D and
    # G phases only: for runs with R1 the achieved GFLOP/s below understate the work done.
    return counted(lambda: (gt.discriminator_step(run, batch, False), gt.generator_step(run, batch))) / BATCH / 1e9


def main() -> None:
    saved = json.loads(OUT.read_text())
    entry = saved.get(cpu_kind())
    if not entry:
        sys.exit(f"no throughput records for {cpu_kind()} in {OUT}: run bench_throughput.py first")
    peaks = {}
    for precision in sorted({"fp32"} | {rec["precision"] for rec in entry["nets"].values()}):
        key = "matmul_peak_gflops" + ("" if precision == "fp32" else f"_{precision}")
        measured = matmul_peak_gflops(dtype={"fp32": torch.float32, "bf16": torch.bfloat16}[precision])
        # A busy or throttled moment only lowers a peak reading, so the highest one taken on this CPU model stands.
        peaks[precision] = entry[key] = round(max(measured, entry.get(key, 0.0)), 1)
        print(f"{precision} matmul peak {peaks[precision]:.0f} GFLOP/s (measured now {measured:.0f})")
    data = str(SHARED_DATA / "chest_xray_224")
    with tempfile.TemporaryDirectory() as tmp:
        for net, rec in entry["nets"].items():
            count = classifier_gflop_per_image if net in CLASSIFIERS else gan_gflop_per_image
            rec["gflop_per_image"] = round(count(net, data, Path(tmp)), 3)
            rec["flops_exclude_r1"] = net not in CLASSIFIERS
            rec["achieved_gflops"] = round(rec["images_per_s"] * rec["gflop_per_image"], 1)
            rec["fraction_of_matmul_peak"] = round(rec["achieved_gflops"] / peaks[rec["precision"]], 3)
            print(
                f"{net:<18} {rec['gflop_per_image']:7.2f} GFLOP/image  {rec['achieved_gflops']:6.1f} GFLOP/s "
                f"({rec['fraction_of_matmul_peak']:.0%} of the matmul peak)",
                flush=True,
            )
    OUT.write_text(json.dumps(saved, indent=2) + "\n")
    print(f"saved {OUT}")


if __name__ == "__main__":
    main()
