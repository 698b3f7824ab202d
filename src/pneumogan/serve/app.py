"""One local server: the JSON API under /api/v1 and /healthz, the Gradio UI at /."""

from __future__ import annotations

from pathlib import Path

from pneumogan.serve.service import DEFAULT_MAX_UPLOAD, ModelService


def create_app(
    checkpoint: str | Path,
    gan: str | Path | None = None,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    ui: bool = True,
    precision: str = "auto",
):
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry, ever
    from pneumogan.serve.api import UploadLimit, build_api

    service = ModelService(checkpoint, gan, precision=precision)
    app = build_api(service, max_upload)
    app.add_middleware(UploadLimit, max_bytes=max_upload)
    if ui:
        import gradio as gr

        from pneumogan.serve.ui import build_ui, theme

        app = gr.mount_gradio_app(app, build_ui(service), path="/", max_file_size=max_upload, theme=theme())
    return app


def serve(
    checkpoint: str | Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    gan: str | Path | None = None,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    precision: str = "auto",
) -> None:
    import uvicorn

    app = create_app(checkpoint, gan, max_upload, precision=precision)
    print(f"PneumoGAN serving on http://{host}:{port}  (API: POST /api/v1/predict, GET /healthz)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
