from __future__ import annotations

import shutil

import numpy as np
import pytest
from tests.corpus import BAD_CORPUS_EXPECTED, write_bad_corpus, write_kaggle_folder

from pneumogan.data.integrity import check_source, print_report
from pneumogan.data.prepare import PreparedDataset, prepare
from pneumogan.data.sources import KaggleFolderSource, open_source
from pneumogan.errors import PneumoganError

LAYOUT = {
    "train": {
        "NORMAL": ["IM-0001-0001.jpeg", "IM-0002-0001.jpeg", "IM-0003-0001.jpeg"],
        "PNEUMONIA": ["person1_bacteria_1.jpeg", "person1_bacteria_2.jpeg", "person2_virus_3.jpeg"],
    },
    "test": {
        "NORMAL": ["IM-0009-0001.jpeg"],
        "PNEUMONIA": ["person2_virus_9.jpeg", "person3_bacteria_4.jpeg"],
    },
}


@pytest.fixture
def messy_folder(tmp_path):
    """A Kaggle-layout folder with good images, the whole bad corpus, a cross-split duplicate and a stray file."""
    root = write_kaggle_folder(tmp_path / "chest_xray", LAYOUT)
    write_bad_corpus(root / "train" / "PNEUMONIA")
    dup = root / "train" / "NORMAL" / "IM-0003-0001.jpeg"
    shutil.copy(dup, root / "test" / "NORMAL" / "IM-0042-0001.jpeg")
    (root / "train" / "NORMAL" / "notes.txt").write_text("scanner log")
    return tmp_path


def test_check_lists_every_bad_file_with_reason(messy_folder):
    source = open_source(messy_folder)  # the parent folder holding chest_xray/ is accepted
    report = check_source(source, workers=1)
    reasons = {b["path"].rsplit("/", 1)[1]: b["reason"] for b in report["bad"]}
    for name, expected in BAD_CORPUS_EXPECTED.items():
        if expected == "converted":
            assert name not in reasons
        else:
            assert reasons[name] == expected
    assert reasons["notes.txt"].startswith("not an image file type")
    converted = {c["path"].rsplit("/", 1)[1] for c in report["converted"]}
    assert converted == {n for n, e in BAD_CORPUS_EXPECTED.items() if e == "converted"}
    n_good = sum(len(v) for split in LAYOUT.values() for v in split.values()) + 1 + len(converted)
    assert report["usable"] == n_good
    assert report["total"] == n_good + len(report["bad"])
    assert report["counts"]["test"] == {"NORMAL": 2, "PNEUMONIA": 2}
    cross = [d for d in report["duplicates"] if d["cross_split"]]
    assert len(cross) == 1 and cross[0]["splits"] == ["test", "train"]
    assert report["patient_overlap"] == [{"patient_id": "person2", "splits": ["test", "train"]}]
    print_report(report)  # renders without error


def test_check_is_the_same_in_parallel(messy_folder, monkeypatch):
    from pneumogan.data import scan

    monkeypatch.setattr(scan, "PARALLEL_MIN_RECORDS", 0)  # use the process pool even for a few files
    source = open_source(messy_folder)
    one, two = check_source(source, workers=1), check_source(source, workers=2)
    assert one == two


def test_prepare_skips_bad_files_and_caches(messy_folder, tmp_path):
    source = open_source(messy_folder)
    cache = tmp_path / "cache"
    ds = prepare(source, 32, cache_root=cache, workers=1)
    assert ds.images.shape[1:] == (32, 32) and ds.images.dtype == np.uint8
    skipped = {s["path"].rsplit("/", 1)[1] for s in ds.meta["skipped"]}
    assert skipped == {n for n, e in BAD_CORPUS_EXPECTED.items() if e != "converted"} | {"notes.txt"}
    assert len(ds) == ds.meta["n"] == check_source(source, workers=1)["usable"]
    assert set(ds.splits) == {"train", "test"} and set(ds.provenance) == {"real"}
    assert "person1" in set(ds.patient_ids)
    assert ds.labels3[list(ds.paths).index(str(source.root / "train/PNEUMONIA/person2_virus_3.jpeg"))] == 2
    again = prepare(source, 32, cache_root=cache, workers=1)
    assert again.root == ds.root and np.array_equal(again.images, ds.images)
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temp folders left behind
    # A changed file changes the content fingerprint, so the cache is rebuilt elsewhere.
    (source.root / "train/NORMAL/IM-0001-0001.jpeg").write_bytes(
        (source.root / "train/NORMAL/IM-0002-0001.jpeg").read_bytes()
    )
    changed = prepare(KaggleFolderSource(source.root), 32, cache_root=cache, workers=1)
    assert changed.root != ds.root
    assert PreparedDataset.load(ds.root).meta == ds.meta


def test_select_and_roundtrip(messy_folder, tmp_path):
    ds = prepare(open_source(messy_folder), 16, cache_root=tmp_path / "c", workers=1)
    sub = ds.select(ds.splits == "test")
    assert len(sub) == 4 and set(sub.splits) == {"test"} and sub.images.shape == (4, 16, 16)


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "train" / "NORMAL").mkdir(parents=True)
    with pytest.raises(PneumoganError, match="no images"):
        open_source(tmp_path)
    with pytest.raises(PneumoganError, match="not found"):
        open_source(tmp_path / "missing")


def test_synthetic_folder_has_synthetic_provenance(tmp_path):
    root = write_kaggle_folder(tmp_path / "syn", {"train": {"NORMAL": ["a.png"], "VIRAL": ["b.png"]}})
    (root / "manifest.csv").write_text("file,class,seed,generator\n")
    source = open_source(root)
    recs = sorted(source.records(), key=lambda r: r.path)
    assert [r.provenance for r in recs] == ["synthetic", "synthetic"]
    assert [(r.label, r.label3) for r in recs] == [(0, 0), (1, 2)]
    assert not source.has_patient_ids
