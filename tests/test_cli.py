from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.corpus import write_bad_corpus, write_kaggle_folder
from tests.shared_cache import with_shared_prepared


def run_cli(*args: str, env_cache: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PNEUMOGAN_CACHE_DIR": str(with_shared_prepared(Path(env_cache))), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "pneumogan", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def bad_folder(tmp_path):
    root = write_kaggle_folder(
        tmp_path / "data", {"train": {"NORMAL": ["IM-0001-0001.jpeg"], "PNEUMONIA": ["person1_virus_1.jpeg"]}}
    )
    write_bad_corpus(root / "train" / "NORMAL")
    return root


def test_check_writes_json_and_exits_zero_despite_bad_files(bad_folder, tmp_path):
    out = tmp_path / "report.json"
    proc = run_cli("data", "check", str(bad_folder), "--json", str(out), env_cache=str(tmp_path / "c"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    for key in ("total", "counts", "bad", "duplicates", "patient_overlap"):
        assert key in report
    assert len(report["bad"]) == 5 and all({"path", "reason"} <= set(b) for b in report["bad"])
    assert "Bad files" in proc.stdout and "oversized image" in proc.stdout


def test_prepare_reports_skips_and_split(bad_folder, tmp_path):
    proc = run_cli("data", "prepare", str(bad_folder), "--size", "24", env_cache=str(tmp_path / "c"))
    assert proc.returncode == 0, proc.stderr
    assert "Prepared 5 images at 24px" in proc.stdout
    assert proc.stdout.count("skipped") == 5
    assert "Patients in two splits after the split: 0" in proc.stdout


@pytest.mark.parametrize("make_path", [lambda p: p / "missing", lambda p: p])
def test_bad_source_is_one_clear_line(tmp_path, make_path):
    proc = run_cli("data", "check", str(make_path(tmp_path)), env_cache=str(tmp_path / "c"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")


@pytest.mark.realdata
@pytest.mark.slow  # over 45 s; the default run keeps a shorter end-to-end test of the same path
def test_tiny_config_smoke_runs_through_the_cli(kaggle_224, tmp_path):
    """`configs/tiny.yaml` trains a classifier and a GAN from the command line, then samples a set."""
    cache = str(tmp_path / "c")
    src = f"data.source={kaggle_224}"
    cls = run_cli("classify", "train", "-c", "tiny", "-o", str(tmp_path / "cls"), src, env_cache=cache)
    assert cls.returncode == 0, cls.stderr
    assert (tmp_path / "cls" / "model.safetensors").is_file() and (tmp_path / "cls" / "config.yaml").is_file()
    gan = run_cli("gan", "train", "-c", "tiny", "-o", str(tmp_path / "gan"), src, "gan.steps=4", env_cache=cache)
    assert gan.returncode == 0, gan.stderr
    sample = run_cli(
        "gan", "sample", str(tmp_path / "gan"), "--per-class", "3", "-o", str(tmp_path / "syn"), env_cache=cache
    )
    assert sample.returncode == 0, sample.stderr
    assert len(list((tmp_path / "syn" / "train").rglob("*.png"))) == 6
    bad = run_cli(
        "classify", "train", "-c", "tiny", "-o", str(tmp_path / "x"), "classify.arch=alexnet", env_cache=cache
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "choose one of" in bad.stderr


@pytest.mark.realdata
@pytest.mark.slow  # over 45 s; the default run keeps a shorter end-to-end test of the same path
def test_gan_evaluate_command_compares_equal_numbers_against_the_full_split(kaggle_224, tiny_checkpoint, tmp_path):
    """A GAN trained on half the real data is measured against every real training image of each class."""
    from pneumogan.config import load_config
    from pneumogan.data.loading import load_splits

    cache = str(tmp_path / "c")
    src = f"data.source={kaggle_224}"
    args = ["-c", "tiny", "-o", str(tmp_path / "gan"), src, "gan.steps=3", "data.train_fraction=0.5"]
    assert run_cli("gan", "train", *args, env_cache=cache).returncode == 0
    out = tmp_path / "gan.json"
    proc = run_cli(
        "gan",
        "evaluate",
        str(tmp_path / "gan"),
        "--n",
        "20",
        "--reference",
        str(tiny_checkpoint),
        "--json",
        str(out),
        env_cache=cache,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    full = load_splits(load_config("tiny", [src])).train
    assert res["classes"] == ["NORMAL", "PNEUMONIA"] and res["train_fraction_of_gan"] == 0.5
    for c, name in enumerate(res["classes"]):
        assert res[name]["n_real"] == int((full.labels == c).sum())  # the full split, not the GAN's half
        assert res[name]["n"] == res[name]["n_fake"] == 20  # FD/KID on equal numbers
        assert res[name]["kid_std"] is None and np.isfinite(res[name]["fd"])  # 20 per side: one KID subset
    # "overall" keeps the real class mix (about 1 NORMAL : 3 PNEUMONIA): the 20 PNEUMONIA images limit it
    share = (full.labels == 1).mean()
    assert res["overall"]["n"] == pytest.approx(20 / share, abs=1.5) and res["overall"]["n"] < 40
    assert "NORMAL" in proc.stdout and "KID" in proc.stdout
