"""SimSiam (Chen & He, CVPR 2021): a backbone, a projector and a predictor; no negatives, no momentum encoder.

Chosen for a CPU and small data: one network, small batches work, and the loss needs nothing but two views.
The loss is the symmetric negative cosine between each view's prediction and the other view's projection,
with a stop-gradient on the projection (the part that prevents collapse).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from pneumogan.classify.models import build_encoder


def _mlp(sizes: list[int], last_bn: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(itertools.pairwise(sizes)):
        last = i == len(sizes) - 2
        layers.append(nn.Linear(cin, cout, bias=last and not last_bn))
        if not last or last_bn:
            layers.append(nn.BatchNorm1d(cout, affine=not last))
        if not last:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SimSiam(nn.Module):
    def __init__(self, arch: str, image_size: int, proj_dim: int = 512, pred_dim: int = 128) -> None:
        super().__init__()
        self.encoder, self.feature_dim = build_encoder(arch, image_size)
        # Projector: 3 layers with BN after each (the last BN without affine), as in the paper.
        self.projector = _mlp([self.feature_dim, proj_dim, proj_dim, proj_dim], last_bn=True)
        self.predictor = _mlp([proj_dim, pred_dim, proj_dim], last_bn=False)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # Both views in one pass: BatchNorm sees the whole batch, and the backbone runs once.
        z = self.projector(self.encoder(torch.cat([x1, x2])))
        p = self.predictor(z)
        z1, z2 = z.chunk(2)
        p1, p2 = p.chunk(2)
        return p1, p2, z1.detach(), z2.detach()


def simsiam_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Symmetric negative cosine similarity, in [-1, 1]; −1 when each prediction matches the other view."""
    return -0.5 * (F.cosine_similarity(p1, z2, dim=1).mean() + F.cosine_similarity(p2, z1, dim=1).mean())


def collapse_score(z: torch.Tensor) -> float:
    """Std over the batch of the l2-normalised projections, × sqrt(dim): about 1 for well-spread outputs and
    0 when every image maps to the same vector (the failure SimSiam's stop-gradient is there to prevent)."""
    z = F.normalize(z.float(), dim=1)
    return float(z.std(dim=0).mean() * z.shape[1] ** 0.5)
