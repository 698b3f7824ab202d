"""The ensemble as a module: the mean of member probabilities (see `classify/ensemble.py` for the folder)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

ARCH = "ensemble"
INPUT_MEAN, INPUT_STD = 0.5, 0.5
MEMBERS = "members"  # the folder of an ensemble that holds member k in MEMBERS/<k>/


class Ensemble(nn.Module):
    """Mean of member probabilities; input (N, 1, S, S) at the largest member size, normalised 0.5/0.5."""

    def __init__(self, members: list[nn.Module], sizes: list[int], norms: list[tuple[float, float]]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.sizes, self.norms = list(sizes), list(norms)
        self.size = max(sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x * INPUT_STD + INPUT_MEAN  # back to [0, 1]
        total = torch.zeros((), device=x.device)
        for member, size, (mean, std) in zip(self.members, self.sizes, self.norms, strict=True):
            view = pixels if size == self.size else F.interpolate(pixels, size=(size, size), mode="area")
            total = total + torch.softmax(member((view - mean) / std).float(), dim=1)
        return torch.log((total / len(self.members)).clamp_min(1e-12))
