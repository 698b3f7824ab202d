"""From a config to train/val/test datasets: prepare (cached), subset, patient-grouped split, extra sources."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from pneumogan.config import Config
from pneumogan.data.prepare import PreparedDataset, concat, prepare
from pneumogan.data.sources import open_source
from pneumogan.data.splits import SplitSpec, grouped_split, split_summary, stratified_subset
from pneumogan.errors import PneumoganError


@dataclass
class SplitData:
    train: PreparedDataset
    val: PreparedDataset
    test: PreparedDataset
    fingerprint: str  # changes with the data, the split and the training mix
    summary: dict = field(default_factory=dict)
    fit: str = "crop"  # the geometry the images were made square with (data/geometry.py)

    def get(self, split: str) -> PreparedDataset:
        if split not in ("train", "val", "test"):
            raise PneumoganError(f"unknown split '{split}'; use train, val or test")
        return getattr(self, split)


def resolved_fit(cfg: Config) -> str:
    """The geometry `data.fit` stands for with this config's source (`auto` → the source's default)."""
    from pneumogan.data.geometry import resolve_fit

    try:
        return resolve_fit(cfg.data.fit, open_source(cfg.data.source).default_fit)
    except ValueError as exc:
        raise PneumoganError(str(exc)) from None


def repeated_rows(train: PreparedDataset, extra: dict[str, int], seed: int) -> np.ndarray:
    """Row indices of `extra[class]` more copies of each class's training images: the class repeated whole as
    often as fits, then the remainder drawn without replacement, so no image is seen more than once more than
    another (the duplicated control's count-matched real images)."""
    names = list(train.meta["class_names"])
    rng = np.random.default_rng([seed, 7])
    rows = []
    for name, n in sorted(extra.items()):
        if name not in names:
            raise PneumoganError(f"data.repeat_train names class '{name}'; the classes are {', '.join(names)}")
        members = np.flatnonzero(train.labels == names.index(name))
        if n and not len(members):
            raise PneumoganError(f"data.repeat_train asks for {n} more {name} images, but there are none to repeat")
        whole, rest = divmod(int(n), len(members)) if len(members) else (0, 0)
        rows += [members] * whole + [np.sort(rng.choice(members, rest, replace=False))]
    return np.concatenate(rows) if rows else np.zeros(0, dtype=int)


def load_splits(cfg: Config) -> SplitData:
    dc = cfg.data
    ds = prepare(
        open_source(dc.source),
        dc.size,
        cache_root=dc.cache_dir,
        max_pixels=dc.max_pixels,
        workers=dc.workers,
        fit=dc.fit,
    )
    ds = ds.select(stratified_subset(ds.splits, ds.labels, dc.subset, seed=cfg.split.seed))
    spec = SplitSpec(cfg.split.val_fraction, cfg.split.seed, cfg.split.strategy, cfg.split.exclude_test_patients)
    splits = grouped_split(ds.splits, ds.labels, ds.patient_ids, spec, ds.has_patient_ids)
    if dc.train_fraction < 1.0:  # low-data regime: drop part of the real training split, stratified by class
        train_idx = np.flatnonzero(splits == "train")
        kept = train_idx[stratified_subset(splits[train_idx], ds.labels[train_idx], dc.train_fraction, cfg.split.seed)]
        splits = splits.copy()
        splits[np.setdiff1d(train_idx, kept)] = "unused"
    summary = split_summary(splits, ds.labels, ds.patient_ids, tuple(ds.meta["class_names"]))
    fit = ds.meta["fit"]
    real_train = ds.select(splits == "train")
    parts = [real_train] if dc.train_real else []
    if dc.repeat_train:
        parts.append(real_train.select(repeated_rows(real_train, dc.repeat_train, cfg.seed)))
    # the geometry enters the fingerprint only where it changed pixels (not on a source of equal squares)
    fps = [ds.meta["fingerprint"]] + ([fit] if ds.meta["square_source"] is None else [])
    for extra in dc.extra_train:
        # synthetic sets are squares already; the real data's geometry keeps one cache key for them
        extra_ds = prepare(
            open_source(extra), dc.size, cache_root=dc.cache_dir, max_pixels=dc.max_pixels, workers=dc.workers, fit=fit
        )
        parts.append(extra_ds.select(extra_ds.splits == "train") if "train" in set(extra_ds.splits) else extra_ds)
        fps.append(extra_ds.meta["fingerprint"])
    if not parts:
        raise PneumoganError("no training data: data.train_real is false and data.extra_train is empty")
    train = concat(parts)
    digest = hashlib.sha256()
    repeats = [json.dumps(dc.repeat_train, sort_keys=True), str(cfg.seed)] if dc.repeat_train else []
    for part in (*fps, splits.tobytes(), str(dc.subset), str(dc.train_fraction), str(dc.train_real), *repeats):
        digest.update(part if isinstance(part, bytes) else part.encode())
    summary["train_provenance"] = {p: int(np.sum(train.provenance == p)) for p in sorted(set(train.provenance))}
    return SplitData(
        train, ds.select(splits == "val"), ds.select(splits == "test"), digest.hexdigest()[:16], summary, fit
    )
