"""`pneumogan ssl pretrain`: SimSiam pretraining of a classifier backbone on the real training images only.

Validation and test images are never seen by the objective. After each epoch a k-NN probe on the frozen
features scores the validation split (the selection split; a monitor, not a training signal). The output
folder holds `encoder.safetensors` + `meta.json` (for `classify.init_from`), `history.json`, the resolved
config and a resume state: an interrupted run continues from its last finished epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pneumogan.classify.encoder import save_encoder
from pneumogan.classify.inference import model_outputs
from pneumogan.classify.models import use_channels_last
from pneumogan.config import SSL_SECTIONS, Config, config_hash
from pneumogan.data.datasets import normalise
from pneumogan.data.loading import SplitData, load_splits
from pneumogan.data.sources import absolute_source
from pneumogan.device import autocast, resolve_device, resolve_precision
from pneumogan.errors import PneumoganError
from pneumogan.evaluate.metrics import binary_metrics
from pneumogan.layout import SSL_STATE
from pneumogan.progress import Status, track
from pneumogan.runs import ResumeState, median_images_per_s, write_history
from pneumogan.ssl.simsiam import SimSiam, collapse_score, simsiam_loss
from pneumogan.ssl.views import view

Log = Callable[[str], None]
MEAN, STD = 0.5, 0.5  # the classifier's default normalisation; recorded in the encoder's meta


@dataclass
class Pretraining:
    cfg: Config
    out: Path
    log: Log
    device: torch.device
    precision: str
    data: SplitData
    images: torch.Tensor  # (N, S, S) uint8, the real training images
    model: SimSiam
    optimizer: torch.optim.Optimizer
    resume_state: ResumeState
    steps_per_epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    initial_knn_val_auc: float | None = None  # the untrained encoder's k-NN val AUC: what pretraining must beat


def pretrain(cfg: Config, out: str | Path, resume: bool = True, log: Log = print) -> Path:
    run = set_up(cfg, Path(out), log)
    if resume:
        restore(run)
    s = cfg.ssl
    log(
        f"SimSiam pretraining of {s.arch} at {cfg.data.size} px on {len(run.images)} real training images, "
        f"{s.epochs} epochs of {run.steps_per_epoch} steps, precision {run.precision}"
    )
    if run.start_epoch == 0:
        run.initial_knn_val_auc = knn_val_auc(run)
        log(f"before pretraining: k-NN val AUC {run.initial_knn_val_auc:.4f} (randomly initialised encoder)")
    for epoch in range(run.start_epoch, s.epochs):
        start = time.perf_counter()
        loss, collapse, seen = train_epoch(run, epoch)
        seconds = time.perf_counter() - start
        knn_auc = knn_val_auc(run)
        row = {
            "epoch": epoch,
            "loss": loss,
            "collapse_score": collapse,
            "knn_val_auc": knn_auc,
            "lr": run.optimizer.param_groups[0]["lr"],
            "images_per_s": seen / seconds,
            "seconds": seconds,
        }
        run.history.append(row)
        log(
            f"epoch {epoch + 1}: loss {loss:.4f} | spread {collapse:.2f} (0 = collapsed) | "
            f"k-NN val AUC {knn_auc:.4f} | {row['images_per_s']:.0f} img/s"
        )
        if collapse < 0.1:
            log("warning: the projections have collapsed to nearly one point; lower ssl.lr or raise ssl.batch_size")
        save_state(run, epoch)
    return finish(run)


def set_up(cfg: Config, out: Path, log: Log) -> Pretraining:
    s = cfg.ssl
    device = resolve_device(s.device)
    precision = resolve_precision(s.precision, device, log)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    data = load_splits(cfg)
    real = data.train.provenance == "real"
    if not real.any():
        raise PneumoganError("self-supervised pretraining needs real training images (data.train_real is false)")
    images = torch.from_numpy(np.ascontiguousarray(data.train.images[real], dtype=np.uint8))
    steps_per_epoch = len(images) // s.batch_size  # whole batches: BatchNorm in the heads needs more than one
    if steps_per_epoch < 1:
        raise PneumoganError(f"ssl.batch_size {s.batch_size} exceeds the {len(images)} training images")
    model = SimSiam(s.arch, cfg.data.size, s.proj_dim, s.pred_dim).to(device)
    if use_channels_last(s.arch, s.channels_last, device):
        model = model.to(memory_format=torch.channels_last)
    lr = s.lr * s.batch_size / 256
    groups = [
        {"params": [*model.encoder.parameters(), *model.projector.parameters()], "lr": lr, "scheduled": True},
        {"params": model.predictor.parameters(), "lr": lr, "scheduled": False},  # SimSiam: a fixed predictor lr
    ]
    optimizer = torch.optim.SGD(groups, lr=lr, momentum=s.momentum, weight_decay=s.weight_decay)
    return Pretraining(
        cfg=cfg,
        out=out,
        log=log,
        device=device,
        precision=precision,
        data=data,
        images=images,
        model=model,
        optimizer=optimizer,
        resume_state=ResumeState(out / SSL_STATE, config_hash(cfg, SSL_SECTIONS)),
        steps_per_epoch=steps_per_epoch,
    )


def restore(run: Pretraining) -> None:
    state = run.resume_state.load(run.log)
    if state is None:
        return
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.history, run.start_epoch = state["history"], state["epoch"] + 1
    run.initial_knn_val_auc = state.get("initial_knn_val_auc")
    run.precision = state.get("precision", run.precision)
    run.log(f"resuming self-supervised pretraining at epoch {run.start_epoch + 1}")


def _set_lr(run: Pretraining, step: int, total: int) -> None:
    """Cosine decay over the whole run for the backbone and projector; the predictor keeps its rate."""
    base = run.cfg.ssl.lr * run.cfg.ssl.batch_size / 256
    for group in run.optimizer.param_groups:
        group["lr"] = base * 0.5 * (1 + math.cos(math.pi * step / total)) if group["scheduled"] else base


def train_epoch(run: Pretraining, epoch: int) -> tuple[float, float, int]:
    """One pass over the real training images; returns (mean loss, last batch's spread, images seen)."""
    s = run.cfg.ssl
    order = torch.randperm(len(run.images), generator=torch.Generator().manual_seed(run.cfg.seed * 10_007 + epoch))
    order = order[: run.steps_per_epoch * s.batch_size].view(run.steps_per_epoch, s.batch_size).numpy()
    run.model.train()
    total, status = s.epochs * run.steps_per_epoch, Status()
    losses, spread = [], 1.0
    for step, idx in enumerate(track(order, len(order), f"ssl epoch {epoch + 1}/{s.epochs}", status)):
        _set_lr(run, epoch * run.steps_per_epoch + step, total)
        x = run.images[torch.from_numpy(idx)].unsqueeze(1).float().div_(255.0)
        views = [normalise(view(x, idx, epoch, k, run.cfg.seed, s), MEAN, STD) for k in (0, 1)]
        if use_channels_last(s.arch, s.channels_last, run.device):
            views = [v.contiguous(memory_format=torch.channels_last) for v in views]
        views = [v.to(run.device, non_blocking=True) for v in views]
        with autocast(run.device, run.precision):
            p1, p2, z1, z2 = run.model(*views)
        loss = simsiam_loss(p1.float(), p2.float(), z1.float(), z2.float())
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        losses.append(loss.detach())
        if step % 10 == 0 or step == len(order) - 1:  # reading values syncs a GPU: not every step
            spread = collapse_score(z1)
            status.text = f"loss {float(loss.detach()):.4f} spread {spread:.2f}"
    return float(torch.stack(losses).mean()), spread, len(order) * s.batch_size


def knn_val_auc(run: Pretraining) -> float:
    """ROC-AUC on val of a cosine k-NN vote over the training features (binary: NORMAL vs PNEUMONIA)."""
    encoder, s = run.model.encoder, run.cfg.ssl
    real = run.data.train.provenance == "real"
    train_y = (run.data.train.labels[real] > 0).astype(np.float64)
    train_f = model_outputs(encoder, run.images.numpy(), MEAN, STD, run.device, precision=run.precision)
    val_f = model_outputs(encoder, run.data.val.images, MEAN, STD, run.device, precision=run.precision)
    score = knn_scores(train_f, train_y, val_f, s.knn_k)
    return float(binary_metrics((run.data.val.labels > 0).astype(int), score, 0.5)["roc_auc"])


def knn_scores(train_f: np.ndarray, train_y: np.ndarray, query_f: np.ndarray, k: int) -> np.ndarray:
    """The similarity-weighted share of positives among each query's k nearest training features (cosine),
    weights exp(similarity / 0.07) as in the instance-discrimination k-NN monitor."""
    a = torch.nn.functional.normalize(torch.from_numpy(train_f).float(), dim=1)
    q = torch.nn.functional.normalize(torch.from_numpy(query_f).float(), dim=1)
    sims, idx = (q @ a.T).topk(min(k, len(a)), dim=1)
    weights = torch.exp(sims / 0.07)
    labels = torch.from_numpy(train_y).float()[idx]
    return ((weights * labels).sum(1) / weights.sum(1)).numpy()


def save_state(run: Pretraining, epoch: int) -> None:
    run.resume_state.save(
        {
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "epoch": epoch,
            "history": run.history,
            "precision": run.precision,
            "initial_knn_val_auc": run.initial_knn_val_auc,
        }
    )
    write_history(run.out, run.history)


def finish(run: Pretraining) -> Path:
    cfg, s = run.cfg, run.cfg.ssl
    meta = {
        "kind": "ssl_encoder",
        "method": "simsiam",
        "arch": s.arch,
        "image_size": cfg.data.size,
        "feature_dim": run.model.feature_dim,
        "preprocessing": {"size": cfg.data.size, "mean": MEAN, "std": STD, "fit": run.data.fit},
        "data_fingerprint": run.data.fingerprint,
        "data_source_path": absolute_source(cfg.data.source),
        "train_images": len(run.images),
        "seen_splits": ["train"],
        "epochs": len(run.history),
        "initial_knn_val_auc": run.initial_knn_val_auc,
        "final_knn_val_auc": run.history[-1]["knn_val_auc"] if run.history else None,
        "precision": run.precision,
        "train_images_per_s": median_images_per_s(run.history),
        "config": cfg.model_dump(mode="json"),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    digest = save_encoder(run.out, run.model.encoder, meta)
    write_history(run.out, run.history)
    run.log(f"encoder written to {run.out} (sha256 {digest[:12]}…); use it with classify.init_from={run.out}")
    return run.out
