"""The service the UI and API share: the model card (as data and as text) and finding the training data."""

from __future__ import annotations

import json
import shutil

import pytest

from pneumogan.serve.service import ModelService
from pneumogan.serve.ui import example_images

pytestmark = pytest.mark.realdata


def test_model_card_data_carries_test_metrics_with_intervals(tiny_checkpoint):
    service = ModelService(tiny_checkpoint, device="cpu")
    card = service.model_card_data()
    stored = json.loads((tiny_checkpoint / "eval_test" / "metrics.json").read_text())
    assert card["arch"] == "simple_cnn" and card["classes"] == ["NORMAL", "PNEUMONIA"] and card["image_size"] == 64
    assert card["training_data"]["fingerprint"] == stored["data_fingerprint"]
    assert card["test_metrics"]["n"] == stored["n"]
    for key in ("accuracy", "roc_auc", "recall", "specificity"):
        assert card["test_metrics"][key]["value"] == stored[key]
        lo, hi = card["test_metrics"][key]["ci"]
        assert lo <= stored[key] <= hi
    text = service.model_card()
    assert f"{stored['accuracy'] * 100:.1f} %" in text and "not found" not in text
    assert "outlier score" in text and "0.5% of mildly varied validation images" in text  # the check it carries


def test_model_card_describes_a_check_fitted_before_the_outlier_head():
    from pneumogan.serve.service import _ood_sentence

    earlier = {"quantile": 0.995, "val_false_alarm_rate": 0.012}  # what such a check's ood.json holds
    assert "beyond the 99.5% quantile of validation images" in _ood_sentence(earlier)
    assert "outlier score" not in _ood_sentence(earlier)


def test_model_card_without_an_evaluation_says_why(tiny_checkpoint, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_checkpoint, bare, ignore=shutil.ignore_patterns("eval_*"))
    card = ModelService(bare, device="cpu").model_card_data()
    assert card["test_metrics"] is None and "classify evaluate" in card["test_metrics_reason"]


def test_examples_found_for_a_model_trained_from_a_relative_path_and_served_elsewhere(
    kaggle_224, tmp_path, monkeypatch
):
    from pneumogan.classify.train import train
    from pneumogan.config import load_config

    monkeypatch.chdir(kaggle_224.parent)
    cfg = load_config("tiny", [f"data.source={kaggle_224.name}", "classify.epochs=1"])
    model = train(cfg, tmp_path / "model", log=lambda *_: None)
    assert json.loads((model / "meta.json").read_text())["config"]["data"]["source"] == kaggle_224.name
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    examples = example_images(ModelService(model, device="cpu"))
    assert len(examples) == 6 and all(str(kaggle_224) in e for e in examples)


def test_an_exposed_server_needs_a_token_or_an_explicit_insecure(monkeypatch):
    from pneumogan.errors import PneumoganError
    from pneumogan.serve.access import TOKEN_ENV, is_loopback, server_token

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("myhost")
    assert server_token("127.0.0.1", None) is None  # loopback: open by default
    with pytest.raises(PneumoganError, match="--token"):
        server_token("0.0.0.0", None)
    assert server_token("0.0.0.0", None, insecure=True) is None
    assert server_token("0.0.0.0", "s3cret") == "s3cret"
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert server_token("0.0.0.0", None) == "from-env"


def test_serve_refuses_to_start_on_a_public_address_without_a_token(tiny_checkpoint, monkeypatch):
    from pneumogan.errors import PneumoganError
    from pneumogan.serve.access import TOKEN_ENV
    from pneumogan.serve.app import serve

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(PneumoganError, match="exposes the model"):
        serve(tiny_checkpoint, host="0.0.0.0", port=1)  # refused before anything binds


def test_with_a_token_the_api_answers_401_without_it_and_healthz_reveals_only_status(tiny_checkpoint, test_xrays):
    from fastapi.testclient import TestClient

    from pneumogan.serve.app import create_app

    client = TestClient(create_app(tiny_checkpoint, ui=False, token="s3cret"))
    upload = {"file": (test_xrays[0].name, test_xrays[0].read_bytes())}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        denied = client.post("/api/v1/predict", files=upload, headers=headers)
        assert denied.status_code == 401 and denied.json()["error"] == "unauthorized"
        assert "probabilities" not in denied.text
        assert client.get("/api/v1/model", headers=headers).status_code == 401
    assert client.get("/healthz").json() == {"status": "ok"}
    good = {"Authorization": "Bearer s3cret"}
    ok = client.post("/api/v1/predict", files=upload, headers=good)
    assert ok.status_code == 200 and set(ok.json()["probabilities"]) == {"NORMAL", "PNEUMONIA"}
    assert client.get("/api/v1/model", headers=good).json()["arch"] == "simple_cnn"
    open_client = TestClient(create_app(tiny_checkpoint, ui=False))
    assert open_client.get("/healthz").json()["model"]["arch"] == "simple_cnn"  # loopback default: open


def test_with_a_token_the_ui_asks_for_a_login(tiny_checkpoint):
    from fastapi.testclient import TestClient

    from pneumogan.serve.app import create_app

    client = TestClient(create_app(tiny_checkpoint, token="s3cret"))
    assert client.post("/login/", data={"username": "anyone", "password": "wrong"}).status_code >= 400
    assert client.post("/login/", data={"username": "anyone", "password": "s3cret"}).status_code == 200
