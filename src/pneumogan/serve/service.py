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

from pneumogan.bundled import DATA_ATTRIBUTION, generator_path, is_bundled, resolve_checkpoint
from pneumogan.classify.predict import Predictor
from pneumogan.data.geometry import RECIPES
from pneumogan.data.sources import locate_source
from pneumogan.explain.files import Explainer
from pneumogan.layout import EVAL_METRICS, find_eval_dir

NOTICE = (
    "Research software, not a medical device. The output is not a diagnosis and has not been validated for "
    "clinical use; do not use it to make decisions about patients."
)
DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


#: Test metrics the model card shows, in this order, with the words people read.
CARD_METRICS = {
    "accuracy": "accuracy",
    "roc_auc": "ROC-AUC",
    "recall": "sensitivity",
    "specificity": "specificity",
    "precision": "precision",
    "f1": "F1",
    "pr_auc": "PR-AUC",
    "brier": "Brier score",
    "ece": "ECE",
}
CARD_INTENDED_USE = (
    "Research and teaching on pneumonia detection and on the value of synthetic training data. Not for "
    "diagnosis, triage or any decision about a patient."
)
CARD_LIMITATIONS = (
    "Trained on paediatric chest X-rays from one centre (Guangzhou): expect worse results on adults, other "
    "hospitals or other devices; low input resolution; the threshold trades sensitivity for specificity as "
    "chosen on validation data; Grad-CAM shows where the network looked, not why, and is not a localisation "
    "of disease."
)


class ModelService:
    def __init__(
        self,
        checkpoint: str | Path | None = None,
        gan: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        """`checkpoint` None or `bundled`: the classifier that ships with the package (and, without `gan`, its
        generator for the synthetic tab)."""
        self.checkpoint = resolve_checkpoint(checkpoint)
        self.bundled = is_bundled(self.checkpoint)
        if gan is None and self.bundled:
            gan = generator_path()
        self.predictor = Predictor(self.checkpoint, device, precision)
        self.explainer = Explainer(self.predictor)
        self.meta = self.predictor.meta
        self.lock = threading.Lock()
        self.gan = Path(gan) if gan else None
        self.test_metrics = self._test_metrics()

    def _test_metrics(self) -> dict[str, Any] | None:
        folder = find_eval_dir(self.checkpoint, "test")
        return json.loads((folder / EVAL_METRICS).read_text()) if folder else None

    def data_root(self) -> Path | None:
        """The data the model was trained on, when it is on this machine (for example images)."""
        data = self.meta["config"].get("data", {})
        return locate_source(data.get("source", ""), self.meta["data_source_path"], self.checkpoint)

    def model_info(self) -> dict[str, Any]:
        m = self.meta
        return {
            "arch": m["arch"],
            "classes": m["class_names"],
            "image_size": m["image_size"],
            "threshold": self.predictor.threshold,
            "trained": m.get("created"),
            "data_fingerprint": m.get("data_fingerprint"),
            "checkpoint": self.checkpoint.name,
            "compute_precision": self.predictor.precision,
            "ood_check": self.predictor.ood is not None,
            "fit": self.predictor.fit,
        }

    def predict(
        self, src: Any, name: str = "", gradcam: bool = True, operating_point: str | None = None
    ) -> dict[str, Any]:
        """Probabilities, label and (optionally) the Grad-CAM overlay; raises ImageReadError on bad input and
        PneumoganError for an operating point the model does not have. The label is read at the threshold of
        `operating_point` (None: the model's own)."""
        self.predictor.threshold_for(operating_point)  # an unknown name fails before the image is decoded
        with self.lock:
            if gradcam:
                res = self.explainer.explain_source(src, name=name, operating_point=operating_point)
            else:
                arr, notes = self.predictor.read(src, name=name)
                res = {**self.predictor.predict_arrays(arr[None], [notes], operating_point)[0], "display": arr}
        probs = {n: res[f"p_{n}"] for n in self.predictor.names}
        if len(probs) > 2:
            probs["PNEUMONIA"] = res["p_pneumonia"]
        out = {
            "probabilities": probs,
            "label": res["label"],
            "threshold": res["threshold"],
            "operating_point": res["operating_point"],
            "warnings": res["warnings"],
            "model": self.model_info(),
            "notice": NOTICE,
        }
        if gradcam:
            out["gradcam"] = {
                "overlay": res["overlay"],
                "original": res["display"],
                "layer": res["cam_layer"],
                "method": res["cam_method"],
                "target": res["cam_target"],
            }
        return out

    def model_card_data(self) -> dict[str, Any]:
        """The model card as data (`GET /api/v1/model`); `model_card()` renders the same facts for people."""
        m, data = self.meta, self.meta["config"].get("data", {})
        card: dict[str, Any] = {
            **self.model_info(),
            "initialisation": initialisation(m),
            "threshold_method": m.get("threshold_method"),
            "threshold_chosen_on": "patient-grouped validation split",
            "best_epoch": m.get("epoch"),
            "training_data": {
                "source": data.get("source"),
                "real_training_split": data.get("train_real", True),
                "synthetic_sets": list(data.get("extra_train") or []),
                "fingerprint": m.get("data_fingerprint"),
                "train_images": m.get("train_size"),
            },
            "intended_use": CARD_INTENDED_USE,
            "limitations": CARD_LIMITATIONS,
            "notice": NOTICE,
            "bundled": self.bundled,
            "out_of_distribution_check": self.predictor.ood.info if self.predictor.ood is not None else None,
            "operating_points": self._operating_points(),
            "test_metrics": None,
        }
        if self.bundled:
            card["built_by"] = "scripts/build_bundled_models.py (see MODEL_CARD.md in the package)"
            card["data_licence"] = DATA_ATTRIBUTION
        t = self.test_metrics
        if t is None:
            card["test_metrics_reason"] = (
                "no test evaluation found beside this checkpoint: run `pneumogan classify evaluate` on it"
            )
            return card
        ci = t.get("ci", {})
        card["test_metrics"] = {
            "split": t.get("split", "test"),
            "n": t.get("n"),
            "threshold": t.get("threshold"),
            "ci_level": 0.95,
            "ci_method": "bootstrap over test images",
            **{k: {"value": t[k], "ci": ci.get(k)} for k in CARD_METRICS if k in t},
        }
        return card

    def _operating_points(self) -> dict[str, Any]:
        """The val-chosen thresholds per target sensitivity, with the test figures there apart (when evaluated)."""
        at_test = (self.test_metrics or {}).get("operating_points", {})
        points = {}
        for name, point in self.predictor.operating_points.items():
            test = at_test.get(name)
            points[name] = {
                **point,
                "test": None if test is None else {k: test[k] for k in ("recall", "specificity", "accuracy")},
            }
        return points

    def model_card(self) -> str:
        """Markdown: architecture, training data and date, test metrics with CIs, intended use, limitations."""
        card = self.model_card_data()
        data = card["training_data"]
        synthetic = ", ".join(data["synthetic_sets"]) or "none"
        lines = [
            *(["**The bundled model** that ships with PneumoGAN (`scripts/build_bundled_models.py`)."] * self.bundled),
            f"**Architecture** `{card['arch']}` ({card['initialisation']}), {card['image_size']} px grayscale input, "
            f"classes {', '.join(card['classes'])}.",
            f"**Training data** `{data['source'] or '?'}`; real training split "
            f"{'used' if data['real_training_split'] else 'not used'}; synthetic sets: {synthetic}; data "
            f"fingerprint `{data['fingerprint']}`.",
            f"**Input geometry** `fit={card['fit']}`: every upload is made square by {RECIPES[card['fit']]}, as the "
            f"training images were, then resized to {card['image_size']} px{_source_square(self.meta)}.",
            f"**Trained** {card['trained'] or 'unknown date'}; best epoch {card['best_epoch']}; decision threshold "
            f"{card['threshold']:.3f} chosen on the {card['threshold_chosen_on']}.",
        ]
        t = card["test_metrics"]
        if t is None:
            lines.append(f"**Test metrics**: not found ({card['test_metrics_reason']}).")
        else:
            shown = ("accuracy", "roc_auc", "recall", "specificity")
            parts = [f"{CARD_METRICS[k]} {_percent_with_ci(t[k])}" for k in shown if k in t]
            lines.append(
                f"**Test metrics** ({t['n']} images of the `{t['split']}` split, 95 % bootstrap CIs): "
                + ", ".join(parts)
                + "."
            )
        if card["operating_points"]:
            intro = "**Operating points** (chosen on validation; the default is the threshold above)"
            lines.append(f"{intro}: {_points(card)}")
        if card["out_of_distribution_check"] is None:
            lines.append("**Out-of-distribution check**: none fitted (`pneumogan classify fit-ood` adds one).")
        else:
            lines.append(f"**Out-of-distribution check**: {_ood_sentence(card['out_of_distribution_check'])}")
        lines += [f"**Intended use**: {CARD_INTENDED_USE}", f"**Limitations**: {CARD_LIMITATIONS}"]
        if self.bundled:
            lines.append(f"**Data licence**: {DATA_ATTRIBUTION}")
        return "\n\n".join(lines)


def initialisation(meta: dict[str, Any]) -> str:
    """Where a classifier's weights started, in words: ImageNet, another checkpoint or encoder, or nothing."""
    if meta["pretrained"]:
        return "ImageNet"
    if meta["init_from"]:
        return f"pretrained on the training X-rays only (from `{Path(meta['init_from']).name}`, no external weights)"
    return "from scratch"


def _ood_sentence(info: dict[str, Any]) -> str:
    """What the fitted check flags, in the words of the card (the outlier-head check or the earlier one)."""
    q = info["quantile"]
    if "varied_val_false_alarm_rate" in info:
        unlike = (
            "an outlier score on the network's features or image statistics beyond thresholds that flag about "
            f"{1 - q:.1%} of mildly varied validation images"
        )
    else:
        unlike = f"features or image statistics beyond the {q:.1%} quantile of validation images"
    return f"images unlike the training X-rays ({unlike}), colour images and lateral DICOM views get a warning."


def _source_square(meta: dict[str, Any]) -> str:
    side = meta["preprocessing"]["source_square_size"]
    return f" (its training source held {side}×{side} px resized copies, aspect ratio unknown)" if side else ""


def _points(card: dict[str, Any]) -> str:
    """Each operating point in words: threshold, val sensitivity and specificity, and test's apart."""
    parts = []
    for name, p in card["operating_points"].items():
        text = (
            f"`{name}` threshold {p['threshold']:.3f}: val sensitivity {p['val_sensitivity']:.1%}, "
            f"specificity {p['val_specificity']:.1%}"
        )
        if p["test"]:
            text += f" (test: {p['test']['recall']:.1%}, {p['test']['specificity']:.1%})"
        parts.append(text)
    return "; ".join(parts) + "."


def _percent_with_ci(entry: dict[str, Any]) -> str:
    lo, hi = entry.get("ci") or [float("nan")] * 2
    return f"{entry['value'] * 100:.1f} % [{lo * 100:.1f}, {hi * 100:.1f}]"


def overlay_base64(overlay: np.ndarray) -> str:
    return base64.b64encode(png_bytes(overlay)).decode()
