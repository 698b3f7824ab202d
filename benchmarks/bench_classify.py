"""Train and evaluate a classifier on chest_xray_224 (patient-grouped val, official 624-image test).

Usage: python benchmarks/bench_classify.py --arch simple_cnn --size 64 --epochs 10 --seeds 0 1 2
Prints test ACC / ROC-AUC / sensitivity / specificity with 95 % CIs, training images/s and wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, result_path, save

from pneumogan.classify.evaluate import evaluate_checkpoint
from pneumogan.classify.train import train
from pneumogan.config import load_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--arch", default="simple_cnn")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--set", nargs="*", default=[], help="extra config overrides")
    ap.add_argument("--out", default=None, help="keep checkpoints here (default: a temp folder)")
    args = ap.parse_args()

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        for seed in args.seeds:
            cfg = load_config(
                "quick",
                [
                    f"data.source={args.data}",
                    f"data.size={args.size}",
                    f"classify.arch={args.arch}",
                    f"classify.epochs={args.epochs}",
                    f"seed={seed}",
                    *args.set,
                ],
            )
            start = time.perf_counter()
            ckpt = train(cfg, root / f"{args.arch}-{args.size}-s{seed}", resume=False)
            wall = time.perf_counter() - start
            res = evaluate_checkpoint(ckpt, "test")
            hist = json.loads((ckpt / "history.json").read_text())
            run = {
                "seed": seed,
                "wall_s": wall,
                "epochs_run": len(hist),
                "train_images_per_s": statistics.median(h["images_per_s"] for h in hist),
                "threshold": res["threshold"],
                **{k: res[k] for k in ("accuracy", "roc_auc", "recall", "specificity", "f1", "n")},
                "ci": {k: res["ci"][k] for k in ("accuracy", "roc_auc", "recall", "specificity")},
                "at_0.5": res["at_0.5"],
            }
            runs.append(run)
            print(
                f"seed {seed}: ACC {run['accuracy']:.4f} {run['ci']['accuracy']} AUC {run['roc_auc']:.4f} "
                f"{run['ci']['roc_auc']} sens {run['recall']:.4f} spec {run['specificity']:.4f} | "
                f"{run['train_images_per_s']:.0f} img/s, {wall:.0f} s",
                flush=True,
            )
            _save(args, runs)  # after every seed, so an interrupted benchmark keeps what it measured


def _save(args: argparse.Namespace, runs: list[dict]) -> None:
    """Save this invocation's seeds together with other seeds of the same setting saved earlier (a later run of
    a seed replaces the earlier one), so `--seeds 1 2` adds to a file that holds seed 0."""
    from pneumogan.pipeline.compare import seed_summary

    tag = "_".join(s.replace("=", "-").replace(".", "") for s in args.set)
    name = f"classify_{args.arch}_{args.size}px{'_' + tag if tag else ''}"
    path = result_path(name)
    same = ("data", "arch", "size", "epochs", "set")
    earlier = json.loads(path.read_text()) if path.exists() else {}
    if earlier and all(earlier.get("args", {}).get(k) == vars(args)[k] for k in same):
        mine = {r["seed"] for r in runs}
        runs = sorted([r for r in earlier["runs"] if r["seed"] not in mine] + runs, key=lambda r: r["seed"])
    summary = {k: seed_summary([r[k] for r in runs]) for k in ("accuracy", "roc_auc", "recall", "specificity")}
    print(f"mean over {len(runs)} seed(s):", {k: round(v["mean"], 4) for k, v in summary.items()})
    save(
        name,
        {
            "args": vars(args),
            "runs": runs,
            "mean": {k: v["mean"] for k, v in summary.items()},
            "seed_ci": {k: v["ci"] for k, v in summary.items()},
        },
    )


if __name__ == "__main__":
    main()
