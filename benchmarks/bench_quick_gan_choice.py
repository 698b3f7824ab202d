"""Which GAN should the `quick` config (the default `pneumogan run`) train? Its candidates at its own settings.

    python -u benchmarks/bench_quick_gan_choice.py --reference runs/recipes/baseline/s0 --encoder runs/ssl64 \
        --out runs/quick_gan_choice [--seeds 0 1 2] [--candidates dcgan cgan/cbn cgan/mode_seeking_0.01]

The 64 px GAN study's `best_covering` at 10 % of the data is a cGAN with one fix for its collapse (class-
conditional BatchNorm in the unequal-work pass, mode-seeking 0.01 at equal work), but the default run trains
at 32 px, 32 channels, batch 32, 500 steps, on 10 % of the training images, where the study did not look.
This trains each candidate exactly as the `quick` config would (its GAN section, 10 % of the real training
split, one GAN seed per `--seeds` entry) and scores the final generator per class in both feature spaces
(`gan evaluate`: --n samples against as many real training images of the class, from the full training split).
Training images only: no validation or test image is looked at, so the choice can be made on it. dcgan trains
one model per class (what the pipeline does) and is scored through `gan combine`.

The rule, fixed before the run (the mode-seeking candidate was added later, under the same rule, before any
of its seeds had trained): `quick` switches from the per-class DCGANs to a candidate only if the
candidate's FD in the SSL space (the headline space), averaged over seeds, is lower for **both** classes, its
recall is above zero for every class and seed, and it trains no slower. Resumable: a trained candidate × seed
is read back, not retrained. Saves benchmarks/results/gan/quick_gan_choice.json as cells finish.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, save

from pneumogan.data.labels import BINARY_CLASSES
from pneumogan.layout import GENERATOR_WEIGHTS

CANDIDATES: dict[str, list[str]] = {
    "dcgan": ["gan.family=dcgan"],
    "cgan/cbn": ["gan.family=cgan", "gan.g_conditioning=cbn"],
    "cgan/mode_seeking_0.01": ["gan.family=cgan", "gan.mode_seeking=0.01"],
    "cgan/stable": ["gan.family=cgan"],
}
FRACTION = 0.1  # the quick config's fraction
METRICS = ("fd", "kid", "precision", "recall")


def train(name: str, seed: int, args: argparse.Namespace) -> tuple[Path, float | None]:
    """The candidate's generator folder (per-class DCGANs combined) and its training seconds (None: trained by
    an earlier invocation, whose time is kept in the JSON)."""
    from pneumogan.config import load_config
    from pneumogan.gan.checkpoint import combine_generators
    from pneumogan.gan.train import train_gan

    root = Path(args.out) / name.replace("/", "_") / f"seed{seed}"
    base = [f"data.source={args.data}", f"data.train_fraction={FRACTION}", f"seed={seed}", *CANDIDATES[name]]
    units = [(cls.lower(), [f"gan.target_class={cls}"]) for cls in BINARY_CLASSES] if name == "dcgan" else [("all", [])]
    wall: float | None = None
    for tag, extra in units:
        out = root / tag
        if not (out / GENERATOR_WEIGHTS).is_file():
            start = time.perf_counter()
            train_gan(load_config("quick", [*base, *extra]), out, log=lambda *_: None)
            wall = (wall or 0.0) + time.perf_counter() - start
    if name != "dcgan":
        return root / "all", wall
    combined = root / "combined"
    if not (combined / GENERATOR_WEIGHTS).is_file():
        combine_generators([root / tag for tag, _ in units], combined)
    return combined, wall


def score(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from pneumogan.gan.evaluate import evaluate_gan

    res = evaluate_gan(folder, args.n, reference=args.reference, encoder=args.encoder, log=lambda *_: None)
    spaces = {"classifier": res, "ssl_encoder": res["ssl_encoder"]}
    return {space: {c: {k: r[c][k] for k in METRICS} for c in res["classes"]} for space, r in spaces.items()}


def decide(records: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Per candidate: mean SSL FD per class, min recall, median training time; and the rule's answer."""
    table: dict[str, Any] = {}
    for name in dict.fromkeys(r["candidate"] for r in records):
        mine = [r for r in records if r["candidate"] == name]
        if sorted(r["seed"] for r in mine) != sorted(seeds):
            continue  # unfinished candidates are not judged
        ssl = [r["metrics"]["ssl_encoder"] for r in mine]
        table[name] = {
            "mean_ssl_fd": {c: statistics.fmean(m[c]["fd"] for m in ssl) for c in BINARY_CLASSES},
            "min_ssl_recall": min(m[c]["recall"] for m in ssl for c in BINARY_CLASSES),
            "median_train_s": statistics.median(r["train_s"] for r in mine),
        }
    base = table.get("dcgan")
    chosen = "dcgan"
    for name, row in table.items() if base else ():
        lower_fd = all(row["mean_ssl_fd"][c] < table[chosen]["mean_ssl_fd"][c] for c in BINARY_CLASSES)
        no_slower = row["median_train_s"] <= base["median_train_s"]
        if name != "dcgan" and lower_fd and row["min_ssl_recall"] > 0 and no_slower:
            chosen = name
    return {"candidates": table, "chosen": chosen if base else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--reference", required=True, help="a real-trained classifier checkpoint (the second space)")
    ap.add_argument("--encoder", required=True, help="an `ssl pretrain` folder (the headline space)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument(
        "--candidates", nargs="+", default=["dcgan", "cgan/cbn", "cgan/mode_seeking_0.01"], choices=list(CANDIDATES)
    )
    ap.add_argument("--n", type=int, default=500, help="samples (and real images) per class for the metrics")
    args = ap.parse_args()
    earlier = Path(__file__).resolve().parent / "results" / "quick_gan_choice.json"
    kept = json.loads(earlier.read_text()) if earlier.is_file() else {}
    same = kept.get("metrics_n_per_class") == args.n and kept.get("spaces", {}).get("ssl_encoder") == args.encoder
    records = {(r["candidate"], r["seed"]): r for r in kept.get("records", [])} if same else {}
    for seed in args.seeds:  # seed-major: an interrupted run has every candidate at the first seeds
        for name in args.candidates:
            folder, wall = train(name, seed, args)
            previous = records.get((name, seed), {})
            records[(name, seed)] = {
                "candidate": name,
                "overrides": CANDIDATES[name],
                "seed": seed,
                "train_s": wall if wall is not None else previous.get("train_s"),
                "metrics": previous.get("metrics") or score(folder, args),
            }
            ssl = records[(name, seed)]["metrics"]["ssl_encoder"]
            print(
                f"{name:22s} seed {seed}: "
                + "  ".join(f"{c} FD {m['fd']:.1f} recall {m['recall']:.2f}" for c, m in ssl.items())
                + f"  ({records[(name, seed)]['train_s']:.0f} s)",
                flush=True,
            )
            ordered = sorted(records.values(), key=lambda r: (r["seed"], list(CANDIDATES).index(r["candidate"])))
            save(
                "quick_gan_choice",
                {
                    "command": " ".join(sys.argv),
                    "fraction": FRACTION,
                    "config": "quick",
                    "selection_split": "train",
                    "selection_note": "scored on training images only; no validation or test image is looked at",
                    "metrics_n_per_class": args.n,
                    "headline_space": "ssl_encoder",
                    "spaces": {"classifier": args.reference, "ssl_encoder": args.encoder},
                    "records": ordered,
                    "decision": decide(ordered, args.seeds),
                },
            )


if __name__ == "__main__":
    main()
