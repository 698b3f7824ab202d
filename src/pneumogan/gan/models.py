"""GAN families behind one registry: `build(family, size, num_classes, ...)` → (generator, discriminator).

- `dcgan`: unconditional G and D (one model per chosen class).
- `cgan`: G conditioned by a label embedding concatenated to z (`g_conditioning="concat"`) or by class-conditional
  BatchNorm gains and biases in every block (`"cbn"`, as in SNGAN-projection and BigGAN); D conditioned by
  projection (Miyato & Koyama 2018): D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩.
- `acgan`: conditional G as in cgan; D with a real/fake head and an auxiliary classifier head.
- `fastgan`: a data-efficient family after FastGAN (skip-layer excitation in G, a self-supervised
  reconstruction decoder in D), conditional by class embedding and projection (`gan/fastgan.py`).

Generators upsample from a 4×4 (or 7×7 for 28 px) base with nearest-neighbour upsampling + 3×3 convs
(no checkerboard artefacts of transposed convs); outputs are tanh images in [-1, 1] at 28, 32, 64 or 128 px.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from pneumogan.errors import PneumoganError
from pneumogan.generator_families import GAN_FAMILIES, is_conditional

FAMILIES = GAN_FAMILIES
G_CONDITIONING = ("concat", "cbn")


def _base_and_blocks(size: int) -> tuple[int, int]:
    for base in (4, 7):
        blocks = math.log2(size / base)
        if blocks >= 2 and blocks.is_integer():
            return base, int(blocks)
    raise PneumoganError(f"GAN image size must be 4·2^k or 7·2^k (e.g. 28, 32, 64, 128), got {size}")


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose gain and bias depend on the class: γ = 1 + Δγ(y), β = β(y), both scaled by the
    generator's condition strength. The class tables start at zero, so an untrained G is unconditional and the
    class acts as a small per-channel change of style instead of a second input the network can latch onto."""

    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(features, affine=False)
        self.gain = nn.Embedding(num_classes, features)
        self.bias = nn.Embedding(num_classes, features)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, h: torch.Tensor, y: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
        gain = 1 + strength * self.gain(y)[:, :, None, None]
        return self.bn(h) * gain + strength * self.bias(y)[:, :, None, None]


class Generator(nn.Module):
    def __init__(
        self, size: int, z_dim: int = 128, channels: int = 64, num_classes: int = 0, conditioning: str = "concat"
    ) -> None:
        super().__init__()
        if conditioning not in G_CONDITIONING:
            raise PneumoganError(f"unknown gan.g_conditioning '{conditioning}'; choose one of: {G_CONDITIONING}")
        self.size, self.z_dim, self.num_classes = size, z_dim, num_classes
        base, blocks = _base_and_blocks(size)
        self.base = base
        widths = [min(channels * 2 ** (blocks - i), channels * 8) for i in range(blocks + 1)]  # DCGAN: ngf·8 at most
        concat = bool(num_classes) and conditioning == "concat"
        self.embed = nn.Embedding(num_classes, z_dim) if concat else None
        self.condition_strength = 1.0  # < 1 while transitional training brings the class in (set_condition_strength)
        self.fc = nn.Linear(z_dim * (2 if concat else 1), widths[0] * base * base)
        self.widths = widths

        def norm(features: int) -> nn.Module:
            cbn = num_classes and conditioning == "cbn"
            return ConditionalBatchNorm2d(features, num_classes) if cbn else nn.BatchNorm2d(features)

        layers: list[nn.Module] = [norm(widths[0]), nn.ReLU(True)]
        for i in range(blocks):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=False),
                norm(widths[i + 1]),
                nn.ReLU(True),
            ]
        layers += [nn.Conv2d(widths[-1], 1, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)  # the same indices either way: concat checkpoints load as before

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and y is None:
            raise ValueError("a conditional generator needs labels")
        if self.embed is not None:
            z = torch.cat([z, self.embed(y) * self.condition_strength], dim=1)
        h = self.fc(z).view(len(z), self.widths[0], self.base, self.base)
        for layer in self.net:
            cbn = isinstance(layer, ConditionalBatchNorm2d)
            h = layer(h, y, self.condition_strength) if cbn else layer(h)
        return h


class Discriminator(nn.Module):
    """Strided 4×4 convs down to 4×4 (or 7×7) as in DCGAN, global sum pooling, then the family's heads."""

    def __init__(
        self, size: int, channels: int = 64, num_classes: int = 0, mode: str = "none", spectral_norm: bool = True
    ) -> None:
        super().__init__()
        sn = _sn if spectral_norm else (lambda m: m)
        _, blocks = _base_and_blocks(size)
        widths = [min(channels * 2**i, channels * 8) for i in range(blocks + 1)]
        layers: list[nn.Module] = [sn(nn.Conv2d(1, widths[0], 3, padding=1)), nn.LeakyReLU(0.2, True)]
        for i in range(blocks):
            layers += [sn(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers)
        feat = widths[-1]
        self.mode = mode
        self.out = sn(nn.Linear(feat, 1))
        self.proj = sn(nn.Embedding(num_classes, feat)) if mode == "projection" else None
        self.aux = nn.Linear(feat, num_classes) if mode == "aux" else None
        self.condition_strength = 1.0

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns (real/fake logit (B,), class logits (B, C) for acgan else None)."""
        h = self.features(x).sum(dim=(2, 3))
        logit = self.out(h).squeeze(1)
        if self.proj is not None:
            if y is None:
                raise ValueError("a projection discriminator needs labels")
            logit = logit + self.condition_strength * (self.proj(y) * h).sum(dim=1)
        return logit, (self.aux(h) if self.aux is not None else None)


class PerClassGenerator(nn.Module):
    """A class-conditional generator made of one unconditional generator per class (`gan combine`): p(x | y)
    with no shared network, so no class can pull the samples of another towards itself. Single-network
    conditional GANs trained here on few images collapse to about one image per class
    (`benchmarks/bench_gan_collapse.py`); per-class DCGANs of the same size keep their variety."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.size, self.z_dim, self.num_classes = members[0].size, members[0].z_dim, len(members)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("a conditional generator needs labels")
        parts = {c: g(z[y == c]) for c, g in enumerate(self.members) if bool((y == c).any())}
        out = next(iter(parts.values())).new_empty((len(z), 1, self.size, self.size))
        for c, images in parts.items():
            out[y == c] = images
        return out


def set_condition_strength(strength: float, *modules: nn.Module | None) -> None:
    """How much the class label enters G's input and D's projection (1 = fully; transitional training ramps it
    up from 0, so the networks first learn the shared, unconditional structure — Shahbazi et al. 2022)."""
    for module in modules:
        if module is not None and hasattr(module, "condition_strength"):
            module.condition_strength = strength


def build(
    family: str,
    size: int,
    num_classes: int = 2,
    z_dim: int = 128,
    g_channels: int = 64,
    d_channels: int = 64,
    spectral_norm: bool = True,
    g_conditioning: str = "concat",
) -> tuple[nn.Module, nn.Module]:
    if family not in FAMILIES:
        raise PneumoganError(f"unknown GAN family '{family}'; choose one of: {', '.join(FAMILIES)}")
    if family == "fastgan":
        from pneumogan.gan.fastgan import FastDiscriminator, FastGenerator

        return (
            FastGenerator(size, z_dim, g_channels, num_classes),
            FastDiscriminator(size, d_channels, num_classes, spectral_norm),
        )
    conditional = is_conditional(family)
    g = Generator(size, z_dim, g_channels, num_classes if conditional else 0, g_conditioning)
    mode = {"dcgan": "none", "cgan": "projection", "acgan": "aux"}[family]
    d = Discriminator(size, d_channels, num_classes if conditional else 0, mode, spectral_norm)
    return g, d
