"""Seeded, class-stratified, patient-grouped split of the training pool into train and val.

The Kaggle val split holds 16 images, too few for model selection, so train ∪ val is re-split with whole
patients on one side. The test split is never touched. By default, training images of patients who also
occur in the test split are excluded, so that no patient id appears in two splits at all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pneumogan.errors import PneumoganError

Strategy = Literal["auto", "grouped", "source"]
EXCLUDED = "excluded"


@dataclass(frozen=True)
class SplitSpec:
    val_fraction: float = 0.1
    seed: int = 0
    strategy: Strategy = "auto"
    exclude_test_patients: bool = True


def grouped_split(
    source_splits: np.ndarray,
    labels: np.ndarray,
    patient_ids: np.ndarray,
    spec: SplitSpec = SplitSpec(),
    has_patient_ids: bool = True,
) -> np.ndarray:
    """Return the new split of every image: 'train', 'val', 'test' or 'excluded'.

    `strategy='auto'` re-splits by patient when the source has patient ids (Kaggle) and keeps the source's
    own split otherwise (MedMNIST ships a proper 9:1 train/val split but no patient ids).
    """
    source_splits = np.asarray(source_splits).astype("<U16")  # room for "excluded"
    labels = np.asarray(labels)
    patient_ids = np.asarray(patient_ids).astype(str)
    if not 0.0 < spec.val_fraction < 1.0:
        raise PneumoganError(f"split.val_fraction must be in (0, 1), got {spec.val_fraction}")
    if spec.strategy == "source" or (spec.strategy == "auto" and not has_patient_ids):
        return source_splits.copy()
    if spec.strategy == "grouped" and not has_patient_ids:
        raise PneumoganError("split.strategy 'grouped' needs patient ids; this source has none (use 'source')")

    out = source_splits.copy()
    pool = np.flatnonzero(np.isin(source_splits, ["train", "val"]))
    test_patients = set(patient_ids[source_splits == "test"])
    if spec.exclude_test_patients:
        leaked = pool[np.isin(patient_ids[pool], list(test_patients))]
        out[leaked] = EXCLUDED
        pool = np.setdiff1d(pool, leaked)

    # A patient's class is the majority label of their images (in Kermany every patient has one class).
    images_of: dict[str, list[int]] = defaultdict(list)
    for i in pool:
        images_of[patient_ids[i]].append(int(i))
    by_class: dict[int, list[str]] = defaultdict(list)
    for pid in sorted(images_of):
        majority = Counter(int(labels[i]) for i in images_of[pid]).most_common(1)[0][0]
        by_class[majority].append(pid)

    rng = np.random.default_rng(spec.seed)
    for cls in sorted(by_class):
        pids = by_class[cls]
        order = rng.permutation(len(pids))
        target = spec.val_fraction * sum(len(images_of[p]) for p in pids)
        taken = 0
        for k in order:
            idx = images_of[pids[k]]
            # Stop before overshooting by more than half a patient's images.
            if taken >= target or taken + len(idx) / 2 > target:
                out[idx] = "train"
            else:
                out[idx] = "val"
                taken += len(idx)
    return out


def split_summary(
    splits: np.ndarray, labels: np.ndarray, patient_ids: np.ndarray, class_names: tuple[str, ...]
) -> dict:
    """Counts per split and class, patients per split, and the (hopefully empty) patient overlap."""
    splits = np.asarray(splits).astype(str)
    summary: dict = {"counts": {}, "patients": {}}
    owners: dict[str, set[str]] = defaultdict(set)
    for split in sorted(set(splits.tolist())):
        mask = splits == split
        summary["counts"][split] = {name: int(np.sum(labels[mask] == k)) for k, name in enumerate(class_names)}
        pids = set(np.asarray(patient_ids)[mask].astype(str).tolist())
        summary["patients"][split] = len(pids)
        if split != EXCLUDED:
            for pid in pids:
                owners[pid].add(split)
    summary["patient_overlap"] = sorted(pid for pid, s in owners.items() if len(s) > 1)
    return summary


def stratified_subset(splits: np.ndarray, labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subset keeping `fraction` of every (split, class) group (at least 1 each)."""
    if not 0.0 < fraction <= 1.0:
        raise PneumoganError(f"subset fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    splits = np.asarray(splits).astype(str)
    for split in sorted(set(splits)):
        for label in sorted(set(np.asarray(labels)[splits == split].tolist())):
            group = np.flatnonzero((splits == split) & (labels == label))
            n = max(1, round(fraction * len(group)))
            keep.append(rng.choice(group, size=n, replace=False))
    return np.sort(np.concatenate(keep))
