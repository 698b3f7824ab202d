"""The preprocessing geometry (data.fit): how images become square, what prepare and data check say about a source
of equal squares, and that every checkpoint kind records the geometry and reads old ones as centre-cropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.corpus import jpeg_bytes, write_kaggle_folder, xray_like

from pneumogan.artefacts import migrate
from pneumogan.data.geometry import LEGACY_FIT, border_value, checkpoint_fit, fit_square, resolve_fit
from pneumogan.data.integrity import check_source
from pneumogan.data.prepare import prepare
from pneumogan.data.sources import open_source

LAYOUT = {
    "train": {"NORMAL": ["IM-0001-0001.jpeg", "IM-0002-0001.jpeg"], "PNEUMONIA": ["person1_bacteria_1.jpeg"]},
    "test": {"NORMAL": ["IM-0009-0001.jpeg"], "PNEUMONIA": ["person2_virus_9.jpeg"]},
}


def striped(h: int = 40, w: int = 80) -> np.ndarray:
    """Black left quarter, white centre half, grey right quarter: each fit leaves a different trace."""
    a = np.full((h, w), 255, np.uint8)
    a[:, : w // 4] = 0
    a[:, 3 * w // 4 :] = 128
    return a


def test_crop_keeps_the_centre_only():
    out = fit_square(striped(), 16, "crop")
    assert out.shape == (16, 16) and out.min() == 255


def test_squeeze_keeps_every_column_in_order():
    out = fit_square(striped(), 16, "squeeze")
    assert out[:, 0].max() == 0 and out[:, 8].min() == 255 and abs(int(out[0, -1]) - 128) <= 1


def test_pad_letterboxes_with_the_border_value():
    a = striped(20, 80)
    out = fit_square(a, 80, "pad")  # already the long side: no resize, just the letterbox
    assert out.shape == (80, 80)
    assert np.array_equal(out[30:50], a)
    assert (out[:30] == border_value(a)).all() and (out[50:] == border_value(a)).all()


def test_every_fit_is_a_no_op_on_a_square_at_size():
    a = xray_like(32)
    for fit in ("crop", "squeeze", "pad"):
        assert np.array_equal(fit_square(a, 32, fit), a)
    with pytest.raises(ValueError):
        fit_square(a, 16, "stretch")


def test_auto_takes_the_source_default():
    assert resolve_fit("auto", "squeeze") == "squeeze" and resolve_fit("pad", "squeeze") == "pad"
    assert resolve_fit("auto", "crop") == "crop"


def equal_squares(root: Path, side: int = 40) -> Path:
    for split, classes in LAYOUT.items():
        for cls, names in classes.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for k, name in enumerate(names):
                (root / split / cls / name).write_bytes(jpeg_bytes(xray_like(side, seed=k)))
    return root


def test_check_and_prepare_notice_a_source_of_equal_squares(tmp_path):
    source = open_source(equal_squares(tmp_path / "squares"))
    report = check_source(source, workers=1)
    assert report["square_source"] == 40 and report["default_fit"] == "squeeze"
    assert "resized copies" in report["geometry_advice"] and "data.fit=crop" in report["geometry_advice"]
    ds = prepare(source, 32, cache_root=tmp_path / "cache", workers=1)
    assert ds.meta["square_source"] == 40 and ds.meta["fit"] == "squeeze"


def test_a_mixed_folder_is_not_called_resized(tmp_path):
    source = open_source(write_kaggle_folder(tmp_path / "mixed", LAYOUT))  # squares of several sizes
    report = check_source(source, workers=1)
    assert report["square_source"] is None and report["geometry_advice"] is None
    ds = prepare(source, 32, cache_root=tmp_path / "cache", workers=1, fit="pad")
    assert ds.meta["square_source"] is None and ds.meta["fit"] == "pad"


def test_prepare_applies_the_fit_and_keys_the_cache_by_it(tmp_path):
    root = tmp_path / "wide"
    for split, classes in LAYOUT.items():
        for cls, names in classes.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for name in names:
                (root / split / cls / name).write_bytes(jpeg_bytes(striped(40, 80)))
    source = open_source(root)
    crop = prepare(source, 16, cache_root=tmp_path / "cache", workers=1, fit="crop")
    squeeze = prepare(source, 16, cache_root=tmp_path / "cache", workers=1, fit="squeeze")
    assert crop.root != squeeze.root
    assert np.asarray(crop.images).min() >= 250  # JPEG noise aside, only the white centre survives a crop
    assert np.asarray(squeeze.images)[:, :, 0].max() <= 5  # the black left quarter survives a squeeze


def test_old_metas_read_as_centre_cropped_and_configs_follow_the_checkpoint():
    old = {"preprocessing": {"size": 64, "mean": 0.5, "std": 0.25}, "config": {"data": {"size": 64}}}
    migrated = migrate(json.loads(json.dumps(old)))
    assert checkpoint_fit(migrated) == LEGACY_FIT == "crop"
    assert migrated["config"]["data"]["fit"] == "crop"
    new = {"preprocessing": {"size": 64, "fit": "squeeze"}, "config": {"data": {"fit": "auto"}}}
    assert migrate(new)["config"]["data"]["fit"] == "squeeze"  # never re-resolved by the caller's auto


# --- every inference path takes the geometry from the checkpoint -------------------------------------------------


@pytest.fixture(scope="module")
def padded_checkpoint(tiny_checkpoint, tmp_path_factory) -> Path:
    """`tiny_checkpoint` relabelled as trained on letterboxed images: every path must now pad, none may squeeze
    (the source's default) or crop (the old behaviour)."""
    import shutil

    from pneumogan.layout import META

    folder = tmp_path_factory.mktemp("padded") / "model"
    shutil.copytree(tiny_checkpoint, folder)
    meta = json.loads((folder / META).read_text())
    meta["preprocessing"]["fit"] = "pad"
    (folder / META).write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def wide_xray(test_xrays, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A real test X-ray given back its landscape aspect (316 × 224, as the originals), saved as PNG."""
    from PIL import Image

    from pneumogan.data.images import read_image

    wide = np.asarray(Image.fromarray(read_image(test_xrays[0]).array).resize((316, 224), Image.Resampling.BICUBIC))
    wide = wide.copy()
    wide[:, :40] = 0  # a black band at the side, so that crop, squeeze and pad give different squares
    path = tmp_path_factory.mktemp("wide") / "wide.png"
    Image.fromarray(wide).save(path)
    return path, wide


@pytest.mark.realdata
def test_classifier_checkpoints_record_the_geometry(tiny_checkpoint):
    from pneumogan.classify.checkpoint import read_meta

    meta = read_meta(tiny_checkpoint)
    assert meta["preprocessing"]["fit"] == "squeeze"  # trained on Kermany's equal squares with data.fit=auto
    assert meta["preprocessing"]["source_square_size"] == 224  # and it says its inputs were resized squares
    assert "squeeze to square" in meta["preprocessing"]["recipe"]


@pytest.mark.realdata
def test_predict_explain_and_serve_use_the_checkpoints_geometry(padded_checkpoint, wide_xray):
    from pneumogan.classify.predict import Predictor, predict_files
    from pneumogan.explain.files import DISPLAY_SIZE
    from pneumogan.serve.service import ModelService

    path, wide = wide_xray
    predictor = Predictor(padded_checkpoint, device="cpu", precision="fp32")
    expected = fit_square(wide, 64, "pad")
    assert not np.array_equal(expected, fit_square(wide, 64, "squeeze"))
    assert not np.array_equal(expected, fit_square(wide, 64, "crop"))
    assert np.array_equal(predictor.read(path)[0], expected)
    want = predictor.predict_arrays(expected[None])[0]["p_pneumonia"]
    assert predict_files(padded_checkpoint, [path], precision="fp32")["predictions"][0]["p_pneumonia"] == want
    service = ModelService(padded_checkpoint, device="cpu", precision="fp32")
    served = service.predict(path.read_bytes(), name=path.name)
    assert np.array_equal(served["gradcam"]["original"], fit_square(wide, DISPLAY_SIZE, "pad"))
    assert served["probabilities"]["PNEUMONIA"] == pytest.approx(want, abs=1e-6)
    assert served["model"]["fit"] == "pad" and "letterbox" in service.model_card()


@pytest.mark.realdata
def test_evaluate_and_onnx_export_use_the_checkpoints_geometry(padded_checkpoint, monkeypatch, tmp_path):
    from pneumogan.classify import evaluate
    from pneumogan.export.onnx import export_onnx

    seen = {}

    def capture(cfg):
        seen["fit"] = cfg.data.fit
        raise RuntimeError("stop after the data config")

    monkeypatch.setattr(evaluate, "load_splits", capture)
    with pytest.raises(RuntimeError, match="stop"):
        evaluate.evaluate_checkpoint(padded_checkpoint, "test", data_source=str(tmp_path), out_dir=tmp_path)
    assert seen["fit"] == "pad"  # another folder is made square the model's way, not by data.fit=auto
    props = export_onnx(padded_checkpoint, tmp_path / "m.onnx")["metadata"]
    assert json.loads(props["preprocessing"])["fit"] == "pad" and "fit=pad" in props["input"]
