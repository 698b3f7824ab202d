from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tests.corpus import write_bad_corpus, write_kaggle_folder


def run_cli(*args: str, env_cache: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PNEUMOGAN_CACHE_DIR": env_cache, "COLUMNS": "200"}
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
