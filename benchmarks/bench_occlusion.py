"""Shortcut check: test metrics of trained classifiers on full images, the central thoracic box only (border
blanked) and the border only (box blanked), at the threshold each checkpoint chose on val.

    python benchmarks/bench_occlusion.py CHECKPOINT [CHECKPOINT ...] [--name occlusion]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import save, trained_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--name", default="occlusion", help="results file name (benchmarks/results/NAME.json)")
    args = ap.parse_args()

    import torch

    from pneumogan.data.regions import THORAX_BOX
    from pneumogan.explain.occlusion import occlusion_check

    results = {}
    for ckpt in args.checkpoints:
        model, meta, cfg, data = trained_model(ckpt)
        test = data.test
        row = occlusion_check(
            model, meta["preprocessing"], test.images, test.labels, meta["threshold"], torch.device("cpu")
        )
        for keep, res in row.items():
            print(
                f"{ckpt.name} {keep:>6}: ACC {res['accuracy']:.4f} AUC {res['roc_auc']:.4f} "
                f"sens {res['recall']:.4f} spec {res['specificity']:.4f}",
                flush=True,
            )
        results[str(ckpt)] = {"arch": meta["arch"], "size": cfg.data.size, **row}
    save(args.name, {"box": THORAX_BOX, "results": results})


if __name__ == "__main__":
    main()
