"""`pneumogan explain`: prediction plus Grad-CAM overlay for image files, through the predict preprocessing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from pneumogan.classify.predict import Predictor, expand_inputs, for_csv
from pneumogan.errors import ImageReadError, PneumoganError
from pneumogan.explain.gradcam import Method, explainer_for, overlay, thorax_mass_fraction
from pneumogan.ood.check import decoding_warnings
from pneumogan.runs import atomic_write_csv

DISPLAY_SIZE = 256  # overlays are drawn at this size so that a 32–64 px model's map is still readable


class Explainer:
    """A predictor with Grad-CAM: one call gives probabilities, label and the overlay for one image.

    `target="pneumonia"` (default) maps the evidence for the PNEUMONIA class whatever the decision — for a
    binary model the map of the NORMAL class is mostly empty after Grad-CAM's ReLU; `"predicted"` maps the
    predicted class.
    """

    def __init__(
        self, predictor: Predictor, method: Method = "gradcam", layer: str | None = None, target: str = "pneumonia"
    ) -> None:
        if target not in ("pneumonia", "predicted"):
            raise PneumoganError(f"unknown Grad-CAM target '{target}'; use pneumonia or predicted")
        self.predictor, self.target = predictor, target
        self.cam = explainer_for(predictor.model, predictor.meta, method, layer)

    def target_class(self, pred: dict[str, Any]) -> int:
        names = self.predictor.names
        if self.target == "predicted" and pred["label"] in names:
            return names.index(pred["label"])
        # PNEUMONIA; for a 3-class model the likelier of its two pneumonia classes
        return 1 if len(names) == 2 else 1 + int(pred[f"p_{names[2]}"] > pred[f"p_{names[1]}"])

    def explain_array(
        self,
        array: np.ndarray,
        display: np.ndarray | None = None,
        notes: list[str] | None = None,
        operating_point: str | None = None,
    ) -> dict[str, Any]:
        """`array`: the model-size uint8 image; `display`: a larger copy of the same image to draw on; `notes`:
        what decoding noticed (they join the prediction's `warnings`); `operating_point`: which threshold labels."""
        pred = self.predictor.predict_arrays(array[None], [notes or []], operating_point)[0]
        class_idx = self.target_class(pred)
        cam = self.cam(array[None], class_idx=class_idx)[0]
        shown = array if display is None else display
        big = F.interpolate(torch.from_numpy(cam)[None, None], size=shown.shape, mode="bilinear", align_corners=False)
        target = self.predictor.names[class_idx]
        return {
            **pred,
            "cam": cam,
            "overlay": overlay(shown, big[0, 0].numpy()),
            "display": shown,
            "cam_in_thorax": thorax_mass_fraction(cam),
            "cam_layer": self.cam.layer,
            "cam_method": self.cam.method,
            "cam_target": target,
        }

    def explain_source(self, src: Any, name: str = "", operating_point: str | None = None) -> dict[str, Any]:
        """Any supported input (path, bytes, file object); raises ImageReadError for unusable input."""
        image = self.predictor.decode(src, name)
        model_size, display = (
            self.predictor.model_input(image.array),
            self.predictor.model_input(image.array, DISPLAY_SIZE),
        )
        return self.explain_array(model_size, display, decoding_warnings(image), operating_point)


def side_by_side(display: np.ndarray, over: np.ndarray) -> np.ndarray:
    left = np.repeat(display[..., None], 3, axis=2)
    gap = np.full((display.shape[0], 8, 3), 255, np.uint8)
    return np.concatenate([left, gap, over], axis=1)


def explain_files(
    checkpoint: str | Path,
    paths: list[str | Path],
    out: str | Path,
    method: Method = "gradcam",
    layer: str | None = None,
    target: str = "pneumonia",
    precision: str = "auto",
) -> dict[str, Any]:
    """Write `<name>_gradcam.png` (original | overlay) per readable file and `predictions.csv` to `out`.
    `precision` applies to the predictions; Grad-CAM's gradients are computed in fp32."""
    explainer = Explainer(Predictor(checkpoint, precision=precision), method, layer, target)
    files = expand_inputs(paths)
    if not files:
        raise PneumoganError("no input files found")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, str]] = []
    for i, path in enumerate(files):
        try:
            res = explainer.explain_source(path)
        except ImageReadError as exc:
            bad.append({"file": str(path), "reason": exc.reason, "detail": exc.detail})
            continue
        png = out / f"{i:04d}_{path.stem}_{method.replace('+', 'pp')}.png"
        Image.fromarray(side_by_side(res["display"], res["overlay"])).save(png)
        rows.append(
            {
                "file": str(path),
                **{k: v for k, v in res.items() if k not in ("cam", "overlay", "display")},
                "overlay_png": png.name,
            }
        )
    if rows:
        atomic_write_csv(out / "predictions.csv", [for_csv(r) for r in rows])
    return {"predictions": rows, "bad": bad}
