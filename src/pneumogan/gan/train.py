"""GAN training loop: seeded and exactly resumable, with stabilisers selectable in the config.

Every step draws its batch indices, latents and augmentation from a generator seeded by (seed, step), so a
resumed run continues exactly as an uninterrupted one. Outputs in `out/`: the checkpoint (generator with
EMA weights when EMA is on, discriminator, meta.json), `grids/step_NNNNNN.png` with fixed latents,
`history.csv/json`, `events.json` (collapse/divergence warnings) and `train_state.pt` for resuming.

The loop reads as its phases, as in stylegan2-ada's `training_loop`: `set_up`, `restore`, per step
`draw_batch`, `discriminator_step`, `generator_step`, `update_ema` and `record`, then periodically
`snapshot` (sample grid, diversity check) and `checkpoint`. The families differ only in their networks and
in `losses.AdversarialLoss`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pneumogan import distributed
from pneumogan.config import GAN_SECTIONS, Config, config_hash, dump_config
from pneumogan.data.loading import resolved_fit
from pneumogan.data.sources import absolute_source
from pneumogan.device import (
    PRECISIONS,
    cpu_kind,
    optimizer_options,
    resolve_device,
    resolve_precision,
    resumed_precision,
)
from pneumogan.evaluate.grids import save_grid
from pneumogan.gan.augment import AdaptiveProbability, parse_policy
from pneumogan.gan.checkpoint import save_gan
from pneumogan.gan.data import training_images
from pneumogan.gan.losses import AdversarialLoss, Batch
from pneumogan.gan.models import build, set_condition_strength
from pneumogan.gan.monitor import CollapseMonitor, sample_diversity
from pneumogan.generator_families import is_conditional
from pneumogan.layout import GAN_EVENTS, GAN_STATE, grid_path
from pneumogan.progress import Status, track
from pneumogan.runs import ResumeState, atomic_write_json, median_images_per_s, write_history
from pneumogan.tracking import Tracker

Log = Callable[[str], None]
HISTORY_EVERY = 25  # steps averaged into one history row
SCALARS = ("d_loss", "g_loss", "r1", "aux", "d_real", "d_fake", "recon")


def total_steps(cfg: Config) -> int:
    gan_cfg = cfg.gan
    return math.ceil(gan_cfg.images / gan_cfg.batch_size) if gan_cfg.images else gan_cfg.steps


@dataclass
class GanTraining:
    """Everything the phases of one GAN training share."""

    cfg: Config
    out: Path
    log: Log
    dist: distributed.Dist
    device: torch.device
    images: torch.Tensor  # real training images in [-1, 1], (N, 1, S, S)
    labels: torch.Tensor
    class_names: list[str]
    g: nn.Module
    d: nn.Module
    g_ema: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: AdversarialLoss
    memory_format: torch.memory_format
    steps: int
    z_fixed: torch.Tensor  # latents of the sample grids, the same at every snapshot
    y_fixed: torch.Tensor
    monitor: CollapseMonitor
    meta: dict[str, Any]
    resume_state: ResumeState
    history: list[dict[str, Any]] = field(default_factory=list)
    start: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SCALARS, 0.0))
    summed_steps: int = 0
    window_start: float = 0.0
    pending_events: list[str] = field(default_factory=list)  # monitor warnings since the last history row
    ada: AdaptiveProbability | None = None  # adaptive augmentation (gan.ada_target > 0)

    @property
    def mine(self) -> slice:
        """This process's shard of every global batch."""
        return slice(self.dist.rank, None, self.dist.world)

    tracker: Tracker = field(default_factory=lambda: Tracker(Path(), "", enabled=False))  # set when training starts


def train_gan(cfg: Config, out: str | Path, resume: bool = True, log: Log = print, on_checkpoint=None) -> Path:
    """Train the configured GAN family; `on_checkpoint(step)` runs after each resumable checkpoint."""
    run = set_up(cfg, Path(out), log)
    if resume:
        restore(run)
    gan_cfg = cfg.gan
    run.log(f"precision {run.loss.precision} (setting: {gan_cfg.precision}, device: {run.device})")
    run.window_start = time.perf_counter()
    status = Status()
    steps = range(run.start, run.steps)
    run.tracker = Tracker(run.out, dump_config(cfg), run.start and run.start + 1, run.dist.main)
    try:
        for step in track(steps, len(steps), f"{gan_cfg.family} {cfg.data.size}px", status, run.dist.main):
            set_condition_strength(condition_strength(gan_cfg.condition_ramp, step, run.steps), run.g, run.g_ema, run.d)
            batch = draw_batch(run, step)
            d_out = discriminator_step(run, batch, with_r1=gan_cfg.r1_gamma > 0 and step % gan_cfg.r1_every == 0)
            adapt_augmentation(run, step, d_out["d_real"])
            g_loss = generator_step(run, batch)
            update_ema(run, step)
            if not record(run, step, d_out, g_loss, status):
                break  # non-finite losses: training diverged
            done = step + 1
            if run.dist.main and (done % gan_cfg.sample_every == 0 or done == run.steps):
                snapshot(run, done)
            if done % gan_cfg.checkpoint_every == 0 or done == run.steps:
                if run.dist.main:
                    checkpoint(run, done)
                distributed.barrier(run.dist)
                if on_checkpoint is not None:
                    on_checkpoint(done)
    finally:
        run.tracker.close()
    distributed.barrier(run.dist)
    run.log(f"GAN training finished at step {len(run.history) and run.history[-1]['step']}; checkpoint in {run.out}")
    return run.out


def condition_strength(ramp: tuple[float, float], step: int, steps: int) -> float:
    """Transitional training (Shahbazi et al. 2022): 0 before `ramp[0]` of the steps, 1 after `ramp[1]`, linear
    between; conditional GANs trained on few images otherwise tend to ignore the latent (one image per class)."""
    start, end = ramp[0] * steps, ramp[1] * steps
    if step >= end:
        return 1.0
    return 0.0 if step < start else (step - start) / (end - start)


def set_up(cfg: Config, out: Path, log: Log) -> GanTraining:
    gan_cfg = cfg.gan
    device = resolve_device(gan_cfg.device)
    dist = distributed.setup(device)  # under torchrun: each process takes a shard of every global batch
    device = distributed.local_device(device, dist)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
    else:
        log = distributed.silent
    distributed.shard_batch(gan_cfg.batch_size, dist)  # checks that the global batch splits evenly
    precision = distributed.broadcast_choice(
        resolve_precision(gan_cfg.precision, device, log), PRECISIONS, dist, device
    )
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    images, labels, class_names = training_images(cfg)
    n_classes = len(class_names)
    g, d = build(
        gan_cfg.family,
        cfg.data.size,
        n_classes,
        gan_cfg.z_dim,
        gan_cfg.g_channels,
        gan_cfg.d_channels,
        gan_cfg.spectral_norm,
        gan_cfg.g_conditioning,
    )
    memory_format = torch.channels_last if gan_cfg.channels_last else torch.contiguous_format
    g, d = g.to(device).to(memory_format=memory_format), d.to(device).to(memory_format=memory_format)
    fixed = torch.Generator().manual_seed(cfg.seed + 12345)
    z_fixed = torch.randn(gan_cfg.grid_per_class * n_classes, gan_cfg.z_dim, generator=fixed).to(device)
    y_fixed = torch.arange(n_classes).repeat_interleave(gan_cfg.grid_per_class).to(device)
    per_class = [torch.nonzero(labels == c).flatten()[: 4 * gan_cfg.grid_per_class] for c in range(n_classes)]
    pick = torch.cat(per_class)
    model_meta = {
        "family": gan_cfg.family,
        "size": cfg.data.size,
        "num_classes": n_classes,
        "z_dim": gan_cfg.z_dim,
        "g_channels": gan_cfg.g_channels,
        "d_channels": gan_cfg.d_channels,
        "g_conditioning": gan_cfg.g_conditioning,
    }
    meta = {
        "model": model_meta,
        "class_names": class_names,
        "config": cfg.model_dump(mode="json"),
        "train_images": len(images),
        "data_source_path": absolute_source(cfg.data.source),
        "ema": gan_cfg.ema,
        "output_range": [-1, 1],
        "preprocessing": {"size": cfg.data.size, "fit": resolved_fit(cfg)},  # the geometry of its training images
        "precision": precision,
    }
    return GanTraining(
        cfg=cfg,
        out=out,
        log=log,
        dist=dist,
        device=device,
        images=images,
        labels=labels,
        class_names=class_names,
        g=g,
        d=d,
        g_ema=copy.deepcopy(g).eval() if gan_cfg.ema else None,
        opt_g=torch.optim.Adam(g.parameters(), lr=gan_cfg.lr_g, betas=gan_cfg.betas, **optimizer_options(device)),
        opt_d=torch.optim.Adam(d.parameters(), lr=gan_cfg.lr_d, betas=gan_cfg.betas, **optimizer_options(device)),
        loss=AdversarialLoss(g, d, gan_cfg, parse_policy(gan_cfg.diffaugment), device, precision),
        memory_format=memory_format,
        steps=total_steps(cfg),
        z_fixed=z_fixed,
        y_fixed=y_fixed,
        monitor=CollapseMonitor(real_diversity=sample_diversity(images[pick], labels[pick])),
        meta=meta,
        resume_state=ResumeState(out / GAN_STATE, config_hash(cfg, GAN_SECTIONS)),
        ada=_adaptive(gan_cfg),
    )


def _adaptive(gan_cfg) -> AdaptiveProbability | None:
    if gan_cfg.ada_target <= 0:
        return None
    return AdaptiveProbability(gan_cfg.ada_target, gan_cfg.ada_interval, gan_cfg.ada_kimg * 1000)


def restore(run: GanTraining) -> None:
    state = run.resume_state.load(run.log)
    if state is None:
        return
    run.g.load_state_dict(state["g"])
    run.d.load_state_dict(state["d"])
    run.opt_g.load_state_dict(state["opt_g"])
    run.opt_d.load_state_dict(state["opt_d"])
    if run.g_ema is not None:
        run.g_ema.load_state_dict(state["g_ema"])
    run.start, run.history = state["step"], state["history"]
    run.monitor.events, run.monitor.best_diversity = state["events"], state["best_diversity"]
    kept = state.get("precision", run.loss.precision)
    run.loss.precision = run.meta["precision"] = resumed_precision(
        kept, run.loss.precision, run.cfg.gan.precision, run.device, run.log, trained_on=state.get("cpu_kind")
    )
    if run.ada is not None and state.get("ada"):
        run.ada.load(state["ada"])
        run.loss.p = run.ada.p
    run.log(f"resuming GAN training at step {run.start}/{run.steps}")


def draw_batch(run: GanTraining, step: int) -> Batch:
    """The global batch from a per-step seed every process shares; each process takes its shard."""
    gan_cfg = run.cfg.gan
    rng = torch.Generator().manual_seed(run.cfg.seed * 1_000_003 + step)
    idx = torch.randint(0, len(run.images), (gan_cfg.batch_size,), generator=rng)[run.mine]
    real = run.images[idx].to(run.device).contiguous(memory_format=run.memory_format)
    if gan_cfg.fake_labels == "data":  # the fakes' classes in the real images' proportions
        y_fake = run.labels[torch.randint(0, len(run.labels), (gan_cfg.batch_size,), generator=rng)]
    else:
        y_fake = torch.randint(0, len(run.class_names), (gan_cfg.batch_size,), generator=rng)
    y_fake = y_fake[run.mine].to(run.device)
    z = torch.randn(gan_cfg.batch_size, gan_cfg.z_dim, generator=rng)[run.mine].to(run.device)
    return Batch(real=real, y_real=run.labels[idx].to(run.device), y_fake=y_fake, z=z, rng=rng)


def discriminator_step(run: GanTraining, batch: Batch, with_r1: bool) -> dict[str, torch.Tensor]:
    out = run.loss.discriminator(batch, with_r1)
    run.opt_d.zero_grad(set_to_none=True)
    out["loss"].backward()
    distributed.average_gradients(run.d, run.dist)
    run.opt_d.step()
    return out


def adapt_augmentation(run: GanTraining, step: int, d_real: torch.Tensor) -> None:
    """ADA: collect sign(D(real)); every `gan.ada_interval` steps move the augmentation probability."""
    if run.ada is None:
        return
    run.ada.observe(float(torch.sign(d_real.detach().float()).sum()), d_real.numel())
    if (step + 1) % run.cfg.gan.ada_interval == 0:
        total, seen = distributed.all_sum([run.ada.sign_sum, float(run.ada.seen)], run.dist, run.device)
        run.ada.sign_sum, run.ada.seen = total, round(seen)
        run.ada.adjust()
        run.loss.p = run.ada.p


def generator_step(run: GanTraining, batch: Batch) -> torch.Tensor:
    gan_cfg = run.cfg.gan
    z = torch.randn(gan_cfg.batch_size, gan_cfg.z_dim, generator=batch.rng)[run.mine].to(run.device)
    # D's weights need no gradient here (its next step zeroes them anyway): freezing them skips D's weight-
    # gradient convolutions, ~5 % of a step; the gradient still flows through D to G (as in StyleGAN2-ADA).
    run.d.requires_grad_(False)
    try:
        loss = run.loss.generator(batch, z)
        run.opt_g.zero_grad(set_to_none=True)
        loss.backward()
    finally:
        run.d.requires_grad_(True)
    distributed.average_gradients(run.g, run.dist)
    run.opt_g.step()
    return loss


@torch.no_grad()
def update_ema(run: GanTraining, step: int) -> None:
    """Move the EMA generator toward G. The decay ramps up (as in StyleGAN2): with a fixed 0.999 a 300-step
    run would still sample from weights that are mostly the random initialisation."""
    if run.g_ema is None:
        return
    decay = min(run.cfg.gan.ema_decay, (1 + step) / (10 + step))
    for ema_param, param in zip(run.g_ema.parameters(), run.g.parameters(), strict=True):
        ema_param.lerp_(param, 1 - decay)
    for ema_buffer, buffer in zip(run.g_ema.buffers(), run.g.buffers(), strict=True):
        ema_buffer.copy_(buffer)


def record(run: GanTraining, step: int, d_out: dict[str, torch.Tensor], g_loss: torch.Tensor, status: Status) -> bool:
    """Losses reduced over processes into the monitor and the history; False when training diverged."""
    tensors = (d_out["loss"], g_loss, d_out["r1"], d_out["aux"], d_out["d_real"], d_out["d_fake"], d_out["recon"])
    local = [float(t.detach().float().mean()) for t in tensors]
    values = dict(
        zip(SCALARS, (v / run.dist.world for v in distributed.all_sum(local, run.dist, run.device)), strict=True)
    )
    event = run.monitor.losses(step, values["d_loss"], values["g_loss"])
    if event:
        run.log(f"warning: {event['message']}")
        run.pending_events.append(event["kind"])
        if event["kind"] == "nan":
            return False
    for key, value in values.items():
        run.sums[key] += value
    run.summed_steps += 1
    speed = run.history[-1]["images_per_s"] if run.history else 0.0
    status.text = f"D {values['d_loss']:.3f} G {values['g_loss']:.3f} {speed:.0f} img/s"
    done = step + 1
    if done % HISTORY_EVERY == 0 or done == run.steps:
        elapsed = time.perf_counter() - run.window_start
        row = {"step": done, **{k: v / run.summed_steps for k, v in run.sums.items()}}
        row["images_per_s"] = run.summed_steps * run.cfg.gan.batch_size / max(elapsed, 1e-9)
        row["augment_p"] = run.loss.p
        row["events"] = ";".join(run.pending_events)
        run.history.append(row)
        run.tracker.row(row, done, "gan")
        run.pending_events.clear()
        run.sums, run.summed_steps, run.window_start = dict.fromkeys(SCALARS, 0.0), 0, time.perf_counter()
    return True


def snapshot(run: GanTraining, done: int) -> None:
    """A sample grid from the fixed latents (EMA generator when on) and the sample-diversity check."""
    sampler = run.g_ema if run.g_ema is not None else run.g
    conditional = is_conditional(run.cfg.gan.family)
    with torch.no_grad():
        grid = sampler.eval()(run.z_fixed, run.y_fixed if conditional else None)
    run.g.train()
    save_grid(grid, len(run.class_names), grid_path(run.out, done))
    diversity = sample_diversity(grid.float().cpu(), run.y_fixed.cpu())
    event = run.monitor.diversity(done, diversity)
    if event:
        run.log(f"warning: {event['message']}")
    if run.history and run.history[-1]["step"] == done:
        run.history[-1]["diversity"] = diversity
        if event:
            run.history[-1]["events"] = ";".join(filter(None, (run.history[-1]["events"], event["kind"])))


def checkpoint(run: GanTraining, step: int) -> None:
    """Sampling weights + meta.json, the exact resume state, history and events."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    meta = {**run.meta, "step": step, "events": run.monitor.events, "created": created}
    meta["train_images_per_s"] = median_images_per_s(run.history)
    save_gan(run.out, run.g_ema if run.g_ema is not None else run.g, run.d, meta)
    run.resume_state.save(
        {
            "g": run.g.state_dict(),
            "d": run.d.state_dict(),
            "opt_g": run.opt_g.state_dict(),
            "opt_d": run.opt_d.state_dict(),
            "g_ema": run.g_ema.state_dict() if run.g_ema is not None else {},
            "step": step,
            "history": run.history,
            "events": run.monitor.events,
            "best_diversity": run.monitor.best_diversity,
            "precision": run.loss.precision,
            "cpu_kind": cpu_kind(),  # a resume on another kind may change precision (device.resumed_precision)
            "ada": run.ada.state() if run.ada is not None else None,
        }
    )
    write_history(run.out, run.history)
    atomic_write_json(run.out / GAN_EVENTS, run.monitor.events)
