"""Classifier training: seeded, resumable, model selection on the patient-grouped val split.

Outputs in `out/`: `model.safetensors` + `meta.json` (the best epoch by val ROC-AUC, with the val-chosen
decision threshold), `history.csv`/`history.json`, `curves.png`, and `last_state.pt` for resuming.

The loop reads as its phases: `set_up` (data, model, optimiser, resume state), per epoch `train_epoch`
(calling `train_step` per batch) and `validate`, `end_epoch` (history, best checkpoint, resume state), and
`finish` (threshold on val, final checkpoint, curves).
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

from pneumogan import distributed
from pneumogan.classify import models
from pneumogan.classify.checkpoint import load_checkpoint, save_checkpoint
from pneumogan.classify.inference import positive_score, predict_proba
from pneumogan.classify.ood_fit import feature_extractor
from pneumogan.classify.pretrained import IMAGENET_GRAY
from pneumogan.config import CLASSIFY_SECTIONS, Config, config_hash, dump_config
from pneumogan.data.augment import BatchAugment
from pneumogan.data.datasets import TrainBatches
from pneumogan.data.geometry import recipe
from pneumogan.data.labels import class_names, targets
from pneumogan.data.loading import SplitData, load_splits
from pneumogan.data.prepare import PreparedDataset
from pneumogan.data.sources import absolute_source
from pneumogan.device import PRECISIONS, autocast, optimizer_options, resolve_device, resolve_precision
from pneumogan.evaluate.calibration import calibrate_on_val
from pneumogan.evaluate.metrics import binary_metrics, choose_threshold, operating_points, threshold_interval
from pneumogan.layout import CLASSIFIER_STATE, CURVES
from pneumogan.ood.check import describe, fit_ood
from pneumogan.progress import Status, track
from pneumogan.runs import ResumeState, median_images_per_s, write_history
from pneumogan.tracking import Tracker

Log = Callable[[str], None]


def _lr_factor(cfg: Config, epoch: int, progress: float = 1.0) -> float:
    """The learning-rate multiplier `progress` (0–1] of the way through `epoch`: warm-up ramps linearly by step
    (else one warm-up epoch would be no warm-up at all), the schedule moves by epoch."""
    c = cfg.classify
    warmup = min(1.0, (epoch + progress) / c.warmup_epochs) if c.warmup_epochs else 1.0
    if c.schedule == "cosine":
        return warmup * 0.5 * (1 + math.cos(math.pi * epoch / c.epochs))
    if c.schedule == "step":
        return warmup * c.gamma ** (epoch // c.step_size)
    return warmup


def set_learning_rate(run: Training, epoch: int, progress: float = 1.0) -> None:
    for group, base in zip(run.optimizer.param_groups, run.base_lrs, strict=True):
        group["lr"] = base * _lr_factor(run.cfg, epoch, progress)


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, c) -> torch.Tensor:
    """Class-weighted (label-smoothed) cross-entropy per image, or its focal form: × (1 − p_true)^γ, which
    shrinks the loss of images the model already gets right with confidence."""
    ce = nn.functional.cross_entropy(logits, y, weight=weight, reduction="none", label_smoothing=c.label_smoothing)
    if c.loss != "focal":
        return ce
    p_true = torch.softmax(logits, dim=1).gather(1, y[:, None])[:, 0]
    return (1.0 - p_true).clamp_min(0.0).pow(c.focal_gamma) * ce


def _param_groups(model: nn.Module, arch: models.ArchInfo, lr: float, scale: float) -> list[dict]:
    head, last, rest = [], [], []
    for name, p in model.named_parameters():
        if name.startswith(arch.head):
            head.append(p)
        elif name.startswith(arch.last_blocks):
            last.append(p)
        else:
            rest.append(p)
    return [
        {"params": head, "lr": lr, "name": "head"},
        {"params": last, "lr": lr * scale, "name": "last"},
        {"params": rest, "lr": lr * scale, "name": "rest"},
    ]


def _set_stage(model: nn.Module, arch: models.ArchInfo, epoch: int, cfg: Config) -> str:
    """Two-stage fine-tuning: head only, then the last blocks too (ImageNet weights) or the whole backbone (a
    self-supervised encoder from `init_from`: a linear probe, then full fine-tuning). Without it all train."""
    c = cfg.classify
    if c.stage1_epochs == 0:
        for p in model.parameters():
            p.requires_grad_(True)
        return "all"
    stage1 = epoch < c.stage1_epochs
    whole = bool(c.init_from)
    for name, p in model.named_parameters():
        stage2 = whole or name.startswith(arch.last_blocks)
        p.requires_grad_(name.startswith(arch.head) or (not stage1 and stage2))
    return "head" if stage1 else ("all" if whole else "last_blocks")


@dataclass
class Training:
    """Everything the phases of one classifier training share."""

    cfg: Config
    out: Path
    log: Log
    dist: distributed.Dist
    device: torch.device
    arch: models.ArchInfo
    data: SplitData
    model: nn.Module
    optimizer: torch.optim.Optimizer
    base_lrs: list[float]
    batches: TrainBatches
    train_labels: np.ndarray
    class_counts: np.ndarray
    class_weights: torch.Tensor  # the loss weights (ones unless balance is class_weights), on the device
    class_weights_cpu: torch.Tensor  # the same on the host, to weigh a batch before it moves
    val_set: PreparedDataset
    val_labels: np.ndarray  # task labels of val (binary or 3-class)
    mean: float
    std: float
    resume_state: ResumeState
    precision: str = "fp32"  # resolved once per run (rank 0 decides under DDP) and kept on resume
    init: dict[str, Any] | None = None  # classify.init_from: the encoder folder and its weights' hash
    ema: Any = None  # torch.optim.swa_utils.AveragedModel of `model` when classify.ema_decay > 0
    sample_weights: torch.Tensor | None = None  # per training image (synthetic ones at classify.synthetic_weight)

    @property
    def scored(self) -> nn.Module:
        """The weights val scores and checkpoints keep: the EMA's when there is one."""
        return self.ema.module if self.ema is not None else self.model

    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    best_auc: float = -1.0
    best_epoch: int = -1
    tracker: Tracker = field(default_factory=lambda: Tracker(Path(), "", enabled=False))  # set when training starts


STATUS_EVERY = 10  # batches between progress-bar updates


@dataclass
class EpochStats:
    """Sums over one epoch's batches (reduced over processes at the end of the epoch). The loss and
    correct counts stay tensors on the device during the epoch, so a step never waits for the GPU."""

    loss_sum: float | torch.Tensor = 0.0
    weight_sum: float = 0.0
    correct: int | torch.Tensor = 0
    seen: int = 0

    def add(self, loss_sum: float | torch.Tensor, weight_sum: float, correct: int | torch.Tensor, seen: int) -> None:
        self.loss_sum += loss_sum
        self.weight_sum += weight_sum
        self.correct += correct
        self.seen += seen


def train(cfg: Config, out: str | Path, resume: bool = True, log: Log = print, on_epoch_end=None) -> Path:
    """Train a classifier as configured; returns `out`, which then holds the best checkpoint.

    `on_epoch_end(epoch)` runs after each epoch's state is saved (budgets, tests that interrupt a run).
    """
    run = set_up(cfg, Path(out), log)
    if resume:
        restore(run)
    run.log(f"precision {run.precision} (setting: {cfg.classify.precision}, device: {run.device})")
    started = time.perf_counter()
    ddp = DdpWrapper(run)
    run.tracker = Tracker(run.out, dump_config(cfg), run.start_epoch and run.start_epoch + 1, run.dist.main)
    try:
        for epoch in range(run.start_epoch, cfg.classify.epochs):
            if run.best_epoch >= 0 and epoch - run.best_epoch > cfg.classify.patience:
                run.log(f"early stop: no better val ROC-AUC for {cfg.classify.patience} epochs")
                break
            stage = _set_stage(run.model, run.arch, epoch, cfg)
            set_learning_rate(run, epoch)
            t0 = time.perf_counter()
            stats = train_epoch(run, ddp.for_stage(stage), epoch)
            row = validate(run, epoch, stage, stats, time.perf_counter() - t0)
            end_epoch(run, epoch, row)
            if on_epoch_end is not None:
                on_epoch_end(epoch)
        return finish(run, started)
    finally:
        run.tracker.close()


def set_up(cfg: Config, out: Path, log: Log) -> Training:
    """Data, model, optimiser and loss weights, in the order that keeps a seeded run reproducible."""
    c = cfg.classify
    device = resolve_device(c.device)
    dist = distributed.setup(device)  # under torchrun: one process per GPU (or CPU share), gloo/nccl
    device = distributed.local_device(device, dist)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
    else:
        log = distributed.silent
    distributed.shard_batch(c.batch_size, dist)  # checks that the global batch splits evenly
    precision = distributed.broadcast_choice(resolve_precision(c.precision, device, log), PRECISIONS, dist, device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    data = load_splits(cfg)
    y_train, keep = targets(data.train, c.num_classes)
    train_set, y_train = data.train.select(keep), y_train[keep]
    y_val, keep_val = targets(data.val, c.num_classes)
    mean, std = IMAGENET_GRAY if c.pretrained else (0.5, 0.5)

    model = models.build(
        c.arch,
        c.num_classes,
        pretrained=c.pretrained,
        image_size=cfg.data.size,
        blank_border=c.blank_border,
        standardise_input=c.standardise_input,
    )
    init = _init_from_encoder(model, cfg, log)
    if init:
        mean, std = init["mean"], init["std"]  # the encoder was trained on inputs normalised this way
    model = model.to(device)
    if dist.enabled and device.type == "cuda":  # batch statistics over the global batch (SyncBN is CUDA-only)
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if models.use_channels_last(c.arch, c.channels_last, device):
        model = model.to(memory_format=torch.channels_last)
    counts = np.bincount(y_train, minlength=c.num_classes).astype(float)
    weights = torch.tensor(len(y_train) / (c.num_classes * np.maximum(counts, 1)), dtype=torch.float32)
    loss_weights = weights if c.balance == "class_weights" else torch.ones_like(weights)
    arch = models.info(c.arch)
    scale = c.finetune_lr_scale if c.stage1_epochs else 1.0
    optimizer = torch.optim.AdamW(
        _param_groups(model, arch, c.lr, scale), lr=c.lr, weight_decay=c.weight_decay, **optimizer_options(device)
    )
    ema = None
    if c.ema_decay > 0:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(c.ema_decay), use_buffers=True)
    augment = BatchAugment(cfg.augment, seed=cfg.seed) if cfg.augment.enabled else None
    batches = TrainBatches(train_set.images, y_train, augment, mean, std)
    sample_weights = None
    if c.synthetic_weight != 1.0:
        synthetic = np.asarray(train_set.provenance) == "synthetic"
        sample_weights = torch.from_numpy(np.where(synthetic, c.synthetic_weight, 1.0).astype(np.float32))
        log(f"{int(synthetic.sum())} synthetic training images weigh {c.synthetic_weight:g} in the loss")
    return Training(
        cfg=cfg,
        out=out,
        log=log,
        dist=dist,
        device=device,
        arch=arch,
        data=data,
        model=model,
        optimizer=optimizer,
        base_lrs=[g["lr"] for g in optimizer.param_groups],
        batches=batches,
        train_labels=y_train,
        class_counts=counts,
        class_weights=loss_weights.to(device),
        class_weights_cpu=loss_weights,
        val_set=data.val.select(keep_val),
        val_labels=y_val[keep_val],
        mean=mean,
        std=std,
        resume_state=ResumeState(out / CLASSIFIER_STATE, config_hash(cfg, CLASSIFY_SECTIONS)),
        precision=precision,
        init=init,
        ema=ema,
        sample_weights=sample_weights,
    )


def _init_from_encoder(model: nn.Module, cfg: Config, log: Log) -> dict[str, Any] | None:
    """`classify.init_from`: the backbone's weights from a self-supervised encoder folder, or all weights from a
    trained classifier checkpoint; None without one."""
    c = cfg.classify
    if not c.init_from:
        return None
    from pneumogan.classify.checkpoint import init_from_classifier
    from pneumogan.classify.encoder import init_from_encoder
    from pneumogan.layout import CLASSIFIER_WEIGHTS

    if (Path(c.init_from) / CLASSIFIER_WEIGHTS).is_file():
        meta = init_from_classifier(model, c.arch, c.init_from)
    else:
        meta = init_from_encoder(model, c.arch, c.init_from)
    if meta["image_size"] != cfg.data.size:
        log(f"note: the encoder was pretrained at {meta['image_size']} px; this classifier trains at {cfg.data.size}")
    log(f"backbone initialised from {c.init_from} ({meta['method']}, {meta['epochs']} epochs)")
    return {
        "init_from": str(Path(c.init_from).resolve()),
        "encoder_sha256": meta["encoder_sha256"],
        "mean": meta["preprocessing"]["mean"],
        "std": meta["preprocessing"]["std"],
    }


def restore(run: Training) -> None:
    """Continue from the last finished epoch when a resume state for this exact config exists."""
    state = run.resume_state.load(run.log)
    if state is None:
        return
    run.model.load_state_dict(state["model"])  # BatchNorm and SyncBatchNorm share parameter names
    run.optimizer.load_state_dict(state["optimizer"])
    if run.ema is not None:
        run.ema.load_state_dict(state["ema"])
    torch.set_rng_state(state["rng"])
    run.history, run.start_epoch = state["history"], state["epoch"] + 1
    run.best_auc, run.best_epoch = state["best_auc"], state["best_epoch"]
    run.precision = state.get("precision", run.precision)  # a resumed run keeps the precision it started with
    run.log(f"resuming from epoch {run.start_epoch} (best val AUC {run.best_auc:.4f} at epoch {run.best_epoch})")


class DdpWrapper:
    """Under torchrun, the model wrapped in DistributedDataParallel; rewrapped when the trainable parameters
    change (two-stage fine-tuning), because DDP tracks the parameters it was built with."""

    def __init__(self, run: Training) -> None:
        self.run, self.wrapped, self.stage = run, run.model, None

    def for_stage(self, stage: str) -> nn.Module:
        run = self.run
        if run.dist.enabled and stage != self.stage:
            from torch.nn.parallel import DistributedDataParallel

            ids = [run.device.index] if run.device.type == "cuda" else None
            self.wrapped, self.stage = DistributedDataParallel(run.model, device_ids=ids), stage
        return self.wrapped


def train_epoch(run: Training, model: nn.Module, epoch: int) -> EpochStats:
    c = run.cfg.classify
    sampler = EpochSampler(
        run.train_labels, run.class_counts, c.balance == "sampler", run.cfg.seed * 10_007 + epoch, run.dist
    )
    local_batch = distributed.shard_batch(c.batch_size, run.dist)
    n_batches = -(-len(sampler) // local_batch)
    model.train()
    stats, status, start = EpochStats(), Status(), time.perf_counter()
    batches = run.batches.epoch(sampler.indices, local_batch, epoch)
    order = np.asarray(sampler.indices, dtype=np.int64)
    for step, (x, y) in enumerate(
        track(batches, n_batches, f"epoch {epoch + 1}/{c.epochs}", status, enabled=run.dist.main)
    ):
        if epoch < c.warmup_epochs:  # warm-up moves the learning rate every step
            set_learning_rate(run, epoch, (step + 1) / n_batches)
        weights = None
        if run.sample_weights is not None:
            weights = run.sample_weights[torch.from_numpy(order[step * local_batch : (step + 1) * local_batch])]
        stats.add(*train_step(run, model, x, y, weights))
        if step % STATUS_EVERY == 0 or step == n_batches - 1:  # reading the sums syncs a GPU: not every step
            speed = stats.seen * run.dist.world / max(time.perf_counter() - start, 1e-9)
            loss, acc = float(stats.loss_sum) / stats.weight_sum, float(stats.correct) / stats.seen
            status.text = f"loss {loss:.4f} acc {acc:.3f} {speed:.0f} img/s"
    totals = [float(stats.loss_sum), stats.weight_sum, float(stats.correct), stats.seen]
    loss_sum, weight_sum, correct, seen = distributed.all_sum(totals, run.dist, run.device)
    return EpochStats(loss_sum, weight_sum, round(correct), round(seen))


def train_step(
    run: Training, model: nn.Module, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, float, torch.Tensor, int]:
    """One optimiser step on a batch; returns (weighted loss sum, weight sum, correct, images) of the batch,
    the loss sum and correct count as device tensors (no host sync). `weights`: per-image loss weights (host)."""
    c, device = run.cfg.classify, run.device
    per_image = run.class_weights_cpu[y] if weights is None else run.class_weights_cpu[y] * weights
    local_weight = float(per_image.sum())  # labels are still on the host: no sync
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if models.use_channels_last(c.arch, c.channels_last, device):
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device, run.precision):
        logits = model(x)
    per_sample = per_sample_loss(logits.float(), y, run.class_weights, c)
    if weights is not None:
        per_sample = per_sample * weights.to(device, non_blocking=True)
    # The weighted mean over the *global* batch: DDP averages gradients over processes, so each process
    # divides by the global weight sum and multiplies by the number of processes.
    global_weight = distributed.all_sum([local_weight], run.dist, device)[0]
    loss = per_sample.sum() * (run.dist.world / global_weight)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    if run.ema is not None:
        run.ema.update_parameters(run.model)  # the unwrapped model, also under DDP
    return per_sample.detach().sum(), local_weight, (logits.detach().argmax(1) == y).sum(), len(y)


def validate(run: Training, epoch: int, stage: str, stats: EpochStats, seconds: float) -> dict[str, Any]:
    """Score val with the epoch's weights; every process does the same, so early stopping agrees."""
    proba = predict_proba(run.scored, run.val_set.images, run.mean, run.std, run.device)
    val_metrics = binary_metrics((run.val_labels > 0).astype(int), positive_score(proba), 0.5)
    log_proba = torch.log(torch.from_numpy(proba).clamp_min(1e-8))
    val_loss = float(nn.functional.nll_loss(log_proba, torch.from_numpy(run.val_labels)))
    return {
        "epoch": epoch,
        "stage": stage,
        "lr": run.optimizer.param_groups[0]["lr"],
        "train_loss": stats.loss_sum / stats.weight_sum,
        "train_acc": stats.correct / stats.seen,
        "val_loss": val_loss,
        "val_acc": val_metrics["accuracy"],
        "val_auc": val_metrics["roc_auc"],
        "images_per_s": stats.seen / seconds,
        "seconds": seconds,
        "processes": run.dist.world,
    }


def end_epoch(run: Training, epoch: int, row: dict[str, Any]) -> None:
    """History, the best checkpoint so far, the log line and the resume state."""
    run.history.append(row)
    run.tracker.row(row, epoch + 1, "classify")
    improved = row["val_auc"] > run.best_auc
    if improved:
        run.best_auc, run.best_epoch = row["val_auc"], epoch
        if run.dist.main:
            save_checkpoint(run.out, _plain(run.scored), _meta(run, epoch, None))
    run.log(
        f"epoch {epoch + 1}: loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | val loss {row['val_loss']:.4f} "
        f"acc {row['val_acc']:.3f} AUC {row['val_auc']:.4f}{' *' if improved else ''} | "
        f"{row['images_per_s']:.0f} img/s"
    )
    if run.dist.main:
        run.resume_state.save(
            {
                "model": _plain(run.model).state_dict(),
                "optimizer": run.optimizer.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": epoch,
                "best_auc": run.best_auc,
                "best_epoch": run.best_epoch,
                "history": run.history,
                "precision": run.precision,
                "ema": run.ema.state_dict() if run.ema is not None else None,
            }
        )
        write_history(run.out, run.history)
    distributed.barrier(run.dist)  # a resumed run on any process reads the state rank 0 just wrote


def finish(run: Training, started: float) -> Path:
    """Pick the decision threshold on val with the best weights (the test split is never looked at here)."""
    if not run.dist.main:  # rank 0 picks the threshold and writes the final checkpoint
        distributed.barrier(run.dist)
        return run.out
    c = run.cfg.classify
    best, meta = load_checkpoint(run.out, run.device)
    y_val = (run.val_labels > 0).astype(int)
    proba_val = predict_proba(best, run.val_set.images, run.mean, run.std, run.device)
    p_val = positive_score(proba_val)
    threshold = choose_threshold(y_val, p_val, c.threshold, c.target_sensitivity)
    meta.update(_meta(run, run.best_epoch, threshold))
    meta["calibration"] = calibrate_on_val(proba_val, run.val_labels, c.target_sensitivity)
    meta["threshold_interval"] = threshold_interval(y_val, p_val, c.threshold, c.target_sensitivity, seed=run.cfg.seed)
    meta["val_metrics"] = binary_metrics(y_val, p_val, threshold)
    meta["operating_points"] = operating_points(y_val, p_val)
    meta["train_seconds"] = round(time.perf_counter() - started, 1)
    meta["train_images_per_s"] = median_images_per_s(run.history)
    meta["processes"] = run.dist.world
    meta.pop("versions", None)
    save_checkpoint(run.out, best, meta)
    if c.ood_check:
        detector = fit_ood(
            feature_extractor(best, run.mean, run.std, run.device),
            run.batches.images.numpy(),
            run.val_set.images,
            seed=run.cfg.seed,
        )
        detector.save(run.out)
        run.log(describe(detector))
    write_history(run.out, run.history)
    from pneumogan.evaluate.plots import plot_training_curves

    plot_training_curves(run.history, run.out / CURVES)
    lo, hi = meta["threshold_interval"]
    run.log(
        f"best epoch {run.best_epoch + 1}: val AUC {run.best_auc:.4f}; threshold {threshold:.4f} ({c.threshold}; "
        f"95 % bootstrap over val {lo:.3f}–{hi:.3f}) → {run.out}"
    )
    distributed.barrier(run.dist)
    return run.out


class EpochSampler(torch.utils.data.Sampler[int]):
    """One epoch's sample order, drawn from a seed that all processes share, then sharded by rank.

    Process r takes positions r, r + N, r + 2N, … of the global order, so with a per-process batch of B/N
    the N local batches k together are exactly global batch k of a single-process run with batch B.
    Shuffles without replacement, or draws class-balanced samples with replacement (`balanced`).
    """

    def __init__(
        self, labels: np.ndarray, counts: np.ndarray, balanced: bool, seed: int, dist: distributed.Dist
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        n = len(labels)
        if balanced:
            weights = torch.as_tensor((1.0 / np.maximum(counts, 1))[labels], dtype=torch.double)
            order = torch.multinomial(weights, n, replacement=True, generator=gen)
        else:
            order = torch.randperm(n, generator=gen)
        pad = (-n) % dist.world  # equal shards: repeat the first few samples, as DistributedSampler does
        order = torch.cat([order, order[:pad]]) if pad else order
        self.indices = order[dist.rank :: dist.world].tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _plain(model: nn.Module) -> nn.Module:
    """The model with SyncBatchNorm layers as plain BatchNorm again, for checkpoints any process can load."""
    if not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules()):
        return model
    plain = copy.deepcopy(model)
    for module in list(plain.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.SyncBatchNorm):
                bn = nn.BatchNorm2d(
                    child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
                )
                bn.load_state_dict(child.state_dict())
                setattr(module, child_name, bn)
    return plain


def _meta(run: Training, epoch: int, threshold: float | None) -> dict[str, Any]:
    cfg, c = run.cfg, run.cfg.classify
    return {
        "arch": c.arch,
        "num_classes": c.num_classes,
        "class_names": class_names(c.num_classes),
        "in_channels": 1,
        "pretrained": c.pretrained,
        "image_size": cfg.data.size,
        "blank_border": c.blank_border,
        "standardise_input": c.standardise_input,
        "preprocessing": {
            "size": cfg.data.size,
            "mean": run.mean,
            "std": run.std,
            "max_pixels": cfg.data.max_pixels,
            "fit": run.data.fit,
            # the side of the source's images when all were one square size: resized copies (data/geometry.py)
            "source_square_size": run.data.train.meta.get("square_source"),
            "recipe": recipe(run.data.fit),
        },
        "threshold": threshold,
        "threshold_method": c.threshold,
        "positive": "PNEUMONIA (1 − P(NORMAL))",
        "epoch": epoch,
        "config": cfg.model_dump(mode="json"),
        "data_fingerprint": run.data.fingerprint,
        "data_source_path": absolute_source(cfg.data.source),
        "split_summary": run.data.summary,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_size": len(run.data.train),
        "precision": run.precision,
        "init_from": run.init["init_from"] if run.init else None,
        "encoder_sha256": run.init["encoder_sha256"] if run.init else None,
    }
