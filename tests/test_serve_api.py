"""The JSON API against a real `pneumogan serve` process on a free local port: good input, every bad input,
the upload limit, and 8 concurrent clients."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.corpus import write_bad_corpus, xray_like
from tests.dicom_factory import make_dicom

pytestmark = pytest.mark.realdata
httpx = pytest.importorskip("httpx")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoint: Path, tmp: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PNEUMOGAN_CACHE_DIR": str(tmp / "cache"), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = (tmp / f"server-{port}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pneumogan", "serve", str(checkpoint), "--port", str(port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(tmp / f'server-{port}.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start within 90 s")


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    proc, url = start_server(tiny_checkpoint, tmp, "--max-upload-mb", "1")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def post(url: str, name: str, data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/predict", files={"file": (name, data)}, data=fields, timeout=60)


def assert_good(resp: httpx.Response) -> dict:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body["probabilities"]) == {"NORMAL", "PNEUMONIA"}
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert body["label"] in ("NORMAL", "PNEUMONIA") and 0 <= body["threshold"] <= 1
    assert body["model"]["arch"] == "simple_cnn" and "not a medical device" in body["notice"]
    return body


def test_model_card_endpoint(server, tiny_checkpoint):
    card = httpx.get(f"{server}/api/v1/model").json()
    assert card["arch"] == "simple_cnn" and card["classes"] == ["NORMAL", "PNEUMONIA"] and card["image_size"] == 64
    assert 0 <= card["threshold"] <= 1 and card["training_data"]["fingerprint"]
    metrics = json.loads((tiny_checkpoint / "eval_test" / "metrics.json").read_text())
    assert card["test_metrics"]["roc_auc"]["value"] == pytest.approx(metrics["roc_auc"])
    assert len(card["test_metrics"]["roc_auc"]["ci"]) == 2 and "not a medical device" in card["notice"]


def test_healthz_and_good_image_with_gradcam(server, test_xrays):
    health = httpx.get(f"{server}/healthz").json()
    assert health["status"] == "ok" and health["model"]["image_size"] == 64
    body = assert_good(post(server, test_xrays[-1].name, test_xrays[-1].read_bytes(), gradcam="true"))
    png = Image.open(io.BytesIO(base64.b64decode(body["gradcam"]["overlay_png_base64"])))
    assert png.mode == "RGB" and png.size == (256, 256)
    assert "gradcam" not in assert_good(post(server, test_xrays[0].name, test_xrays[0].read_bytes()))


def test_warnings_field_flags_a_photograph_and_a_lateral_dicom_not_a_test_xray(server, test_xrays, tmp_path):
    assert assert_good(post(server, test_xrays[0].name, test_xrays[0].read_bytes()))["warnings"] == []
    rng = np.random.default_rng(0)
    photo = np.stack([np.full((80, 80), 200), rng.integers(0, 256, (80, 80)), np.full((80, 80), 30)], -1)
    buf = io.BytesIO()
    Image.fromarray(photo.astype(np.uint8)).save(buf, format="PNG")
    assert any("colour" in w for w in assert_good(post(server, "photo.png", buf.getvalue()))["warnings"])
    xray = np.asarray(Image.open(test_xrays[0]).convert("L"), dtype=np.uint16) * 16
    make_dicom(tmp_path / "lateral.dcm", xray, view_position="LL")
    body = assert_good(post(server, "lateral.dcm", (tmp_path / "lateral.dcm").read_bytes()))
    assert any("lateral" in w for w in body["warnings"])


def test_openapi_schema_documents_the_model_card_warnings_and_401(server):
    schema = httpx.get(f"{server}/openapi.json").json()
    predict = schema["paths"]["/api/v1/predict"]["post"]
    assert {"200", "401", "413", "415", "422"} <= set(predict["responses"])
    assert "warnings" in schema["components"]["schemas"]["Prediction"]["properties"]
    assert "401" in schema["paths"]["/api/v1/model"]["get"]["responses"]
    assert "file" in predict["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]


def _bad_inputs(tmp: Path) -> dict[str, tuple[bytes, set[int]]]:
    files = write_bad_corpus(tmp)
    expected = {
        "truncated.jpeg": {422},
        "empty.jpeg": {422},
        "text.jpeg": {415},
        "bomb.png": {422},
        "animated.gif": {415},
    }
    cases = {name: (files[name].read_bytes(), codes) for name, codes in expected.items()}
    cases["text.png"] = (b"just some text, not a PNG\n", {415})
    make_dicom(tmp / "nopixels.dcm", None)
    make_dicom(tmp / "jpegls.dcm", (np.arange(256, dtype=np.uint16).reshape(16, 16) * 16), compressed=True)
    cases["nopixels.dcm"] = ((tmp / "nopixels.dcm").read_bytes(), {422})
    cases["jpegls.dcm"] = ((tmp / "jpegls.dcm").read_bytes(), {415, 422})
    return cases


def test_every_bad_input_gets_a_4xx_json_error_and_the_server_keeps_serving(server, test_xrays, tmp_path):
    good = test_xrays[0].read_bytes()
    for name, (data, codes) in _bad_inputs(tmp_path).items():
        resp = post(server, name, data)
        assert resp.status_code in codes, (name, resp.status_code, resp.text)
        body = resp.json()
        assert body["error"] and "Traceback" not in resp.text and 'File "' not in resp.text, name
        assert_good(post(server, test_xrays[0].name, good))  # still serving after each bad one


def test_converted_inputs_are_accepted(server, tmp_path):
    files = write_bad_corpus(tmp_path)
    for name in ("sixteen.png", "rgba.png", "cmyk.jpeg"):
        assert_good(post(server, name, files[name].read_bytes()))


def test_upload_limit_wrong_content_type_and_missing_field(server, test_xrays):
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1200, 1200), dtype=np.uint8)).save(big, "PNG")
    assert len(big.getvalue()) > 1024 * 1024
    resp = post(server, "big.png", big.getvalue())
    assert resp.status_code == 413 and resp.json()["error"] == "upload too large"
    resp = httpx.post(
        f"{server}/api/v1/predict", content=test_xrays[0].read_bytes(), headers={"content-type": "image/jpeg"}
    )
    assert resp.status_code == 415
    resp = httpx.post(f"{server}/api/v1/predict", files={"image": ("x.jpeg", test_xrays[0].read_bytes())})
    assert resp.status_code == 400 and "file" in resp.json()["detail"]
    assert_good(post(server, "small.png", _png(xray_like(128))))


def test_streamed_upload_without_length_is_cut_off_at_the_limit(server):
    boundary = "pneumoganboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    def body():  # a generator: httpx sends it chunked, with no Content-Length
        yield head
        for _ in range(24):
            yield b"\0" * 65536  # 1.5 MB in all, over the 1 MB limit
        yield f"\r\n--{boundary}--\r\n".encode()

    resp = httpx.post(
        f"{server}/api/v1/predict",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )
    assert resp.status_code == 413 and resp.json()["error"] == "upload too large"


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def test_eight_concurrent_clients_get_correct_answers(server, test_xrays):
    reference = {p.name: assert_good(post(server, p.name, p.read_bytes()))["probabilities"] for p in test_xrays}
    jobs = [test_xrays[i % len(test_xrays)] for i in range(32)]

    def call(path: Path) -> tuple[str, dict]:
        return path.name, assert_good(post(server, path.name, path.read_bytes(), gradcam="true"))["probabilities"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, jobs))
    assert len(results) == 32
    for name, probs in results:
        for cls, p in probs.items():
            assert p == pytest.approx(reference[name][cls], abs=1e-6)


def test_app_with_a_gan_tab_generates_reproducible_images(tiny_checkpoint, kaggle_224, tmp_path):
    from pneumogan.config import load_config
    from pneumogan.gan.train import train_gan
    from pneumogan.serve.app import create_app
    from pneumogan.serve.ui import SyntheticGallery

    cfg = load_config("tiny", [f"data.source={kaggle_224}", "gan.steps=3", "gan.family=cgan"])
    gan = train_gan(cfg, tmp_path / "gan", log=lambda *_: None)
    gallery = SyntheticGallery(gan)
    a, b = gallery.synthetic("NORMAL", 7, 3), gallery.synthetic("NORMAL", 7, 3)
    # 32 px images are shown enlarged 4× by pixel repetition, so people can see them
    assert len(a) == 3 and a[0].shape == (128, 128) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.array_equal(a[0], np.kron(a[0][::4, ::4], np.ones((4, 4), np.uint8)))
    assert not np.array_equal(a[0], gallery.synthetic("PNEUMONIA", 7, 1)[0])
    real = gallery.real("PNEUMONIA", 4)
    assert len(real) == 4 and real[0].shape == (128, 128)
    app = create_app(tiny_checkpoint, gan=gan)
    assert any(getattr(r, "path", "") == "/api/v1/predict" for r in app.routes)
    from pneumogan.serve.service import ModelService
    from pneumogan.serve.ui import build_ui

    api_names = {fn.api_name for fn in build_ui(ModelService(tiny_checkpoint, gan=gan)).fns.values()}
    assert {"predict", "synthesize"} <= api_names and not any("lambda" in n for n in api_names)


def test_operating_points_reach_the_api_and_unknown_ones_are_refused(server, test_xrays, tiny_checkpoint):
    points = json.loads((tiny_checkpoint / "meta.json").read_text())["operating_points"]
    card = httpx.get(f"{server}/api/v1/model").json()
    assert set(card["operating_points"]) == {"sens90", "sens95", "sens99"}
    assert card["operating_points"]["sens99"]["test"] is not None  # the tiny model was evaluated on test
    image = test_xrays[0]
    default = assert_good(post(server, image.name, image.read_bytes()))
    assert default["operating_point"] == "default"
    body = assert_good(post(server, image.name, image.read_bytes(), operating_point="sens99"))
    assert body["operating_point"] == "sens99" and body["threshold"] == pytest.approx(points["sens99"]["threshold"])
    assert body["probabilities"] == default["probabilities"]  # only the threshold moves
    p = body["probabilities"]["PNEUMONIA"]
    assert body["label"] == ("PNEUMONIA" if p >= points["sens99"]["threshold"] else "NORMAL")
    bad = post(server, image.name, image.read_bytes(), operating_point="sens42")
    assert bad.status_code == 400 and "sens42" in bad.json()["detail"]
    schema = httpx.get(f"{server}/openapi.json").json()
    form = schema["paths"]["/api/v1/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "operating_point" in form["properties"]


def test_the_ui_api_is_named_and_callable_with_gradio_client(server, test_xrays):
    from gradio_client import Client, handle_file

    client = Client(server + "/", verbose=False)
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert "/predict" in names and not any("lambda" in n for n in names), names
    probs, decision, _original, _cam = client.predict(handle_file(str(test_xrays[-1])), "sens95", api_name="/predict")
    assert "Model output" in decision and "`sens95`" in decision and "not a medical device" in decision
    assert {c["label"] for c in probs["confidences"]} == {"NORMAL", "PNEUMONIA"}
