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
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, save
from _seeded_runs import finished_runs, print_run, print_table, read_run, select_on_val, summarise, train_and_test

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
    train_and_test(Path(args.out) / name / f"s{seed}", [*overrides(name, args), f"seed={seed}"])


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
            print_run(name, read_run(Path(args.out) / name / f"s{seed}"))
        # after every variant, so an interrupted sweep keeps what it measured
        runs = finished_runs(Path(args.out), NAMES)
        table = summarise(runs, Path(args.out), lambda n: variant(n, args))
        result = {"args": vars(args), "runs": runs, "table": table, **select_on_val(table)}
        save(f"ablation_{args.arch}_{args.size}px_{args.epochs}ep", result)
    print_table(table)


if __name__ == "__main__":
    main()
