"""The evidence under benchmarks/results/ is indexed: one folder per registered study, every file listed in the
generated INDEX.md, every result naming the script that made it (or how it was made by hand) and the split its
choices were made on."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from pneumogan.layout import EVIDENCE_INDEX, EVIDENCE_LEDGER, EVIDENCE_PROVENANCE, EVIDENCE_STUDIES, evidence_study

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import build_index  # noqa: E402

PROVENANCE = yaml.safe_load((build_index.RESULTS / EVIDENCE_PROVENANCE).read_text())


def _rows() -> list[dict]:
    return [build_index.describe(p, PROVENANCE) for p in build_index.result_files()]


def test_the_committed_index_is_what_the_script_writes():
    committed = (build_index.RESULTS / EVIDENCE_INDEX).read_text()
    assert committed == build_index.index_markdown(), "stale: run python benchmarks/build_index.py"


def test_the_index_lists_every_file_under_results():
    index = (build_index.RESULTS / EVIDENCE_INDEX).read_text()
    files = [p for p in build_index.RESULTS.rglob("*") if p.is_file()]
    assert len(files) > 100
    for path in files:
        rel = path.relative_to(build_index.RESULTS)
        if rel.name in (EVIDENCE_INDEX, EVIDENCE_PROVENANCE, EVIDENCE_LEDGER):
            continue
        section = index.split(f"## `{rel.parts[0]}/`")[1].split("\n## ")[0]
        assert f"`{Path(*rel.parts[1:])}`" in section, rel


def test_results_live_in_registered_study_folders_only():
    folders = {p.name for p in build_index.RESULTS.iterdir() if p.is_dir()}
    assert folders == set(EVIDENCE_STUDIES)
    assert not [
        p.name
        for p in build_index.RESULTS.iterdir()
        if p.is_file() and p.suffix != ".md" and p.name != EVIDENCE_PROVENANCE
    ]


def test_every_result_says_what_made_it_and_where_its_choices_were_made():
    for row in _rows():
        where = f"{row['study']}/{row['file']}"
        assert row["selection_split"] in ("val", "train", "test", "none"), where
        if row["script"] == "hand-made":
            assert row["how"], where
            continue
        assert row["script"] != build_index.UNKNOWN, where
        if row["script"].endswith(".py"):
            assert (BENCHMARKS / row["script"]).is_file(), where
            evidence_study(row["script"])  # registered (a script may also name another study: STUDY/NAME)


def test_every_benchmark_script_writes_to_one_study_and_provenance_names_real_files():
    for script in BENCHMARKS.glob("bench_*.py"):
        assert evidence_study(script.name) in EVIDENCE_STUDIES
    for rel in PROVENANCE:
        assert (build_index.RESULTS / rel).is_file(), f"{EVIDENCE_PROVENANCE} names {rel}, which does not exist"


def test_a_new_result_records_command_commit_cpu_kind_and_date(tmp_path, monkeypatch):
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    monkeypatch.setattr(sys, "argv", ["benchmarks/bench_ood.py", "--x"])
    path = _common.save("probe", {"selection_split": "none"})
    assert path == tmp_path / "ood" / "probe.json"
    row = build_index.describe(path, {})
    assert row["script"] == "bench_ood.py" and row["commit"] != build_index.UNKNOWN
    assert "[" in row["cpu"] and "flags not recorded" not in row["cpu"] and row["date"] != build_index.UNKNOWN


def test_the_committed_test_ledger_is_what_the_script_writes_and_counts_every_result():
    committed = (build_index.RESULTS / EVIDENCE_LEDGER).read_text()
    assert committed == build_index.ledger_markdown(), "stale: run python benchmarks/build_index.py"
    unknown = [f"{r['study']}/{r['file']}" for r in _rows() if not isinstance(r["test_evaluations"], int)]
    assert not unknown, f"count their test evaluations (the file's own field, or {EVIDENCE_PROVENANCE}): {unknown}"
    silent = [f"{r['study']}/{r['file']}" for r in _rows() if r["test_evaluations"] and not r["test_read"]]
    assert not silent, f"say what they read on test (`test_read` in {EVIDENCE_PROVENANCE}): {silent}"


def test_the_ledger_total_is_the_sum_of_its_rows(tmp_path):
    study = tmp_path / "results" / "classifier"
    study.mkdir(parents=True)
    (tmp_path / "results" / EVIDENCE_PROVENANCE).write_text("classifier/b.json: {test_evaluations: 4, test_read: x}\n")
    (study / "a.json").write_text('{"test_evaluations": 3, "selection_split": "val"}')
    (study / "b.json").write_text('{"selection_split": "none"}')
    (study / "c.json").write_text('{"selection_split": "none", "test_evaluations": 0}')
    bundled = tmp_path / "src" / "pneumogan" / "bundled"
    (bundled / "classifier" / "eval_test").mkdir(parents=True)
    text = build_index.ledger_markdown(tmp_path / "results", bundled)
    assert "**8 test evaluations in all**: 7 in 2 of the 3 results" in text
    assert "| `classifier/` | 2 | 7 |" in text
    assert "read no test image (1): `classifier/c.json`" in text


def test_the_readme_quotes_the_ledgers_total():
    import re

    ledger = (build_index.RESULTS / EVIDENCE_LEDGER).read_text()
    total = re.search(r"\*\*(\d+) test evaluations in all\*\*", ledger).group(1)
    readme = (ROOT / "README.md").read_text()
    quoted = re.search(r"has made (\d+) test evaluations", " ".join(readme.split()))
    assert quoted and quoted.group(1) == total, f"README must quote the ledger's total, {total}"
