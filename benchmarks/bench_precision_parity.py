"""Does bf16 autocast cost accuracy? The same recipes and seeds trained in fp32 and in bf16, paired by seed.

    python benchmarks/bench_precision_parity.py --out runs/parity [--device cuda] [--encoder runs/ssl64]

Classifiers: simple_cnn @64 and resnet18 @128 (the `quick` config's classifier for --epochs epochs), seeds
0 1 2, each trained with `classify.precision=fp32` and `=bf16` (weights fp32 either way) and evaluated on
test once in the precision it trained in. Per net: test accuracy and ROC-AUC per seed, the paired mean
difference bf16 − fp32 with its t-interval over seeds, and the mean |ΔAUC| (the throughput issue asks
≤ 0.005). One GAN: the per-class DCGAN of NORMAL @64 (64 channels, batch 64) trained for --gan-steps in each
precision from the same seeds, FD and KID at equal steps (500 samples, sampled in its training precision) in
the reference classifier's space (this run's fp32 simple_cnn, seed 0) and, with --encoder, the SSL
encoder's.

The issue asks for this on a CPU where `auto` picks bf16 (AMX / AVX512-BF16). Run on CUDA, it measures the same
autocast contract (bf16 operands, fp32 accumulation and weights) through other kernels; the JSON names the
device, and a CPU run belongs beside it, not in its place. Resumable: a finished run is read back. Nothing is
selected here; `test_evaluations` counts the test evaluations made. Saves benchmarks/results/
precision_parity.json (`precision_parity_<device kind>.json` with --tag) as runs finish.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, result_path, save
from _seeded_runs import read_run, train_and_test

PRECISIONS = ("fp32", "bf16")
NETS = {"simple_cnn@64": ("simple_cnn", 64), "resnet18@128": ("resnet18", 128)}
GAN_NAME = "dcgan_normal@64"


def train_classifier(folder: Path, overrides: list[str], precision: str) -> dict:
    """One net × seed × precision, trained once and evaluated on test once (in the same precision)."""
    train_and_test(folder, overrides, precision=precision)
    row = read_run(folder)
    row["precision"] = json.loads((folder / "meta.json").read_text())["precision"]
    return row


def train_gan_run(folder: Path, overrides: list[str], precision: str, reference: Path, encoder: str | None) -> dict:
    """One GAN seed × precision: trained once, then FD / KID of 500 samples against the real NORMAL images."""
    from pneumogan.config import load_config
    from pneumogan.gan.evaluate import evaluate_gan
    from pneumogan.gan.train import train_gan

    metrics_file = folder / "parity_metrics.json"
    if not metrics_file.is_file():
        start = time.perf_counter()
        train_gan(load_config("quick", overrides), folder)
        wall = time.perf_counter() - start
        res = evaluate_gan(folder, 500, reference=reference, precision=precision, encoder=encoder)
        row = {"wall_s": wall, "eval_s": time.perf_counter() - start - wall, "classifier": _fd_kid(res["NORMAL"])}
        if encoder:
            row["ssl_encoder"] = _fd_kid(res["ssl_encoder"]["NORMAL"])
        metrics_file.write_text(json.dumps(row))
    row = json.loads(metrics_file.read_text())
    meta = json.loads((folder / "meta.json").read_text())
    return row | {"precision": meta.get("precision"), "steps": meta.get("step")}


def _fd_kid(res: dict) -> dict:
    return {"fd": res["fd"], "kid": res["kid"], "recall": res.get("recall"), "precision": res.get("precision")}


def paired(rows: dict[str, list[dict]], get) -> dict:
    """bf16 − fp32 per seed (paired), its mean with the t-interval over seeds, and the mean absolute change."""
    from pneumogan.pipeline.compare import interval_over_seeds

    per_seed = [get(b) - get(f) for f, b in zip(rows["fp32"], rows["bf16"], strict=True)]
    out = interval_over_seeds(per_seed, "bf16 - fp32")
    out["mean_abs"] = statistics.fmean(abs(d) for d in per_seed)
    return out


def device_info(name: str) -> dict:
    import torch

    from pneumogan.device import resolve_device

    device = resolve_device(name)
    info = {"device": str(device)}
    if device.type == "cuda":
        info |= {"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda}
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--out", required=True, help="one folder per net / precision / seed goes here")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (recorded in the JSON)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--gan-steps", type=int, default=2000, help="0 leaves the GAN out")
    ap.add_argument(
        "--gan-only",
        action="store_true",
        help="add the GAN to the saved JSON's classifiers (trains the reference simple_cnn fp32 seed if missing)",
    )
    ap.add_argument("--encoder", help="an `ssl pretrain` folder: GAN metrics in its space too")
    ap.add_argument("--set", nargs="*", default=[], help="overrides for every run (e.g. a smoke test's)")
    ap.add_argument("--tag", help="saved as precision_parity_<tag>.json (e.g. the device kind)")
    args = ap.parse_args()

    root = Path(args.out)
    name = f"precision_parity_{args.tag}" if args.tag else "precision_parity"
    result: dict = {"args": vars(args), **device_info(args.device), "selection_split": None, "classifiers": {}}
    if args.gan_only:  # a second sitting: the classifiers measured earlier stay as they were
        saved = json.loads(result_path(name).read_text())
        result |= {k: saved[k] for k in ("classifiers", "test_evaluations")} | {"args_classifiers": saved["args"]}
    evaluations = 0
    for net in [] if args.gan_only else args.nets:
        arch, size = NETS[net]
        base = [f"data.source={args.data}", f"data.size={size}", f"classify.arch={arch}"]
        base += [f"classify.epochs={args.epochs}", f"classify.device={args.device}", *args.set]
        rows: dict[str, list[dict]] = {p: [] for p in PRECISIONS}
        for seed in args.seeds:
            for p in PRECISIONS:
                folder = root / net / p / f"s{seed}"
                rows[p].append(train_classifier(folder, [*base, f"classify.precision={p}", f"seed={seed}"], p))
                evaluations += 1
                r = rows[p][-1]
                print(f"{net} {p} seed {seed}: AUC {r['roc_auc']:.4f} acc {r['accuracy']:.4f}", flush=True)
        result["classifiers"][net] = {
            "runs": rows,
            "delta_roc_auc": paired(rows, lambda r: r["roc_auc"]),
            "delta_accuracy": paired(rows, lambda r: r["accuracy"]),
            "images_per_s_median": {p: statistics.median(r["train_images_per_s"] for r in rows[p]) for p in rows},
        }
        result["test_evaluations"] = evaluations
        save(name, result)
    if args.gan_steps:
        for entry in gan_parity(args, root):  # saved after every seed
            save(name, result | {"gan": entry})
    for net, entry in result["classifiers"].items():
        d = entry["delta_roc_auc"]
        print(f"{net}: ΔAUC {d['difference']:+.4f} CI {d['ci']} mean |Δ| {d['mean_abs']:.4f}")


def gan_parity(args: argparse.Namespace, root: Path) -> Iterator[dict]:
    reference = root / "simple_cnn@64" / "fp32" / f"s{args.seeds[0]}"
    if not (reference / "meta.json").is_file():  # the same settings as the classifier runs: the same model
        from pneumogan.classify.train import train
        from pneumogan.config import load_config

        arch, size = NETS["simple_cnn@64"]
        ref = [f"data.source={args.data}", f"data.size={size}", f"classify.arch={arch}", "classify.precision=fp32"]
        ref += [f"classify.epochs={args.epochs}", f"classify.device={args.device}", *args.set, f"seed={args.seeds[0]}"]
        train(load_config("quick", ref), reference)
    base = [f"data.source={args.data}", "data.size=64", "gan.family=dcgan", "gan.target_class=NORMAL"]
    base += ["gan.g_channels=64", "gan.d_channels=64", "gan.batch_size=64", f"gan.steps={args.gan_steps}"]
    base += [f"gan.checkpoint_every={args.gan_steps}", f"gan.sample_every={args.gan_steps}"]
    base += [f"gan.device={args.device}", *args.set]
    rows: dict[str, list[dict]] = {p: [] for p in PRECISIONS}
    for seed in args.seeds:
        for p in PRECISIONS:
            folder = root / GAN_NAME / p / f"s{seed}"
            overrides = [*base, f"gan.precision={p}", f"seed={seed}"]
            rows[p].append(train_gan_run(folder, overrides, p, reference, args.encoder))
            r = rows[p][-1]
            print(f"{GAN_NAME} {p} seed {seed}: FD {r['classifier']['fd']:.2f} ({r['wall_s']:.0f} s)", flush=True)
        out: dict = {"name": GAN_NAME, "steps": args.gan_steps, "runs": rows, "reference": str(reference)}
        out["overrides"] = base  # the GAN's settings as run: --set may change the channels and batch of the name
        for space in ("classifier", "ssl_encoder") if args.encoder else ("classifier",):
            for m in ("fd", "kid"):
                out[f"delta_{m}_{space}"] = paired(rows, lambda r, s=space, k=m: r[s][k])
        yield out


if __name__ == "__main__":
    main()
