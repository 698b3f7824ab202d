"""GAN losses: non-saturating or hinge adversarial losses, R1 penalty, AC-GAN auxiliary loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss(real_logit: torch.Tensor, fake_logit: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1 - real_logit).mean() + F.relu(1 + fake_logit).mean()
    return F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()


def g_loss(fake_logit: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "hinge":
        return -fake_logit.mean()
    return F.softplus(-fake_logit).mean()  # non-saturating: −log D(G(z))


def r1_penalty(real_logit: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """‖∇ₓ D(x)‖² on real images (Mescheder et al. 2018); `real` must require grad."""
    (grad,) = torch.autograd.grad(real_logit.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
