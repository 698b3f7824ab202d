"""GAN families, training, resume, sampling and metric sanity on small subsets of the real data."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from pneumogan.config import load_config
from pneumogan.data.sources import open_source
from pneumogan.evaluate.gan_metrics import FeatureExtractor, frechet_distance, near_copies
from pneumogan.gan.augment import diff_augment
from pneumogan.gan.checkpoint import load_generator
from pneumogan.gan.data import training_images
from pneumogan.gan.models import build
from pneumogan.gan.sample import sample_set
from pneumogan.gan.train import train_gan

pytestmark = pytest.mark.realdata
QUIET = {"log": lambda *_: None}


def gan_cfg(source, cache, family: str, size: int, steps: int = 3, **extra):
    overrides = [
        f"data.source={source}",
        f"data.cache_dir={cache}",
        f"data.size={size}",
        "data.subset=0.03",
        f"gan.family={family}",
        f"gan.steps={steps}",
        "gan.batch_size=8",
        "gan.z_dim=16",
        "gan.g_channels=8",
        "gan.d_channels=8",
        "gan.sample_every=2",
        "gan.checkpoint_every=2",
        "gan.grid_per_class=2",
        *[f"gan.{k}={v}" for k, v in extra.items()],
    ]
    return load_config(None, overrides)


@pytest.fixture(scope="module")
def cache(shared_prepared):
    return shared_prepared


@pytest.mark.parametrize(
    "family, size",
    [(f, s) for f in ("dcgan", "cgan", "acgan") for s in (28, 64)] + [("fastgan", 32), ("fastgan", 64)],
)
def test_each_family_trains_with_finite_losses(family, size, kaggle_224, cache, tmp_path):
    extra = {"r1_gamma": 1.0, "r1_every": 2, "loss": "nonsaturating"} if family == "cgan" else {}
    out = train_gan(gan_cfg(kaggle_224, cache, family, size, **extra), tmp_path, **QUIET)
    history = json.loads((out / "history.json").read_text())
    assert history and all(np.isfinite(h["d_loss"]) and np.isfinite(h["g_loss"]) for h in history)
    assert all("events" in h for h in history)  # monitor warnings are recorded per history row
    assert all((h["recon"] > 0) == (family == "fastgan") for h in history)  # D's self-supervised loss
    g, meta = load_generator(out)
    assert meta["class_names"] == (["PNEUMONIA"] if family == "dcgan" else ["NORMAL", "PNEUMONIA"])
    assert meta["preprocessing"] == {"size": size, "fit": "squeeze"}  # the geometry of its training images
    assert (out / "grids" / "step_000002.png").is_file()
    with torch.no_grad():
        y = None if family == "dcgan" else torch.tensor([0, 1])
        assert g(torch.randn(2, 16), y).shape == (2, 1, size, size)


def test_three_class_conditioning(kaggle_224, cache, tmp_path):
    cfg = gan_cfg(kaggle_224, cache, "acgan", 28, num_classes=3)
    _, labels, names = training_images(cfg)
    assert names == ["NORMAL", "BACTERIAL", "VIRAL"] and set(labels.tolist()) == {0, 1, 2}
    out = train_gan(cfg, tmp_path / "g", **QUIET)
    sample_set(out, 3, tmp_path / "s")
    recs = open_source(tmp_path / "s").records()
    assert sorted({(r.label, r.label3) for r in recs}) == [(0, 0), (1, 1), (1, 2)]


@pytest.mark.parametrize("extra", [{}, {"ada_target": 0.01, "ada_interval": 1, "ada_kimg": 0.05}])
def test_resume_continues_exactly(extra, kaggle_224, cache, tmp_path):
    """Also with adaptive augmentation, whose probability changes every step here."""
    cfg = gan_cfg(kaggle_224, cache, "acgan", 28, steps=4, **extra)
    full = train_gan(cfg, tmp_path / "full", **QUIET)

    class Stop(Exception):
        pass

    def stop(step):
        if step == 2:
            raise Stop

    with pytest.raises(Stop):
        train_gan(cfg, tmp_path / "cut", on_checkpoint=stop, **QUIET)
    messages = []
    train_gan(cfg, tmp_path / "cut", log=messages.append)
    assert any("resuming GAN training at step 2" in m for m in messages)
    if extra:  # the probability did move, so a resume that lost it would diverge
        assert torch.load(full / "train_state.pt", weights_only=False)["ada"]["p"] > 0
    a, _ = load_generator(full)
    b, _ = load_generator(tmp_path / "cut")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_sampling_counts_manifest_and_reproducibility(kaggle_224, cache, tmp_path):
    ckpt = train_gan(gan_cfg(kaggle_224, cache, "cgan", 28), tmp_path / "g", **QUIET)
    sample_set(ckpt, 5, tmp_path / "a", seed=3)
    sample_set(ckpt, 5, tmp_path / "b", seed=3)
    rows = list(csv.DictReader((tmp_path / "a" / "manifest.csv").open()))
    assert len(rows) == 10 and {r["class"] for r in rows} == {"NORMAL", "PNEUMONIA"}
    assert len({r["generator"] for r in rows}) == 1 and len({r["latent_seed"] for r in rows}) == 10
    for r in rows:
        assert (tmp_path / "a" / r["file"]).read_bytes() == (tmp_path / "b" / r["file"]).read_bytes()
    source = open_source(tmp_path / "a")
    assert len(source.records()) == 10 and {r.provenance for r in source.records()} == {"synthetic"}
    with pytest.raises(Exception, match="not empty"):
        sample_set(ckpt, 1, tmp_path / "a")


def test_diffaugment_keeps_shape_and_gradient():
    x = torch.randn(4, 1, 32, 32, requires_grad=True)
    y = diff_augment(x, ["translation", "cutout", "color"], torch.Generator().manual_seed(0))
    y.sum().backward()
    assert y.shape == x.shape and x.grad is not None and torch.isfinite(x.grad).all()


def test_model_sizes_and_bad_size():
    for size in (28, 32, 64, 128):
        g, d = build("acgan", size, 2, 16, 8, 8)
        x = g(torch.randn(2, 16), torch.tensor([0, 1]))
        logit, aux = d(x)
        assert x.shape[-1] == size and logit.shape == (2,) and aux.shape == (2, 2)
    with pytest.raises(Exception, match="4·2"):
        build("dcgan", 100)


@pytest.fixture(scope="module")
def reference(kaggle_224, cache, tmp_path_factory):
    """A small reference classifier trained on the real tiny subset: the feature space of the metrics."""
    from pneumogan.classify.checkpoint import load_checkpoint
    from pneumogan.classify.train import train

    cfg = load_config("tiny", [f"data.source={kaggle_224}", f"data.cache_dir={cache}", "classify.epochs=2"])
    model, meta = load_checkpoint(train(cfg, tmp_path_factory.mktemp("ref"), **QUIET))
    pre = meta["preprocessing"]
    real = training_images(cfg)[0]
    real_u8 = ((real + 1) * 127.5).round().to(torch.uint8).numpy()[:, 0]
    return FeatureExtractor(model, pre["mean"], pre["std"], pre["size"], torch.device("cpu")), real_u8


def test_fd_small_between_real_halves_and_grows_with_noise_and_blur(reference):
    extractor, real = reference
    rng = np.random.default_rng(0)
    order = rng.permutation(len(real))
    a, b = real[order[: len(real) // 2]], real[order[len(real) // 2 :]]
    fa, _ = extractor(a)

    def fd_to(images):
        return frechet_distance(fa, extractor(images)[0])

    halves = fd_to(b)
    noisy = [fd_to(np.clip(b + rng.normal(0, s, b.shape), 0, 255).astype(np.uint8)) for s in (15, 40, 80)]
    blurred = [
        fd_to(np.stack([np.asarray(Image.fromarray(im).filter(ImageFilter.GaussianBlur(r))) for im in b]))
        for r in (1, 2, 4)
    ]
    assert halves < noisy[0] < noisy[1] < noisy[2]
    assert halves < blurred[0] < blurred[1] < blurred[2]
    assert halves < 0.25 * noisy[2]


def test_near_copy_of_a_real_training_image_is_flagged(reference):
    _, real = reference
    rng = np.random.default_rng(0)
    fake = rng.integers(0, 255, (40, *real.shape[1:]), dtype=np.uint8)  # clearly not copies
    fake[5] = real[17]
    res = near_copies(fake.reshape(40, -1) / 255.0, real.reshape(len(real), -1) / 255.0)
    flagged = np.flatnonzero(res["fake_nn"] <= res["threshold"])
    assert flagged.tolist() == [5] and res["fraction"] == pytest.approx(1 / 40)


def test_fastgan_shapes_excitation_and_decoder():
    from pneumogan.gan.fastgan import FastDiscriminator, FastGenerator

    for size in (32, 64, 128):
        g, d = build("fastgan", size, 2, 16, 8, 8)
        assert isinstance(g, FastGenerator) and isinstance(d, FastDiscriminator) and g.targets
        x = g(torch.randn(3, 16), torch.tensor([0, 1, 1]))
        logit, aux = d(x, torch.tensor([0, 1, 1]))
        assert x.shape == (3, 1, size, size) and logit.shape == (3,) and aux is None
        assert d.features8.shape[-1] == 8 and d.reconstruction_loss(x).ndim == 0
    # skip-layer excitation: the 4×4 map gates the large maps, so changing only the gates changes the image
    torch.manual_seed(0)
    g, _ = build("fastgan", 64, 0, 16, 8, 8)
    g.eval()
    z = torch.randn(2, 16)
    before = g(z)
    with torch.no_grad():
        for p in g.sle.parameters():
            p.add_(0.5)
    assert not torch.allclose(before, g(z))
    # D learns to rebuild reals: a few steps of the decoder loss alone lower it
    from tests.corpus import xray_like

    torch.manual_seed(0)
    _, d = build("fastgan", 32, 0, 16, 8, 8)
    real = torch.from_numpy(np.stack([xray_like(32, seed=i) for i in range(8)])).float()[:, None] / 127.5 - 1
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        d(real)
        loss = d.reconstruction_loss(real)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    with pytest.raises(Exception, match="power-of-two"):
        build("fastgan", 28)


def test_augmentation_probability_zero_one_and_between():
    x = torch.randn(64, 1, 16, 16)
    policy = ["translation", "cutout", "color"]
    assert torch.equal(diff_augment(x, policy, torch.Generator().manual_seed(0), p=0.0), x)
    full = diff_augment(x, policy, torch.Generator().manual_seed(0))
    assert torch.equal(diff_augment(x, policy, torch.Generator().manual_seed(0), p=1.0), full)
    half = diff_augment(x, policy, torch.Generator().manual_seed(0), p=0.5)
    untouched = (half == x).flatten(1).all(1).float().mean()
    assert 0.02 < untouched < 0.4  # about (1 − 0.5)³ of the images escape all three policies


def test_ada_heuristic_moves_p_towards_the_target():
    from pneumogan.gan.augment import AdaptiveProbability

    ada = AdaptiveProbability(target=0.6, interval=4, speed_images=1000)
    ada.observe(sign_sum=200.0, seen=256)  # r_t ≈ 0.78 > 0.6: D is sure of the reals → more augmentation
    ada.adjust()
    assert ada.p == pytest.approx(0.256) and ada.seen == 0
    ada.observe(sign_sum=0.0, seen=256)  # r_t = 0 < 0.6 → less
    ada.adjust()
    assert ada.p == pytest.approx(0.0)
    ada.observe(sign_sum=-256.0, seen=256)
    ada.adjust()
    assert ada.p == 0.0  # clipped at 0


def test_ada_training_records_p_and_resumes_it(kaggle_224, cache, tmp_path):
    cfg = gan_cfg(kaggle_224, cache, "cgan", 28, steps=4, ada_target=0.01, ada_interval=1, ada_kimg=0.05)
    out = train_gan(cfg, tmp_path / "a", **QUIET)
    history = json.loads((out / "history.json").read_text())
    state = torch.load(out / "train_state.pt", weights_only=False)
    assert 0 <= state["ada"]["p"] <= 1 and history[-1]["augment_p"] == state["ada"]["p"]


def test_truncation_scales_latents_towards_the_mean():
    from pneumogan.errors import PneumoganError
    from pneumogan.gan.sample import generate

    seen: list[torch.Tensor] = []

    class Recorder(torch.nn.Module):  # a "generator" that shows us its latents as images
        z_dim, num_classes = 16, 0

        def forward(self, z, y=None):
            seen.append(z.clone())
            return torch.tanh(z[:, :16].reshape(-1, 1, 4, 4))

    g = Recorder()
    full = generate(g, None, [1, 2, 3], torch.device("cpu"))
    half = generate(g, None, [1, 2, 3], torch.device("cpu"), truncation=0.5)
    assert torch.allclose(seen[1], 0.5 * seen[0])
    assert np.abs(half.astype(float) - 127.5).mean() < np.abs(full.astype(float) - 127.5).mean()
    with pytest.raises(PneumoganError, match="truncation"):
        generate(g, None, [1], torch.device("cpu"), truncation=1.5)
