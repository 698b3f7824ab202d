"""Classifier training: seeded, resumable, model selection on the patient-grouped val split.

Outputs in `out/`: `model.safetensors` + `meta.json` (the best epoch by val ROC-AUC, with the val-chosen
decision threshold), `history.csv`/`history.json`, `curves.png`, and `last_state.pt` for resuming.
"""

from __future__ import annotations

import hashlib
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from pneumogan.classify import models
from pneumogan.classify.checkpoint import save_checkpoint
from pneumogan.classify.inference import positive_score, predict_proba
from pneumogan.classify.pretrained import IMAGENET_GRAY
from pneumogan.config import Config, dump_config
from pneumogan.data.datasets import ImageDataset
from pneumogan.data.labels import class_names, targets
from pneumogan.data.loading import load_splits
from pneumogan.data.transforms import build_train_transform
from pneumogan.device import resolve_device
from pneumogan.evaluate.metrics import binary_metrics, choose_threshold, threshold_interval
from pneumogan.progress import Status, track
from pneumogan.runs import write_history

STATE = "last_state.pt"


def _lr_factor(cfg, epoch: int) -> float:
    c = cfg.classify
    if c.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / c.epochs))
    if c.schedule == "step":
        return c.gamma ** (epoch // c.step_size)
    return 1.0


def _param_groups(model: nn.Module, arch: models.ArchInfo, lr: float, scale: float) -> list[dict]:
    head, last, rest = [], [], []
    for name, p in model.named_parameters():
        (head if name.startswith(arch.head) else last if name.startswith(arch.last_blocks) else rest).append(p)
    return [{"params": head, "lr": lr, "name": "head"}, {"params": last, "lr": lr * scale, "name": "last"},
            {"params": rest, "lr": lr * scale, "name": "rest"}]  # fmt: skip


def _set_stage(model: nn.Module, arch: models.ArchInfo, epoch: int, cfg: Config) -> str:
    """Two-stage fine-tuning: head only, then last blocks too. Without it every parameter trains."""
    c = cfg.classify
    if c.stage1_epochs == 0:
        for p in model.parameters():
            p.requires_grad_(True)
        return "all"
    stage1 = epoch < c.stage1_epochs
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(arch.head) or (not stage1 and name.startswith(arch.last_blocks)))
    return "head" if stage1 else "last_blocks"


def config_hash(cfg: Config) -> str:
    return hashlib.sha256(dump_config(cfg).encode()).hexdigest()[:16]


def train(cfg: Config, out: str | Path, resume: bool = True, log=print, on_epoch_end=None) -> Path:
    """Train a classifier as configured; returns `out`, which then holds the best checkpoint.

    `on_epoch_end(epoch)` runs after each epoch's state is saved (budgets, tests that interrupt a run).
    """
    from pneumogan import distributed

    out = Path(out)
    c = cfg.classify
    arch = models.info(c.arch)
    device = resolve_device(c.device)
    ctx = distributed.setup(device)  # under torchrun: one process per GPU (or CPU share), gloo/nccl
    device = distributed.local_device(device, ctx)
    if not ctx.main:
        log = distributed.silent
    else:
        out.mkdir(parents=True, exist_ok=True)
    local_batch = distributed.shard_batch(c.batch_size, ctx)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    data = load_splits(cfg)
    y_train, keep = targets(data.train, c.num_classes)
    train_set, y_train = data.train.select(keep), y_train[keep]
    y_val_all, keep_val = targets(data.val, c.num_classes)
    val_set = data.val.select(keep_val)
    mean, std = IMAGENET_GRAY if c.pretrained else (0.5, 0.5)

    model = models.build(
        c.arch, c.num_classes, pretrained=c.pretrained, image_size=cfg.data.size, blank_border=c.blank_border
    ).to(device)
    if ctx.enabled and device.type == "cuda":  # batch statistics over the global batch (SyncBN is CUDA-only)
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    counts = np.bincount(y_train, minlength=c.num_classes).astype(float)
    weights = torch.tensor(len(y_train) / (c.num_classes * np.maximum(counts, 1)), dtype=torch.float32).to(device)
    class_w = weights if c.balance == "class_weights" else torch.ones_like(weights)
    scale = c.finetune_lr_scale if c.stage1_epochs else 1.0
    optimizer = torch.optim.AdamW(_param_groups(model, arch, c.lr, scale), lr=c.lr, weight_decay=c.weight_decay)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    dataset = ImageDataset(train_set.images, y_train, build_train_transform(cfg.augment, cfg.data.size), mean, std,
                           seed=cfg.seed)  # fmt: skip
    amp = c.amp and device.type == "cuda"

    history: list[dict[str, Any]] = []
    start_epoch, best_auc, best_epoch = 0, -1.0, -1
    state_path = out / STATE
    if resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state["config_hash"] == config_hash(cfg):
            model.load_state_dict(state["model"])  # BatchNorm and SyncBatchNorm share parameter names
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            history, start_epoch = state["history"], state["epoch"] + 1
            best_auc, best_epoch = state["best_auc"], state["best_epoch"]
            log(f"resuming from epoch {start_epoch} (best val AUC {best_auc:.4f} at epoch {best_epoch})")
        else:
            log("config changed since the saved state: starting from scratch")

    started = time.perf_counter()
    wrapped, wrapped_stage = model, None
    for epoch in range(start_epoch, c.epochs):
        if epoch - best_epoch > c.patience and best_epoch >= 0:
            log(f"early stop: no better val ROC-AUC for {c.patience} epochs")
            break
        stage = _set_stage(model, arch, epoch, cfg)
        if ctx.enabled and stage != wrapped_stage:  # DDP tracks the trainable parameters it was built with
            from torch.nn.parallel import DistributedDataParallel

            wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
            wrapped_stage = stage
        for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = base * _lr_factor(cfg, epoch)
        dataset.set_epoch(epoch)
        sampler = EpochSampler(y_train, counts, c.balance == "sampler", cfg.seed * 10_007 + epoch, ctx)
        loader = DataLoader(dataset, local_batch, sampler=sampler, num_workers=c.workers,
                            pin_memory=device.type == "cuda")  # fmt: skip
        wrapped.train()
        t0, seen, loss_sum, weight_sum, correct = time.perf_counter(), 0, 0.0, 0.0, 0
        status = Status()
        for x, y in track(loader, len(loader), f"epoch {epoch + 1}/{c.epochs}", status, enabled=ctx.main):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if device.type == "cuda":
                x = x.to(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = wrapped(x)
            per_sample = nn.functional.cross_entropy(logits.float(), y, weight=class_w, reduction="none",
                                                     label_smoothing=c.label_smoothing)  # fmt: skip
            # The weighted mean over the *global* batch: DDP averages gradients over processes, so each
            # process divides by the global weight sum and multiplies by the number of processes.
            local_w = float(class_w[y].sum())
            global_w = distributed.all_sum([local_w], ctx, device)[0]
            loss = per_sample.sum() * (ctx.world / global_w)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(y)
            loss_sum += float(per_sample.detach().sum())
            weight_sum += local_w
            correct += int((logits.argmax(1) == y).sum())
            status.text = f"loss {loss_sum / weight_sum:.4f} acc {correct / seen:.3f}"
        loss_sum, weight_sum, correct, seen = distributed.all_sum([loss_sum, weight_sum, correct, seen], ctx, device)
        train_seconds = time.perf_counter() - t0
        # Every process scores val identically (same weights), so early stopping agrees without messages.
        proba = predict_proba(model, val_set.images, mean, std, device)
        y_val = y_val_all[keep_val]
        val_bin = (y_val > 0).astype(int)
        val_metrics = binary_metrics(val_bin, positive_score(proba), 0.5)
        val_loss = float(nn.functional.nll_loss(torch.log(torch.from_numpy(proba).clamp_min(1e-8)),
                                                torch.from_numpy(y_val)))  # fmt: skip
        row = {
            "epoch": epoch, "stage": stage, "lr": optimizer.param_groups[0]["lr"],
            "train_loss": loss_sum / weight_sum, "train_acc": correct / seen,
            "val_loss": val_loss, "val_acc": val_metrics["accuracy"], "val_auc": val_metrics["roc_auc"],
            "images_per_s": seen / train_seconds, "seconds": train_seconds, "processes": ctx.world,
        }  # fmt: skip
        history.append(row)
        improved = val_metrics["roc_auc"] > best_auc
        if improved:
            best_auc, best_epoch = val_metrics["roc_auc"], epoch
            if ctx.main:
                save_checkpoint(out, _plain(model), _meta(cfg, data, mean, std, epoch, None, history))
        log(
            f"epoch {epoch + 1}: loss {row['train_loss']:.4f} acc {row['train_acc']:.3f} | val loss {val_loss:.4f} "
            f"acc {row['val_acc']:.3f} AUC {row['val_auc']:.4f}{' *' if improved else ''} | "
            f"{row['images_per_s']:.0f} img/s"
        )
        if ctx.main:
            _save_state(state_path, _plain(model), optimizer, cfg, epoch, best_auc, best_epoch, history)
            write_history(out, history)
        distributed.barrier(ctx)  # a resumed run on any process reads the state rank 0 just wrote
        if on_epoch_end is not None:
            on_epoch_end(epoch)

    if not ctx.main:  # rank 0 picks the threshold and writes the final checkpoint
        distributed.barrier(ctx)
        return out
    # Pick the decision threshold on val with the best weights; the test split is never looked at here.
    from pneumogan.classify.checkpoint import load_checkpoint

    best, meta = load_checkpoint(out, device)
    y_val = (y_val_all[keep_val] > 0).astype(int)
    p_val = positive_score(predict_proba(best, val_set.images, mean, std, device))
    threshold = choose_threshold(y_val, p_val, c.threshold, c.target_sensitivity)
    meta.update(_meta(cfg, data, mean, std, best_epoch, threshold, history))
    meta["threshold_interval"] = threshold_interval(y_val, p_val, c.threshold, c.target_sensitivity, seed=cfg.seed)
    meta["val_metrics"] = binary_metrics(y_val, p_val, threshold)
    meta["train_seconds"] = round(time.perf_counter() - started, 1)
    meta["processes"] = ctx.world
    meta.pop("versions", None)
    save_checkpoint(out, best, meta)
    write_history(out, history)
    from pneumogan.evaluate.plots import plot_training_curves

    plot_training_curves(history, out / "curves.png")
    lo, hi = meta["threshold_interval"]
    log(f"best epoch {best_epoch + 1}: val AUC {best_auc:.4f}; threshold {threshold:.4f} ({c.threshold}; "
        f"95 % bootstrap over val {lo:.3f}–{hi:.3f}) → {out}")  # fmt: skip
    distributed.barrier(ctx)
    return out


class EpochSampler(torch.utils.data.Sampler[int]):
    """One epoch's sample order, drawn from a seed that all processes share, then sharded by rank.

    Process r takes positions r, r + N, r + 2N, … of the global order, so with a per-process batch of B/N
    the N local batches k together are exactly global batch k of a single-process run with batch B.
    Shuffles without replacement, or draws class-balanced samples with replacement (`balanced`).
    """

    def __init__(self, labels: np.ndarray, counts: np.ndarray, balanced: bool, seed: int, ctx) -> None:
        gen = torch.Generator().manual_seed(seed)
        n = len(labels)
        if balanced:
            weights = torch.as_tensor((1.0 / np.maximum(counts, 1))[labels], dtype=torch.double)
            order = torch.multinomial(weights, n, replacement=True, generator=gen)
        else:
            order = torch.randperm(n, generator=gen)
        pad = (-n) % ctx.world  # equal shards: repeat the first few samples, as DistributedSampler does
        order = torch.cat([order, order[:pad]]) if pad else order
        self.indices = order[ctx.rank :: ctx.world].tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _plain(model: nn.Module) -> nn.Module:
    """The model with SyncBatchNorm layers as plain BatchNorm again, for checkpoints any process can load."""
    if not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules()):
        return model
    import copy

    plain = copy.deepcopy(model)
    for module in list(plain.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.SyncBatchNorm):
                bn = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                    child.track_running_stats)  # fmt: skip
                bn.load_state_dict(child.state_dict())
                setattr(module, child_name, bn)
    return plain


def _meta(cfg: Config, data, mean: float, std: float, epoch: int, threshold: float | None, history) -> dict:
    c = cfg.classify
    return {
        "arch": c.arch, "num_classes": c.num_classes, "class_names": class_names(c.num_classes), "in_channels": 1,
        "pretrained": c.pretrained, "image_size": cfg.data.size, "blank_border": c.blank_border,
        "preprocessing": {"size": cfg.data.size, "mean": mean, "std": std, "max_pixels": cfg.data.max_pixels,
                          "recipe": "grayscale uint8 → centre crop to square → bicubic resize → (x/255 − mean)/std"},
        "threshold": threshold, "threshold_method": c.threshold, "positive": "PNEUMONIA (1 − P(NORMAL))",
        "epoch": epoch, "config": cfg.model_dump(mode="json"), "data_fingerprint": data.fingerprint,
        "split_summary": data.summary, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_size": len(data.train),
    }  # fmt: skip


def _save_state(path: Path, model, optimizer, cfg, epoch, best_auc, best_epoch, history) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
             "epoch": epoch, "best_auc": best_auc, "best_epoch": best_epoch, "history": history,
             "config_hash": config_hash(cfg)}  # fmt: skip
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
