from __future__ import annotations

import numpy as np
import pytest

from pneumogan.data.splits import EXCLUDED, SplitSpec, grouped_split, split_summary, stratified_subset
from pneumogan.errors import PneumoganError


def synthetic_pool(n_patients: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    pids, labels, splits = [], [], []
    for p in range(n_patients):
        label = int(p % 4 == 0)  # 25 % positive patients
        split = "test" if p % 10 == 0 else ("val" if p % 37 == 0 else "train")
        for _ in range(rng.integers(1, 5)):
            pids.append(f"p{p}")
            labels.append(label)
            splits.append(split)
    return np.array(splits), np.array(labels), np.array(pids)


def test_grouped_split_has_no_patient_in_two_splits_and_is_stratified():
    splits, labels, pids = synthetic_pool()
    out = grouped_split(splits, labels, pids, SplitSpec(val_fraction=0.2, seed=1, exclude_test_patients=False))
    assert split_summary(out, labels, pids, ("N", "P"))["patient_overlap"] == []
    assert np.array_equal(out == "test", splits == "test")  # test untouched
    pool = splits != "test"
    for cls in (0, 1):
        share = np.mean(out[pool & (labels == cls)] == "val")
        assert 0.15 < share < 0.25, share


def test_grouped_split_is_seeded():
    splits, labels, pids = synthetic_pool()
    a = grouped_split(splits, labels, pids, SplitSpec(seed=3))
    b = grouped_split(splits, labels, pids, SplitSpec(seed=3))
    c = grouped_split(splits, labels, pids, SplitSpec(seed=4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_patients_shared_with_test_are_excluded_by_default():
    splits = np.array(["train", "train", "test", "train", "val"])
    labels = np.array([1, 1, 1, 0, 0])
    pids = np.array(["a", "b", "a", "c", "d"])
    out = grouped_split(splits, labels, pids, SplitSpec(val_fraction=0.5))
    assert out[0] == EXCLUDED and out[2] == "test"
    kept = grouped_split(splits, labels, pids, SplitSpec(val_fraction=0.5, exclude_test_patients=False))
    assert kept[0] in {"train", "val"}
    assert split_summary(kept, labels, pids, ("N", "P"))["patient_overlap"] == ["a"]


def test_source_strategy_keeps_source_split():
    splits, labels, pids = synthetic_pool(50)
    assert np.array_equal(grouped_split(splits, labels, pids, SplitSpec(strategy="source")), splits)
    assert np.array_equal(grouped_split(splits, labels, pids, SplitSpec(), has_patient_ids=False), splits)
    with pytest.raises(PneumoganError, match="patient ids"):
        grouped_split(splits, labels, pids, SplitSpec(strategy="grouped"), has_patient_ids=False)


def test_stratified_subset():
    splits, labels, _ = synthetic_pool()
    idx = stratified_subset(splits, labels, 0.1, seed=0)
    assert np.all(np.diff(idx) > 0)
    for split in ("train", "val", "test"):
        for cls in (0, 1):
            n = np.sum((splits == split) & (labels == cls))
            got = np.sum((splits[idx] == split) & (labels[idx] == cls))
            assert got == max(1, round(0.1 * n))
    assert len(stratified_subset(splits, labels, 1.0)) == len(labels)
