"""The models that ship inside the package: they load and predict with no network and no user files, `serve`
with no arguments serves them, and `predict bundled` works from the command line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from tests.corpus import jpeg_bytes, xray_like
from tests.test_serve_api import free_port

from pneumogan.bundled import BUILD, CLASSIFIER, GENERATOR, MODEL_CARD, generator_path, is_bundled, resolve_checkpoint
from pneumogan.errors import PneumoganError
from pneumogan.layout import META

httpx = pytest.importorskip("httpx")


def test_the_package_ships_a_classifier_and_a_model_card():
    assert (CLASSIFIER / META).is_file() and (CLASSIFIER / "model.safetensors").is_file()
    assert (CLASSIFIER / "ood.safetensors").is_file() and (CLASSIFIER / "eval_test" / "metrics.json").is_file()
    # the generator is optional: when shipped it must load, and the card must describe it
    build = json.loads(BUILD.read_text())  # how each model was built: the card quotes it
    assert build["classifier"]["commit"] in MODEL_CARD.read_text()
    if generator_path() is not None:
        import torch

        from pneumogan.gan.checkpoint import load_generator
        from pneumogan.gan.sample import generate

        g, meta = load_generator(GENERATOR)
        card = MODEL_CARD.read_text()
        assert "## Generator" in card and build["generator"]["commit"] in card
        scores = json.loads((GENERATOR / "metrics.json").read_text())  # measured by the build script
        for c, name in enumerate(meta["class_names"]):
            assert f"{scores[name]['class_fidelity'] * 100:.0f} % of samples classified as {name}" in card
            images = generate(g, c, [1, 2], torch.device("cpu"))
            px = meta["model"]["size"]
            assert images.shape == (2, px, px) and images.dtype.name == "uint8"
    else:
        assert not (GENERATOR / "generator.safetensors").exists()
    size = sum(p.stat().st_size for p in CLASSIFIER.parent.rglob("*") if p.is_file())
    assert size <= 10 * 1024 * 1024
    card = MODEL_CARD.read_text()
    assert "CC BY 4.0" in card and "not a medical device" in card
    metrics = json.loads((CLASSIFIER / "eval_test" / "metrics.json").read_text())
    assert f"{metrics['accuracy'] * 100:.1f} %" in card  # the card quotes the shipped metrics
    assert resolve_checkpoint("bundled") == CLASSIFIER == resolve_checkpoint(None) and is_bundled(CLASSIFIER)
    assert resolve_checkpoint("runs/x").name == "x"


def test_bundled_model_predicts_offline_without_user_files(tmp_path, monkeypatch):
    from pneumogan.classify.predict import Predictor
    from pneumogan.serve.service import ModelService

    def no_network(*args, **kwargs):
        raise AssertionError("the bundled model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PNEUMOGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PNEUMOGAN_DATA", raising=False)
    predictor = Predictor("bundled")
    assert predictor.ood is not None
    array, notes = predictor.read(jpeg_bytes(xray_like(256)))
    row = predictor.predict_arrays(array[None], [notes])[0]
    assert row["label"] in ("NORMAL", "PNEUMONIA") and isinstance(row["warnings"], list)
    service = ModelService()  # no checkpoint: the bundled one, and its generator for the synthetic tab
    assert service.bundled and service.gan == generator_path()
    card = service.model_card_data()
    assert card["bundled"] and "CC BY 4.0" in card["data_licence"] and card["test_metrics"] is not None
    assert "bundled model" in service.model_card()


def test_a_missing_bundle_is_a_clear_error(monkeypatch, tmp_path):
    import pneumogan.bundled as bundled

    monkeypatch.setattr(bundled, "CLASSIFIER", tmp_path / "none")
    with pytest.raises(PneumoganError, match="build_bundled_models"):
        bundled.resolve_checkpoint("bundled")


def test_serve_with_no_arguments_answers_health_and_a_prediction(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "PNEUMOGAN_CACHE_DIR": str(tmp_path / "c"),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pneumogan", "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            if proc.poll() is not None:
                pytest.fail((tmp_path / "server.log").read_text()[-2000:])
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            subprocess.run(["sleep", "0.5"], check=True)
        assert httpx.get(f"{url}/healthz").json()["status"] == "ok"
        resp = httpx.post(f"{url}/api/v1/predict", files={"file": ("x.jpeg", jpeg_bytes(xray_like(256)))}, timeout=60)
        assert resp.status_code == 200 and "warnings" in resp.json()
        assert httpx.get(f"{url}/api/v1/model").json()["bundled"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert "serving the bundled model" in (tmp_path / "server.log").read_text()


def test_predict_bundled_from_the_command_line(tmp_path):
    image = tmp_path / "x.jpeg"
    image.write_bytes(jpeg_bytes(xray_like(256)))
    out = tmp_path / "p.csv"
    res = subprocess.run(
        [sys.executable, "-m", "pneumogan", "predict", "bundled", str(image), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    header = out.read_text().splitlines()[0].split(",")
    assert "warnings" in header and "p_pneumonia" in header
