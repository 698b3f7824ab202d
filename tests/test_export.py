"""ONNX export: outputs match PyTorch on real test images; the preprocessing is in the file's metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.realdata


def test_onnx_matches_torch_on_real_test_images(tiny_checkpoint, test_xrays, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    from pneumogan.classify.predict import Predictor
    from pneumogan.export.onnx import export_onnx, max_abs_difference

    path = tmp_path / "model.onnx"
    export_onnx(tiny_checkpoint, path)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    pre = json.loads(meta["preprocessing"])
    assert pre["size"] == 64 and "mean" in pre and json.loads(meta["class_names"]) == ["NORMAL", "PNEUMONIA"]
    predictor = Predictor(tiny_checkpoint)
    images = np.stack([predictor.to_array(p) for p in test_xrays])
    assert max_abs_difference(tiny_checkpoint, path, images) < 1e-4
