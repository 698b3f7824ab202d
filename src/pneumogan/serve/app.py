"""One local server: the JSON API under /api/v1 and /healthz, the Gradio UI at /."""

from __future__ import annotations

from pathlib import Path

from pneumogan.serve.service import DEFAULT_MAX_UPLOAD, ModelService


def create_app(
    checkpoint: str | Path | None,
    gan: str | Path | None = None,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    ui: bool = True,
    precision: str = "auto",
    token: str | None = None,
):
    """The API (and UI) over a checkpoint; with `token`, API requests need it as a bearer token and the UI asks
    for it at login (any user name)."""
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry, ever
    from pneumogan.serve.api import UploadLimit, build_api

    service = ModelService(checkpoint, gan, precision=precision)
    app = build_api(service, max_upload, protected=token is not None)
    app.add_middleware(UploadLimit, max_bytes=max_upload)
    if token is not None:
        from pneumogan.serve.access import TokenGuard, token_matches

        app.add_middleware(TokenGuard, token=token)  # added last: runs first, before the upload is read
    if ui:
        import gradio as gr

        from pneumogan.serve.ui import build_ui, theme

        login = None if token is None else (lambda _user, password: token_matches(password, token))
        app = gr.mount_gradio_app(
            app,
            build_ui(service),
            path="/",
            max_file_size=max_upload,
            theme=theme(),
            auth=login,
            auth_message="Enter the server's access token as the password (any user name).",
        )
    return app


def serve(
    checkpoint: str | Path | None,
    host: str = "127.0.0.1",
    port: int = 7860,
    gan: str | Path | None = None,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    precision: str = "auto",
    token: str | None = None,
    insecure: bool = False,
) -> None:
    import uvicorn

    from pneumogan.bundled import BUNDLED, classifier_path
    from pneumogan.serve.access import server_token

    required = server_token(host, token, insecure)  # refuses an exposed server without a token
    if checkpoint is None or str(checkpoint) == BUNDLED:
        print(
            f"no checkpoint given: serving the bundled model ({classifier_path()}; its model card says how it was "
            "trained). Research software, not a medical device.",
            flush=True,
        )
    app = create_app(checkpoint, gan, max_upload, precision=precision, token=required)
    access = "token required" if required else "open (loopback only)" if not insecure else "open, --insecure"
    print(
        f"PneumoGAN serving on http://{host}:{port}  (API: POST /api/v1/predict, GET /api/v1/model, GET /healthz; "
        f"access: {access})",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
