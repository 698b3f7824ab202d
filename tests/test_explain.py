"""Grad-CAM for every architecture, overlays, the thoracic-mass check, and `pneumogan explain`."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image
from tests.corpus import write_bad_corpus, xray_like

from pneumogan.classify import models
from pneumogan.explain.gradcam import CamExplainer, box_area, overlay, thorax_mass_fraction


@pytest.mark.parametrize("arch", sorted(models.REGISTRY))
@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_cam_shape_range_and_class_dependence(arch, method):
    import torch

    torch.manual_seed(0)
    model = models.build(arch, 2, image_size=64)
    explainer = CamExplainer(model, arch, 0.5, 0.5, method)
    images = np.stack([xray_like(64, seed=1), xray_like(64, seed=2)])
    maps0, maps1 = explainer(images, class_idx=0), explainer(images, class_idx=1)
    assert maps0.shape == maps1.shape == (2, 64, 64)
    for m in (maps0, maps1):
        assert np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1 + 1e-6
    assert maps1.max() == pytest.approx(1.0, abs=1e-5)  # normalised per image
    assert not np.allclose(maps0, maps1)  # the map depends on the explained class


def test_layer_override_and_unknown_layer():
    from pneumogan.errors import PneumoganError

    model = models.build("simple_cnn", 2, image_size=32)
    assert CamExplainer(model, "simple_cnn", 0.5, 0.5, layer="features.18").layer == "features.18"
    with pytest.raises(PneumoganError, match="not in the simple_cnn model"):
        CamExplainer(model, "simple_cnn", 0.5, 0.5, layer="nope")


def test_thorax_mass_fraction_and_overlay():
    cam = np.zeros((100, 100))
    cam[40:60, 40:60] = 1.0
    assert thorax_mass_fraction(cam) == 1.0
    edge = np.zeros((100, 100))
    edge[:5, :] = 1.0
    assert thorax_mass_fraction(edge) == 0.0
    assert thorax_mass_fraction(np.ones((100, 100))) == pytest.approx(box_area(), abs=0.01)
    rgb = overlay(xray_like(100), cam)
    assert rgb.shape == (100, 100, 3) and rgb.dtype == np.uint8
    assert (rgb[50, 50] != rgb[50, 50, 0]).any()  # coloured where the map is hot
    assert rgb[2, 2, 0] == rgb[2, 2, 1] == rgb[2, 2, 2]  # plain grey where it is zero


@pytest.mark.realdata
def test_explain_cli_writes_overlays_and_lists_bad_files(tiny_checkpoint, test_xrays, tmp_path):
    from tests.test_cli import run_cli

    inputs = tmp_path / "in"
    inputs.mkdir()
    for p in test_xrays:
        (inputs / p.name).write_bytes(p.read_bytes())
    write_bad_corpus(inputs)
    out = tmp_path / "cams"
    proc = run_cli("explain", str(tiny_checkpoint), str(inputs), "--out", str(out), "--method", "gradcam++",
                   env_cache=str(tmp_path / "c"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    # 4 real X-rays + the corpus files that convert (16-bit, RGBA, CMYK); the broken ones are listed as skipped
    assert len(rows) == 7 and "skipped" in proc.stdout and "truncated" in proc.stdout
    for row in rows:
        img = Image.open(out / row["overlay_png"])
        assert img.mode == "RGB" and img.size == (256 * 2 + 8, 256)
        assert 0 <= float(row["cam_in_thorax"]) <= 1
