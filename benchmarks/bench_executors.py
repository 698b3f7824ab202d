"""How much faster the local executor runs an experiment than the serial one, on this machine: the same config
run from a fresh run folder under each executor, one after the other (the prepared data cache warmed first by
`--plan`, so neither pays for decoding), wall time of the whole command, and every stage's own seconds.

    python benchmarks/bench_executors.py --config quick --executors serial local
    python benchmarks/bench_executors.py --config tiny --executors serial ray --threads 2   # Ray's overhead

For Ray's overhead each stage gets every core (`--threads` = the core count), so Ray runs one task at a time, as
`serial` runs one stage at a time: the same stages, one after another, at the same thread count. The time outside
the stages' own seconds (process start, data loading, the report; under Ray also starting the cluster and sending
each task) is each run's `outside_stages_s`; what Ray adds to it, per stage, is `extra_outside_per_stage_s`.

A stage's numbers depend on its thread count: `local` with 2 workers on 2 cores gives each stage 1 thread where
`serial` gives it 2, so their test metrics differ slightly (the JSON records both); with `--threads 1` for every
executor they are identical. Saves benchmarks/results/speed/executors_<config>.json (no choice is made on any
split; the runs' own test readouts are recorded as `test_evaluations`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save


def run(config: str, executor: str, out: Path, workers: int, threads: int | None, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "pneumogan", "run", "-c", config, "--out", str(out), "--executor", executor]
    command += ["--workers", str(workers)] * (executor == "local")
    command += ["--threads", str(threads)] * (threads is not None)
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads and executor == "serial" else {})}
    t0 = time.perf_counter()
    subprocess.run([*command, *extra], check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    results = json.loads((out / "results.json").read_text())
    stages = results["stages"]
    auc = {
        f"{label}/{cond}/{seed}": entry["seeds"][seed]["metrics"]["roc_auc"]
        for label, fraction in results["fractions"].items()
        for cond, entry in fraction["conditions"].items()
        for seed in entry["seeds"]
    }
    return {
        "command": " ".join(command[1:] + extra),
        "wall_s": wall,
        "stage_s": sum(s["seconds"] for s in stages.values()),
        "stages": len(stages),
        "test_roc_auc": auc,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="quick")
    ap.add_argument("--executors", nargs="+", default=["serial", "local"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="threads (CPUs under ray) per stage, every executor")
    ap.add_argument("--out", default="runs/bench_executors")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides")
    ap.add_argument("--name", default=None, help="result name (default executors_<config>)")
    args = ap.parse_args()
    root = Path(args.out) / (args.name or args.config)
    subprocess.run(  # warm the prepared-data cache, untimed
        [sys.executable, "-m", "pneumogan", "run", "-c", args.config, "--out", str(root / "plan"), "--plan", *args.set],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    runs = {}
    for executor in args.executors:
        out = root / f"{executor}-{time.strftime('%H%M%S')}"
        runs[executor] = run(args.config, executor, out, args.workers, args.threads, args.set)
        print(executor, f"{runs[executor]['wall_s']:.1f} s wall, {runs[executor]['stage_s']:.1f} s of stages")
    base = runs[args.executors[0]]["wall_s"]
    speedup = {e: base / r["wall_s"] for e, r in runs.items()}
    same = {e: r["test_roc_auc"] == runs[args.executors[0]]["test_roc_auc"] for e, r in runs.items()}
    print("speed-up over", args.executors[0], speedup, "identical test AUCs", same)
    first = runs[args.executors[0]]
    for name, r in runs.items():
        r["outside_stages_s"] = r["wall_s"] - r["stage_s"]
        r["extra_outside_per_stage_s"] = (r["outside_stages_s"] - first["outside_stages_s"]) / r["stages"]
        print(
            f"{name}: {r['outside_stages_s']:.1f} s outside stages, "
            f"{r['extra_outside_per_stage_s']:+.2f} s a stage over {args.executors[0]}"
        )
    readouts = sum(len(r["test_roc_auc"]) for r in runs.values())
    save(
        args.name or f"executors_{args.config}",
        {
            "selection_split": "none",
            "test_evaluations": readouts,
            "config": args.config,
            "overrides": args.set,
            "workers": args.workers,
            "threads": args.threads,
            "runs": runs,
            "speedup_over_first": speedup,
            "identical_test_roc_auc": same,
        },
    )


if __name__ == "__main__":
    main()
