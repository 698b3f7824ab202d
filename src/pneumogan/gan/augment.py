"""DiffAugment (Zhao et al. 2020): differentiable augmentation applied to real and fake images alike.

Policies: `translation` (shift by up to 1/8 of the side, zero padding), `cutout` (a square of half the
side set to zero), `color` (brightness ±0.5 and contrast ×[0.5, 1.5] on [-1, 1] grayscale images).
With `gan.ada_target` > 0 each policy applies to each image with a probability p that ADA's heuristic adapts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

POLICIES = ("translation", "cutout", "color")


def parse_policy(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        from pneumogan.errors import PneumoganError

        raise PneumoganError(f"unknown DiffAugment policy {unknown}; choose from {', '.join(POLICIES)}")
    return names


def diff_augment(
    x: torch.Tensor, policy: list[str], generator: torch.Generator | None = None, p: float = 1.0
) -> torch.Tensor:
    """Each policy applied to the whole batch (p = 1, DiffAugment), or to each image with probability p (the
    adaptive probability of ADA)."""
    if p <= 0:
        return x
    for name in policy:
        if p >= 1:
            x = _OPS[name](x, generator)
        else:
            chosen = (_rand((len(x), 1, 1, 1), x, generator) < p).to(x.dtype)
            x = chosen * _OPS[name](x, generator) + (1 - chosen) * x
    return x


@dataclass
class AdaptiveProbability:
    """ADA's overfitting heuristic (Karras et al. 2020) driving the augmentation probability p: every `interval`
    steps, r_t = E[sign D(real)] over the images seen; p moves up when r_t > `target` (D is too sure of the
    reals: it overfits) and down otherwise, by (images seen) / `speed_images` per adjustment, within [0, 1]."""

    target: float
    interval: int
    speed_images: float
    p: float = 0.0
    sign_sum: float = 0.0
    seen: int = 0

    def observe(self, sign_sum: float, seen: int) -> None:
        self.sign_sum += sign_sum
        self.seen += seen

    def adjust(self) -> None:
        if self.seen:
            r_t = self.sign_sum / self.seen
            step = self.seen / self.speed_images
            self.p = min(1.0, max(0.0, self.p + (step if r_t > self.target else -step)))
        self.sign_sum, self.seen = 0.0, 0

    def state(self) -> dict[str, float]:
        return {"p": self.p, "sign_sum": self.sign_sum, "seen": self.seen}

    def load(self, state: dict[str, float]) -> None:
        self.p, self.sign_sum, self.seen = state["p"], state["sign_sum"], int(state["seen"])


def _rand(shape, x: torch.Tensor, generator) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device="cpu").to(x.device, x.dtype)


def _color(x: torch.Tensor, g) -> torch.Tensor:
    x = x + (_rand((len(x), 1, 1, 1), x, g) - 0.5)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((len(x), 1, 1, 1), x, g) + 0.5) + mean


def _translation(x: torch.Tensor, g, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = (torch.randint(-sh, sh + 1, (b,), generator=g)).to(x.device)
    dx = (torch.randint(-sw, sw + 1, (b,), generator=g)).to(x.device)
    ys = (torch.arange(h, device=x.device)[None] - dy[:, None]).clamp(-1, h)  # (b, h) source rows
    xs = (torch.arange(w, device=x.device)[None] - dx[:, None]).clamp(-1, w)
    padded = F.pad(x, (1, 1, 1, 1))  # index -1 / h map onto the zero border
    rows = torch.gather(padded, 2, (ys + 1)[:, None, :, None].expand(b, x.shape[1], h, w + 2))
    return torch.gather(rows, 3, (xs + 1)[:, None, None, :].expand(b, x.shape[1], h, w))


def _cutout(x: torch.Tensor, g, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b,), generator=g).to(x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b,), generator=g).to(x.device)
    top = (cy - ch // 2)[:, None, None]
    left = (cx - cw // 2)[:, None, None]
    yy = torch.arange(h, device=x.device)[None, :, None]
    xx = torch.arange(w, device=x.device)[None, None, :]
    inside = (yy >= top) & (yy < top + ch) & (xx >= left) & (xx < left + cw)
    return x * (~inside)[:, None].to(x.dtype)


_OPS = {"translation": _translation, "cutout": _cutout, "color": _color}
