"""Conditioning really conditions: a conditional GAN trained on two visibly different classes (dark and bright
images) samples dark images for one class and bright ones for the other. Built from generated files, no real
data needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pneumogan.config import load_config
from pneumogan.errors import PneumoganError
from pneumogan.gan.checkpoint import load_generator
from pneumogan.gan.sample import generate, latent_seed
from pneumogan.gan.train import train_gan

SIZE = 28


def write_two_class_folder(root, per_class: int = 48):
    """NORMAL: dark images; PNEUMONIA: bright ones (both with noise and a soft blob, so they are not flat)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    for split in ("train", "test"):
        for cls, level in (("NORMAL", 50), ("PNEUMONIA", 200)):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(per_class if split == "train" else 4):
                blob = 30 * np.exp(-(((xx - rng.random()) ** 2 + (yy - rng.random()) ** 2) / 0.05))
                img = np.clip(level + blob + rng.normal(0, 10, (SIZE, SIZE)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f"person{i}_{cls.lower()}_{i}.png")
    return root


@pytest.mark.parametrize("family, conditioning", [("cgan", "concat"), ("acgan", "concat"), ("cgan", "cbn")])
def test_conditional_families_produce_class_dependent_samples(family, conditioning, tmp_path):
    source = write_two_class_folder(tmp_path / "data")
    cfg = load_config(
        None,
        [
            f"data.source={source}",
            f"data.cache_dir={tmp_path / 'cache'}",
            f"data.size={SIZE}",
            f"gan.family={family}",
            f"gan.g_conditioning={conditioning}",
            "gan.steps=150",
            "gan.batch_size=16",
            "gan.z_dim=16",
            "gan.g_channels=16",
            "gan.d_channels=16",
            "gan.lr_g=0.002",
            "gan.lr_d=0.002",
            "gan.diffaugment=",
            "gan.ema=false",
            "gan.sample_every=150",
            "gan.checkpoint_every=150",
            "split.val_fraction=0.2",
        ],
    )
    out = train_gan(cfg, tmp_path / "gan", log=lambda *_: None)
    g, meta = load_generator(out)
    assert meta["class_names"] == ["NORMAL", "PNEUMONIA"]
    assert meta["model"]["g_conditioning"] == conditioning  # and the folder loads back as such
    seeds = [latent_seed(0, 0, i) for i in range(32)]
    normal, pneumonia = generate(g, 0, seeds, torch.device("cpu")), generate(g, 1, seeds, torch.device("cpu"))
    # The same latents, only the class differs: the bright class must come out brighter, by a wide margin.
    assert pneumonia.mean() - normal.mean() > 40, (normal.mean(), pneumonia.mean())


@pytest.mark.parametrize("fake_labels, expected", [("uniform", 0.5), ("data", 0.9)])
def test_fake_labels_follow_the_chosen_class_shares(fake_labels, expected):
    from types import SimpleNamespace

    from pneumogan.gan.train import draw_batch

    cfg = load_config(None, ["gan.batch_size=4000", f"gan.fake_labels={fake_labels}"])
    labels = torch.tensor([0] * 10 + [1] * 90)
    run = SimpleNamespace(
        cfg=cfg,
        images=torch.zeros(100, 1, 4, 4),
        labels=labels,
        class_names=["NORMAL", "PNEUMONIA"],
        mine=slice(None),
        device=torch.device("cpu"),
        memory_format=torch.contiguous_format,
    )
    batch = draw_batch(run, step=0)
    assert float(batch.y_fake.float().mean()) == pytest.approx(expected, abs=0.03)
    assert torch.equal(batch.y_fake, draw_batch(run, step=0).y_fake)  # seeded by the step, as before


def test_transitional_ramp_brings_the_class_in_linearly():
    from pneumogan.gan.train import condition_strength

    ramp = (0.1, 0.5)
    assert [condition_strength(ramp, s, 100) for s in (0, 9, 10, 30, 50, 99)] == [0, 0, 0, 0.5, 1, 1]
    assert condition_strength((0.0, 0.0), 0, 100) == 1  # the default: conditioned from the first step
    with pytest.raises(PneumoganError, match="condition_ramp"):
        load_config(None, ["gan.condition_ramp=[0.6, 0.1]"])


@pytest.mark.parametrize("family", ["cgan", "acgan", "fastgan"])
def test_at_strength_zero_neither_network_sees_the_class(family):
    from pneumogan.gan.models import build, set_condition_strength

    torch.manual_seed(0)
    g, d = build(family, 32, 2, 16, 8, 8)
    g.eval(), d.eval()
    z, x = torch.randn(4, 16), torch.randn(4, 1, 32, 32)
    zeros, ones = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    with torch.no_grad():
        assert not torch.allclose(g(z, zeros), g(z, ones))  # conditioned by default
        set_condition_strength(0.0, g, d)
        assert torch.equal(g(z, zeros), g(z, ones))
        assert torch.equal(d(x, zeros)[0], d(x, ones)[0])
        set_condition_strength(1.0, g, d)
        if family != "acgan":  # acgan's D learns the class through its auxiliary head, not its real/fake logit
            assert not torch.allclose(d(x, zeros)[0], d(x, ones)[0])


def test_conditional_batchnorm_starts_unconditional_and_fades_with_the_strength():
    from pneumogan.gan.models import ConditionalBatchNorm2d, build, set_condition_strength

    torch.manual_seed(0)
    g, _ = build("cgan", 32, 2, 16, 8, 8, g_conditioning="cbn")
    assert g.embed is None and g.fc.in_features == 16  # z alone enters; the class acts through the norms
    g.eval()
    z, zeros, ones = torch.randn(4, 16), torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    with torch.no_grad():
        assert torch.equal(g(z, zeros), g(z, ones))  # zero class tables: an untrained G ignores the class
        norms = [m for m in g.modules() if isinstance(m, ConditionalBatchNorm2d)]
        assert len(norms) == 4  # the base and each of the three upsampling blocks (4 → 32 px)
        for m in norms:
            torch.nn.init.normal_(m.gain.weight, std=0.5)
            torch.nn.init.normal_(m.bias.weight, std=0.5)
        assert not torch.allclose(g(z, zeros), g(z, ones))
        set_condition_strength(0.0, g)
        assert torch.equal(g(z, zeros), g(z, ones))
    with pytest.raises(PneumoganError, match="g_conditioning"):
        build("cgan", 32, 2, 16, 8, 8, g_conditioning="film")


def test_per_class_generators_combine_into_one_conditional_generator(tmp_path):
    from pneumogan.gan.checkpoint import combine_generators, save_gan
    from pneumogan.gan.models import build

    folders = []
    for name in ("NORMAL", "PNEUMONIA"):
        torch.manual_seed(len(folders))
        g, d = build("dcgan", 32, 1, 16, 8, 8)
        model = {"family": "dcgan", "size": 32, "num_classes": 1, "z_dim": 16, "g_channels": 8, "d_channels": 8}
        cfg = load_config(None, ["gan.family=dcgan", f"gan.target_class={name}"]).model_dump(mode="json")
        save_gan(tmp_path / name, g.eval(), d, {"model": model, "class_names": [name], "config": cfg})
        folders.append(tmp_path / name)
    combined, meta = load_generator(combine_generators(folders, tmp_path / "both"))
    assert meta["class_names"] == ["NORMAL", "PNEUMONIA"] and combined.num_classes == 2
    z, y = torch.randn(6, 16), torch.tensor([0, 1, 1, 0, 1, 0])
    with torch.no_grad():
        out = combined(z, y)
        for c, folder in enumerate(folders):  # each class's images come from its own generator, latent by latent
            member, _ = load_generator(folder)
            assert torch.allclose(out[y == c], member(z[y == c]))
        images = generate(combined, 1, [latent_seed(0, 1, i) for i in range(3)], torch.device("cpu"))
    assert images.shape == (3, 32, 32)
    from pneumogan.gan.sample import sample_set

    written = sample_set(tmp_path / "both", 2, tmp_path / "set")
    assert sorted(p.parent.name for p in written.rglob("*.png")) == ["NORMAL"] * 2 + ["PNEUMONIA"] * 2
    with pytest.raises(PneumoganError, match="one generator per class"):
        combine_generators([folders[0], folders[0]], tmp_path / "twice")
    with pytest.raises(PneumoganError, match="unconditional"):
        combine_generators([folders[0], tmp_path / "both"], tmp_path / "nested")


def test_mode_seeking_penalises_latents_that_map_to_one_image():
    from pneumogan.gan.losses import mode_seeking_penalty

    z = torch.randn(8, 16)
    same = torch.ones(8, 1, 4, 4)  # every latent gives the same image: a collapsed generator
    varied = torch.randn(8, 1, 4, 4)
    assert mode_seeking_penalty(same, z, 4) > 1000 * mode_seeking_penalty(varied, z, 4)


def test_with_mode_seeking_the_generator_phase_pairs_samples_of_one_class():
    from pneumogan.gan.losses import AdversarialLoss, Batch
    from pneumogan.gan.models import build

    cfg = load_config(None, ["gan.family=cgan", "gan.mode_seeking=1", "gan.diffaugment=''"]).gan
    g, d = build("cgan", 32, 2, 16, 8, 8)
    seen = []
    g.register_forward_hook(lambda _m, args, _out: seen.append(args[1].clone()))
    loss = AdversarialLoss(g, d, cfg, [], torch.device("cpu"))
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    batch = Batch(real=torch.zeros(7, 1, 32, 32), y_real=y, y_fake=y, z=torch.randn(7, 16), rng=torch.Generator())
    out = loss.generator(batch, torch.randn(7, 16))
    assert torch.isfinite(out)
    assert seen[0].tolist() == [0, 1, 1, 0, 1, 1, 0]  # the second half repeats the first half's classes
