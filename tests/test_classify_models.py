from __future__ import annotations

import pytest
import torch

from pneumogan.classify import models
from pneumogan.classify.pretrained import fold_first_conv, load_imagenet_weights
from pneumogan.errors import PneumoganError

SMALL = ["simple_cnn", "resnet18", "densenet121"]


@pytest.mark.parametrize("name", models.names())
@pytest.mark.parametrize("num_classes", [2, 3])
def test_build_shapes_at_minimum_size(name, num_classes):
    size = models.info(name).min_size
    model = models.build(name, num_classes).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, size, size)).shape == (2, num_classes)


@pytest.mark.parametrize("name", SMALL)
def test_larger_inputs(name):
    with torch.no_grad():
        assert models.build(name).eval()(torch.randn(1, 1, 96, 96)).shape == (1, 2)


def test_unknown_and_too_small():
    with pytest.raises(PneumoganError, match="choose one of"):
        models.build("alexnet")
    with pytest.raises(PneumoganError, match="at least 32 px"):
        models.build("resnet18", image_size=28)


def to_torchvision(name: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our keys → torchvision's (the inverse of the loader's mapping), written independently for the test."""
    if not name.startswith("densenet"):
        return dict(state)
    out = {}
    for key, value in state.items():
        key = key.replace(".layers.", ".")
        key = key.replace("class_layers.out.", "classifier.")
        out[key] = value
    return out


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "vgg16_bn"])
def test_imagenet_loading_from_local_hub_cache(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch" / "hub"))
    arch = models.info(name)
    # A fake ImageNet file in torchvision format: RGB first conv, 1000-class head, distinctive values.
    donor = models.build(name, num_classes=1000, in_channels=3)
    torch.manual_seed(1)
    state = {k: (torch.randn_like(v) if v.is_floating_point() else v) for k, v in donor.state_dict().items()}
    tv_state = {k: v for k, v in to_torchvision(name, state).items() if not k.endswith("num_batches_tracked")}
    if name.startswith("densenet"):  # old torchvision files spell norm.1 / conv.2
        tv_state = {k.replace("norm1", "norm.1").replace("conv2", "conv.2"): v for k, v in tv_state.items()}
    ckpt = tmp_path / "torch" / "hub" / "checkpoints" / arch.pretrained_file
    ckpt.parent.mkdir(parents=True)
    torch.save(tv_state, ckpt)

    model = models.build(name, num_classes=2, in_channels=1)
    head_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(arch.head)}
    load_imagenet_weights(model, name, arch, in_channels=1)
    loaded = model.state_dict()
    assert torch.allclose(loaded[arch.first_conv], state[arch.first_conv].sum(1, keepdim=True))
    for key, value in state.items():
        if not key.startswith(arch.head) and key != arch.first_conv and value.is_floating_point():
            assert torch.equal(loaded[key], value), key
    for key, value in head_before.items():
        assert torch.equal(loaded[key], value)  # the new head keeps its own initialisation


def test_offline_without_cache_names_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr("pneumogan.classify.pretrained.URL_BASE", "http://127.0.0.1:9/")
    with pytest.raises(PneumoganError) as info:
        models.build("resnet18", pretrained=True)
    msg = str(info.value)
    assert "resnet18-f37072fd.pth" in msg and str(tmp_path / "hub" / "checkpoints") in msg


def test_fold_first_conv_preserves_gray_response():
    w = torch.randn(8, 3, 3, 3)
    x = torch.rand(1, 1, 9, 9)
    rgb = torch.nn.functional.conv2d(x.repeat(1, 3, 1, 1), w)
    gray = torch.nn.functional.conv2d(x, fold_first_conv(w, 1))
    assert torch.allclose(rgb, gray, atol=1e-5)


def test_two_stage_fine_tuning_freezes_then_unfreezes_last_blocks():
    from pneumogan.classify.train import _set_stage
    from pneumogan.config import load_config

    cfg = load_config(None, ["classify.arch=resnet18", "classify.stage1_epochs=2", "classify.epochs=4"])
    model = models.build("resnet18")
    arch = models.info("resnet18")

    def trainable():
        return {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}

    assert _set_stage(model, arch, 0, cfg) == "head" and trainable() == {"fc"}
    assert _set_stage(model, arch, 1, cfg) == "head"
    assert _set_stage(model, arch, 2, cfg) == "last_blocks" and trainable() == {"fc", "layer4"}
    no_stage = load_config(None, ["classify.arch=resnet18"])
    assert _set_stage(model, arch, 0, no_stage) == "all" and all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name", models.names())
def test_fine_tuning_prefixes_name_real_parameters(name):
    params = [n for n, _ in models.build(name).named_parameters()]
    arch = models.info(name)
    assert any(n.startswith(arch.head) for n in params)
    last = [n for n in params if n.startswith(arch.last_blocks) and not n.startswith(arch.head)]
    assert last, "the last blocks must exist to be unfrozen"
    assert arch.first_conv in dict(models.build(name).named_parameters())


@pytest.mark.parametrize("name", ["simple_cnn", "resnet18"])
def test_blank_border_hides_the_border_and_keeps_weight_names(name):
    torch.manual_seed(0)
    plain = models.build(name, 2)
    blanked = models.build(name, 2, blank_border=0.125)
    assert list(blanked.state_dict()) == list(plain.state_dict())
    blanked.load_state_dict(plain.state_dict())
    plain.eval(), blanked.eval()
    x = torch.randn(2, 1, 64, 64)
    edited_border, edited_centre = x.clone(), x.clone()
    edited_border[..., :8, :] += 3.0  # rows 0–7: inside the blanked 12.5 % border
    edited_border[..., :, -8:] -= 3.0
    edited_centre[..., 30:34, 30:34] += 3.0
    with torch.no_grad():
        assert torch.equal(blanked(x), blanked(edited_border))  # the border cannot change the output
        assert not torch.allclose(blanked(x), blanked(edited_centre))
        assert not torch.allclose(plain(x), plain(edited_border))
        centre_only = x.clone()
        centre_only[..., :8, :] = 0
        centre_only[..., -8:, :] = 0
        centre_only[..., :, :8] = 0
        centre_only[..., :, -8:] = 0
        assert torch.allclose(blanked(x), plain(centre_only))  # blanking = zeros (the mean) outside the box
    with pytest.raises(PneumoganError, match="blank_border"):
        models.build(name, 2, blank_border=0.5)


@pytest.mark.parametrize("name", ["simple_cnn", "resnet18"])
def test_standardised_input_ignores_each_images_exposure_and_keeps_weight_names(name):
    torch.manual_seed(0)
    plain = models.build(name, 2)
    standardised = models.build(name, 2, standardise_input=True)
    assert list(standardised.state_dict()) == list(plain.state_dict())
    standardised.load_state_dict(plain.state_dict())
    plain.eval(), standardised.eval()
    x = torch.rand(3, 1, 64, 64)
    gain = torch.tensor([0.5, 1.0, 3.0]).view(3, 1, 1, 1)
    offset = torch.tensor([0.2, -1.0, 0.0]).view(3, 1, 1, 1)
    exposed = x * gain + offset  # a different brightness and contrast for each image
    with torch.no_grad():
        assert torch.allclose(standardised(x), standardised(exposed), atol=1e-4)
        assert not torch.allclose(plain(x), plain(exposed), atol=1e-3)
        z = (x - x.mean(dim=(-2, -1), keepdim=True)) / x.std(dim=(-2, -1), keepdim=True, unbiased=False)
        assert torch.allclose(standardised(x), plain(z), atol=1e-4)  # it is exactly per-image standardisation


@pytest.mark.parametrize("bf16_cpu", [False, True])
def test_memory_format_auto_follows_the_architecture_and_the_cpu_and_explicit_settings_win(bf16_cpu, monkeypatch):
    from pneumogan.classify.models import use_channels_last

    monkeypatch.setattr(models, "cpu_reports_bf16", lambda: bf16_cpu)
    cpu = torch.device("cpu")
    assert use_channels_last("simple_cnn", "auto", cpu) and use_channels_last("resnet18", "auto", cpu)
    # densenet121: NCHW measured faster on an AVX2-only CPU, NHWC on one with AMX / AVX512-BF16
    assert use_channels_last("densenet121", "auto", cpu) is bf16_cpu
    assert not use_channels_last("densenet121", "auto")  # no device named: the architecture's own choice
    assert use_channels_last("densenet121", True, cpu) and not use_channels_last("simple_cnn", False, cpu)
