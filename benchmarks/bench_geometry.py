"""Train/serve geometry: does a model answer a full-resolution, non-square X-ray like its square training copy?

The Kermany 224 px copies were made by squeezing landscape originals (median aspect ≈ 1.41) to squares; the
originals are not here, so their aspect is restored by resizing each 224 px copy back to W × 224 (W = 224 ×
aspect). Each restored image is served through the checkpoint's own path (`Predictor.read`) once per geometry —
the old centre crop and the checkpoint's recorded `fit` — and compared with the answer for its square copy:
out-of-distribution warnings and labels. The geometry of the shipped model was set from how its data was made
(the data README), before this was run; nothing here chooses anything.

    python benchmarks/bench_geometry.py                       # the bundled model, test split
    python benchmarks/bench_geometry.py CHECKPOINT --split val

Saves benchmarks/results/geometry/<name>.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import SHARED_DATA, save
from PIL import Image

ASPECTS = (1.2, 316 / 224, 1.6)  # common X-ray film aspects; 316 × 224 is the originals' median


def restore_aspect(square: np.ndarray, aspect: float) -> np.ndarray:
    """A square copy stretched back to landscape: W × H with W = aspect × H (bicubic)."""
    h = square.shape[0]
    return np.asarray(Image.fromarray(square).resize((round(aspect * h), h), Image.Resampling.BICUBIC))


def answers(predictor, decoded: list[np.ndarray], fit: str, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(label is PNEUMONIA, any OOD warning) per image when the predictor makes inputs square by `fit`."""
    from pneumogan.data.geometry import fit_square

    labels, warned = [], []
    for start in range(0, len(decoded), batch):
        arrays = np.stack([fit_square(a, predictor.pre["size"], fit) for a in decoded[start : start + batch]])
        for row in predictor.predict_arrays(arrays):
            labels.append(row["label"] != "NORMAL")
            warned.append(bool(row["warnings"]))
    return np.array(labels), np.array(warned)


def rate(flags: np.ndarray) -> dict[str, float | int]:
    from scipy.stats import binomtest

    k, n = int(flags.sum()), len(flags)
    ci = binomtest(k, n).proportion_ci(method="exact") if n else None
    return {"k": k, "n": n, "rate": k / n if n else float("nan"), "ci95": [ci.low, ci.high] if ci else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?", default="bundled")
    ap.add_argument("--data", type=Path, default=SHARED_DATA / "chest_xray_224")
    ap.add_argument("--split", default="test", choices=["val", "test"], help="val: the official 16 images")
    ap.add_argument("--name", default="bundled_aspect", help="results file: benchmarks/results/geometry/NAME.json")
    args = ap.parse_args()

    from pneumogan.classify.predict import Predictor
    from pneumogan.data.images import read_image

    started = time.perf_counter()
    predictor = Predictor(args.checkpoint, device="cpu", precision="fp32")
    files = sorted(p for p in (args.data / args.split).rglob("*") if p.suffix.lower() in {".jpeg", ".jpg", ".png"})
    squares = [read_image(p).array for p in files]
    base_label, base_warned = answers(predictor, squares, predictor.fit)  # a square: every fit is the same
    rows = {"square_copy": {"warnings": rate(base_warned), "pneumonia_labels": rate(base_label)}}
    for aspect in ASPECTS:
        restored = [restore_aspect(s, aspect) for s in squares]
        for fit in sorted({"crop", predictor.fit}):
            label, warned = answers(predictor, restored, fit)
            rows[f"aspect_{aspect:.2f}_{fit}"] = {
                "aspect": aspect,
                "fit": fit,
                "warnings": rate(warned),
                "label_same_as_square_copy": rate(label == base_label),
            }
            print(
                f"aspect {aspect:.2f} fit={fit}: warnings {warned.mean():.2%}, "
                f"labels as the square copy {np.mean(label == base_label):.2%}"
            )
    readouts = 1 + sum(1 for k in rows if k != "square_copy")
    save(
        f"geometry/{args.name}",
        {
            "checkpoint": str(predictor.checkpoint),
            "recorded_fit": predictor.fit,
            "split": args.split,
            "n_images": len(files),
            "selection_split": None,  # nothing is chosen from these figures
            "test_readouts": readouts if args.split == "test" else 0,
            "targets": {"warnings_max": 0.01, "labels_same_min": 0.995},
            "rows": rows,
            "wall_s": round(time.perf_counter() - started, 1),
        },
    )


if __name__ == "__main__":
    main()
