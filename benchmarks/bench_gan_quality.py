"""GAN families and stabilisers at an equal CPU-time budget on chest_xray_224 at 64 px.

Each variant trains for --minutes (its step count is set from a timed warm-up), then is evaluated against
the real training images: FD, KID, precision, recall, near-copy fraction and class fidelity, with a shared
reference classifier (--reference, e.g. a checkpoint from bench_classify.py).

Usage: python -u benchmarks/bench_gan_quality.py --reference CKPT --minutes 8 [--variants ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PLAIN_GAN, SHARED_DATA, result_path, save

from pneumogan.config import load_config
from pneumogan.gan.evaluate import evaluate_gan
from pneumogan.gan.train import train_gan

VARIANTS = {
    "dcgan_plain": ["gan.family=dcgan", *PLAIN_GAN],
    "dcgan_stable": ["gan.family=dcgan"],
    "cgan_stable": ["gan.family=cgan"],
    "acgan_stable": ["gan.family=acgan"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--reference", required=True)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--n", type=int, default=500, help="synthetic images per class for the metrics")
    ap.add_argument("--set", nargs="*", default=[], help="overrides for every variant")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    previous = result_path("gan/gan_quality_64px")
    # Variants measured in an earlier invocation stay in the results file unless measured again.
    results = json.loads(previous.read_text())["results"] if previous.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        for name in args.variants:
            base = [
                f"data.source={args.data}",
                "data.size=64",
                "gan.sample_every=200",
                "gan.checkpoint_every=200",
                *VARIANTS[name],
                *args.set,
            ]
            probe = load_config("quick", [*base, "gan.steps=6"])
            t = time.perf_counter()
            train_gan(probe, root / f"{name}-probe", resume=False, log=lambda *_: None)
            per_step = (time.perf_counter() - t) / 6
            steps = max(10, int(args.minutes * 60 / per_step))
            cfg = load_config("quick", [*base, f"gan.steps={steps}"])
            print(f"{name}: {per_step:.2f} s/step (probe, incl. setup) → {steps} steps", flush=True)
            t = time.perf_counter()
            ckpt = train_gan(cfg, root / name, resume=False, log=print)
            wall = time.perf_counter() - t
            metrics = evaluate_gan(ckpt, args.n, args.reference, log=print)
            results[name] = {
                "steps": steps,
                "train_wall_s": wall,
                "overrides": VARIANTS[name] + args.set,
                "metrics": {k: v for k, v in metrics.items() if isinstance(v, dict)},
                "grid": str(ckpt / "grids"),
            }
            for cls in [c for c in (*metrics["classes"], "overall") if c in metrics]:
                m = metrics[cls]
                print(
                    f"  {cls:10s} FD {m['fd']:.3f} KID {m['kid']:.4f} P {m['precision']:.3f} R {m['recall']:.3f} "
                    f"near-copies {m['near_copy_fraction']:.2%} fidelity {m['class_fidelity']:.2%}",
                    flush=True,
                )
            save("gan_quality_64px", {"args": vars(args), "results": results})


if __name__ == "__main__":
    main()
