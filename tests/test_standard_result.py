"""The committed standard run (benchmarks/results/standard_run/): it is the run `configs/standard.yaml` describes,
it says how and where it was made, and the results page (docs/results.md) quotes its answer and headline
tables as computed."""

from __future__ import annotations

import json
from pathlib import Path

from pneumogan.config import load_config
from pneumogan.pipeline.report import headline_markdown

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "standard_run"


def _results() -> dict:
    return json.loads((RESULT / "results.json").read_text())


def test_the_committed_run_is_the_standard_config():
    results, config = _results(), load_config("standard")
    assert results["name"] == "standard"
    assert results["seeds"] == config.run.seeds
    assert sorted(f["fraction"] for f in results["fractions"].values()) == sorted(config.run.fractions)
    for fraction in results["fractions"].values():
        assert list(fraction["conditions"]) == list(config.run.conditions)
        for entry in fraction["conditions"].values():
            assert sorted(entry["seeds"], key=int) == [str(s) for s in config.run.seeds]
    assert results["config"]["gan"]["steps"] == config.gan.steps
    assert results["config"]["data"]["size"] == config.data.size


def test_the_committed_run_says_how_it_was_made_and_stays_small():
    measured = json.loads((RESULT / "measured.json").read_text())
    assert measured["command"].startswith("pneumogan run --config standard")
    assert measured["commit"] and measured["machine"]["cpu_model"] and measured["stage_compute_s"] > 0
    assert (RESULT / "report.html").is_file() and (RESULT / "report.md").is_file()
    assert sum(p.stat().st_size for p in RESULT.rglob("*") if p.is_file()) <= 10 * 1024 * 1024


def test_the_results_page_quotes_the_committed_headline_as_computed():
    readme = (ROOT / "docs" / "results.md").read_text()
    results = _results()
    assert results["answer"] in readme
    assert headline_markdown(results) in readme
