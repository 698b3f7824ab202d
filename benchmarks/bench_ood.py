"""Does the out-of-distribution check stay silent on chest X-rays and speak up on everything else?

False alarms: the 624 official test X-rays, read from their files exactly as `predict` reads them (test images
are only scored here; the thresholds were set on val when the check was fitted). Detections: images that are
clearly not chest radiographs — scikit-image's bundled sample photographs and illustrations (full and random
crops), its LFW face subset, and generated colour, text, noise and flat images. Inverted X-rays (a
MONOCHROME1 file read the wrong way) are reported apart: they are X-rays, not the target set.

    python benchmarks/bench_ood.py CHECKPOINT [--name ood]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from _common import SHARED_DATA, save
from PIL import Image, ImageDraw, ImageFont

SKIMAGE_SAMPLES = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "cell",
    "checkerboard",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "shepp_logan_phantom",
    "text",
    "binary_blobs",
)
WORDS = [
    "chest",
    "film",
    "report",
    "patient",
    "left",
    "right",
    "lung",
    "heart",
    "normal",
    "pneumonia",
    "page",
    "table",
    "figure",
    "sample",
]


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def to_uint8(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    return np.round(255 * (a - a.min()) / max(a.max() - a.min(), 1e-12)).astype(np.uint8)


def skimage_images(rng: np.random.Generator, crops: int = 3) -> list[tuple[str, str, bytes]]:
    from skimage import data

    out = []
    for name in SKIMAGE_SAMPLES:
        a = to_uint8(getattr(data, name)())
        kind = "photo_colour" if a.ndim == 3 else "photo_gray"
        out.append((kind, name, png(a)))
        h, w = a.shape[:2]
        for k in range(crops):
            side = int(min(h, w) * rng.uniform(0.5, 0.9))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            out.append((kind, f"{name}_crop{k}", png(np.ascontiguousarray(a[top : top + side, left : left + side]))))
    faces = data.lfw_subset()
    for k in rng.choice(len(faces), 50, replace=False):
        face = Image.fromarray(to_uint8(faces[k])).resize((128, 128), Image.Resampling.BICUBIC)
        out.append(("face_gray", f"lfw_{k}", png(np.asarray(face))))
    return out


def generated_images(rng: np.random.Generator, n: int = 40) -> list[tuple[str, str, bytes]]:
    out = []
    yy, xx = np.mgrid[:160, :160] / 160.0
    for k in range(n):  # colour: smooth colour fields with a few blobs
        rgb = np.stack([np.sin(xx * rng.uniform(1, 8) + rng.uniform(0, 6)) for _ in range(3)], axis=-1)
        for _ in range(rng.integers(1, 5)):
            cy, cx, r = rng.uniform(0, 1, 3)
            rgb[(yy - cy) ** 2 + (xx - cx) ** 2 < (0.3 * r) ** 2] = rng.uniform(-1, 1, 3)
        out.append(("colour", f"colour_{k}", png(to_uint8(rgb))))
    font = ImageFont.load_default()
    for k in range(n):  # text: a page of words, dark on light or light on dark
        dark_on_light = k % 2 == 0
        im = Image.new("L", (200, 200), 255 if dark_on_light else 0)
        draw = ImageDraw.Draw(im)
        for line in range(int(rng.integers(3, 14))):
            words = " ".join(rng.choice(WORDS, 4))
            draw.text((8, 8 + 14 * line), words, fill=0 if dark_on_light else 255, font=font)
        out.append(("text", f"text_{k}", png(np.asarray(im))))
    for k in range(n):  # noise: uniform, Gaussian, salt and pepper, blurred
        kind = k % 4
        if kind == 0:
            a = rng.integers(0, 256, (128, 128))
        elif kind == 1:
            a = np.clip(rng.normal(128, rng.uniform(10, 80), (128, 128)), 0, 255)
        elif kind == 2:
            a = np.where(rng.random((128, 128)) < 0.5, 0, 255) * (rng.random((128, 128)) < rng.uniform(0.05, 0.5))
        else:
            small = rng.integers(0, 256, (16, 16)).astype(np.uint8)
            a = np.asarray(Image.fromarray(small).resize((128, 128), Image.Resampling.BICUBIC))
        out.append(("noise", f"noise_{k}", png(np.asarray(a, dtype=np.uint8))))
    for k in range(n // 2):  # flat: constants and linear gradients
        a = np.full((128, 128), rng.integers(0, 256)) if k % 2 == 0 else 255 * (xx[:128, :128] * rng.uniform(0.2, 1))
        out.append(("flat", f"flat_{k}", png(np.asarray(a, dtype=np.uint8))))
    return out


def score(predictor, items: list[tuple[str, str, bytes | Path]]) -> list[dict]:
    """Per input: which signals fired (colour/lateral from decoding; features/statistics from the detector)."""
    from pneumogan.ood.check import COLOUR_LIMIT, FeatureTap, decoding_warnings

    rows, arrays = [], []
    for kind, name, src in items:
        image = predictor.decode(src)
        notes = decoding_warnings(image)
        arrays.append(predictor.model_input(image.array))  # the checkpoint's geometry
        rows.append(
            {"kind": kind, "name": name, "colour": image.colour > COLOUR_LIMIT, "lateral": "lateral" in " ".join(notes)}
        )
    arrays_np = np.stack(arrays)
    with FeatureTap(predictor.model) as tap:
        proba = predictor.proba(arrays_np)
    distances = predictor.ood.scores(tap.features(), arrays_np)
    for k, row in enumerate(rows):
        row["feature_score"] = float(distances["feature_score"][k])
        row["statistics_distance"] = float(distances["statistics_distance"][k])
        row["features"] = row["feature_score"] > predictor.ood.feature_threshold
        row["statistics"] = row["statistics_distance"] > predictor.ood.statistics_threshold
        row["flagged"] = row["colour"] or row["lateral"] or row["features"] or row["statistics"]
        row["p_pneumonia"] = float(1 - proba[k][0])
    return rows


def quantile_sweep(predictor, test: list[dict], non_xray: list[dict]) -> list[dict]:
    """False alarms and detections with both thresholds refitted at other quantiles, on the images and with the
    budget split the fit uses (varied val images, 1 − (1 − q)/2 per signal)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from _common import trained_model

    from pneumogan.ood.check import FeatureTap, per_signal_quantile, threshold_images

    _, _, cfg, data = trained_model(predictor.checkpoint)
    val = np.asarray(data.val.images)
    varied = "per_signal_quantile" in predictor.ood.info  # the outlier-head check: varied val, split budget
    if varied:
        val = threshold_images(val, cfg.seed)
    with FeatureTap(predictor.model) as tap:
        predictor.proba(val)
    d_val = predictor.ood.scores(tap.features(), val)
    out = []
    for q in (0.99, 0.995, 0.999, 1.0):
        per_signal = per_signal_quantile(q) if varied else q
        tf = float(np.quantile(d_val["feature_score"], per_signal))
        ts = float(np.quantile(d_val["statistics_distance"], per_signal))

        def hit(r: dict, tf: float = tf, ts: float = ts) -> bool:
            return r["colour"] or r["lateral"] or r["feature_score"] > tf or r["statistics_distance"] > ts

        out.append(
            {
                "quantile": q,
                "feature_threshold": tf,
                "statistics_threshold": ts,
                "test_false_alarm_rate": float(np.mean([hit(r) for r in test])),
                "non_xray_detection_rate": float(np.mean([hit(r) for r in non_xray])),
            }
        )
        print(
            f"  quantile {q}: test false alarms {out[-1]['test_false_alarm_rate']:.2%}, "
            f"non-X-ray detections {out[-1]['non_xray_detection_rate']:.2%}"
        )
    return out


def rates(rows: list[dict]) -> dict:
    from scipy.stats import binomtest

    n = len(rows)
    flagged = int(sum(r["flagged"] for r in rows))
    ci = binomtest(flagged, n).proportion_ci(0.95, method="exact") if n else None
    return {
        "n": n,
        "flagged": flagged,
        "rate": flagged / n if n else None,
        "ci95_exact": [float(ci.low), float(ci.high)] if ci else None,
        "by_signal": {s: int(sum(r[s] for r in rows)) for s in ("colour", "lateral", "features", "statistics")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--test-dir", type=Path, default=SHARED_DATA / "chest_xray_224" / "test")
    ap.add_argument("--name", default="ood", help="results file: benchmarks/results/NAME.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from pneumogan.classify.predict import Predictor

    predictor = Predictor(args.checkpoint, device="cpu", precision="fp32")
    if predictor.ood is None:
        raise SystemExit(f"{args.checkpoint} has no OOD check: run `pneumogan classify fit-ood {args.checkpoint}`")
    rng = np.random.default_rng(args.seed)
    test_files = [("test_xray", p.name, p) for p in sorted(args.test_dir.rglob("*")) if p.is_file()]
    test = score(predictor, test_files)
    non_xray = score(predictor, skimage_images(rng) + generated_images(rng))
    inverted_items = [
        ("inverted_xray", name, png(255 - np.asarray(Image.open(path).convert("L"))))
        for _, name, path in test_files[:: max(1, len(test_files) // 100)]
    ]
    inverted = score(predictor, inverted_items)
    kinds = sorted({r["kind"] for r in non_xray})
    sweep = quantile_sweep(predictor, test, non_xray)
    result = {
        "checkpoint": str(args.checkpoint),
        "arch": predictor.meta["arch"],
        "image_size": predictor.pre["size"],
        "ood": {
            "feature_threshold": predictor.ood.feature_threshold,
            "statistics_threshold": predictor.ood.statistics_threshold,
            **predictor.ood.info,
        },
        "threshold_split": "val",
        "test_false_alarms": rates(test),
        "non_xray_detections": {
            **rates(non_xray),
            "by_kind": {k: rates([r for r in non_xray if r["kind"] == k]) for k in kinds},
        },
        "inverted_xray_detections": rates(inverted),
        "missed_non_xray": [r["name"] for r in non_xray if not r["flagged"]],
        "quantile_sweep": sweep,
        "quantile_sweep_note": (
            "thresholds refitted at other quantiles on the images the fit uses (varied val images for the outlier-head "
            "check), to show the trade-off; the default quantile was fixed before test was scored and is not "
            "chosen from this sweep"
        ),
        "targets": {"test_false_alarm_rate_max": 0.01, "non_xray_detection_rate_min": 0.99},
        "selection_split": "val",
        "design_note": (
            "the check's design (feature signal, threshold images, budget split) was chosen on val X-rays, varied "
            "val X-rays and bench_ood_margins.py's development images, which share sources with the non-X-ray set "
            "here (other crops, other LFW images, other generator seeds); the test X-rays are only scored here"
        ),
    }
    t, d = result["test_false_alarms"], result["non_xray_detections"]
    for label, r in ((f"false alarms on {t['n']} test X-rays", t), (f"detections on {d['n']} non-X-ray images", d)):
        lo, hi = r["ci95_exact"]
        print(f"{label}: {r['flagged']} ({r['rate']:.2%}, 95 % CI {lo:.2%}–{hi:.2%}) {r['by_signal']}")
    for k in kinds:
        r = d["by_kind"][k]
        print(f"  {k}: {r['flagged']}/{r['n']}")
    i = result["inverted_xray_detections"]
    print(f"inverted X-rays (reported apart): {i['flagged']}/{i['n']}")
    print("missed:", ", ".join(result["missed_non_xray"]) or "none")
    save(args.name, result)


if __name__ == "__main__":
    main()
