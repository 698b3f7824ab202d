"""`fastgan`: a data-efficient, light GAN after FastGAN (Liu et al. 2021, "Towards faster and stabilized GAN
training for high-fidelity few-shot image synthesis"), sized for a CPU and conditioned on the class.

Generator: z (+ class embedding) → 4×4 → up-blocks (nearest ×2, 3×3 conv, BatchNorm, GLU) to the image size,
with *skip-layer excitation* (SLE): the 4×4 (8×8 at 128 px) map gates the channels of the 32 px and full-size
maps — a cheap long-range path that FastGAN shows speeds up and stabilises training on few images.
Discriminator: residual down-blocks (strided 4×4 conv path + average-pool 1×1 path, spectral norm) to 8×8,
a real/fake head with class projection, and a *self-supervised decoder* that rebuilds a 32 px version of the
real input from the 8×8 features; the L1 reconstruction loss on reals (`gan.recon_weight`) keeps D's features
descriptive, FastGAN's remedy for D overfitting a small data set. Simplifications against the paper, for a
2-core CPU: one decoder on the whole 8×8 map (no cropped-part decoder), L1 instead of LPIPS (no pretrained
network may be downloaded), no noise injection, narrower channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

from pneumogan.errors import PneumoganError

RECON_SIZE = 32  # the decoder rebuilds the real image at this size


def _levels(size: int) -> int:
    levels = math.log2(size / 4)
    if size < 32 or not levels.is_integer():
        raise PneumoganError(f"fastgan needs a power-of-two image size of at least 32 px, got {size}")
    return int(levels)


def _up(cin: int, cout: int) -> nn.Sequential:
    """Nearest ×2 → 3×3 conv to 2·cout → BatchNorm → GLU (cout channels)."""
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(cin, 2 * cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(2 * cout),
        nn.GLU(dim=1),
    )


class SkipExcitation(nn.Module):
    """Channel gates for a large map computed from a small one: pool to 4×4 → 4×4 conv → LeakyReLU → 1×1
    conv → sigmoid."""

    def __init__(self, small: int, large: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            nn.Conv2d(small, large, 4, bias=False),
            nn.LeakyReLU(0.1),
            nn.Conv2d(large, large, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, small: torch.Tensor, large: torch.Tensor) -> torch.Tensor:
        return large * self.net(small)


class FastGenerator(nn.Module):
    def __init__(self, size: int, z_dim: int = 128, channels: int = 32, num_classes: int = 0) -> None:
        super().__init__()
        self.size, self.z_dim, self.num_classes = size, z_dim, num_classes
        levels = _levels(size)
        # widths per resolution 4, 8, …, size: halving outwards from 8·channels, at least `channels`
        self.widths = [max(channels, channels * 8 // 2 ** max(0, i - 1)) for i in range(levels + 1)]
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        self.condition_strength = 1.0  # see models.set_condition_strength
        in_dim = z_dim * (2 if num_classes else 1)
        self.fc = nn.Linear(in_dim, 2 * self.widths[0] * 16)
        self.bn0 = nn.BatchNorm1d(2 * self.widths[0] * 16)
        self.ups = nn.ModuleList(_up(self.widths[i], self.widths[i + 1]) for i in range(levels))
        resolutions = [4 * 2**i for i in range(levels + 1)]
        self.source = 0 if size <= 64 else 1  # SLE from 4×4 (8×8 at 128 px and above)
        self.targets = [i for i, r in enumerate(resolutions) if r >= 32 and i > self.source + 1]
        self.sle = nn.ModuleDict(
            {str(i): SkipExcitation(self.widths[self.source], self.widths[i]) for i in self.targets}
        )
        self.to_image = nn.Sequential(nn.Conv2d(self.widths[-1], 1, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if y is None:
                raise ValueError("a conditional generator needs labels")
            z = torch.cat([z, self.embed(y) * self.condition_strength], dim=1)
        h = F.glu(self.bn0(self.fc(z)), dim=1).view(len(z), self.widths[0], 4, 4)
        source = h if self.source == 0 else None
        for i, up in enumerate(self.ups, start=1):
            h = up(h)
            if i == self.source:
                source = h
            if str(i) in self.sle:
                h = self.sle[str(i)](source, h)
        return self.to_image(h)


class _Down(nn.Module):
    """Residual down-block: (4×4 stride-2 conv → LeakyReLU → 3×3 conv → LeakyReLU) averaged with
    (2×2 average pool → 1×1 conv)."""

    def __init__(self, cin: int, cout: int, sn) -> None:
        super().__init__()
        self.main = nn.Sequential(
            sn(nn.Conv2d(cin, cout, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2),
            sn(nn.Conv2d(cout, cout, 3, padding=1)),
            nn.LeakyReLU(0.2),
        )
        self.skip = nn.Sequential(nn.AvgPool2d(2), sn(nn.Conv2d(cin, cout, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.main(x) + self.skip(x))


class FastDiscriminator(nn.Module):
    """Down-blocks to 8×8, then a 4×4 real/fake head with class projection; `decode` rebuilds a 32 px image
    from the 8×8 features (the self-supervised loss on reals)."""

    def __init__(self, size: int, channels: int = 32, num_classes: int = 0, spectral_norm: bool = True) -> None:
        super().__init__()
        sn = _sn if spectral_norm else (lambda m: m)
        downs = _levels(size) - 1  # size → 8
        widths = [min(channels * 2**i, channels * 8) for i in range(downs + 1)]
        self.stem = nn.Sequential(sn(nn.Conv2d(1, widths[0], 3, padding=1)), nn.LeakyReLU(0.2))
        self.blocks = nn.Sequential(*(_Down(widths[i], widths[i + 1], sn) for i in range(downs)))
        feat = widths[-1]
        self.head = nn.Sequential(sn(nn.Conv2d(feat, feat, 4, stride=2, padding=1)), nn.LeakyReLU(0.2))
        self.out = sn(nn.Linear(feat, 1))
        self.proj = sn(nn.Embedding(num_classes, feat)) if num_classes else None
        self.condition_strength = 1.0
        self.decoder = nn.Sequential(
            _up(feat, max(channels, feat // 2)),  # 16
            _up(max(channels, feat // 2), channels),  # 32
            nn.Conv2d(channels, 1, 3, padding=1),
            nn.Tanh(),
        )
        self.features8: torch.Tensor | None = None  # the last forward's 8×8 map, for `decode`

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        self.features8 = self.blocks(self.stem(x))
        h = self.head(self.features8).sum(dim=(2, 3))
        logit = self.out(h).squeeze(1)
        if self.proj is not None:
            if y is None:
                raise ValueError("a projection discriminator needs labels")
            logit = logit + self.condition_strength * (self.proj(y) * h).sum(dim=1)
        return logit, None

    def reconstruction_loss(self, real: torch.Tensor) -> torch.Tensor:
        """L1 between the decoder's image from the last forward's 8×8 features (which must have been `real`'s)
        and `real` resized to 32 px."""
        if self.features8 is None or len(self.features8) != len(real):
            raise RuntimeError("call the discriminator on the real batch before its reconstruction loss")
        target = F.interpolate(real, size=(RECON_SIZE, RECON_SIZE), mode="area") if real.shape[-1] != 32 else real
        return F.l1_loss(self.decoder(self.features8).float(), target.float())
