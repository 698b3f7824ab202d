"""The experiment on K nodes × C cores: its wall time simulated from measured stage times (pipeline/schedule.py).

1. Check the simulation against a real executor: the quick run's graph with the stage times that
   `--executor local --workers 2` measured, on 2 slots, against that run's wall time
   (`bench_executors.py`; the run folder must still be there, `--check-run`).
2. The committed standard run's grid (`--config standard`, graph from `pneumogan run --plan`) with the stage times
   it measured (`--measured`), for every K × C in `--nodes` × `--cores`, `--threads` cores a stage.

    python benchmarks/bench_scale_out.py \
        --check-run runs/bench_executors/quick/local-014639 --check-wall 495.5 \
        --measured benchmarks/results/standard_run/results.json --nodes 1 2 4 8 16 32 --cores 2 8 32

A grid that has not run yet takes its stage times from elsewhere, each named (`--assume KIND[@FRACTION]=SECONDS`,
`--why`), as the v2 estimates in docs/clusters.md do:

    python benchmarks/bench_scale_out.py --name scale_out_v2_paired --nodes 1 2 4 8 --cores 2 8 32 \
    --set "run.conditions=[real,duplicated,rebalanced,enlarged,weighted,synthetic_only,pretrain_synthetic,filtered]" \
              "run.seeds=[0,1,2,3,4]" run.generator=diffusion classify.epochs=18 run.generator_seeds=paired \
        --assume diffusion=3600 classify=62 synthetic@100pct=200 synthetic@25pct=50 synthetic@10pct=20 \
                 synthetic@5pct=10 gan-eval=40 --why "..."

Saves benchmarks/results/speed/<name>.json (no split is read; nothing is chosen).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

from pneumogan.config import load_config
from pneumogan.pipeline.experiment import plan_pipeline
from pneumogan.pipeline.schedule import simulate, stage_seconds


def graph(config: str, overrides: list[str], out: Path) -> list[dict]:
    with contextlib.redirect_stdout(io.StringIO()):  # the plan's own progress lines
        return plan_pipeline(load_config(config, overrides), out)["stages"]


def measured_seconds(results: Path) -> dict[str, float]:
    return {name: s["seconds"] for name, s in json.loads(results.read_text())["stages"].items()}


def check(run: Path, wall: float, config: str) -> dict:
    stages = graph(config, [], run)
    seconds = stage_seconds(stages, measured_seconds(run / "results.json"))
    est = simulate(stages, seconds, 2)
    print(f"check: {config} on 2 slots simulated {est.wall_s:.1f} s of stages; measured wall {wall:.1f} s")
    return {
        "run": str(run),
        "config": config,
        "slots": 2,
        "simulated_s": est.wall_s,
        "measured_wall_s": wall,
        "stage_seconds": seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="standard")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides")
    ap.add_argument("--measured", type=Path, default=Path("benchmarks/results/standard_run/results.json"))
    ap.add_argument("--nodes", nargs="+", type=int, default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--cores", nargs="+", type=int, default=[2, 8, 32])
    ap.add_argument("--threads", type=int, default=2, help="cores a stage (as measured)")
    ap.add_argument("--check-run", type=Path, default=None, help="a quick run made by --executor local --workers 2")
    ap.add_argument("--check-wall", type=float, default=None, help="its measured wall time, seconds")
    ap.add_argument("--name", default="scale_out")
    ap.add_argument(
        "--assume",
        nargs="*",
        default=[],
        metavar="KIND[@FRACTION]=SECONDS",
        help="a stage time taken from elsewhere (e.g. diffusion=3600 classify=62 synthetic@100pct=186)",
    )
    ap.add_argument("--why", default="", help="where the assumed times come from (recorded)")
    args = ap.parse_args()
    result: dict = {"selection_split": "none", "test_evaluations": 0}
    if args.check_run:
        result["check"] = check(args.check_run, args.check_wall, "quick")
    with tempfile.TemporaryDirectory() as empty:
        stages = graph(args.config, args.set, Path(empty) / "run")
    assumed = {k: float(v) for k, v in (a.split("=", 1) for a in args.assume)}
    seconds = stage_seconds(stages, measured_seconds(args.measured), assumed)
    grid = []
    for cores in args.cores:
        for nodes in args.nodes:
            slots = max(1, nodes * cores // args.threads)
            est = simulate(stages, seconds, slots)
            grid.append(
                {
                    "nodes": nodes,
                    "cores": cores,
                    "slots": slots,
                    "wall_h": est.wall_s / 3600,
                    "busy": est.busy,
                }
            )
            print(f"{nodes:>3} × {cores:>2} cores: {slots:>4} slots, {est.wall_s / 3600:6.2f} h, busy {est.busy:.0%}")
    print(f"serial {est.work_s / 3600:.2f} h of stages; critical path {est.critical_path_s / 3600:.2f} h")
    result |= {
        "config": args.config,
        "overrides": args.set,
        "measured": str(args.measured),
        "assumed": assumed,
        "assumed_from": args.why,
        "work_h_by_kind": {
            kind: sum(seconds[x["name"]] for x in stages if x["kind"] == kind) / 3600
            for kind in sorted({x["kind"] for x in stages})
        },
        "threads_per_stage": args.threads,
        "stages": len(stages),
        "work_h": est.work_s / 3600,
        "critical_path_h": est.critical_path_s / 3600,
        "grid": grid,
        "assumption": "a stage takes as long beside others as it took alone where it was measured (a lower bound)",
    }
    save(args.name, result)


if __name__ == "__main__":
    main()
