"""Typed artefacts: every meta.json reads through one migration, so old checkpoints load with every field
filled in, and new ones are written with a schema version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pneumogan.artefacts import SCHEMA_VERSION, ClassifierMeta, GeneratorMeta, migrate
from pneumogan.bundled import classifier_path, generator_path
from pneumogan.classify.checkpoint import read_meta, save_checkpoint
from pneumogan.gan.checkpoint import read_gan_meta


def test_a_checkpoint_written_before_the_schema_loads_through_the_migration():
    raw = json.loads((classifier_path() / "meta.json").read_text())
    assert "schema_version" not in raw  # the bundled classifier predates the typed artefacts
    meta = read_meta(classifier_path())
    assert meta["schema_version"] == SCHEMA_VERSION
    assert meta["image_size"] == meta["preprocessing"]["size"] == raw["image_size"]
    assert meta["preprocessing"]["fit"] == raw["preprocessing"]["fit"] == "squeeze"
    assert meta["threshold"] == raw["threshold"] and meta["operating_points"] == raw["operating_points"]
    assert meta["split_summary"] == raw["split_summary"]  # keys the schema does not name are kept as they are


def test_an_old_minimal_classifier_meta_gets_every_field_a_reader_needs():
    old = {
        "arch": "simple_cnn",
        "num_classes": 2,
        "class_names": ["NORMAL", "PNEUMONIA"],
        "image_size": 32,
        "preprocessing": {"mean": 0.5, "std": 0.5},
        "config": {"data": {"size": 32, "fit": "auto"}},
    }
    meta = ClassifierMeta.model_validate(old).as_dict()
    assert meta["preprocessing"]["size"] == 32 and meta["preprocessing"]["fit"] == "crop"
    assert meta["config"]["data"]["fit"] == "crop"  # pinned to the checkpoint's geometry
    assert (meta["in_channels"], meta["blank_border"], meta["standardise_input"]) == (1, 0.0, False)
    assert meta["threshold"] is None and meta["operating_points"] == {} and meta["data_source_path"] is None
    with pytest.warns(FutureWarning, match="amp"):
        assert migrate({"amp": True, "preprocessing": {"size": 8}})["precision"] == "auto"


def test_a_gan_folder_without_a_preprocessing_block_reads_its_size_from_the_model():
    meta = json.loads((generator_path() / "meta.json").read_text())
    meta.pop("preprocessing")
    got = GeneratorMeta.model_validate(meta).as_dict()
    assert got["preprocessing"] == {**got["preprocessing"], "size": meta["model"]["size"], "fit": "crop"}
    assert got["kind"] == "gan" and read_gan_meta(generator_path())["preprocessing"]["fit"] == "squeeze"


def test_a_new_checkpoint_is_written_with_the_schema_version(tmp_path: Path):
    folder = tmp_path / "ckpt"
    shutil.copytree(classifier_path(), folder)
    import torch

    from pneumogan.classify.models import build

    meta = read_meta(folder)
    model = build(meta["arch"], meta["num_classes"], meta["in_channels"])
    save_checkpoint(folder, model, {k: v for k, v in meta.items() if k != "schema_version"})
    written = json.loads((folder / "meta.json").read_text())
    assert written["schema_version"] == SCHEMA_VERSION and written["versions"]["torch"] == torch.__version__
