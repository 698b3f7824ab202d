"""What the web UI and the JSON API share: one loaded model, prediction with Grad-CAM, the model card.

Inference is serialised by a lock: the Grad-CAM hooks keep per-call state on the model, and on a CPU two
concurrent forward passes are no faster than two in a row.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pneumogan.classify.predict import Predictor
from pneumogan.explain.files import Explainer

NOTICE = (
    "Research software, not a medical device. The output is not a diagnosis and has not been validated for "
    "clinical use; do not use it to make decisions about patients."
)
DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


class ModelService:
    def __init__(self, checkpoint: str | Path, gan: str | Path | None = None, device: str = "auto") -> None:
        self.checkpoint = Path(checkpoint)
        self.predictor = Predictor(checkpoint, device)
        self.explainer = Explainer(self.predictor)
        self.meta = self.predictor.meta
        self.lock = threading.Lock()
        self.gan = Path(gan) if gan else None
        self.test_metrics = self._test_metrics()

    def _test_metrics(self) -> dict[str, Any] | None:
        path = self.checkpoint / "eval_test" / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def model_info(self) -> dict[str, Any]:
        m = self.meta
        return {"arch": m["arch"], "classes": m["class_names"], "image_size": m["image_size"],
                "threshold": self.predictor.threshold, "trained": m.get("created"),
                "data_fingerprint": m.get("data_fingerprint"), "checkpoint": self.checkpoint.name}  # fmt: skip

    def predict(self, src: Any, name: str = "", gradcam: bool = True) -> dict[str, Any]:
        """Probabilities, label and (optionally) the Grad-CAM overlay; raises ImageReadError on bad input."""
        with self.lock:
            if gradcam:
                res = self.explainer.explain_source(src, name=name)
            else:
                arr = self.predictor.to_array(src, name=name)
                res = {**self.predictor.predict_arrays(arr[None])[0], "display": arr}
        probs = {n: res[f"p_{n}"] for n in self.predictor.names}
        if len(probs) > 2:
            probs["PNEUMONIA"] = res["p_pneumonia"]
        out = {"probabilities": probs, "label": res["label"], "threshold": res["threshold"],
               "model": self.model_info(), "notice": NOTICE}  # fmt: skip
        if gradcam:
            out["gradcam"] = {"overlay": res["overlay"], "original": res["display"], "layer": res["cam_layer"],
                              "method": res["cam_method"], "target": res["cam_target"]}  # fmt: skip
        return out

    def model_card(self) -> str:
        """Markdown: architecture, training data and date, test metrics with CIs, intended use, limitations."""
        m, cfg = self.meta, self.meta.get("config", {})
        data = cfg.get("data", {})
        lines = [
            f"**Architecture** `{m['arch']}` ({'ImageNet-initialised' if m.get('pretrained') else 'from scratch'}), "
            f"{m['image_size']} px grayscale input, classes {', '.join(m['class_names'])}.",
            f"**Training data** `{data.get('source', '?')}`; real training split "
            f"{'used' if data.get('train_real', True) else 'not used'}; synthetic sets: "
            f"{', '.join(data.get('extra_train') or []) or 'none'}; data fingerprint `{m.get('data_fingerprint')}`.",
            f"**Trained** {m.get('created', 'unknown date')}; best epoch {m.get('epoch', '?')}; decision threshold "
            f"{self.predictor.threshold:.3f} chosen on the patient-grouped validation split.",
        ]
        t = self.test_metrics
        if t:
            ci = t.get("ci", {})

            def fmt(k: str) -> str:
                lo, hi = ci.get(k, [float("nan")] * 2)
                return f"{t[k] * 100:.1f} % [{lo * 100:.1f}, {hi * 100:.1f}]"

            lines.append(f"**Test metrics** ({t['n']} images of the `{t.get('split', 'test')}` split, 95 % bootstrap "
                         f"CIs): accuracy {fmt('accuracy')}, ROC-AUC {fmt('roc_auc')}, sensitivity {fmt('recall')}, "
                         f"specificity {fmt('specificity')}.")  # fmt: skip
        else:
            lines.append("**Test metrics**: not found (run `pneumogan classify evaluate` on this checkpoint).")
        lines += [
            "**Intended use**: research and teaching on pneumonia detection and on the value of synthetic training "
            "data. **Not** for diagnosis, triage or any decision about a patient.",
            "**Limitations**: trained on paediatric chest X-rays from one centre (Guangzhou) — expect worse results "
            "on adults, other hospitals or other devices; low input resolution; the threshold trades sensitivity "
            "for specificity as chosen on validation data; Grad-CAM shows where the network looked, not why, "
            "and is not a localisation of disease.",
        ]
        return "\n\n".join(lines)


def overlay_base64(overlay: np.ndarray) -> str:
    return base64.b64encode(png_bytes(overlay)).decode()
