"""Training images/s with 1 and 2 processes (`torchrun --nproc_per_node N`, gloo on CPU), classifier and GAN.

    python benchmarks/bench_ddp.py --repeats 3
Each process gets an equal share of the cores (OMP_NUM_THREADS = cores / N), so the comparison is what a user
of this machine would see. Global batch sizes are the same at every N.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import SHARED_DATA, save

DATA = SHARED_DATA / "chest_xray_224"


def run(nproc: int, args: list[str], out: Path) -> list[dict]:
    threads = max(1, (os.cpu_count() or 2) // nproc)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd = [*launcher, "-m", "pneumogan", *args, "--out", str(out)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((out / "history.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    common = ["--config", "quick", f"data.source={DATA}", f"data.size={args.size}"]
    jobs = {
        "classifier": ["classify", "train", *common, "classify.epochs=1", "data.train_fraction=0.25"],
        "gan": ["gan", "train", *common, "gan.steps=40", "gan.batch_size=32", "gan.target_class=PNEUMONIA"],
    }
    results: dict = {}
    for name, job in jobs.items():
        for nproc in (1, 2):
            rates = []
            for r in range(args.repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    history = run(nproc, job, Path(tmp) / "out")
                # classifier: the epoch's rate; GAN: the mean over its history rows (global images/s)
                rates.append(statistics.mean(h["images_per_s"] for h in history))
                print(f"{name} nproc={nproc} run {r + 1}: {rates[-1]:.1f} images/s", flush=True)
            results.setdefault(name, {})[f"nproc_{nproc}"] = {
                "median_images_per_s": statistics.median(rates),
                "runs": rates,
            }
        r1, r2 = (results[name][f"nproc_{n}"]["median_images_per_s"] for n in (1, 2))
        results[name]["speedup_2_vs_1"] = r2 / r1
        print(f"{name}: 1 process {r1:.1f}, 2 processes {r2:.1f} images/s (×{r2 / r1:.2f})", flush=True)
    save(f"ddp_cpu_{args.size}px", {"size": args.size, "repeats": args.repeats, "results": results})


if __name__ == "__main__":
    main()
