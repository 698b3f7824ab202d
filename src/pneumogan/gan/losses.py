"""GAN losses: non-saturating or hinge adversarial losses, R1 penalty, AC-GAN auxiliary loss, and the loss
object that combines them per family."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pneumogan.config import GanConfig
from pneumogan.device import autocast
from pneumogan.gan.augment import diff_augment
from pneumogan.generator_families import is_conditional


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


@dataclass
class Batch:
    """One step's inputs, drawn from the step's seed: real images and labels, latents and fake labels."""

    real: torch.Tensor
    y_real: torch.Tensor
    y_fake: torch.Tensor
    z: torch.Tensor
    rng: torch.Generator  # the step's generator, continued by DiffAugment and the generator phase's latents


def mode_seeking_penalty(fake: torch.Tensor, z: torch.Tensor, half: int) -> torch.Tensor:
    """MSGAN (Mao et al. 2019): 1 / (image distance / latent distance) over pairs of samples of one class — a
    generator that maps distinct latents to one image pays for it."""
    images = (fake[:half].float() - fake[half : 2 * half].float()).abs().mean()
    latents = (z[:half].float() - z[half : 2 * half].float()).abs().mean()
    return 1.0 / (images / latents + 1e-5)


class AdversarialLoss:
    """Every family's loss, in phases (as in stylegan2-ada's `loss.py`): `discriminator` (real vs fake, plus
    lazy R1 when due) and `generator`. The families differ only in whether G and D see the class
    (`conditional`: cgan, acgan) and whether D's auxiliary classifier returns class logits (acgan), which
    adds a classification term to both phases."""

    def __init__(
        self,
        g: nn.Module,
        d: nn.Module,
        cfg: GanConfig,
        policy: list[str],
        device: torch.device,
        precision: str = "fp32",
    ) -> None:
        self.g, self.d, self.cfg, self.policy, self.device = g, d, cfg, policy, device
        self.conditional = is_conditional(cfg.family)
        self.reconstruct = cfg.family == "fastgan"
        self.p = 0.0 if cfg.ada_target > 0 else 1.0  # per-image augmentation probability; ADA moves it from 0
        self.precision = precision  # resolved (fp32 | bf16 | fp16); R1's double backward always runs in fp32

    def _condition(self, labels: torch.Tensor) -> torch.Tensor | None:
        return labels if self.conditional else None

    def _autocast(self):
        return autocast(self.device, self.precision)

    def discriminator(self, batch: Batch, with_r1: bool) -> dict[str, torch.Tensor]:
        """D's loss on augmented real and fake images (+ AC-GAN's class loss on real, + R1 when due)."""
        cfg = self.cfg
        with self._autocast():
            with torch.no_grad():
                fake = self.g(batch.z, self._condition(batch.y_fake))
            real_in = diff_augment(batch.real, self.policy, batch.rng, self.p)
            real_logit, real_aux = self.d(real_in, self._condition(batch.y_real))
            # fastgan: D rebuilds the real images it just saw from its 8×8 features (before the fake pass)
            recon = self.d.reconstruction_loss(real_in) if self.reconstruct else torch.zeros((), device=self.device)
            fake_in = diff_augment(fake, self.policy, batch.rng, self.p)
            fake_logit, _ = self.d(fake_in, self._condition(batch.y_fake))
            loss = d_loss(real_logit.float(), fake_logit.float(), cfg.loss) + cfg.recon_weight * recon
            aux = torch.zeros((), device=self.device)
            if real_aux is not None:
                aux = F.cross_entropy(real_aux.float(), batch.y_real)
                loss = loss + cfg.aux_weight * self.d.condition_strength * aux
        r1 = torch.zeros((), device=self.device)
        if with_r1:  # on un-augmented reals, in full precision (a double backward)
            real = batch.real.detach().requires_grad_(True)
            logit, _ = self.d(real, self._condition(batch.y_real))
            r1 = r1_penalty(logit.float(), real)
            loss = loss + 0.5 * cfg.r1_gamma * cfg.r1_every * r1
        return {"loss": loss, "r1": r1, "aux": aux, "recon": recon, "d_real": real_logit, "d_fake": fake_logit}

    def generator(self, batch: Batch, z: torch.Tensor) -> torch.Tensor:
        """G's loss on fresh latents `z` (+ AC-GAN's class loss on the fakes' intended classes, + the
        mode-seeking term when `gan.mode_seeking` > 0)."""
        y = batch.y_fake
        half = len(z) // 2
        if self.cfg.mode_seeking > 0:  # pairs (i, i + half) share a class, so their distance is within a class
            y = torch.cat([y[:half], y[:half], y[2 * half :]])
        with self._autocast():
            fake = self.g(z, self._condition(y))
            logit, aux = self.d(diff_augment(fake, self.policy, batch.rng, self.p), self._condition(y))
            loss = g_loss(logit.float(), self.cfg.loss)
            if self.cfg.mode_seeking > 0 and half:
                loss = loss + self.cfg.mode_seeking * mode_seeking_penalty(fake, z, half)
            if aux is not None:
                weight = self.cfg.aux_weight * self.d.condition_strength
                loss = loss + weight * F.cross_entropy(aux.float(), y)
        return loss
