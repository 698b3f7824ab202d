"""The JSON API: `POST /api/v1/predict` (multipart, field `file`, optional `gradcam=true`), `GET /api/v1/model`
(the model card as JSON) and `GET /healthz`.

Every failure is a JSON body `{"error": ..., "detail": ...}` with a 4xx status; an unexpected exception is a
500 with a generic message (logged on the server, never sent to the client).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pneumogan.data import dicom, images
from pneumogan.errors import ImageReadError, PneumoganError
from pneumogan.serve.service import DEFAULT_MAX_UPLOAD, ModelService, overlay_base64

log = logging.getLogger("pneumogan.serve")


class ApiError(BaseModel):
    error: str = Field(description="a short, stable reason")
    detail: str = Field("", description="what happened and what to do")


class GradCam(BaseModel):
    overlay_png_base64: str = Field(description="the Grad-CAM heat map over the input, a base64 PNG")
    layer: str
    method: str
    target: str = Field(description="the class whose evidence is mapped")


class Prediction(BaseModel):
    probabilities: dict[str, float] = Field(description="per class; PNEUMONIA = 1 − P(NORMAL) for 3-class models")
    label: str = Field(description="the thresholded decision")
    threshold: float = Field(description="decision threshold on P(PNEUMONIA), chosen on validation data")
    operating_point: str = Field(
        description="which val-chosen threshold labelled the image: default (the model's own) or sens90/95/99"
    )
    warnings: list[str] = Field(
        description="out-of-distribution warnings: the image does not look like a frontal chest X-ray the model "
        "was trained on (colour, lateral DICOM view, unusual features or statistics). Empty when nothing looked "
        "unusual; when not empty, do not read the label as meaningful"
    )
    model: dict[str, Any] = Field(description="architecture, classes, image size, threshold, `ood_check`")
    notice: str = Field(description="research software, not a medical device")
    gradcam: GradCam | None = Field(None, description="only when the request asked for gradcam=true")


UNAUTHORIZED = {401: {"model": ApiError, "description": "a token guards this server and the request lacked it"}}
PREDICT_ERRORS = {
    **UNAUTHORIZED,
    400: {"model": ApiError, "description": "malformed form data, no `file` field, or an unknown operating point"},
    413: {"model": ApiError, "description": "upload larger than the server's limit"},
    415: {"model": ApiError, "description": "not multipart, or a file that is not a supported image"},
    422: {"model": ApiError, "description": "an image that cannot be read (truncated, empty, oversized, …)"},
}
# Reasons an image cannot be used that mean "not an image we understand" rather than "a broken image".
UNSUPPORTED_REASONS = {images.NOT_IMAGE, images.MULTI_FRAME, dicom.UNSUPPORTED_COMPRESSION}


class BodyTooLarge(Exception):
    pass


class UploadLimit:
    """ASGI middleware: refuse API request bodies over `max_bytes` with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/api/") -> None:
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await _too_large(self.max_bytes)(scope, receive, send)


def _too_large(max_bytes: int) -> JSONResponse:
    return JSONResponse({"error": "upload too large", "detail": f"the limit is {max_bytes} bytes"}, status_code=413)


def _error(status: int, error: str, detail: str = "") -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def build_api(service: ModelService, max_upload: int = DEFAULT_MAX_UPLOAD, protected: bool = False) -> FastAPI:
    """The JSON API; `protected`: a token guards it, so `/healthz` tells anonymous callers only the status."""
    app = FastAPI(title="PneumoGAN", description=service.model_card(), docs_url=None, redoc_url=None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return _error(500, "internal error", "the server could not process this request")

    @app.get("/healthz", description="open even when a token guards the API; then it reveals only the status")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"} if protected else {"status": "ok", "model": service.model_info()}

    @app.get("/api/v1/model", responses=UNAUTHORIZED)
    def model_card() -> dict[str, Any]:
        """The model card: architecture, classes, threshold, training data, test metrics with CIs (or null)."""
        return service.model_card_data()

    @app.post(
        "/api/v1/predict",
        response_model=None,
        responses={200: {"model": Prediction, "description": "the prediction"}, **PREDICT_ERRORS},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary", "description": "PNG, JPEG or DICOM"},
                                "gradcam": {"type": "boolean", "default": False},
                                "operating_point": {
                                    "type": "string",
                                    "default": "default",
                                    "description": "default, or a val-chosen threshold from the model card: "
                                    "sens90, sens95 or sens99",
                                },
                            },
                        }
                    }
                },
            }
        },
    )
    async def predict(request: Request) -> JSONResponse:
        """Probabilities, thresholded label and out-of-distribution `warnings` for one image (Grad-CAM on
        request). Research use only."""
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return _error(415, "unsupported content type", "send multipart/form-data with the image in field 'file'")
        try:
            form = await request.form(max_files=1, max_fields=8)
        except BodyTooLarge:  # a streamed (chunked) body went over the limit
            return _too_large(max_upload)
        except Exception as exc:  # malformed multipart body
            return _error(400, "malformed form data", str(exc)[:200])
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error(400, "missing file", "put the image in the multipart field 'file'")
        data = await upload.read()
        gradcam = str(form.get("gradcam", "false")).lower() in ("1", "true", "yes", "on")
        point = str(form.get("operating_point", "default"))
        name = upload.filename or ""
        try:
            result = await _run(service, data, name, gradcam, point)
        except ImageReadError as exc:
            status = 415 if exc.reason in UNSUPPORTED_REASONS else 422
            return _error(status, exc.reason, exc.detail)
        except PneumoganError as exc:  # an operating point this model does not have
            return _error(400, "unknown operating point", str(exc))
        if gradcam:
            cam = result.pop("gradcam")
            result["gradcam"] = {
                "overlay_png_base64": overlay_base64(cam["overlay"]),
                "layer": cam["layer"],
                "method": cam["method"],
                "target": cam["target"],
            }
        return JSONResponse(result)

    return app


async def _run(service: ModelService, data: bytes, name: str, gradcam: bool, point: str) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(service.predict, data, name, gradcam, point)
