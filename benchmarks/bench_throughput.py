"""Training throughput against the ceiling of the same network on this CPU.

For each network, at batch 64, in one process:
  (a) ceiling — the project's own train step (classifier: `classify.train.train_step`; GAN: the D phase
      with lazy R1 on its schedule, and the G phase) on one fixed batch of tensors already in memory, in every
      precision and memory format this machine offers (bf16 only where the CPU reports AMX / AVX512-BF16, or
      on CUDA); the best is the ceiling;
  (b) end to end — the loop users run: real prepared images, the epoch sampler, batched augmentation,
      the step, and for GANs batch drawing, DiffAugment, lazy R1, the EMA update and the loss record —
      in the precision `auto` picks.
The two are timed alternately, step by step, so the machine's drift affects both alike.
Reports images/s (median over timed steps, warm-up excluded), `fraction` = (b) / (a), and the fp32 end-to-end
figure. Results are merged into benchmarks/results/speed/throughput.json under this CPU's model name.

Usage: python benchmarks/bench_throughput.py [--quick] [--nets simple_cnn@64 cgan@64 ...] [--steps 8]
       [--set gan.g_channels=32 ...]   (other settings: saved under "<net> [<settings>]", e.g. a narrow 128 px GAN)
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, machine, result_path

from pneumogan.classify.models import use_channels_last
from pneumogan.config import load_config
from pneumogan.device import cpu_kind, cpu_reports_bf16, resolve_device, resolve_precision

CLASSIFIERS = {"simple_cnn@64", "resnet18@128", "densenet121@128", "vgg16@64"}
GANS = {f"{family}@{size}" for family in ("dcgan", "cgan", "acgan", "fastgan") for size in (64, 128)}
ALL = ["simple_cnn@64", "vgg16@64", "resnet18@128", "densenet121@128", *sorted(GANS)]
QUICK = ["simple_cnn@64", "cgan@64"]
BATCH = 64
OUT = result_path("speed/throughput")


def cpu_flags() -> list[str]:
    wanted = {"avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "fma"}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return sorted(wanted & set(line.split()))


def interleaved_rates(
    ceiling_step: Callable[[], Any], loop_step: Callable[[], Any], steps: int, warmup: int, cycle: int = 1
) -> tuple[float, float]:
    """Images/s of the ceiling step and of the loop step (medians), timed alternately so that drift of a noisy
    machine (warm-up, frequency, neighbours) affects both alike. With `cycle` > 1 (lazy R1 every `cycle`
    steps) both are means over whole cycles, so the R1 steps weigh what they weigh in a run."""
    ceiling_times, loop_times = [], []
    steps = max(steps, cycle) // cycle * cycle
    for i in range(warmup + steps):
        start = time.perf_counter()
        ceiling_step()
        middle = time.perf_counter()
        loop_step()
        if i >= warmup:
            ceiling_times.append(middle - start)
            loop_times.append(time.perf_counter() - middle)
    if cycle == 1:
        return BATCH / statistics.median(ceiling_times), BATCH / statistics.median(loop_times)
    return BATCH / statistics.fmean(ceiling_times), BATCH / statistics.fmean(loop_times)


def _config(net: str, data: str, overrides: list[str]):
    name, size = net.split("@")
    base = [f"data.source={data}", f"data.size={size}", "classify.batch_size=64", "gan.batch_size=64"]
    if net in CLASSIFIERS:
        return load_config("quick", [*base, f"classify.arch={name}", *overrides])
    # The `full` config's GAN (64 channels, R1 γ = 1), whose speed the throughput issue's targets are set for.
    gan = [f"gan.family={name}", "gan.g_channels=64", "gan.d_channels=64", "gan.r1_gamma=1.0"]
    return load_config("quick", [*base, *gan, *overrides])


def classifier_rates(
    net: str, data: str, precision: str, channels_last: bool, steps: int, warmup: int, tmp: Path, extra: list[str]
):
    """(ceiling step on one fixed batch, end-to-end loop) images/s for one precision and memory format."""
    from pneumogan.classify import train as ct

    overrides = [*extra, f"classify.precision={precision}", f"classify.channels_last={str(channels_last).lower()}"]
    run = ct.set_up(_config(net, data, overrides), tmp / "c", print)
    model = run.model.train()
    fixed_x, fixed_y = run.batches.batch(list(range(BATCH)), epoch=0)
    sampler = ct.EpochSampler(run.train_labels, run.class_counts, False, 0, run.dist)
    batches = itertools.cycle(list(range(0, len(sampler) - BATCH, BATCH)))
    order = sampler.indices

    def loop_step() -> None:
        start = next(batches)
        x, y = run.batches.batch(order[start : start + BATCH], epoch=0)
        ct.train_step(run, model, x, y)

    ceiling, e2e = interleaved_rates(lambda: ct.train_step(run, model, fixed_x, fixed_y), loop_step, steps, warmup)
    return ceiling, e2e, run.precision


def gan_rates(
    net: str, data: str, precision: str, channels_last: bool, steps: int, warmup: int, tmp: Path, extra: list[str]
):
    from pneumogan.gan import train as gt
    from pneumogan.progress import Status

    overrides = [*extra, f"gan.precision={precision}", f"gan.channels_last={str(channels_last).lower()}"]
    cfg = _config(net, data, overrides)
    run = gt.set_up(cfg, tmp / "g", print)
    fixed = gt.draw_batch(run, 0)
    ceiling_counter = itertools.count(1)

    def ceiling_step() -> None:  # the same computation (lazy R1 on the same schedule) without the loop around it
        step = next(ceiling_counter)
        gt.discriminator_step(run, fixed, with_r1=cfg.gan.r1_gamma > 0 and step % cfg.gan.r1_every == 0)
        gt.generator_step(run, fixed)

    counter, status = itertools.count(1), Status()

    def loop_step() -> None:
        step = next(counter)
        batch = gt.draw_batch(run, step)
        r1 = cfg.gan.r1_gamma > 0 and step % cfg.gan.r1_every == 0
        d_out = gt.discriminator_step(run, batch, with_r1=r1)
        g_loss = gt.generator_step(run, batch)
        gt.update_ema(run, step)
        gt.record(run, step, d_out, g_loss, status)

    cycle = cfg.gan.r1_every if cfg.gan.r1_gamma > 0 else 1
    ceiling, e2e = interleaved_rates(ceiling_step, loop_step, steps, warmup, cycle)
    return ceiling, e2e, run.loss.precision


def measure(net: str, data: str, steps: int, warmup: int, quick: bool, extra: list[str]) -> dict[str, Any]:
    rates = gan_rates if net in GANS else classifier_rates
    bf16_fast = torch.cuda.is_available() or cpu_reports_bf16()
    # Quick mode, and the slow 128 px GANs, leave out the contiguous memory format (slower for every net measured
    # so far); the 128 px GANs (~40 s a step on an AVX2 CPU) time one R1 cycle after one warm-up step.
    slow = net in GANS and net.endswith("@128")
    variants = ([] if quick or slow else [("fp32", False)]) + [("fp32", True)] + ([("bf16", True)] if bf16_fast else [])
    if slow:
        steps, warmup = min(steps, 4), min(warmup, 1)
    elif net in GANS and not quick:
        steps = min(steps, 8)
    record: dict[str, Any] = {"ceiling_variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for precision, channels_last in variants:
            ceiling, e2e, _ = rates(net, data, precision, channels_last, steps, warmup, Path(tmp), extra)
            key = f"{precision}{'_channels_last' if channels_last else ''}"
            record["ceiling_variants"][key] = round(ceiling, 2)
            record[f"e2e_{key}"] = round(e2e, 2)
        # The default config: precision auto, and the memory format `auto` picks for the architecture.
        device = resolve_device("auto")
        default_cl = use_channels_last(net.split("@")[0], "auto", device) if net in CLASSIFIERS else True
        fmt = "_channels_last" if default_cl else ""
        chosen = resolve_precision("auto", device, lambda _: None)
        if f"e2e_{chosen}{fmt}" in record:  # a variant measured above: no need to rerun it
            e2e_auto = record[f"e2e_{chosen}{fmt}"]
        else:
            _, e2e_auto, chosen = rates(net, data, "auto", default_cl, steps, warmup, Path(tmp), extra)
    best = max(record["ceiling_variants"], key=record["ceiling_variants"].get)
    record.update(
        images_per_s=round(e2e_auto, 2),
        precision=chosen,
        ceiling_images_per_s=record["ceiling_variants"][best],
        ceiling_variant=best,
        fraction=round(e2e_auto / record["ceiling_variants"][best], 3),
        fp32_images_per_s=record.get(f"e2e_fp32{fmt}"),
        channels_last=default_cl,
        batch=BATCH,
    )
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)} (a few minutes)")
    ap.add_argument("--nets", nargs="*", default=None, help=f"any of {', '.join(ALL)}")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 6 quick, 12)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], help="config overrides for every net (after the defaults)")
    args = ap.parse_args()
    nets = args.nets or (QUICK if args.quick else ALL)
    unknown = set(nets) - set(ALL)
    if unknown:
        ap.error(f"unknown nets {sorted(unknown)}; choose from {ALL}")
    steps = args.steps or (6 if args.quick else 12)
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    entry = saved.setdefault(cpu_kind(), {})
    entry.update(machine=machine(), cpu_flags=cpu_flags(), cpu_capability=torch.backends.cpu.get_cpu_capability())
    nets_done = entry.setdefault("nets", {})
    print(f"{'net':<18} {'e2e img/s':>10} {'ceiling':>8} {'fraction':>8}  precision  best variant")
    for net in nets:
        start = time.perf_counter()
        rec = measure(net, args.data, steps, args.warmup, args.quick, args.set)
        rec["wall_s"] = round(time.perf_counter() - start, 1)
        rec["mode"] = "quick" if args.quick else "full"
        key = f"{net} [{' '.join(args.set)}]" if args.set else net  # the defaults' figures stay under `net`
        nets_done[key] = rec | ({"overrides": args.set} if args.set else {})
        print(
            f"{key:<18} {rec['images_per_s']:>10.1f} {rec['ceiling_images_per_s']:>8.1f} {rec['fraction']:>8.2f}"
            f"  {rec['precision']:<9}  {rec['ceiling_variant']}",
            flush=True,
        )
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(saved, indent=2) + "\n")  # after every net: a long run keeps what it measured
    print(f"saved {OUT}")


if __name__ == "__main__":
    main()
