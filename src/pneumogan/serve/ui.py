"""The Gradio web UI: predict with Grad-CAM, example images, model card, and synthetic X-rays from a GAN.

Offline by construction: analytics off, system fonts only (no Google Fonts), no external scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pneumogan.data.labels import BINARY_CLASSES
from pneumogan.errors import ImageReadError
from pneumogan.evaluate.grids import enlarge
from pneumogan.serve.service import NOTICE, ModelService

UPLOAD_TYPES = [".png", ".jpg", ".jpeg", ".dcm", ".dicom", ".bmp", ".tif", ".tiff", ".gif", ".webp"]


def theme():
    import gradio as gr

    system = ["ui-sans-serif", "system-ui", "sans-serif"]
    return gr.themes.Default(font=system, font_mono=["ui-monospace", "monospace"])


def example_images(service: ModelService, per_class: int = 3) -> list[str]:
    """A few files of the test split of the data the model was trained on, when that data is on disk."""
    source = service.data_root()
    if source is None or not source.is_dir():
        return []
    found: list[str] = []
    for cls in BINARY_CLASSES:
        for root in (source / "test" / cls, source / "chest_xray" / "test" / cls):
            if root.is_dir():
                found += [str(p) for p in sorted(root.iterdir())[:per_class] if p.is_file()]
                break
    return found


def _warning_banner(warnings: list[str]) -> str:
    """A visible block above the decision when the input does not look like a frontal chest X-ray."""
    if not warnings:
        return ""
    items = "\n".join(f"> - {w}" for w in warnings)
    return (
        "> ### ⚠️ This does not look like a chest X-ray the model was trained on\n"
        f"{items}\n> \n> Do not read the output below as meaningful for this image.\n\n"
    )


def _decision_text(res: dict[str, Any]) -> str:
    p = res["probabilities"].get("PNEUMONIA", 0.0)
    return _warning_banner(res.get("warnings", [])) + (
        f"**Model output: {res['label']}** — P(pneumonia) = {p:.4f}; decision threshold "
        f"{res['threshold']:.4f} (operating point `{res['operating_point']}`, chosen on validation data). "
        "The heat map shows the regions that raised "
        f"P({res['gradcam']['target']}).\n\n_{NOTICE}_"
    )


def operating_point_choices(service: ModelService) -> list[tuple[str, str]]:
    """(label, value) pairs for the operating-point selector: the model's own threshold, then the val-chosen ones."""
    choices = [(f"default — threshold {service.predictor.threshold:.3f}", "default")]
    for name, p in service.predictor.operating_points.items():
        label = (
            f"{name} — val sensitivity {p['val_sensitivity']:.1%}, specificity {p['val_specificity']:.1%} "
            f"(threshold {p['threshold']:.3f})"
        )
        choices.append((label, name))
    return choices


def predict_ui(
    service: ModelService, file_path: str | None, operating_point: str | None = "default"
) -> tuple[dict, str, np.ndarray | None, np.ndarray | None]:
    """Gradio handler: (label probabilities, decision markdown, original, Grad-CAM overlay)."""
    if not file_path:
        return {}, "Upload a chest X-ray (PNG, JPEG or DICOM).", None, None
    try:
        res = service.predict(Path(file_path), name=Path(file_path).name, gradcam=True, operating_point=operating_point)
    except ImageReadError as exc:
        return {}, f"**Cannot use this file: {exc.reason}.** {exc.detail}", None, None
    return res["probabilities"], _decision_text(res), res["gradcam"]["original"], res["gradcam"]["overlay"]


def build_ui(service: ModelService):
    import gradio as gr

    with gr.Blocks(title="PneumoGAN", analytics_enabled=False) as demo:
        gr.Markdown(f"# PneumoGAN — pneumonia detection research demo\n\n> **{NOTICE}**")
        with gr.Tab("Predict"):
            with gr.Row():
                with gr.Column():
                    upload = gr.File(
                        label="Chest X-ray (PNG, JPEG or DICOM)",
                        file_types=UPLOAD_TYPES,
                        type="filepath",
                        elem_id="upload",
                    )
                    point = gr.Dropdown(
                        operating_point_choices(service),
                        value="default",
                        label="Operating point (a clinical choice: more sensitivity costs specificity)",
                        elem_id="operating-point",
                    )
                    button = gr.Button("Predict", variant="primary", elem_id="predict")
                    examples = example_images(service)
                    if examples:
                        gr.Examples(examples=[[e] for e in examples], inputs=[upload], label="Test-split examples")
                with gr.Column():
                    decision = gr.Markdown(elem_id="decision")
                    # No argmax headline: the decision is the validated threshold's, shown above.
                    probs = gr.Label(
                        label="Class probabilities", num_top_classes=3, show_heading=False, elem_id="probabilities"
                    )
            with gr.Row():
                original = gr.Image(label="Input (as the model sees it)", type="numpy", elem_id="original")
                cam = gr.Image(
                    label=f"Grad-CAM for PNEUMONIA ({service.explainer.cam.layer})", type="numpy", elem_id="gradcam"
                )
            outputs = [probs, decision, original, cam]

            def predict(file: str | None, operating_point: str) -> tuple:  # its name is the API's `/predict`
                return predict_ui(service, file, operating_point)

            # `/predict` for gradio_client; the upload event runs the same function, left out of the API page
            button.click(predict, inputs=[upload, point], outputs=outputs, api_name="predict")
            upload.upload(
                predict,
                inputs=[upload, point],
                outputs=outputs,
                api_name="predict_on_upload",
                api_visibility="undocumented",
            )
        with gr.Tab("Model card"):
            gr.Markdown(service.model_card(), elem_id="model-card")
        if service.gan is not None:
            _gan_tab(service.gan)
    return demo


class SyntheticGallery:
    """Images from a GAN checkpoint per class and seed, beside real training images of the same class."""

    def __init__(self, gan_dir: Path) -> None:
        import torch

        from pneumogan.gan.checkpoint import load_generator

        self.gan_dir = gan_dir
        self.g, self.meta = load_generator(gan_dir, torch.device("cpu"))
        self.names: list[str] = self.meta["class_names"]
        self._real: dict[str, np.ndarray] = {}

    def synthetic(self, cls: str, seed: int, n: int) -> list[np.ndarray]:
        import torch

        from pneumogan.gan.sample import generate, latent_seed

        c = self.names.index(cls)
        images = generate(self.g, c, [latent_seed(int(seed), c, i) for i in range(int(n))], torch.device("cpu"))
        return list(enlarge(images))

    def real(self, cls: str, n: int) -> list[np.ndarray]:
        """The GAN's own real training images of that class; empty when that data is not on this machine."""
        if cls not in self._real:
            from pneumogan.data.sources import locate_source
            from pneumogan.evaluate.grids import to_uint8
            from pneumogan.gan.data import real_images_config, training_images

            cfg = real_images_config(self.meta)
            found = locate_source(cfg.data.source, self.meta.get("data_source_path"), self.gan_dir)
            if found is not None:
                cfg.data.source = str(found)
            try:
                images, labels, names = training_images(cfg)
            except Exception:  # data moved or absent: the synthetic images are shown alone
                return []
            self._real[cls] = enlarge(to_uint8(images[labels == names.index(cls)][:64]))
        return list(self._real[cls][: int(n)])


def generator_gate_text(gan_dir: Path) -> str:
    """The quality gate on the generator's measured metrics (`gan evaluate`'s, or the bundled metrics.json)."""
    import json

    from pneumogan.config import GateConfig
    from pneumogan.evaluate.generator_gate import gate_sentence, judge
    from pneumogan.layout import GAN_EVAL, GAN_METRICS

    for path in (gan_dir / GAN_EVAL / GAN_METRICS, gan_dir / "metrics.json"):
        if path.is_file():
            return gate_sentence(judge(json.loads(path.read_text()), GateConfig()))
    return "Its quality has not been measured (`pneumogan gan evaluate`)."


def _gan_tab(gan_dir: Path) -> None:
    import gradio as gr

    gallery = SyntheticGallery(gan_dir)
    names, meta = gallery.names, gallery.meta

    def make(cls: str, seed: float, n: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return gallery.synthetic(cls, int(seed), int(n)), gallery.real(cls, int(n))

    with gr.Tab("Synthetic X-rays"):
        family, size = meta["model"]["family"].upper(), meta["model"]["size"]
        family = f"per-class {family}" if meta["model"].get("per_class") else family
        gr.Markdown(
            f"Images from the {family} generator in `{gan_dir.name}` ({size} px). Synthetic images are "
            f"for research on data augmentation only. {generator_gate_text(gan_dir)}"
        )
        with gr.Row():
            cls = gr.Dropdown(names, value=names[-1], label="Class")
            seed = gr.Number(value=0, precision=0, label="Seed")
            count = gr.Slider(1, 16, value=8, step=1, label="Images")
            go = gr.Button("Generate", elem_id="generate")
        with gr.Row():
            fake = gr.Gallery(label="Synthetic", columns=4, elem_id="synthetic")
            real = gr.Gallery(label="Real (training images of the same class)", columns=4)
        go.click(make, inputs=[cls, seed, count], outputs=[fake, real], api_name="synthesize")
