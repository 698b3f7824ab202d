"""What helps the from-scratch classifier? Train one variant per setting change × seeds on chest_xray_224
(patient-grouped val, official 624-image test) and compare each with the baseline.

    python benchmarks/bench_ablation.py --arch simple_cnn --size 32 --epochs 3 --seeds 0 1 2 --out /tmp/ablation
    python benchmarks/bench_ablation.py ... --only baseline label_smoothing     # a subset of the variants

Per variant: val ROC-AUC (what the choice is made on) and test ACC / ROC-AUC / sensitivity / specificity (for
reporting), mean over seeds with a Student-t 95 % CI, and the difference from the baseline paired by seed with a
t-interval over the per-seed paired differences (training variance included; the image-only bootstrap is kept
as `*_test_sampling`). The best variant is selected on val ROC-AUC only (`"selection_split": "val"`).
Checkpoints stay under --out/<variant>/s<seed>; a finished one is not retrained, so an interrupted sweep picks up
where it stopped, and the summary covers every finished variant and seed in --out (a costly variant can run with
fewer seeds; its differences are paired with the baseline's same seeds).
Saves benchmarks/results/ablation_<arch>_<size>px_<epochs>ep.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, save

# Setting changes the field reaches for first, one at a time against the baseline (the `quick` config's
# classifier). Ordered by cost, cheapest first, so an interrupted sweep has the most variants.
VARIANTS: dict[str, list[str]] = {
    "baseline": [],
    "label_smoothing": ["classify.label_smoothing=0.1"],
    "balanced_sampler": ["classify.balance=sampler"],
    "no_balancing": ["classify.balance=none"],
    "no_augmentation": ["augment.enabled=false"],
    "strong_augmentation": [
        "augment.rotate_deg=15",
        "augment.zoom=0.2",
        "augment.translate=0.1",
        "augment.brightness=0.2",
        "augment.contrast=0.2",
    ],
    "step_schedule": ["classify.schedule=step", "classify.step_size=2"],
    "blank_border": ["classify.blank_border=0.1"],  # the model cannot see the outer 10 % (shortcut check)
}
# Variants whose setting scales with the command line: three times --epochs, twice --size.
SCALED: dict[str, Callable[[argparse.Namespace], list[str]]] = {
    "epochs_x3": lambda a: [f"classify.epochs={3 * a.epochs}"],
    "size_x2": lambda a: [f"data.size={2 * a.size}"],
}
NAMES = [*VARIANTS, *SCALED]
METRICS = ("accuracy", "roc_auc", "recall", "specificity")


def overrides(name: str, args: argparse.Namespace) -> list[str]:
    base = [
        f"data.source={args.data}",
        f"data.size={args.size}",
        f"classify.arch={args.arch}",
        f"classify.epochs={args.epochs}",
        "classify.patience=100",
    ]
    return base + list(args.set) + variant(name, args)


def variant(name: str, args: argparse.Namespace) -> list[str]:
    """The setting changes that make variant `name`."""
    return SCALED[name](args) if name in SCALED else VARIANTS[name]


def run_one(name: str, seed: int, args: argparse.Namespace) -> None:
    """Train and evaluate one variant and seed unless its test metrics are already on disk."""
    from pneumogan.classify.evaluate import evaluate_checkpoint
    from pneumogan.classify.train import train
    from pneumogan.config import load_config

    out = Path(args.out) / name / f"s{seed}"
    if (out / "eval_test" / "metrics.json").exists():
        return
    cfg = load_config("quick", [*overrides(name, args), f"seed={seed}"])
    start = time.perf_counter()
    train(cfg, out, resume=True)  # continues a run killed mid-way
    wall = time.perf_counter() - start
    evaluate_checkpoint(out, "test")
    (out / "bench_wall_s.txt").write_text(f"{wall:.1f}\n")


def read_run(folder: Path) -> dict:
    """One finished variant × seed: its val and test metrics, epochs, training speed and wall time."""
    res = json.loads((folder / "eval_test" / "metrics.json").read_text())
    hist = json.loads((folder / "history.json").read_text())
    meta = json.loads((folder / "meta.json").read_text())
    wall_file = folder / "bench_wall_s.txt"
    return {
        "seed": int(folder.name[1:]),
        "threshold": res["threshold"],
        "val_roc_auc": meta["val_metrics"]["roc_auc"],  # the selected epoch's, at the val-chosen threshold
        "val_accuracy": meta["val_metrics"]["accuracy"],
        **{k: res[k] for k in METRICS},
        "epochs_run": len(hist),
        "train_images_per_s": statistics.median(h["images_per_s"] for h in hist),
        "wall_s": float(wall_file.read_text()) if wall_file.exists() else None,
    }


def finished_runs(args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every finished variant × seed under --out (also those of earlier invocations with other --seeds/--only)."""
    runs: dict[str, list[dict]] = {}
    for name in NAMES:
        for done in sorted(Path(args.out).glob(f"{name}/s*/eval_test/metrics.json")):
            runs.setdefault(name, []).append(read_run(done.parent.parent))
    return runs


def summarise(runs: dict[str, list[dict]], args: argparse.Namespace) -> dict[str, dict]:
    import numpy as np

    from pneumogan.pipeline.compare import Scores, interval_over_seeds, paired_difference, seed_summary

    def load(name: str, r: dict) -> Scores:
        z = np.load(Path(args.out) / name / f"s{r['seed']}" / "eval_test" / "scores.npz")
        return Scores(y=z["y"], p=z["p"], threshold=r["threshold"])

    scores = {name: [load(name, r) for r in rows] for name, rows in runs.items()}  # each file read once
    table = {}
    for name, rows in runs.items():
        entry = {m: seed_summary([r[m] for r in rows]) for m in (*METRICS, "val_roc_auc")}
        walls = [r["wall_s"] for r in rows if r["wall_s"]]
        entry["wall_s_median"] = statistics.median(walls) if walls else None
        entry["overrides"] = variant(name, args)
        if name != "baseline" and "baseline" in runs:
            seeds = [r["seed"] for r in rows]
            base = [s for s, r in zip(scores["baseline"], runs["baseline"], strict=True) if r["seed"] in seeds]
            base_rows = {r["seed"]: r for r in runs["baseline"]}
            if len(base) == len(rows):
                for m in ("roc_auc", "accuracy", "val_roc_auc"):
                    per_seed = [r[m] - base_rows[r["seed"]][m] for r in rows]
                    entry[f"delta_{m}"] = interval_over_seeds(per_seed, m)
                for m in ("roc_auc", "accuracy"):
                    entry[f"delta_{m}_test_sampling"] = paired_difference(base, scores[name], m)
        table[name] = entry
    return table


def select_on_val(table: dict[str, dict]) -> dict:
    """The variant with the best mean val ROC-AUC (the baseline wins ties): the choice never looks at test.
    Each run was evaluated on test once, after training, for reporting."""
    best = max(table, key=lambda name: (table[name]["val_roc_auc"]["mean"], name == "baseline"))
    return {
        "selection_split": "val",
        "selection_metric": "mean val ROC-AUC over seeds",
        "selected": best,
        "test_evaluations": sum(e["accuracy"]["n_seeds"] for e in table.values()),
    }


def print_table(table: dict[str, dict]) -> None:
    def pct(s: dict) -> str:
        ci = f" [{100 * s['ci'][0]:.1f}, {100 * s['ci'][1]:.1f}]" if s["ci"] else ""
        return f"{100 * s['mean']:.1f}{ci}"

    def delta(d: dict | None) -> str:
        if d is None:
            return "—"
        if not d["ci"]:
            return f"{100 * d['difference']:+.1f} (1 seed)"
        return f"{100 * d['difference']:+.1f} [{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}]"

    print("| variant | seeds | val AUC % | Δ val AUC | ACC % | ROC-AUC % | sens % | spec % | Δ AUC | Δ ACC |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, e in table.items():
        cells = [
            name,
            str(e["accuracy"]["n_seeds"]),
            pct(e["val_roc_auc"]),
            delta(e.get("delta_val_roc_auc")),
            *(pct(e[m]) for m in ("accuracy", "roc_auc", "recall", "specificity")),
            delta(e.get("delta_roc_auc")),
            delta(e.get("delta_accuracy")),
        ]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--arch", default="simple_cnn")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", nargs="*", default=[], help="overrides for every variant (e.g. data.train_fraction=0.1)")
    ap.add_argument("--only", nargs="+", choices=sorted(NAMES), help="run these variants (default: all)")
    ap.add_argument("--out", required=True, help="checkpoints go here, one folder per variant and seed")
    args = ap.parse_args()

    names = [n for n in NAMES if not args.only or n in args.only]
    for name in names:
        for seed in args.seeds:
            run_one(name, seed, args)
            row = read_run(Path(args.out) / name / f"s{seed}")
            print(
                f"{name} seed {seed}: val AUC {row['val_roc_auc']:.4f} | test ACC {row['accuracy']:.4f} "
                f"AUC {row['roc_auc']:.4f} sens {row['recall']:.4f} spec {row['specificity']:.4f} "
                f"({row['wall_s'] or 0:.0f} s)",
                flush=True,
            )
        # after every variant, so an interrupted sweep keeps what it measured
        runs = finished_runs(args)
        table = summarise(runs, args)
        result = {"args": vars(args), "runs": runs, "table": table, **select_on_val(table)}
        save(f"ablation_{args.arch}_{args.size}px_{args.epochs}ep", result)
    print_table(table)


if __name__ == "__main__":
    main()
