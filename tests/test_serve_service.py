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
