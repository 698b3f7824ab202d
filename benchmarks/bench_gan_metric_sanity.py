"""Is a feature space sensitive to realism? FD and KID between two disjoint halves of the real NORMAL training
images (the floor), and between one half and the other half degraded at increasing strength, in each feature
space the GAN metrics can use.

    python benchmarks/bench_gan_metric_sanity.py --encoder runs/ssl64 [--classifier CKPT] [--quick] [--json OUT]

Spaces: `classifier` (penultimate layer of a simple_cnn trained 4 epochs on the real data at --size, as
`gan evaluate` trains by default; or --classifier) and `ssl_encoder` (the label-free SimSiam encoder of
--encoder). Perturbations, each at four strengths (`strength` grows with the damage):
- `blur`: Gaussian blur, sigma in pixels;        - `noise`: additive Gaussian noise, std in [0, 1] units;
- `jpeg`: JPEG compression, strength = 100 − quality;
- `checkerboard`: a ±amplitude 2-pixel checkerboard, the transposed-convolution artefact of a GAN;
- `class_mix`: this share of the half replaced by PNEUMONIA images.
A usable space rises monotonically with every perturbation's strength and puts the floor far below them all.
Saves benchmarks/results/gan/gan_metric_sanity.json: `records` `{space, perturbation, strength, fd, kid}` (the floor
as `perturbation: "none"`), and per space the share of perturbations with a monotone rise.
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, machine, save

STRENGTHS = {
    "blur": [0.5, 1.0, 1.5, 2.5],
    "noise": [0.02, 0.05, 0.1, 0.2],
    "jpeg": [25, 60, 85, 95],  # quality 75, 40, 15, 5
    "checkerboard": [0.01, 0.03, 0.06, 0.12],
    "class_mix": [0.1, 0.25, 0.5, 1.0],
}


def perturb(images: np.ndarray, kind: str, strength: float, other: np.ndarray, seed: int) -> np.ndarray:
    """uint8 (N, S, S) → the same images degraded by `kind` at `strength`."""
    rng = np.random.default_rng(seed)
    x = images.astype(np.float32) / 255.0
    if kind == "blur":
        from scipy.ndimage import gaussian_filter

        x = gaussian_filter(x, sigma=(0, strength, strength), mode="nearest")
    elif kind == "noise":
        x = x + rng.normal(0, strength, x.shape).astype(np.float32)
    elif kind == "checkerboard":
        rows, cols = np.indices(x.shape[1:])
        x = x + strength * np.where((rows + cols) % 2 == 0, 1.0, -1.0)[None]
    elif kind == "jpeg":
        return np.stack([_jpeg(im, int(100 - strength)) for im in images])
    elif kind == "class_mix":
        out = images.copy()
        k = round(strength * len(images))
        swap = rng.choice(len(images), k, replace=False)
        out[swap] = other[rng.choice(len(other), k, replace=False)]
        return out
    else:
        raise ValueError(kind)
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def classifier_space(args: argparse.Namespace, device):
    """The reference classifier's extractor: --classifier, or a 4-epoch simple_cnn trained once in --work."""
    from pneumogan.classify.checkpoint import load_checkpoint
    from pneumogan.evaluate.gan_metrics import FeatureExtractor

    path = Path(args.classifier) if args.classifier else Path(args.work) / "reference"
    if not (path / "meta.json").exists():
        from pneumogan.classify.train import train
        from pneumogan.config import load_config

        cfg = load_config("quick", [f"data.source={args.data}", f"data.size={args.size}", "classify.epochs=4"])
        train(cfg, path, log=print)
    model, meta = load_checkpoint(path, device)
    pre = meta["preprocessing"]
    return FeatureExtractor(model, pre["mean"], pre["std"], pre["size"], device), str(path)


def monotone_share(records: list[dict], space: str, metric: str) -> dict:
    """Per perturbation: does `metric` rise with every step of strength, and stay above the floor?"""
    floor = next(r[metric] for r in records if r["space"] == space and r["perturbation"] == "none")
    verdicts = {}
    for kind in STRENGTHS:
        values = [r[metric] for r in records if r["space"] == space and r["perturbation"] == kind]
        verdicts[kind] = bool(all(b > a for a, b in itertools.pairwise(values)) and values[0] > floor)
    return {"per_perturbation": verdicts, "share": sum(verdicts.values()) / len(verdicts), "floor": floor}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED_DATA / "chest_xray_224"))
    ap.add_argument("--encoder", required=True, help="an `ssl pretrain` output folder")
    ap.add_argument("--classifier", help="reference classifier checkpoint (default: train one in --work)")
    ap.add_argument("--work", default="runs/metric_sanity", help="where the default reference classifier goes")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--n", type=int, default=500, help="images per half (at most half the NORMAL class)")
    ap.add_argument("--quick", action="store_true", help="250 images per half")
    ap.add_argument("--json", help="write here instead of benchmarks/results/gan/gan_metric_sanity.json")
    args = ap.parse_args()

    import torch

    from pneumogan.config import load_config
    from pneumogan.data.loading import load_splits
    from pneumogan.evaluate.gan_metrics import frechet_distance, kernel_distance_stats
    from pneumogan.gan.feature_spaces import encoder_extractor

    start = time.perf_counter()
    device = torch.device("cpu")
    train = load_splits(load_config("quick", [f"data.source={args.data}", f"data.size={args.size}"])).train
    images = np.asarray(train.images)
    normal, pneumonia = images[train.labels == 0], images[train.labels == 1]
    n = min(250 if args.quick else args.n, len(normal) // 2)
    order = np.random.default_rng(0).permutation(len(normal))
    half_a, half_b = normal[order[:n]], normal[order[n : 2 * n]]
    spaces = {"classifier": classifier_space(args, device), "ssl_encoder": encoder_extractor(args.encoder, device)}
    records: list[dict] = []
    for space, (extractor, _) in spaces.items():
        fa = extractor(half_a)[0]
        cells = [("none", 0.0)] + [(k, s) for k, strengths in STRENGTHS.items() for s in strengths]
        for kind, strength in cells:
            other = half_b if kind == "none" else perturb(half_b, kind, strength, pneumonia, seed=1)
            fb = extractor(other)[0]
            kid, kid_std = kernel_distance_stats(fa, fb, subsets=50, seed=0)
            fd = frechet_distance(fa, fb)
            records.append(
                {"space": space, "perturbation": kind, "strength": strength, "fd": fd, "kid": kid, "kid_std": kid_std}
            )
            print(f"{space:12s} {kind:13s} {strength:6.3g}  FD {fd:10.3f}  KID {kid:.5f}", flush=True)
    summary = {s: {m: monotone_share(records, s, m) for m in ("fd", "kid")} for s in spaces}
    for s, per in summary.items():
        print(f"{s}: monotone FD {per['fd']['share']:.0%}, KID {per['kid']['share']:.0%} of the perturbations")
    payload = {
        "args": vars(args),
        "n_per_half": n,
        "base_class": "NORMAL (real training split, two disjoint halves)",
        "spaces": {s: {"path": info if isinstance(info, str) else info["path"]} for s, (_, info) in spaces.items()},
        "records": records,
        "summary": summary,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    if args.json:
        import json

        Path(args.json).write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
        print(f"saved {args.json}")
    else:
        save("gan_metric_sanity", payload)


if __name__ == "__main__":
    main()
