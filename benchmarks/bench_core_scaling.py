"""Why two one-thread workers are not twice one: each workload's throughput in one process alone (one thread)
against two processes running it at once (one thread each), on this machine.

Three workloads tell the reasons apart:
- `compute`: a 128×128 matrix product repeated (its data fit in the core's cache: no memory traffic);
- `memory`: summing a 256 MB array (memory bandwidth and nothing else);
- `train_step`: the experiment's own work, a `simple_cnn` training step at 32 px, batch 64 (bf16 where
  `precision: auto` picks it).

If `compute` halves with two processes, the two logical CPUs share one physical core (or the host throttles
them) and no executor can run two stages at full speed; if only `memory` halves, memory bandwidth is the limit.
Each workload also runs in one process with two threads: what a stage gains from the second CPU by itself, so
`two_processes_over_two_threads` is the most the local executor (two one-thread stages) can gain over serial
(one two-thread stage), graph permitting.

    python benchmarks/bench_core_scaling.py [--seconds 8]

Saves benchmarks/results/speed/core_scaling.json (no split is read; nothing is chosen).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save


def _workload(name: str, threads: int):
    import torch

    torch.set_num_threads(threads)
    if name == "compute":
        a = torch.randn(128, 128)

        def step() -> None:
            torch.mm(a, a)

        return step
    if name == "memory":
        big = torch.ones(64 * 1024 * 1024)  # 256 MB of fp32

        def step() -> None:
            big.sum()

        return step
    from pneumogan.classify.models import build
    from pneumogan.device import autocast, resolve_precision

    cpu = torch.device("cpu")
    precision = resolve_precision("auto", cpu, log=lambda m: None)
    model = build("simple_cnn", image_size=32)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 1, 32, 32), torch.randint(0, 2, (64,))

    def step() -> None:
        with autocast(cpu, precision):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def _rate(name: str, threads: int, seconds: float, start: float, out: mp.Queue) -> None:
    """Steps per second over `seconds`, after a warm-up, starting at the shared time `start`."""
    step = _workload(name, threads)
    for _ in range(3):
        step()
    while time.time() < start:
        time.sleep(0.001)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    out.put(n / (time.perf_counter() - t0))


def measure(name: str, processes: int, seconds: float, threads: int = 1) -> list[float]:
    ctx = mp.get_context("spawn")  # fresh interpreters: no thread pools inherited
    out: mp.Queue = ctx.Queue()
    start = time.time() + 8.0  # every process warmed up before the clock starts
    procs = [ctx.Process(target=_rate, args=(name, threads, seconds, start, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--workloads", nargs="+", default=["compute", "memory", "train_step"])
    args = ap.parse_args()
    rows = {}
    for name in args.workloads:
        alone = measure(name, 1, args.seconds)[0]
        pair = measure(name, 2, args.seconds)
        threaded = measure(name, 1, args.seconds, threads=2)[0]
        rows[name] = {
            "alone_steps_per_s": alone,
            "each_of_two_steps_per_s": pair,
            "two_threads_alone_steps_per_s": threaded,
            "two_over_one": sum(pair) / alone,  # 2.0: two CPUs give twice one's work; 1.0: no more than one
            "two_threads_over_one": threaded / alone,  # what one process gains from the second CPU
            "two_processes_over_two_threads": sum(pair) / threaded,  # the local executor's ceiling over serial
        }
        print(
            f"{name}: alone {alone:.1f}/s, two at once {pair[0]:.1f} + {pair[1]:.1f}/s ({sum(pair) / alone:.2f}× one), "
            f"one with two threads {threaded:.1f}/s ({threaded / alone:.2f}× one)"
        )
    save("core_scaling", {"selection_split": "none", "test_evaluations": 0, "cpus": os.cpu_count(), "workloads": rows})


if __name__ == "__main__":
    main()
