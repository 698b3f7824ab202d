"""Self-supervised pretraining: views, the SimSiam objective, encoders that load into every backbone, the
k-NN monitor, and `ssl pretrain` → `classify train classify.init_from=…` on real data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.corpus import xray_like

from pneumogan.classify import models
from pneumogan.classify.checkpoint import load_checkpoint
from pneumogan.classify.encoder import init_from_encoder, read_encoder_meta, save_encoder
from pneumogan.classify.train import train
from pneumogan.config import SslConfig, load_config
from pneumogan.errors import PneumoganError
from pneumogan.layout import ENCODER_WEIGHTS
from pneumogan.ssl.simsiam import SimSiam, collapse_score, simsiam_loss
from pneumogan.ssl.train import knn_scores, pretrain
from pneumogan.ssl.views import view


def batch(n: int = 8, size: int = 32) -> torch.Tensor:
    return torch.from_numpy(np.stack([xray_like(size, seed=i) for i in range(n)])).float().div(255)[:, None]


def test_views_are_seeded_distinct_and_in_range():
    x, idx, cfg = batch(), np.arange(8), SslConfig()
    a, b = view(x, idx, 0, 0, 0, cfg), view(x, idx, 0, 1, 0, cfg)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, view(x, idx, 0, 0, 0, cfg))  # deterministic
    assert not torch.allclose(a, b) and not torch.allclose(a, view(x, idx, 1, 0, 0, cfg))
    mild = view(x, idx, 0, 0, 0, SslConfig(crop_scale=(0.9, 1.0)))
    for va, vx in zip(mild, x, strict=True):  # with a near-full crop, a view is the same picture, changed
        assert 0.5 < np.corrcoef(va.ravel(), vx.ravel())[0, 1] < 0.999


def test_view_with_only_a_full_area_crop_stretches_one_axis_at_most():
    # Area 1 still draws an aspect ratio in [3/4, 4/3] (as RandomResizedCrop does): one axis is cropped by at
    # most 1 - sqrt(3/4) ≈ 13 %, so the view stays nearly the image; nothing else changes the pixels.
    cfg = SslConfig(crop_scale=(1.0, 1.0), rotate_deg=0, intensity=0, blur_prob=0, noise_std=0)
    ramp = torch.linspace(0.1, 0.9, 32)
    x = (ramp.view(1, 1, 32, 1) * ramp.view(1, 1, 1, 32)).repeat(8, 1, 1, 1)  # smooth: a stretch keeps it alike
    out = view(x, np.arange(8), 0, 0, 0, cfg)
    assert not torch.allclose(out, x)
    assert (out - x).abs().max() < 0.15 and out.min() >= x.min() - 1e-6 and out.max() <= x.max() + 1e-6


def test_simsiam_loss_decreases_on_tiny_data_and_does_not_collapse():
    torch.manual_seed(0)
    x, cfg = batch(32), SslConfig()
    model = SimSiam("simple_cnn", 32, proj_dim=64, pred_dim=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for step in range(60):  # SimSiam starts near 0 (unrelated outputs) and heads for -1
        v1, v2 = (view(x, np.arange(32), step, k, 0, cfg) * 2 - 1 for k in (0, 1))
        p1, p2, z1, z2 = model(v1, v2)
        loss = simsiam_loss(p1, p2, z1, z2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.1
    assert collapse_score(z1) > 0.3


def test_loss_and_collapse_score_on_known_inputs():
    z = torch.randn(64, 32)
    assert simsiam_loss(z, z, z, z).item() == pytest.approx(-1.0, abs=1e-6)
    assert simsiam_loss(z, z, -z, -z).item() == pytest.approx(1.0, abs=1e-6)
    assert collapse_score(torch.ones(64, 32)) == pytest.approx(0.0, abs=1e-6)
    assert 0.8 < collapse_score(torch.randn(512, 32)) < 1.2


@pytest.mark.parametrize("arch", models.names())
def test_an_encoder_loads_into_its_classifier(arch, tmp_path):
    encoder, dim = models.build_encoder(arch, 32)
    assert encoder(torch.randn(2, 1, 32, 32)).shape == (2, dim)
    save_encoder(tmp_path, encoder, {"kind": "ssl_encoder", "arch": arch, "image_size": 32})
    for num_classes in (2, 3):  # the encoder is the backbone: the binary and the 3-class heads take it alike
        classifier = models.build(arch, num_classes, image_size=32)
        init_from_encoder(classifier, arch, tmp_path)
        state = classifier.state_dict()
        for key, value in encoder.state_dict().items():
            assert torch.equal(state[key], value), key
    other = "resnet18" if arch != "resnet18" else "simple_cnn"
    with pytest.raises(PneumoganError, match=f"classify.arch={arch}"):
        init_from_encoder(models.build(other, 2), other, tmp_path)


def test_knn_scores_follow_the_neighbours():
    rng = np.random.default_rng(0)
    train_f = np.concatenate([rng.normal([5, 0], 0.5, (50, 2)), rng.normal([0, 5], 0.5, (50, 2))])
    train_y = np.r_[np.zeros(50), np.ones(50)]
    scores = knn_scores(train_f, train_y, np.array([[5.0, 0.2], [0.2, 5.0]]), k=10)
    assert scores[0] < 0.05 and scores[1] > 0.95


def test_pretrain_then_fine_tune_on_real_data(kaggle_224, tmp_path):
    over = [f"data.source={kaggle_224}", "ssl.epochs=2", "ssl.batch_size=32", "ssl.proj_dim=64", "ssl.pred_dim=16"]
    cfg = load_config("tiny", over)
    enc_dir = pretrain(cfg, tmp_path / "ssl", log=lambda _: None)
    meta = json.loads((enc_dir / "meta.json").read_text())
    assert meta["kind"] == "ssl_encoder" and meta["arch"] == "simple_cnn" and meta["seen_splits"] == ["train"]
    assert (enc_dir / ENCODER_WEIGHTS).is_file() and len(meta["encoder_sha256"]) == 64
    # the geometry round-trips: Kermany's 224 px copies are equal squares, so auto records their squeeze
    assert meta["preprocessing"]["fit"] == "squeeze" == read_encoder_meta(enc_dir)["preprocessing"]["fit"]
    history = json.loads((enc_dir / "history.json").read_text())
    assert [r["epoch"] for r in history] == [0, 1] and all(0 <= r["knn_val_auc"] <= 1 for r in history)
    assert 0 <= meta["initial_knn_val_auc"] <= 1 and meta["final_knn_val_auc"] == history[-1]["knn_val_auc"]
    # The GAN metrics' label-free feature space: exactly the encoder's output (its weights, no head).
    from safetensors.torch import load_file

    from pneumogan.classify.inference import model_outputs
    from pneumogan.gan.feature_spaces import encoder_extractor

    extractor, info = encoder_extractor(enc_dir, torch.device("cpu"))
    images = np.stack([xray_like(meta["image_size"], seed=i) for i in range(4)])
    encoder, dim = models.build_encoder("simple_cnn", meta["image_size"])
    encoder.load_state_dict(load_file(str(enc_dir / ENCODER_WEIGHTS)))
    expected = model_outputs(
        encoder, images, meta["preprocessing"]["mean"], meta["preprocessing"]["std"], torch.device("cpu")
    )
    assert info["space"] == "ssl_encoder" and extractor(images)[0].shape == (4, dim)
    assert info["encoder_sha256"] == meta["encoder_sha256"]  # the study checks a restored space by this hash
    assert np.allclose(extractor(images)[0], expected, atol=1e-5)
    # Resuming a finished run trains nothing more and writes the same encoder.
    pretrain(cfg, enc_dir, log=lambda _: None)
    assert json.loads((enc_dir / "meta.json").read_text())["encoder_sha256"] == meta["encoder_sha256"]

    ckpt = train(
        load_config("tiny", [f"data.source={kaggle_224}", f"classify.init_from={enc_dir}", "classify.epochs=1"]),
        tmp_path / "clf",
        log=lambda _: None,
    )
    _, clf_meta = load_checkpoint(ckpt)
    assert clf_meta["init_from"] == str(enc_dir.resolve()) and clf_meta["encoder_sha256"] == meta["encoder_sha256"]
    # The 3-class task (NORMAL / BACTERIAL / VIRAL) fine-tunes from the same encoder end to end.
    over3 = [
        f"data.source={kaggle_224}",
        f"classify.init_from={enc_dir}",
        "classify.epochs=1",
        "classify.num_classes=3",
    ]
    model3, meta3 = load_checkpoint(train(load_config("tiny", over3), tmp_path / "clf3", log=lambda _: None))
    assert meta3["num_classes"] == 3 and meta3["encoder_sha256"] == meta["encoder_sha256"]
    scores = model_outputs(
        model3, images, meta3["preprocessing"]["mean"], meta3["preprocessing"]["std"], torch.device("cpu")
    )
    assert scores.shape == (4, 3) and np.isfinite(scores).all()
    with pytest.raises(PneumoganError, match="exclude each other"):
        load_config("tiny", [f"classify.init_from={enc_dir}", "classify.pretrained=true"])


@pytest.mark.parametrize("init_from, stage2", [(None, "last_blocks"), ("enc", "all")])
def test_two_stage_fine_tuning_unfreezes_the_whole_backbone_only_after_an_encoder(init_from, stage2):
    from pneumogan.classify.train import _set_stage

    cfg = load_config("tiny", ["classify.arch=resnet18", "classify.stage1_epochs=1"])
    cfg.classify.init_from = init_from  # the stage logic only asks whether one is set
    model, arch = models.build("resnet18", 2, image_size=32), models.info("resnet18")
    assert _set_stage(model, arch, 0, cfg) == "head"
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith(arch.head) for n in trainable)
    assert _set_stage(model, arch, 1, cfg) == stage2
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert (frozen == []) == (stage2 == "all")
