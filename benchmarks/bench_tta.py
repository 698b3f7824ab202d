"""Does test-time augmentation help? For trained checkpoints: val-chosen threshold and test metrics with and
without TTA (7 views: identity, ±2 px shifts, ×1.08 / ×0.93 zoom).

    python benchmarks/bench_tta.py CHECKPOINT [CHECKPOINT ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import save, trained_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    args = ap.parse_args()

    import numpy as np

    from pneumogan.classify.inference import positive_score, predict_proba
    from pneumogan.classify.tta import tta_proba
    from pneumogan.device import resolve_device
    from pneumogan.evaluate.metrics import choose_threshold, evaluate_scores

    device = resolve_device("cpu")
    results = {}
    for ckpt in args.checkpoints:
        model, meta, cfg, data = trained_model(ckpt)
        pre = meta["preprocessing"]
        row = {}
        for name, fn in (("plain", predict_proba), ("tta", tta_proba)):
            p_val = positive_score(fn(model, np.asarray(data.val.images), pre["mean"], pre["std"], device))
            p_test = positive_score(fn(model, np.asarray(data.test.images), pre["mean"], pre["std"], device))
            thr = choose_threshold(data.val.labels, p_val, cfg.classify.threshold, cfg.classify.target_sensitivity)
            res = evaluate_scores(data.test.labels, p_test, thr, n_boot=1000, seed=0)
            row[name] = {k: res[k] for k in ("accuracy", "roc_auc", "recall", "specificity", "threshold")}
            row[name]["ci"] = {k: res["ci"][k] for k in ("accuracy", "roc_auc")}
            print(
                f"{ckpt.name} {name}: ACC {res['accuracy']:.4f} AUC {res['roc_auc']:.4f} sens {res['recall']:.4f} "
                f"spec {res['specificity']:.4f} (threshold {thr:.3f} from val)",
                flush=True,
            )
        results[str(ckpt)] = row
    save("tta", {"results": results})


if __name__ == "__main__":
    main()
