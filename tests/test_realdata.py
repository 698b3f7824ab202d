"""Integration tests on the real Kermany set and PneumoniaMNIST in ../shared/data."""

from __future__ import annotations

import numpy as np
import pytest

from pneumogan.data.integrity import check_source
from pneumogan.data.medmnist import md5_of
from pneumogan.data.prepare import prepare
from pneumogan.data.sources import open_source
from pneumogan.data.splits import EXCLUDED, SplitSpec, grouped_split, split_summary

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def report(kaggle_224):
    return check_source(open_source(kaggle_224))


@pytest.fixture(scope="module")
def prepared_32(kaggle_224, tmp_path_factory):
    return prepare(open_source(kaggle_224), 32, cache_root=tmp_path_factory.mktemp("prep"))


def test_counts_match_the_published_split(report):
    assert report["total"] == report["usable"] == 5856 and report["bad"] == []
    assert report["counts"] == {
        "train": {"NORMAL": 1341, "PNEUMONIA": 3875},
        "val": {"NORMAL": 8, "PNEUMONIA": 8},
        "test": {"NORMAL": 234, "PNEUMONIA": 390},
    }
    assert report["counts_3class"]["train"] == {"NORMAL": 1341, "BACTERIAL": 2530, "VIRAL": 1345}
    assert report["counts_3class"]["test"] == {"NORMAL": 234, "BACTERIAL": 242, "VIRAL": 148}
    assert report["sizes"] == {"224x224": 5856} and report["modes"] == {"RGB": 5856}


def test_duplicates_and_patient_overlap_are_found(report):
    assert len(report["duplicates"]) == 30 and report["cross_split_duplicates"] == 0
    # File-name patient ids recur in train and test in the official split; the report must say so.
    assert len(report["patient_overlap"]) == 170


def test_grouped_split_has_no_patient_in_two_splits(prepared_32):
    ds = prepared_32
    for seed in (0, 1):
        spec = SplitSpec(val_fraction=0.1, seed=seed)
        splits = grouped_split(ds.splits, ds.labels, ds.patient_ids, spec, ds.has_patient_ids)
        summary = split_summary(splits, ds.labels, ds.patient_ids, ("NORMAL", "PNEUMONIA"))
        assert summary["patient_overlap"] == []
        assert summary["counts"]["test"] == {"NORMAL": 234, "PNEUMONIA": 390}
        assert summary["counts"][EXCLUDED] == {"NORMAL": 0, "PNEUMONIA": 457}
        val = summary["counts"]["val"]
        assert abs(val["NORMAL"] - 0.1 * 1349) < 10 and abs(val["PNEUMONIA"] - 0.1 * 3426) < 15
        assert sum(sum(c.values()) for c in summary["counts"].values()) == 5856


def test_prepared_real_dataset(prepared_32):
    ds = prepared_32
    assert ds.images.shape == (5856, 32, 32) and ds.meta["skipped"] == []
    assert 60 < ds.images.mean() < 200 and ds.images.std() > 20  # real radiograph content
    assert np.sum(ds.labels3 == 1) == 2530 + 242 + 8 and np.sum(ds.labels3 == 2) == 1345 + 148


def test_pneumoniamnist_28_loads_and_verifies(mnist_28):
    assert md5_of(mnist_28) == "28209eda62fecd6e6a2d98b1501bb15f"
    source = open_source(mnist_28)
    counts = {s: sum(r.split == s for r in source.records()) for s in ("train", "val", "test")}
    assert counts == {"train": 4708, "val": 524, "test": 624}
    ds = prepare(source, 28, workers=1)
    assert ds.images.shape == (5856, 28, 28) and not ds.has_patient_ids
    assert np.array_equal(ds.images[:10], np.load(mnist_28)["train_images"][:10])  # native size: untouched
