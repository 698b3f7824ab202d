"""The diffusion family: its noise schedule, the loss falling on a toy batch, conditioning that changes the
class, deterministic sampling per seed, exact resume, and synthetic sets in the GANs' manifest format."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from pneumogan.config import load_config
from pneumogan.diffusion.model import (
    DiffusionSampler,
    build_unet,
    noise_scheduler,
    schedule_config,
    unet_config,
)
from pneumogan.gan.checkpoint import load_generator
from pneumogan.gan.sample import sample_set

QUIET = {"log": lambda *_: None}


def test_cosine_schedule_runs_from_signal_to_noise_and_adds_noise_as_written():
    noise = noise_scheduler(schedule_config(1000, "squaredcos_cap_v2", "v_prediction"))
    abar = noise.alphas_cumprod
    assert abar[0] > 0.999 and abar[-1] < 1e-3 and bool((abar[1:] < abar[:-1]).all())
    x0, eps, t = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8), torch.tensor([0, 10, 500, 999])
    a = abar[t].view(-1, 1, 1, 1)
    assert torch.allclose(noise.add_noise(x0, eps, t), a.sqrt() * x0 + (1 - a).sqrt() * eps, atol=1e-6)
    assert torch.allclose(noise.get_velocity(x0, eps, t), a.sqrt() * eps - (1 - a).sqrt() * x0, atol=1e-6)


def tiny_unet(classes: int = 2) -> torch.nn.Module:
    return build_unet(unet_config(8, classes, (16, 32), 1, attention=False))


def toy_training(steps: int, seed: int = 0) -> tuple[torch.nn.Module, list[float], dict]:
    """Class 0 is a dark square, class 1 a bright one (8 px): a problem only conditioning can solve."""
    torch.manual_seed(seed)
    schedule = schedule_config(100, "squaredcos_cap_v2", "epsilon")
    noise, unet = noise_scheduler(schedule), tiny_unet()
    opt = torch.optim.AdamW(unet.parameters(), 3e-3)
    y = torch.arange(32) % 2
    x0 = torch.where(y.view(-1, 1, 1, 1) == 1, 0.8, -0.8) * torch.ones(32, 1, 8, 8)
    losses = []
    for _ in range(steps):
        eps, t = torch.randn_like(x0), torch.randint(0, 100, (32,))
        drop = torch.rand(32) < 0.1
        labels = torch.where(drop, torch.full_like(y, 2), y)
        loss = F.mse_loss(unet(noise.add_noise(x0, eps, t), t, class_labels=labels).sample, eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return unet.eval(), losses, schedule


@pytest.fixture(scope="module")
def toy():
    return toy_training(150)


def test_loss_falls_on_a_toy_batch(toy):
    _, losses, _ = toy
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:10])


@pytest.mark.parametrize("sampler", ["dpm_solver", "ddim"])
def test_the_class_decides_what_is_sampled(toy, sampler):
    unet, _, schedule = toy
    z = torch.randn(8, 64, generator=torch.Generator().manual_seed(1))
    zeros, ones = torch.zeros(8, dtype=torch.long), torch.ones(8, dtype=torch.long)
    gap = {}
    for w in (1.0, 2.0):
        gen = DiffusionSampler(unet, 8, 2, schedule, sampler=sampler, steps=10, guidance=w)
        dark, bright = gen(z, zeros), gen(z, ones)  # the same starting noise, opposite classes
        gap[w] = float(bright.mean() - dark.mean())
        assert torch.equal(dark, gen(z, zeros))  # deterministic for a latent
    # 150 steps leave the toy model rough (means about ±0.2 to ±0.6), but the class moves every image the
    # right way (0.45-0.54 apart without guidance here) and guidance moves them further (0.88-0.96)
    assert gap[1.0] > 0.3 and gap[2.0] > gap[1.0] + 0.2


def diffusion_cfg(source, cache, steps: int = 4):
    return load_config(
        None,
        [
            f"data.source={source}",
            f"data.cache_dir={cache}",
            "data.size=16",
            "data.subset=0.03",
            "diffusion.channels=[16, 32]",
            f"diffusion.steps={steps}",
            "diffusion.batch_size=8",
            "diffusion.sample_every=2",
            "diffusion.checkpoint_every=2",
            "diffusion.grid_per_class=2",
            "diffusion.sample_steps=3",
            "diffusion.precision=fp32",
        ],
    )


@pytest.mark.realdata
def test_resume_continues_exactly(kaggle_224, shared_prepared, tmp_path):
    from pneumogan.diffusion.train import train_diffusion

    cfg = diffusion_cfg(kaggle_224, shared_prepared)
    full = train_diffusion(cfg, tmp_path / "full", **QUIET)

    class Stop(Exception):
        pass

    def stop(step):
        if step == 2:
            raise Stop

    with pytest.raises(Stop):
        train_diffusion(cfg, tmp_path / "cut", on_checkpoint=stop, **QUIET)
    messages: list[str] = []
    train_diffusion(cfg, tmp_path / "cut", log=messages.append)
    assert any("resuming diffusion training at step 2" in m for m in messages)
    a = torch.load(full / "train_state.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "train_state.pt", weights_only=True)
    for part in ("unet", "ema"):
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), (part, key)
    meta = json.loads((full / "meta.json").read_text())
    assert meta["kind"] == "diffusion" and meta["class_names"] == ["NORMAL", "PNEUMONIA"]
    assert meta["preprocessing"] == {"size": 16, "fit": "squeeze"} and (full / "grids" / "step_000004.png").is_file()


@pytest.mark.realdata
def test_a_sampled_set_has_the_gan_manifest_and_repeats_per_seed(kaggle_224, shared_prepared, tmp_path):
    from pneumogan.data.sources import open_source
    from pneumogan.diffusion.train import train_diffusion

    folder = train_diffusion(diffusion_cfg(kaggle_224, shared_prepared, steps=2), tmp_path / "d", **QUIET)
    g, meta = load_generator(folder)
    assert isinstance(g, DiffusionSampler) and g.z_dim == 16 * 16 and meta["model"]["family"] == "diffusion"
    sample_set(folder, 3, tmp_path / "a", seed=5)
    sample_set(folder, 3, tmp_path / "b", seed=5)
    sample_set(folder, 3, tmp_path / "c", seed=6)
    rows = list(csv.DictReader((tmp_path / "a" / "manifest.csv").open()))
    gan_fields = ["file", "class", "latent_seed", "generator", "truncation"]
    assert list(rows[0]) == gan_fields and len(rows) == 6
    for r in rows:
        assert (tmp_path / "a" / r["file"]).read_bytes() == (tmp_path / "b" / r["file"]).read_bytes()
    assert (tmp_path / "a" / rows[0]["file"]).read_bytes() != (tmp_path / "c" / rows[0]["file"]).read_bytes()
    assert {r.provenance for r in open_source(tmp_path / "a").records()} == {"synthetic"}
