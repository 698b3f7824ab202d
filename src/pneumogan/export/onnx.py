"""`pneumogan export CHECKPOINT --onnx FILE`: the classifier as an ONNX graph with its preprocessing recorded.

The graph takes (N, 1, S, S) float32 normalised pixels and returns class probabilities (softmax applied), so
a consumer needs only the recipe stored in the file's metadata (`preprocessing`, `class_names`, `threshold`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pneumogan.classify.checkpoint import load_checkpoint
from pneumogan.data.geometry import RECIPES, checkpoint_fit
from pneumogan.errors import PneumoganError

OPSET = 17


class _WithSoftmax(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)


def export_onnx(checkpoint: str | Path, path: str | Path) -> dict[str, Any]:
    try:
        import onnx
    except ImportError:
        raise PneumoganError("ONNX export needs the 'onnx' package: pip install onnx onnxruntime") from None
    model, meta = load_checkpoint(checkpoint, "cpu")
    size = meta["image_size"]
    wrapped = _WithSoftmax(model).eval()
    dummy = torch.zeros(2, 1, size, size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        wrapped,
        (dummy,),
        str(path),
        input_names=["image"],
        output_names=["probabilities"],
        opset_version=OPSET,
        dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
        dynamo=False,
    )
    proto = onnx.load(str(path))
    props = {
        "preprocessing": json.dumps(meta["preprocessing"]),
        "class_names": json.dumps(meta["class_names"]),
        "threshold": json.dumps(meta.get("threshold")),
        "arch": meta["arch"],
        "blank_border": json.dumps(meta["blank_border"]),  # applied inside the graph
        "standardise_input": json.dumps(meta["standardise_input"]),  # also inside the graph
        "input": f"float32 (N, 1, {size}, {size}): grayscale made square by fit={checkpoint_fit(meta)} "
        f"({RECIPES[checkpoint_fit(meta)]}), resized to {size} px, then (pixel/255 - mean) / std",
        "output": "float32 (N, classes) softmax probabilities; P(pneumonia) = 1 - p[:, 0]",
        "notice": "Research software, not a medical device.",
    }
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return {"path": str(path), "metadata": props}


def onnx_proba(onnx_path: str | Path, images: np.ndarray) -> np.ndarray:
    """onnxruntime probabilities for uint8 images (N, S, S), normalised with the file's own metadata."""
    import onnx
    import onnxruntime as ort

    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    pre = json.loads(meta["preprocessing"])
    x = ((images.astype(np.float32) / 255.0 - pre["mean"]) / pre["std"])[:, None]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"image": x})[0]


def max_abs_difference(checkpoint: str | Path, onnx_path: str | Path, images: np.ndarray) -> float:
    """Largest |PyTorch − onnxruntime| probability over `images` (uint8, (N, S, S)), via the shared preprocessing."""
    from pneumogan.classify.inference import predict_proba

    model, meta = load_checkpoint(checkpoint, "cpu")
    pre = meta["preprocessing"]
    torch_p = predict_proba(model, images, pre["mean"], pre["std"], torch.device("cpu"))
    return float(np.abs(onnx_proba(onnx_path, images) - torch_p).max())
