"""Diffusion training loop: seeded and exactly resumable, in phases like the GAN loop.

Every step draws its batch, timesteps, noise and class dropout from a generator seeded by (seed, step), so a
resumed run continues exactly as an uninterrupted one. Outputs in `out/`: `generator.safetensors` (the EMA
UNet: what sampling uses), `meta.json` (kind `diffusion`), `grids/step_NNNNNN.png` from fixed latents,
`history.csv/json` and `train_state.pt` for resuming.

Phases: `set_up`, `restore`, per step `draw_batch` → `train_step` → `update_ema` → `record`; every
`sample_every` steps `snapshot`, every `checkpoint_every` `checkpoint`.
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

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pneumogan.config import DIFFUSION_SECTIONS, Config, config_hash, dump_config
from pneumogan.data.labels import BINARY_CLASSES, THREE_CLASSES
from pneumogan.data.loading import load_splits, resolved_fit
from pneumogan.data.sources import absolute_source
from pneumogan.device import autocast, cpu_kind, optimizer_options, resolve_device, resolve_precision, resumed_precision
from pneumogan.diffusion.checkpoint import sampler_from, save_diffusion
from pneumogan.diffusion.model import build_unet, noise_scheduler, schedule_config, unet_config
from pneumogan.errors import PneumoganError
from pneumogan.evaluate.grids import save_grid
from pneumogan.layout import GAN_STATE, grid_path
from pneumogan.progress import Status, track
from pneumogan.runs import ResumeState, median_images_per_s, write_history
from pneumogan.tracking import Tracker

Log = Callable[[str], None]
HISTORY_EVERY = 25  # steps averaged into one history row


def total_steps(cfg: Config) -> int:
    d = cfg.diffusion
    return math.ceil(d.images / d.batch_size) if d.images else d.steps


@dataclass
class DiffusionTraining:
    """Everything the phases of one diffusion training share."""

    cfg: Config
    out: Path
    log: Log
    device: torch.device
    precision: str
    images: torch.Tensor  # real training images in [-1, 1], (N, 1, S, S)
    labels: torch.Tensor
    class_names: list[str]
    unet: nn.Module
    ema: nn.Module
    optimizer: torch.optim.Optimizer
    noise: Any  # the DDPM forward process
    steps: int
    z_fixed: torch.Tensor  # starting noise of the sample grids, the same at every snapshot
    y_fixed: torch.Tensor
    meta: dict[str, Any]
    resume_state: ResumeState
    history: list[dict[str, Any]] = field(default_factory=list)
    start: int = 0
    loss_sum: float = 0.0
    summed_steps: int = 0
    window_start: float = 0.0
    tracker: Tracker = field(default_factory=lambda: Tracker(Path(), "", enabled=False))  # set when training starts


def train_diffusion(cfg: Config, out: str | Path, resume: bool = True, log: Log = print, on_checkpoint=None) -> Path:
    """Train the class-conditional diffusion model; `on_checkpoint(step)` runs after each resumable checkpoint."""
    run = set_up(cfg, Path(out), log)
    if resume:
        restore(run)
    d = cfg.diffusion
    run.log(f"precision {run.precision} (setting: {d.precision}, device: {run.device})")
    run.window_start = time.perf_counter()
    status = Status()
    steps = range(run.start, run.steps)
    run.tracker = Tracker(run.out, dump_config(cfg), run.start and run.start + 1)
    try:
        for step in track(steps, len(steps), f"diffusion {cfg.data.size}px", status):
            loss = train_step(run, draw_batch(run, step), step)
            update_ema(run, step)
            if not record(run, step, loss, status):
                break
            done = step + 1
            if done % d.sample_every == 0 or done == run.steps:
                snapshot(run, done)
            if done % d.checkpoint_every == 0 or done == run.steps:
                checkpoint(run, done)
                if on_checkpoint is not None:
                    on_checkpoint(done)
    finally:
        run.tracker.close()
    run.log(f"diffusion training finished at step {run.history[-1]['step'] if run.history else 0}; in {run.out}")
    return run.out


def real_images(cfg: Config) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Real training-split images in [-1, 1] with their class indices (2 or 3 classes)."""
    real_only = cfg.model_copy(deep=True)
    real_only.data.extra_train, real_only.data.train_real = [], True
    train = load_splits(real_only).train
    if cfg.diffusion.num_classes == 3:
        mask, names, labels = train.labels3 >= 0, list(THREE_CLASSES), train.labels3
    else:
        mask, names, labels = np.ones(len(train), bool), list(BINARY_CLASSES), train.labels
    images = torch.from_numpy(np.asarray(train.images)[mask].astype(np.float32)).div_(127.5).sub_(1.0)[:, None]
    if len(images) < cfg.diffusion.batch_size:
        raise PneumoganError(f"only {len(images)} training images; lower diffusion.batch_size")
    return images, torch.from_numpy(labels[mask].astype(np.int64)), names


def set_up(cfg: Config, out: Path, log: Log) -> DiffusionTraining:
    d = cfg.diffusion
    device = resolve_device(d.device)
    precision = resolve_precision(d.precision, device, log)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    images, labels, names = real_images(cfg)
    unet_cfg = unet_config(cfg.data.size, len(names), d.channels, d.layers_per_block, d.attention)
    memory_format = torch.channels_last if d.channels_last else torch.contiguous_format
    unet = build_unet(unet_cfg).to(device).to(memory_format=memory_format)
    schedule = schedule_config(d.train_timesteps, d.schedule, d.prediction)
    fixed = torch.Generator().manual_seed(cfg.seed + 12345)
    n = d.grid_per_class * len(names)
    meta = {
        "kind": "diffusion",
        "model": {"family": "diffusion", "size": cfg.data.size, "num_classes": len(names), "unet": unet_cfg},
        "schedule": schedule,
        "sampling": {"sampler": d.sampler, "steps": d.sample_steps, "guidance": d.guidance},
        "class_names": names,
        "config": cfg.model_dump(mode="json"),
        "train_images": len(images),
        "data_source_path": absolute_source(cfg.data.source),
        "output_range": [-1, 1],
        "preprocessing": {"size": cfg.data.size, "fit": resolved_fit(cfg)},
        "precision": precision,
        "parameters": sum(p.numel() for p in unet.parameters()),
    }
    return DiffusionTraining(
        cfg=cfg,
        out=out,
        log=log,
        device=device,
        precision=precision,
        images=images,
        labels=labels,
        class_names=names,
        unet=unet,
        ema=copy.deepcopy(unet).eval().requires_grad_(False),
        optimizer=torch.optim.AdamW(
            unet.parameters(), lr=d.lr, weight_decay=d.weight_decay, **optimizer_options(device)
        ),
        noise=noise_scheduler(schedule),
        steps=total_steps(cfg),
        z_fixed=torch.randn(n, cfg.data.size * cfg.data.size, generator=fixed),
        y_fixed=torch.arange(len(names)).repeat_interleave(d.grid_per_class),
        meta=meta,
        resume_state=ResumeState(out / GAN_STATE, config_hash(cfg, DIFFUSION_SECTIONS)),
    )


def restore(run: DiffusionTraining) -> None:
    state = run.resume_state.load(run.log)
    if state is None:
        return
    run.unet.load_state_dict(state["unet"])
    run.ema.load_state_dict(state["ema"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.start, run.history = state["step"], state["history"]
    kept = state.get("precision", run.precision)
    run.precision = run.meta["precision"] = resumed_precision(
        kept, run.precision, run.cfg.diffusion.precision, run.device, run.log, trained_on=state.get("cpu_kind")
    )
    run.log(f"resuming diffusion training at step {run.start}/{run.steps}")


@dataclass
class Batch:
    x0: torch.Tensor
    y: torch.Tensor  # with some classes replaced by "no class" (index num_classes)
    t: torch.Tensor
    noise: torch.Tensor


def draw_batch(run: DiffusionTraining, step: int) -> Batch:
    """Images, timesteps, noise and class dropout from a per-step seed: the same batch after a resume."""
    d = run.cfg.diffusion
    rng = torch.Generator().manual_seed(run.cfg.seed * 1_000_003 + step)
    idx = torch.randint(0, len(run.images), (d.batch_size,), generator=rng)
    t = torch.randint(0, d.train_timesteps, (d.batch_size,), generator=rng)
    noise = torch.randn(d.batch_size, *run.images.shape[1:], generator=rng)
    drop = torch.rand(d.batch_size, generator=rng) < d.class_dropout
    y = torch.where(drop, torch.full_like(run.labels[idx], len(run.class_names)), run.labels[idx])
    to = dict(device=run.device)
    fmt = torch.channels_last if d.channels_last else torch.contiguous_format
    return Batch(run.images[idx].to(**to).contiguous(memory_format=fmt), y.to(**to), t.to(**to), noise.to(**to))


def target(run: DiffusionTraining, batch: Batch) -> torch.Tensor:
    """What the network learns to predict: the noise, or v = √ᾱ ε − √(1−ᾱ) x₀."""
    if run.cfg.diffusion.prediction == "epsilon":
        return batch.noise
    return run.noise.get_velocity(batch.x0, batch.noise, batch.t)


def train_step(run: DiffusionTraining, batch: Batch, step: int) -> torch.Tensor:
    """One optimizer step on the denoising loss (MSE to the target), with linear warm-up of the learning rate."""
    d = run.cfg.diffusion
    for group in run.optimizer.param_groups:
        group["lr"] = d.lr * min(1.0, (step + 1) / max(1, d.warmup_steps))
    noisy = run.noise.add_noise(batch.x0, batch.noise, batch.t)
    with autocast(run.device, run.precision):
        out = run.unet(noisy, batch.t, class_labels=batch.y).sample
    loss = F.mse_loss(out.float(), target(run, batch))
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    return loss.detach()


@torch.no_grad()
def update_ema(run: DiffusionTraining, step: int) -> None:
    """EMA of the weights with a ramped decay (as the GAN loop): early snapshots are not mostly initialisation."""
    decay = min(run.cfg.diffusion.ema_decay, (1 + step) / (10 + step))
    for ema_param, param in zip(run.ema.parameters(), run.unet.parameters(), strict=True):
        ema_param.lerp_(param, 1 - decay)


def record(run: DiffusionTraining, step: int, loss: torch.Tensor, status: Status) -> bool:
    value = float(loss)
    if not math.isfinite(value):
        run.log(f"warning: non-finite loss at step {step}; training stopped")
        return False
    run.loss_sum += value
    run.summed_steps += 1
    speed = run.history[-1]["images_per_s"] if run.history else 0.0
    status.text = f"loss {value:.4f} {speed:.0f} img/s"
    done = step + 1
    if done % HISTORY_EVERY == 0 or done == run.steps:
        elapsed = time.perf_counter() - run.window_start
        row = {"step": done, "loss": run.loss_sum / run.summed_steps}
        row["images_per_s"] = run.summed_steps * run.cfg.diffusion.batch_size / max(elapsed, 1e-9)
        run.history.append(row)
        run.tracker.row(row, done, "diffusion")
        run.loss_sum, run.summed_steps, run.window_start = 0.0, 0, time.perf_counter()
    return True


def snapshot(run: DiffusionTraining, done: int) -> None:
    """A sample grid from the fixed latents with the EMA weights and the configured sampler."""
    sampler = sampler_from(run.ema, run.meta)
    with autocast(run.device, run.precision):
        grid = sampler(run.z_fixed.to(run.device), run.y_fixed.to(run.device))
    save_grid(grid.float(), len(run.class_names), grid_path(run.out, done))


def checkpoint(run: DiffusionTraining, step: int) -> None:
    """Sampling weights (the EMA UNet) + meta.json, the exact resume state and the history."""
    meta = {**run.meta, "step": step, "created": datetime.now(UTC).isoformat(timespec="seconds")}
    meta["train_images_per_s"] = median_images_per_s(run.history)
    save_diffusion(run.out, run.ema, meta)
    run.resume_state.save(
        {
            "unet": run.unet.state_dict(),
            "ema": run.ema.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "step": step,
            "history": run.history,
            "precision": run.precision,
            "cpu_kind": cpu_kind(),  # a resume on another kind may change precision (device.resumed_precision)
        }
    )
    write_history(run.out, run.history)
