"""Do Grad-CAM maps look at the chest? Share of CAM mass inside the central thoracic box (rows and columns
10–90 %) for the PNEUMONIA test images of a trained classifier, explaining the PNEUMONIA class.

    python benchmarks/bench_gradcam.py CHECKPOINT [--method gradcam|gradcam++]
A uniform map puts the box's area (64 %) inside; we report the median share and how many images exceed it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import result_path, save, trained_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--method", default="gradcam")
    args = ap.parse_args()

    from pneumogan.explain.gradcam import THORAX_BOX, CamExplainer, box_area, montage, thorax_shares

    model, meta, _, data = trained_model(args.checkpoint)
    test = data.test
    images = np.asarray(test.images)[test.labels == 1]
    pre = meta["preprocessing"]
    explainer = CamExplainer(model, meta["arch"], pre["mean"], pre["std"], args.method)
    fractions = thorax_shares(explainer, images)
    area = box_area()
    res = {
        "checkpoint": str(args.checkpoint),
        "arch": meta["arch"],
        "method": args.method,
        "layer": explainer.layer,
        "box": THORAX_BOX,
        "uniform_share": area,
        "n_images": len(fractions),
        "median_share": float(np.median(fractions)),
        "mean_share": float(fractions.mean()),
        "share_above_uniform": float(np.mean(fractions > area)),
        "share_above_0.8": float(np.mean(fractions > 0.8)),
    }
    print(
        f"{meta['arch']} {args.method}: median CAM mass in thorax box {res['median_share']:.3f} "
        f"(uniform {area:.2f}); {res['share_above_uniform'] * 100:.1f} % of {len(fractions)} pneumonia test "
        f"images above uniform, {res['share_above_0.8'] * 100:.1f} % above 0.8"
    )
    name = f"gradcam_{meta['arch']}_{meta['image_size']}px_{args.method.replace('+', 'p')}"
    save(name, res)
    # A picture of the first 8 pneumonia test images with their maps, to look at what the numbers summarise.
    from PIL import Image

    strip = montage(images[:8], explainer(images[:8], class_idx=1))
    Image.fromarray(strip).save(result_path(name, ".png"))


if __name__ == "__main__":
    main()
