"""ONNX export check on the whole official test split: max |PyTorch − onnxruntime| probability and latency.

python benchmarks/bench_onnx.py CHECKPOINT [CHECKPOINT ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import save


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    args = ap.parse_args()

    import onnxruntime as ort

    from pneumogan.classify.checkpoint import read_meta
    from pneumogan.config import Config
    from pneumogan.data.loading import load_splits
    from pneumogan.export.onnx import export_onnx, max_abs_difference

    results = {}
    for ckpt in args.checkpoints:
        meta = read_meta(ckpt)
        test = load_splits(Config.model_validate(meta["config"])).test
        images = np.asarray(test.images)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            export_onnx(ckpt, path)
            diff = max_abs_difference(ckpt, path, images)
            pre = meta["preprocessing"]
            x = ((images[:1].astype(np.float32) / 255.0 - pre["mean"]) / pre["std"])[:, None]
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for _ in range(5):
                session.run(None, {"image": x})
            ms = []
            for _ in range(100):
                t0 = time.perf_counter()
                session.run(None, {"image": x})
                ms.append((time.perf_counter() - t0) * 1000)
        results[str(ckpt)] = {
            "arch": meta["arch"],
            "size": meta["image_size"],
            "n_test": len(images),
            "max_abs_diff": diff,
            "onnxruntime_p50_ms": float(np.median(ms)),
        }
        print(
            f"{meta['arch']} {meta['image_size']} px: max |torch − onnx| = {diff:.2e} over {len(images)} test "
            f"images; onnxruntime 1 image p50 {np.median(ms):.2f} ms"
        )
    save("onnx_export", {"results": results})


if __name__ == "__main__":
    main()
