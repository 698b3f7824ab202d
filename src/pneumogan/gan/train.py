"""GAN training loop: seeded and exactly resumable, with stabilisers selectable in the config.

Every step draws its batch indices, latents and augmentation from a generator seeded by (seed, step), so a
resumed run continues exactly as an uninterrupted one. Outputs in `out/`: the checkpoint (generator with
EMA weights when EMA is on, discriminator, meta.json), `grids/step_NNNNNN.png` with fixed latents,
`history.csv/json`, `events.json` (collapse/divergence warnings) and `train_state.pt` for resuming.
"""

from __future__ import annotations

import copy
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pneumogan.config import Config
from pneumogan.device import resolve_device
from pneumogan.gan import losses
from pneumogan.gan.augment import diff_augment, parse_policy
from pneumogan.gan.checkpoint import save_gan
from pneumogan.gan.data import training_images
from pneumogan.gan.grids import save_grid
from pneumogan.gan.models import build
from pneumogan.progress import Status, track
from pneumogan.runs import atomic_write_json, write_history

STATE = "train_state.pt"


def total_steps(cfg: Config) -> int:
    gc = cfg.gan
    return math.ceil(gc.images / gc.batch_size) if gc.images else gc.steps


class CollapseMonitor:
    """Warns (and records) NaN losses, a discriminator loss stuck near zero, and falling sample diversity."""

    def __init__(
        self,
        stuck_steps: int = 200,
        stuck_level: float = 0.05,
        diversity_drop: float = 0.5,
        real_diversity: float = 0.0,
        collapse_ratio: float = 0.25,
    ) -> None:
        self.stuck_steps, self.stuck_level, self.diversity_drop = stuck_steps, stuck_level, diversity_drop
        # Samples far less diverse than real images of the same classes mean collapse even if they never
        # were more diverse (a relative drop alone misses a generator that collapses early).
        self.real_diversity, self.collapse_ratio = real_diversity, collapse_ratio
        self.low_run = 0
        self.best_diversity = 0.0
        self.events: list[dict[str, Any]] = []

    def _event(self, step: int, kind: str, message: str) -> dict[str, Any]:
        event = {"step": step, "kind": kind, "message": message}
        self.events.append(event)
        return event

    def losses(self, step: int, d: float, g: float) -> dict[str, Any] | None:
        if not (math.isfinite(d) and math.isfinite(g)):
            return self._event(step, "nan", f"non-finite loss (D {d}, G {g}): training diverged")
        self.low_run = self.low_run + 1 if d < self.stuck_level else 0
        if self.low_run == self.stuck_steps:
            return self._event(step, "d_stuck", f"D loss below {self.stuck_level} for {self.stuck_steps} steps")
        return None

    def diversity(self, step: int, value: float) -> dict[str, Any] | None:
        self.best_diversity = max(self.best_diversity, value)
        if self.real_diversity and value < self.collapse_ratio * self.real_diversity:
            message = (f"sample diversity {value:.3f} is below {self.collapse_ratio:.0%} of the real images' "
                       f"{self.real_diversity:.3f}: mode collapse")  # fmt: skip
            return self._event(step, "diversity", message)
        if value < self.diversity_drop * self.best_diversity:
            message = (f"sample diversity {value:.3f} fell below {self.diversity_drop:.0%} of its best "
                       f"{self.best_diversity:.3f}: mode collapse?")  # fmt: skip
            return self._event(step, "diversity", message)
        return None


def sample_diversity(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean pairwise L2 distance between samples of the same class (per pixel), averaged over classes."""
    values = []
    for c in labels.unique():
        x = images[labels == c].flatten(1)
        if len(x) > 1:
            d = torch.cdist(x, x) / math.sqrt(x.shape[1])
            values.append(float(d.sum() / (len(x) * (len(x) - 1))))
    return float(np.mean(values)) if values else 0.0


def train_gan(cfg: Config, out: str | Path, resume: bool = True, log=print, on_checkpoint=None) -> Path:
    """Train the configured GAN family; `on_checkpoint(step)` runs after each resumable checkpoint."""
    from pneumogan import distributed

    out = Path(out)
    gc = cfg.gan
    device = resolve_device(gc.device)
    ctx = distributed.setup(device)  # under torchrun: each process takes a shard of every global batch
    device = distributed.local_device(device, ctx)
    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
    else:
        log = distributed.silent
    mine = slice(ctx.rank, None, ctx.world)
    distributed.shard_batch(gc.batch_size, ctx)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    images, labels, class_names = training_images(cfg)
    n_cls = len(class_names)
    conditional = gc.family != "dcgan"
    g, d = build(gc.family, cfg.data.size, n_cls, gc.z_dim, gc.g_channels, gc.d_channels, gc.spectral_norm)
    g, d = g.to(device), d.to(device)
    memory_format = torch.channels_last if gc.channels_last else torch.contiguous_format
    g, d = g.to(memory_format=memory_format), d.to(memory_format=memory_format)
    g_ema = copy.deepcopy(g).eval() if gc.ema else None
    opt_g = torch.optim.Adam(g.parameters(), lr=gc.lr_g, betas=gc.betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=gc.lr_d, betas=gc.betas)
    policy = parse_policy(gc.diffaugment)
    steps = total_steps(cfg)
    fixed = torch.Generator().manual_seed(cfg.seed + 12345)
    z_fixed = torch.randn(gc.grid_per_class * n_cls, gc.z_dim, generator=fixed).to(device)
    y_fixed = torch.arange(n_cls).repeat_interleave(gc.grid_per_class).to(device)
    pick = torch.cat([torch.nonzero(labels == c).flatten()[: 4 * gc.grid_per_class] for c in range(n_cls)])
    monitor = CollapseMonitor(real_diversity=sample_diversity(images[pick], labels[pick]))
    history: list[dict[str, Any]] = []
    start = 0
    meta = {
        "model": {"family": gc.family, "size": cfg.data.size, "num_classes": n_cls, "z_dim": gc.z_dim,
                  "g_channels": gc.g_channels, "d_channels": gc.d_channels},
        "class_names": class_names, "config": cfg.model_dump(mode="json"), "train_images": len(images),
        "ema": gc.ema, "output_range": [-1, 1],
    }  # fmt: skip

    state_path = out / STATE
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state["config"] == cfg.model_dump(mode="json"):
            g.load_state_dict(state["g"])
            d.load_state_dict(state["d"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            if g_ema is not None:
                g_ema.load_state_dict(state["g_ema"])
            start, history = state["step"], state["history"]
            monitor.events, monitor.best_diversity = state["events"], state["best_diversity"]
            log(f"resuming GAN training at step {start}/{steps}")
        else:
            log("config changed since the saved state: starting from scratch")

    amp = gc.amp and device.type == "cuda"
    acc: dict[str, float] = {"d_loss": 0.0, "g_loss": 0.0, "r1": 0.0, "aux": 0.0, "d_real": 0.0, "d_fake": 0.0}
    acc_n = 0
    t0 = time.perf_counter()
    status = Status()
    pending_events: list[str] = []  # monitor warnings since the last history row
    for step in track(range(start, steps), steps - start, f"{gc.family} {cfg.data.size}px", status, ctx.main):
        # The global batch is drawn from a per-step seed every process shares; each process takes its shard.
        rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        idx = torch.randint(0, len(images), (gc.batch_size,), generator=rng)[mine]
        real = images[idx].to(device).contiguous(memory_format=memory_format)
        y_real = labels[idx].to(device)
        y_fake = torch.randint(0, n_cls, (gc.batch_size,), generator=rng)[mine].to(device)
        z = torch.randn(gc.batch_size, gc.z_dim, generator=rng)[mine].to(device)
        cond_real, cond_fake = (y_real, y_fake) if conditional else (None, None)

        # Discriminator step.
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            with torch.no_grad():
                fake = g(z, cond_fake)
            real_logit, real_aux = d(diff_augment(real, policy, rng), cond_real)
            fake_logit, _ = d(diff_augment(fake, policy, rng), cond_fake)
            loss_d = losses.d_loss(real_logit.float(), fake_logit.float(), gc.loss)
            aux_loss = torch.zeros((), device=device)
            if real_aux is not None:
                aux_loss = F.cross_entropy(real_aux.float(), y_real)
                loss_d = loss_d + gc.aux_weight * aux_loss
        r1 = torch.zeros((), device=device)
        if gc.r1_gamma > 0 and step % gc.r1_every == 0:
            real_req = real.detach().requires_grad_(True)
            r_logit, _ = d(real_req, cond_real)
            r1 = losses.r1_penalty(r_logit.float(), real_req)
            loss_d = loss_d + 0.5 * gc.r1_gamma * gc.r1_every * r1
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        distributed.average_gradients(d, ctx)
        opt_d.step()

        # Generator step.
        z2 = torch.randn(gc.batch_size, gc.z_dim, generator=rng)[mine].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            fake = g(z2, cond_fake)
            logit, aux = d(diff_augment(fake, policy, rng), cond_fake)
            loss_g = losses.g_loss(logit.float(), gc.loss)
            if aux is not None:
                loss_g = loss_g + gc.aux_weight * F.cross_entropy(aux.float(), y_fake)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        distributed.average_gradients(g, ctx)
        opt_g.step()
        if g_ema is not None:
            # Ramp the decay up (as in StyleGAN2): with a fixed 0.999 a 300-step run would still sample
            # from weights that are mostly the random initialisation.
            decay = min(gc.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, p in zip(g_ema.parameters(), g.parameters(), strict=True):
                    pe.lerp_(p, 1 - decay)
                for be, b in zip(g_ema.buffers(), g.buffers(), strict=True):
                    be.copy_(b)

        scalars = [float(t.detach().float().mean()) for t in (loss_d, loss_g, r1, aux_loss, real_logit, fake_logit)]
        ld, lg, r1_v, aux_v, d_real_v, d_fake_v = (v / ctx.world for v in distributed.all_sum(scalars, ctx, device))
        event = monitor.losses(step, ld, lg)
        if event:
            log(f"warning: {event['message']}")
            pending_events.append(event["kind"])
            if event["kind"] == "nan":
                break
        for key, val in (("d_loss", ld), ("g_loss", lg), ("r1", r1_v), ("aux", aux_v), ("d_real", d_real_v),
                         ("d_fake", d_fake_v)):  # fmt: skip
            acc[key] += val
        acc_n += 1
        status.text = f"D {ld:.3f} G {lg:.3f}"
        done = step + 1
        if done % 25 == 0 or done == steps:
            elapsed = time.perf_counter() - t0
            history.append({"step": done, **{k: v / acc_n for k, v in acc.items()},
                            "images_per_s": acc_n * gc.batch_size / max(elapsed, 1e-9),
                            "events": ";".join(pending_events)})  # fmt: skip
            pending_events.clear()
            acc, acc_n, t0 = dict.fromkeys(acc, 0.0), 0, time.perf_counter()
        if ctx.main and (done % gc.sample_every == 0 or done == steps):
            sampler = g_ema if g_ema is not None else g
            with torch.no_grad():
                grid = sampler.eval()(z_fixed, y_fixed if conditional else None)
            g.train()
            save_grid(grid, n_cls, out / "grids" / f"step_{done:06d}.png")
            diversity = sample_diversity(grid.float().cpu(), y_fixed.cpu())
            event = monitor.diversity(done, diversity)
            if event:
                log(f"warning: {event['message']}")
            if history and history[-1]["step"] == done:
                history[-1]["diversity"] = diversity
                if event:
                    history[-1]["events"] = ";".join(filter(None, (history[-1]["events"], event["kind"])))
        if done % gc.checkpoint_every == 0 or done == steps:
            if ctx.main:
                _checkpoint(out, g, d, g_ema, opt_g, opt_d, cfg, done, history, monitor, meta)
            distributed.barrier(ctx)
            if on_checkpoint is not None:
                on_checkpoint(done)
    distributed.barrier(ctx)
    log(f"GAN training finished at step {len(history) and history[-1]['step']}; checkpoint in {out}")
    return out


def _checkpoint(out: Path, g, d, g_ema, opt_g, opt_d, cfg: Config, step: int, history, monitor, meta) -> None:
    meta = {**meta, "step": step, "events": monitor.events,
            "created": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    save_gan(out, g_ema if g_ema is not None else g, d, meta)
    state = {"g": g.state_dict(), "d": d.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
             "g_ema": g_ema.state_dict() if g_ema is not None else {}, "step": step, "history": history,
             "events": monitor.events, "best_diversity": monitor.best_diversity,
             "config": cfg.model_dump(mode="json")}  # fmt: skip
    tmp = out / f".{STATE}.tmp"
    torch.save(state, tmp)
    tmp.replace(out / STATE)
    write_history(out, history)
    atomic_write_json(out / "events.json", monitor.events)
