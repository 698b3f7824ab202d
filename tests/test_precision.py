"""Precision that is never a trap: `auto` picks bf16 only where the CPU reports bf16 instructions and a measured
step confirms it is faster; an explicit bf16 where it is slow runs with a warning; old `amp` keys still load;
training and inference work in each precision."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from pneumogan.device import autocast, cpu_bf16_speedup, resolve_precision, resumed_precision
from pneumogan.errors import PneumoganError

CPU = torch.device("cpu")


def _never() -> float:
    raise AssertionError("the speed probe must not run here")


def test_auto_is_fp32_on_a_cpu_without_bf16_instructions():
    assert resolve_precision("auto", CPU, speedup=_never, reports_bf16=lambda: False) == "fp32"


@pytest.mark.parametrize("speedup, expected", [(3.0, "bf16"), (1.02, "fp32"), (0.1, "fp32")])
def test_auto_on_a_bf16_cpu_follows_the_measured_speed(speedup, expected):
    assert resolve_precision("auto", CPU, speedup=lambda: speedup, reports_bf16=lambda: True) == expected


@pytest.mark.parametrize(
    "kept, resolved, setting, fast_bf16, expected",
    [
        ("bf16", "fp32", "auto", False, "fp32"),  # trained on an AMX Xeon, resumed on an AVX2-only CPU
        ("bf16", "fp32", "auto", True, "bf16"),  # same kind of CPU, the probe wavered: stay bit-identical
        ("bf16", "fp32", "bf16", False, "bf16"),  # asked for explicitly
        ("fp32", "bf16", "auto", True, "fp32"),  # fp32 is never slow: keep it
    ],
)
def test_a_resumed_training_keeps_its_precision_unless_it_would_be_slow_here(
    kept, resolved, setting, fast_bf16, expected
):
    messages: list[str] = []
    got = resumed_precision(kept, resolved, setting, CPU, messages.append, reports_bf16=lambda: fast_bf16)
    assert got == expected
    assert bool(messages) == (got != kept)
    if messages:
        assert "not bit-identical" in messages[0]


@pytest.mark.parametrize(
    "kept, resolved, setting, trained_on, expected",
    [
        ("fp32", "bf16", "auto", "AMD EPYC [avx2]", "bf16"),  # from an AVX2-only CPU onto an AMX Xeon: go fast
        ("fp32", "bf16", "auto", None, "fp32"),  # a state that does not name its CPU: stay bit-identical
        ("fp32", "bf16", "fp32", "AMD EPYC [avx2]", "fp32"),  # asked for explicitly
        ("fp32", "bf16", "auto", "HERE", "fp32"),  # same kind of CPU: stay bit-identical
    ],
)
def test_a_state_trained_on_another_kind_of_cpu_continues_in_what_auto_picks_here(
    kept, resolved, setting, trained_on, expected
):
    from pneumogan.device import cpu_kind

    messages: list[str] = []
    trained_on = cpu_kind() if trained_on == "HERE" else trained_on
    got = resumed_precision(kept, resolved, setting, CPU, messages.append, lambda: True, trained_on=trained_on)
    assert got == expected
    assert bool(messages) == (got != kept)
    if messages:
        assert "another CPU" in messages[0] and "not bit-identical" in messages[0]


def test_explicit_bf16_is_honoured_with_a_warning_that_says_how_much_slower():
    messages: list[str] = []
    with pytest.warns(RuntimeWarning, match=r"10\.0× slower than fp32"):
        got = resolve_precision("bf16", CPU, messages.append, speedup=lambda: 0.1, reports_bf16=lambda: False)
    assert got == "bf16" and "auto would pick fp32" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fast bf16: no warning
        assert resolve_precision("bf16", CPU, speedup=lambda: 3.0, reports_bf16=lambda: True) == "bf16"


def test_fp32_never_probes_and_bad_settings_are_clear_errors():
    assert resolve_precision("fp32", CPU, speedup=_never, reports_bf16=_never) == "fp32"
    with pytest.raises(PneumoganError, match="fp16 is for CUDA"):
        resolve_precision("fp16", CPU)
    with pytest.raises(PneumoganError, match="unknown precision"):
        resolve_precision("fp8", CPU)


def test_speed_probe_runs_once_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMOGAN_CACHE_DIR", str(tmp_path))
    calls: list[object] = []

    def probe(dtype):
        calls.append(dtype)
        return 1.0 if dtype is None else 0.25

    assert cpu_bf16_speedup(probe) == pytest.approx(4.0) and len(calls) == 2
    assert cpu_bf16_speedup(probe) == pytest.approx(4.0) and len(calls) == 2  # cached
    assert list(json.loads((tmp_path / "precision.json").read_text()).values()) == [4.0]


def test_probe_leaves_the_global_random_state_alone():
    from pneumogan.device import probe_step_seconds

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    probe_step_seconds(None, repeats=1)
    assert torch.equal(torch.rand(3), expected)


def test_probe_runs_when_first_asked_from_inference_code():
    """`predict`/`serve` resolve `auto` under no_grad: the probe (a training step) must still run there."""
    from pneumogan.device import probe_step_seconds

    with torch.no_grad():
        assert probe_step_seconds(None, repeats=1) > 0


def test_old_amp_keys_load_as_precision():
    from pneumogan.config import Config, load_config

    with pytest.warns(FutureWarning, match="amp"):
        cfg = load_config(None, ["classify.amp=false", "gan.amp=true"])
    assert cfg.classify.precision == "fp32" and cfg.gan.precision == "auto"
    old_meta_config = Config().model_dump(mode="json")
    old_meta_config["classify"].pop("precision")
    old_meta_config["classify"]["amp"] = True  # as in checkpoints written before the precision setting
    with pytest.warns(FutureWarning):
        assert Config.model_validate(old_meta_config).classify.precision == "auto"


def test_inference_in_bf16_is_close_to_fp32():
    from pneumogan.classify import models
    from pneumogan.classify.inference import predict_proba

    torch.manual_seed(0)
    model = models.build("simple_cnn", 2, image_size=16).eval()
    images = np.random.default_rng(0).integers(0, 255, (4, 16, 16), dtype=np.uint8)
    p32 = predict_proba(model, images, 0.5, 0.5, CPU, precision="fp32")
    p16 = predict_proba(model, images, 0.5, 0.5, CPU, precision="bf16")
    assert p16.dtype == np.float32 and np.allclose(p32, p16, atol=0.05)
    with autocast(CPU, "fp32"):
        assert model.features[0](torch.zeros(1, 1, 16, 16)).dtype == torch.float32


@pytest.mark.realdata
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_classifier_trains_in_each_precision_and_records_it(precision, kaggle_224, tmp_path):
    from pneumogan.classify.train import train
    from pneumogan.config import load_config

    cfg = load_config(
        "tiny",
        [f"data.source={kaggle_224}", "data.size=16", "classify.epochs=1", f"classify.precision={precision}"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bf16 on a CPU without it: warned, still run
        out = train(cfg, tmp_path / "m", log=lambda *_: None)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["precision"] == precision and meta["config"]["classify"]["precision"] == precision
    assert meta["train_images_per_s"] > 0 and np.isfinite(meta["val_metrics"]["roc_auc"])
    state = torch.load(out / "last_state.pt", weights_only=True)
    assert state["precision"] == precision and all(
        v.dtype == torch.float32 for v in state["model"].values() if v.is_floating_point()
    )


def test_gan_loss_in_bf16_is_finite_and_its_gradients_fp32():
    from pneumogan.config import GanConfig
    from pneumogan.gan.losses import AdversarialLoss, Batch
    from pneumogan.gan.models import build

    torch.manual_seed(0)
    g, d = build("cgan", 28, 2, 16, 8, 8, True)
    batch = Batch(
        torch.rand(4, 1, 28, 28) * 2 - 1,
        torch.tensor([0, 1, 0, 1]),
        torch.tensor([1, 0, 1, 0]),
        torch.randn(4, 16),
        torch.Generator().manual_seed(0),
    )
    loss = AdversarialLoss(g, d, GanConfig(family="cgan", r1_gamma=1.0), ["translation"], CPU, "bf16")
    out = loss.discriminator(batch, with_r1=True)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and float(out["r1"]) > 0
    grads = [p.grad for p in d.parameters() if p.grad is not None]
    assert grads and all(gr.dtype == torch.float32 and torch.isfinite(gr).all() for gr in grads)
    g_loss = loss.generator(batch, torch.randn(4, 16))
    assert torch.isfinite(g_loss)
