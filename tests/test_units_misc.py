"""Unit tests of small modules that the integration tests only touch in passing: atomic writes and resume
state, progress bars, plots, GAN losses, data loading and the explain command's files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from pneumogan.runs import (
    ResumeState,
    atomic_directory,
    atomic_save,
    atomic_write_csv,
    atomic_write_json,
    write_history,
)

# ---------------------------------------------------------------- runs.py


def test_atomic_save_leaves_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_json(path, {"v": 1})

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_save(path, broken)
    assert json.loads(path.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["a.json"]  # no temporary file left behind


def test_json_csv_and_history_writers(tmp_path):
    atomic_write_json(tmp_path / "x.json", {"a": np.float32(0.5), "b": np.arange(2), "p": tmp_path})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 0.5, "b": [0, 1], "p": str(tmp_path)}
    atomic_write_csv(tmp_path / "r.csv", [{"a": 1}, {"a": 2, "b": 3}])
    assert (tmp_path / "r.csv").read_text().splitlines() == ["a,b", "1,", "2,3"]
    write_history(tmp_path, [{"epoch": 0, "loss": 1.0}])
    assert json.loads((tmp_path / "history.json").read_text())[0]["loss"] == 1.0
    assert (tmp_path / "history.csv").read_text().startswith("epoch,loss")


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    with pytest.raises(ValueError), atomic_directory(tmp_path / "set") as tmp:
        (tmp / "f.txt").write_text("x")
        raise ValueError
    assert not (tmp_path / "set").exists() and os.listdir(tmp_path) == []
    with atomic_directory(tmp_path / "set") as tmp:
        (tmp / "f.txt").write_text("x")
    assert (tmp_path / "set" / "f.txt").read_text() == "x"


def test_resume_state_is_used_only_for_the_same_fingerprint(tmp_path):
    messages: list[str] = []
    ResumeState(tmp_path / "s.pt", "abc").save({"step": 7, "w": torch.ones(2)})
    state = ResumeState(tmp_path / "s.pt", "abc").load(messages.append)
    assert state["step"] == 7 and torch.equal(state["w"], torch.ones(2)) and not messages
    assert ResumeState(tmp_path / "s.pt", "other").load(messages.append) is None
    assert messages == [
        "config changed since the saved state: starting from scratch (the old state is kept as s.pt.stale)"
    ]
    # set aside, never overwritten: a fingerprint that changed by mistake costs no training
    assert not (tmp_path / "s.pt").exists() and torch.load(tmp_path / "s.pt.stale")["step"] == 7
    assert ResumeState(tmp_path / "missing.pt", "abc").load(messages.append) is None


def test_a_config_key_added_later_leaves_fingerprints_alone_at_its_default():
    from pneumogan.config import GAN_SECTIONS, LATE_KEYS, config_hash, fingerprint_sections, load_config

    base = load_config("tiny")
    assert ("data", "repeat_train") in LATE_KEYS and "repeat_train" not in fingerprint_sections(base)["data"]
    repeated = load_config("tiny", ["data.repeat_train={NORMAL: 5}"])
    assert fingerprint_sections(repeated)["data"]["repeat_train"] == {"NORMAL": 5}
    assert config_hash(base, GAN_SECTIONS) != config_hash(repeated, GAN_SECTIONS)


def test_resume_fingerprints_ignore_sections_a_job_does_not_read():
    from pneumogan.config import CLASSIFY_SECTIONS, GAN_SECTIONS, SSL_SECTIONS, config_hash, load_config

    base = load_config("tiny")
    new_classifier_option = load_config("tiny", ["classify.warmup_epochs=3"])
    new_gan_option = load_config("tiny", ["gan.lr_g=0.001"])
    assert config_hash(base, SSL_SECTIONS) == config_hash(new_classifier_option, SSL_SECTIONS)
    assert config_hash(base, GAN_SECTIONS) == config_hash(new_classifier_option, GAN_SECTIONS)
    assert config_hash(base, CLASSIFY_SECTIONS) != config_hash(new_classifier_option, CLASSIFY_SECTIONS)
    assert config_hash(base, GAN_SECTIONS) != config_hash(new_gan_option, GAN_SECTIONS)
    assert config_hash(base) != config_hash(new_gan_option)  # the whole config when no sections are named
    assert config_hash(base, SSL_SECTIONS) != config_hash(load_config("tiny", ["data.size=40"]), SSL_SECTIONS)


# ---------------------------------------------------------------- progress.py


def test_track_yields_every_item_and_is_silent_off_a_terminal(capsys):
    from pneumogan.progress import Status, track

    status = Status()
    items = []
    for i in track(range(5), 5, "work", status):
        status.text = f"item {i}"
        items.append(i)
    assert items == [0, 1, 2, 3, 4] and status.text == "item 4"
    assert capsys.readouterr().err == ""  # pytest's stderr is not a terminal: no bar drawn
    assert list(track(iter("ab"), enabled=False)) == ["a", "b"]


def test_track_off_a_terminal_writes_a_line_per_interval(capsys, monkeypatch):
    from pneumogan.progress import Status, heartbeat, track

    ticks = iter(range(0, 1000, 25))  # the clock advances 25 s per call: the start, then once per item
    status = Status()
    for i in heartbeat(range(10), 10, "gan 64px", status, every_s=60, clock=lambda: next(ticks)):
        status.text = f"D {i}"
    lines = capsys.readouterr().err.splitlines()
    # items end at 25, 50, 75 (≥ 60 after the start: a line), 100, 125, 150 (≥ 60 after 75), 175, 200, 225, 250
    assert lines == [
        "gan 64px: 3/10 (30 %) | 0.04 it/s | elapsed 1:15 | left 2:55 | D 2",
        "gan 64px: 6/10 (60 %) | 0.04 it/s | elapsed 2:30 | left 1:40 | D 5",
        "gan 64px: 9/10 (90 %) | 0.04 it/s | elapsed 3:45 | left 0:25 | D 8",
    ]
    ticks = iter(range(0, 1000, 25))
    assert list(heartbeat(range(4), None, "x", None, every_s=0, clock=lambda: next(ticks))) == [0, 1, 2, 3]
    assert capsys.readouterr().err == ""  # 0 s: off
    monkeypatch.setenv("PNEUMOGAN_PROGRESS_EVERY_S", "soon")
    with pytest.raises(ValueError, match="PNEUMOGAN_PROGRESS_EVERY_S"):
        list(track(range(2), 2, "x"))


# ---------------------------------------------------------------- evaluate/plots.py


@pytest.mark.parametrize("name", ["curves", "roc", "pr", "confusion", "reliability"])
def test_plots_write_readable_pngs(name, tmp_path):
    from pneumogan.evaluate import plots

    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.6).astype(int)
    p = np.clip(0.6 * y + 0.4 * rng.random(200), 0, 1)
    history = [
        {
            "epoch": e,
            "train_loss": 1 / (e + 1),
            "val_loss": 1.2 / (e + 1),
            "train_acc": 0.7,
            "val_acc": 0.75,
            "val_auc": 0.8 + e / 100,
        }
        for e in range(4)
    ]
    path = tmp_path / f"{name}.png"
    {
        "curves": lambda: plots.plot_training_curves(history, path),
        "roc": lambda: plots.plot_roc(y, p, path, threshold=0.5, label="m"),
        "pr": lambda: plots.plot_pr(y, p, path),
        "confusion": lambda: plots.plot_confusion([[50, 30], [10, 110]], ["NORMAL", "PNEUMONIA"], path),
        "reliability": lambda: plots.plot_reliability(y, p, path),
    }[name]()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 300
        assert np.asarray(im.convert("L")).std() > 10  # something was drawn


# ---------------------------------------------------------------- gan/losses.py


def test_adversarial_losses_have_the_textbook_values():
    from pneumogan.gan.losses import d_loss, g_loss, r1_penalty

    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # hinge: mean(relu(1 − real)) + mean(relu(1 + fake)) = 0.25 + 0.5
    assert float(d_loss(real, fake, "hinge")) == pytest.approx(0.75)
    assert float(g_loss(fake, "hinge")) == pytest.approx(1.0)
    softplus = torch.nn.functional.softplus
    expected = float(softplus(-real).mean() + softplus(fake).mean())
    assert float(d_loss(real, fake, "nonsaturating")) == pytest.approx(expected)
    assert float(g_loss(fake, "nonsaturating")) == pytest.approx(float(softplus(-fake).mean()))
    # R1 of D(x) = 3·Σx: the gradient is 3 everywhere, so ‖∇‖² = 9 × number of pixels
    x = torch.rand(2, 1, 4, 4, requires_grad=True)
    assert float(r1_penalty(3 * x.sum(dim=(1, 2, 3)), x)) == pytest.approx(9 * 16)


def test_adversarial_loss_object_adds_the_acgan_class_term_and_r1():
    from pneumogan.config import GanConfig
    from pneumogan.gan.losses import AdversarialLoss, Batch
    from pneumogan.gan.models import build

    torch.manual_seed(0)
    g, d = build("acgan", 28, 2, 16, 8, 8, True)
    g.eval(), d.eval()  # no spectral-norm power iteration between calls: the same D in every phase
    batch = Batch(
        real=torch.rand(4, 1, 28, 28) * 2 - 1,
        y_real=torch.tensor([0, 1, 0, 1]),
        y_fake=torch.tensor([1, 0, 1, 0]),
        z=torch.randn(4, 16),
        rng=torch.Generator().manual_seed(0),
    )
    cpu = torch.device("cpu")
    plain = AdversarialLoss(g, d, GanConfig(family="acgan", aux_weight=0.0, diffaugment=""), [], cpu)
    with_aux = AdversarialLoss(g, d, GanConfig(family="acgan", aux_weight=1.0, diffaugment=""), [], cpu)
    a, b = plain.discriminator(batch, with_r1=False), with_aux.discriminator(batch, with_r1=False)
    assert float(b["aux"]) > 0
    assert float(b["loss"]) == pytest.approx(float(a["loss"] + b["aux"]), rel=1e-5)
    r1 = AdversarialLoss(g, d, GanConfig(family="acgan", r1_gamma=2.0, r1_every=4, diffaugment=""), [], cpu)
    c = r1.discriminator(batch, with_r1=True)
    assert float(c["r1"]) > 0 and float(c["loss"]) == pytest.approx(
        float(b["loss"] + 0.5 * 2.0 * 4 * c["r1"]), rel=1e-4
    )


# ---------------------------------------------------------------- data/loading.py and explain/files.py


@pytest.mark.realdata
def test_load_splits_fractions_synthetic_only_and_fingerprints(kaggle_224):
    from pneumogan.config import load_config
    from pneumogan.data.loading import load_splits
    from pneumogan.errors import PneumoganError

    full = load_splits(load_config("tiny", [f"data.source={kaggle_224}"]))
    half = load_splits(load_config("tiny", [f"data.source={kaggle_224}", "data.train_fraction=0.5"]))
    assert len(half.train) == pytest.approx(len(full.train) / 2, abs=2)
    assert np.array_equal(half.test.paths, full.test.paths) and np.array_equal(half.val.paths, full.val.paths)
    assert half.fingerprint != full.fingerprint  # the training mix is part of the fingerprint
    assert set(half.train.paths) <= set(full.train.paths)
    for split in ("val", "test"):  # no patient in two splits
        assert not set(full.train.patient_ids) & set(full.get(split).patient_ids)
    with pytest.raises(PneumoganError, match="no training data"):
        load_splits(load_config("tiny", [f"data.source={kaggle_224}", "data.train_real=false"]))
    with pytest.raises(PneumoganError, match="unknown split"):
        full.get("holdout")


@pytest.mark.realdata
def test_explain_files_writes_overlays_and_lists_unreadable_files(tiny_checkpoint, test_xrays, tmp_path):
    from pneumogan.explain.files import explain_files

    (tmp_path / "notes.png").write_text("not an image")
    res = explain_files(tiny_checkpoint, [*test_xrays[:2], tmp_path / "notes.png"], tmp_path / "cams")
    rows = (tmp_path / "cams" / "predictions.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 and "cam_in_thorax" in rows[0]
    pngs = sorted((tmp_path / "cams").glob("*_gradcam.png"))
    assert len(pngs) == 2
    with Image.open(pngs[0]) as im:
        assert im.size == (2 * 256 + 8, 256)  # input | gap | overlay, at the display size
    assert [b["reason"] for b in res["bad"]] == ["not an image"]


def test_focal_loss_is_cross_entropy_at_gamma_zero_and_spares_easy_images():
    import torch

    from pneumogan.classify.train import per_sample_loss
    from pneumogan.config import ClassifyConfig

    logits = torch.tensor([[4.0, -4.0], [0.2, -0.2], [-1.0, 1.0]])  # confident right, unsure, wrong
    y, w = torch.tensor([0, 0, 0]), torch.ones(2)
    ce = per_sample_loss(logits, y, w, ClassifyConfig())
    assert torch.allclose(per_sample_loss(logits, y, w, ClassifyConfig(loss="focal", focal_gamma=0.0)), ce)
    focal = per_sample_loss(logits, y, w, ClassifyConfig(loss="focal", focal_gamma=2.0))
    ratio = focal / ce
    assert torch.all(focal <= ce) and ratio[0] < 1e-6 < ratio[1] < ratio[2] < 1


def test_warmup_ramps_the_learning_rate_before_the_schedule():
    from pneumogan.classify.train import _lr_factor
    from pneumogan.config import load_config

    cfg = load_config("tiny", ["classify.epochs=10", "classify.warmup_epochs=4", "classify.schedule=none"])
    assert [_lr_factor(cfg, e) for e in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    # within an epoch it ramps by step: one warm-up epoch starts low instead of being no warm-up at all
    one = load_config("tiny", ["classify.epochs=10", "classify.warmup_epochs=1", "classify.schedule=none"])
    assert [_lr_factor(one, 0, p) for p in (0.1, 0.5, 1.0)] == [0.1, 0.5, 1.0]
    assert _lr_factor(one, 1, 0.1) == 1.0
    cosine = load_config("tiny", ["classify.epochs=10", "classify.warmup_epochs=2"])
    assert _lr_factor(cosine, 0) == 0.5 * 0.5 * (1 + np.cos(0)) and _lr_factor(cosine, 5) < 1


# ---------------------------------------------------------------- classify/train.py: per-image loss weights


def test_a_zero_weight_image_does_not_move_the_weights():
    """train_step with weights [1, 0] is the step on the first image alone (the synthetic_weight mechanism)."""
    from types import SimpleNamespace

    from pneumogan.classify.models import build
    from pneumogan.classify.train import train_step
    from pneumogan.config import ClassifyConfig
    from pneumogan.distributed import Dist

    torch.manual_seed(0)
    x, y = torch.randn(2, 1, 32, 32), torch.tensor([1, 0])

    def step(batch_x, batch_y, weights):
        model = build("simple_cnn", 2)
        model.load_state_dict(base.state_dict())
        model.eval()  # batch norm without batch statistics: the two batches see the same normalisation
        run = SimpleNamespace(
            cfg=SimpleNamespace(classify=ClassifyConfig(channels_last=False)),
            device=torch.device("cpu"),
            class_weights=torch.tensor([1.0, 2.0]),
            class_weights_cpu=torch.tensor([1.0, 2.0]),
            precision="fp32",
            dist=Dist(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            ema=None,
        )
        loss_sum, weight_sum, _, _ = train_step(run, model, batch_x, batch_y, weights)
        return model, float(loss_sum), weight_sum

    base = build("simple_cnn", 2)
    alone, loss_alone, w_alone = step(x[:1], y[:1], None)
    masked, loss_masked, w_masked = step(x, y, torch.tensor([1.0, 0.0]))
    both, _, _ = step(x, y, None)
    assert w_masked == w_alone == 2.0 and loss_masked == pytest.approx(loss_alone, rel=1e-5)
    for a, b in zip(alone.parameters(), masked.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert any(not torch.allclose(a, c, atol=1e-6) for a, c in zip(alone.parameters(), both.parameters(), strict=True))
