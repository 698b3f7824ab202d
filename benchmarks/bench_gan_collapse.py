"""Which setting makes the conditional GANs collapse? Short trainings at 32 px, one change each.

    python benchmarks/bench_gan_collapse.py --out runs/gan_collapse [--steps 600] [--variants ...]
        [--reference CLASSIFIER_DIR --encoder SSL_DIR]   # FD / KID / precision / recall too

The bundled 32 px conditional generator (cgan, the `quick` config's stabilisers, 2000 steps) came out with
sample diversity 0.05 against the real images' 0.37 (the training monitor's mode-collapse warning), while the
per-class DCGANs of the standard run, same size and width, stayed near 0.3. This trains each variant for
`--steps` generator steps (batch 32, 32 channels, seed 0, the real training split) and measures the final
generator's sample diversity — the mean pairwise per-pixel L2 distance between samples of one class, averaged
over classes (`gan.monitor.sample_diversity`) — on `--per-class` samples per class, beside the same figure for
as many real training images per class; `ratio` is generator / real (the monitor calls < 0.25 collapse). The
in-training trajectory (8 fixed latents per class) is kept too. Training images only: no validation or test
image is looked at. Resumable: a finished variant is read back, not retrained. Saves
benchmarks/results/gan/gan_collapse_32px.json as variants finish.

Variants: the cGAN with the `quick` stabilisers (spectral norm, hinge, EMA, DiffAugment), without DiffAugment,
plain (none of them, DCGAN's Adam betas), with the fakes' classes drawn in the real images' shares instead of
uniformly (`gan.fake_labels=data`), with transitional conditioning (`gan.condition_ramp`: the class enters G and
D between 10 % and 60 % of the steps, after Shahbazi et al. 2022), with MSGAN's mode-seeking term at weights 1,
0.1, 0.03 and 0.01 (`gan.mode_seeking`), with class-conditional BatchNorm in G instead of the concatenated
embedding (`gan.g_conditioning=cbn`; alone and with the transitional ramp); the AC-GAN; and the per-class DCGAN
of each class (what `gan combine` puts together). With --reference (and --encoder), every variant also gets FD,
KID, precision and recall per class on --metric-n samples against as many real training images, in the
classifier's (and the SSL encoder's) feature space. `--variants` runs a subset; the other variants' records of
an earlier run with the same settings are kept (a record without `metrics` was measured without --reference).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PLAIN_GAN, SHARED_DATA, result_path, save

# variant → overrides on top of the common settings (the `quick` config's GAN stabilisers otherwise)
VARIANTS: dict[str, list[str]] = {
    "cgan/stable": ["gan.family=cgan"],
    "cgan/no_diffaugment": ["gan.family=cgan", "gan.diffaugment=''"],
    "cgan/plain": ["gan.family=cgan", *PLAIN_GAN],
    "cgan/fake_labels_data": ["gan.family=cgan", "gan.fake_labels=data"],
    "cgan/transitional": ["gan.family=cgan", "gan.condition_ramp=[0.1,0.6]"],
    "cgan/mode_seeking_1": ["gan.family=cgan", "gan.mode_seeking=1"],
    "cgan/mode_seeking_0.1": ["gan.family=cgan", "gan.mode_seeking=0.1"],
    "cgan/mode_seeking_0.03": ["gan.family=cgan", "gan.mode_seeking=0.03"],
    "cgan/mode_seeking_0.01": ["gan.family=cgan", "gan.mode_seeking=0.01"],
    "cgan/cbn": ["gan.family=cgan", "gan.g_conditioning=cbn"],
    "cgan/cbn_transitional": ["gan.family=cgan", "gan.g_conditioning=cbn", "gan.condition_ramp=[0.1,0.6]"],
    "acgan/stable": ["gan.family=acgan"],
    "dcgan/stable_normal": ["gan.family=dcgan", "gan.target_class=NORMAL"],
    "dcgan/stable_pneumonia": ["gan.family=dcgan", "gan.target_class=PNEUMONIA"],
}


def common(args: argparse.Namespace) -> list[str]:
    return [
        f"data.source={args.data}",
        "data.size=32",
        "gan.g_channels=32",
        "gan.d_channels=32",
        "gan.batch_size=32",
        f"gan.steps={args.steps}",
        f"gan.sample_every={max(1, args.steps // 3)}",
        f"gan.checkpoint_every={args.steps}",
        "seed=0",
    ]


def diversity(out: Path, per_class: int) -> dict:
    """The final generator's sample diversity and the real training images' on as many images per class."""
    import torch

    from pneumogan.config import Config
    from pneumogan.gan.checkpoint import load_generator
    from pneumogan.gan.data import training_images
    from pneumogan.gan.monitor import sample_diversity

    g, meta = load_generator(out, torch.device("cpu"))
    images, labels, names = training_images(Config.model_validate(meta["config"]))
    z = torch.randn(per_class * len(names), g.z_dim, generator=torch.Generator().manual_seed(1))
    y = torch.arange(len(names)).repeat_interleave(per_class)
    with torch.no_grad():
        fake = g.eval()(z, y if g.num_classes else None)
    pick = torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in range(len(names))])
    real = sample_diversity(images[pick].float(), labels[pick])
    synthetic = sample_diversity(fake.float(), y)
    return {"classes": names, "real": real, "synthetic": synthetic, "ratio": synthetic / real, "n_per_class": per_class}


def feature_metrics(out: Path, args: argparse.Namespace) -> dict:
    """FD, KID, precision and recall per class in the reference classifier's space and, with --encoder, the SSL
    encoder's (`gan evaluate`, equal n per class against the real training images): pixel diversity alone
    cannot tell varied anatomy from images pushed to exposure extremes."""
    from pneumogan.gan.evaluate import evaluate_gan

    res = evaluate_gan(out, args.metric_n, reference=args.reference, encoder=args.encoder, log=lambda *_: None)
    keys = ("fd", "kid", "precision", "recall")
    spaces = {"classifier": res} | ({"ssl_encoder": res["ssl_encoder"]} if args.encoder else {})
    return {space: {c: {k: r[c][k] for k in keys} for c in res["classes"]} for space, r in spaces.items()}


def run_variant(name: str, args: argparse.Namespace) -> dict:
    from pneumogan.config import load_config
    from pneumogan.gan.train import train_gan

    out = Path(args.out) / name.replace("/", "_")
    wall = None  # None: trained by an earlier invocation
    if not (out / "generator.safetensors").is_file():
        start = time.perf_counter()
        train_gan(load_config("quick", [*common(args), *VARIANTS[name]]), out)
        wall = time.perf_counter() - start
    history = json.loads((out / "history.json").read_text())
    trajectory = [{"step": h["step"], "diversity": h["diversity"]} for h in history if h.get("diversity")]
    events = json.loads((out / "events.json").read_text()) if (out / "events.json").is_file() else []
    final = diversity(out, args.per_class)
    metrics = {"metrics": feature_metrics(out, args), "metric_n": args.metric_n} if args.reference else {}
    return {
        "variant": name,
        "overrides": VARIANTS[name],
        "steps": history[-1]["step"],
        **final,
        "collapsed": final["ratio"] < 0.25,
        "trajectory": trajectory,
        "monitor_events": [e["message"] for e in events],
        "wall_s": wall,
        **metrics,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--per-class", type=int, default=64)
    ap.add_argument("--reference", help="a classifier checkpoint: FD / KID / precision / recall in its space")
    ap.add_argument("--encoder", help="an `ssl pretrain` folder: the same metrics in its space (with --reference)")
    ap.add_argument("--metric-n", type=int, default=500, help="samples (and real images) per class for the metrics")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = ap.parse_args()
    # variants measured by an earlier invocation with the same settings stay in the JSON (in VARIANTS' order)
    earlier = result_path("gan/gan_collapse_32px")
    kept = json.loads(earlier.read_text()) if earlier.is_file() else {}
    same = kept.get("common") == common(args) and kept.get("args", {}).get("per_class") == args.per_class
    if same and any("metrics" in r for r in kept.get("records", [])):  # metrics of one kind only in one file
        same = all(kept["args"].get(k) == getattr(args, k) for k in ("reference", "encoder", "metric_n"))
    records = {r["variant"]: r for r in kept.get("records", [])} if same else {}
    for name in args.variants:
        wall = records.get(name, {}).get("wall_s")  # a retrained-nothing pass keeps the first pass's time
        r = records[name] = run_variant(name, args)
        r["wall_s"] = r["wall_s"] if r["wall_s"] is not None else wall
        fd = "".join(
            f" FD {c} {m['fd']:.1f} recall {m['recall']:.2f}"
            for c, m in r.get("metrics", {}).get("classifier", {}).items()
        )
        print(
            f"{name:24s} diversity {r['synthetic']:.3f} vs real {r['real']:.3f} (ratio {r['ratio']:.2f}){fd}",
            flush=True,
        )
        ordered = [records[v] for v in VARIANTS if v in records]
        save("gan_collapse_32px", {"args": vars(args), "common": common(args), "records": ordered})


if __name__ == "__main__":
    main()
