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
    proc = run_cli(
        "explain",
        str(tiny_checkpoint),
        str(inputs),
        "--out",
        str(out),
        "--method",
        "gradcam++",
        env_cache=str(tmp_path / "c"),
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    # 4 real X-rays + the corpus files that convert (16-bit, RGBA, CMYK); the broken ones are listed as skipped
    assert len(rows) == 7 and "skipped" in proc.stdout and "truncated" in proc.stdout
    for row in rows:
        img = Image.open(out / row["overlay_png"])
        assert img.mode == "RGB" and img.size == (256 * 2 + 8, 256)
        assert 0 <= float(row["cam_in_thorax"]) <= 1


def test_occlude_blanks_the_right_region():
    from pneumogan.explain.occlusion import occlude

    images = np.arange(2 * 10 * 10, dtype=np.uint8).reshape(2, 10, 10)
    centre = occlude(images, "centre", 7)  # box rows/cols 1..8 kept
    assert (centre[:, 1:9, 1:9] == images[:, 1:9, 1:9]).all()
    assert (centre[:, 0] == 7).all() and (centre[:, :, 9] == 7).all()
    assert (centre != 7).sum() == 2 * 8 * 8 - (images[:, 1:9, 1:9] == 7).sum()
    border = occlude(images, "border", 7)
    assert (border[:, 1:9, 1:9] == 7).all()
    assert (border[:, 0] == images[:, 0]).all() and (border[:, :, 9] == images[:, :, 9]).all()
    assert (occlude(images, "all", 7) == images).all() and (images.ravel()[:3] == [0, 1, 2]).all()  # input kept
    with pytest.raises(ValueError):
        occlude(images, "lungs", 7)


def test_occlusion_check_exposes_a_border_shortcut():
    """A 'classifier' that reads only the image border: perfect on full and border-only images, chance on the centre."""
    import torch
    from torch import nn

    from pneumogan.explain.occlusion import occlusion_check

    class BorderReader(nn.Module):
        def forward(self, x):
            ring = torch.ones_like(x[0, 0], dtype=torch.bool)
            ring[2:30, 2:30] = False
            score = x[:, 0][:, ring].mean(dim=1)
            return torch.stack([-score, score], dim=1) * 10

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    images = rng.integers(60, 200, size=(80, 32, 32)).astype(np.uint8)
    ring = np.ones((32, 32), dtype=bool)
    ring[2:30, 2:30] = False
    images[:, ring] = np.where(labels[:, None] == 1, 230, 20).astype(np.uint8)  # the label lives in the border
    res = occlusion_check(
        BorderReader(), {"mean": 0.5, "std": 0.25}, images, labels, 0.5, torch.device("cpu"), n_boot=50
    )
    assert res["all"]["roc_auc"] == 1.0 and res["border"]["roc_auc"] == 1.0
    assert abs(res["centre"]["roc_auc"] - 0.5) < 0.2
