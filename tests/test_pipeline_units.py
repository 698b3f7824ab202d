"""Unit tests of the experiment's statistics, verdicts, synthetic-set plan and stage cache (no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pneumogan.config import RunConfig
from pneumogan.pipeline.compare import Scores, paired_difference, seed_summary, verdict
from pneumogan.pipeline.experiment import condition_epochs, synthetic_counts
from pneumogan.pipeline.report import render_html, render_markdown
from pneumogan.pipeline.stages import StageRunner, stage_key


def _diff(d: float, lo: float, hi: float, metric: str = "roc_auc") -> dict:
    return {"metric": metric, "difference": d, "ci": [lo, hi]}


def test_verdict_improved_worse_and_not_significant():
    assert verdict("C", _diff(0.031, 0.012, 0.05)).startswith("C: improved AUC over the baseline by +3.1 points")
    assert "[95 % CI +1.2, +5.0]" in verdict("C", _diff(0.031, 0.012, 0.05))
    assert verdict("D", _diff(-0.2, -0.3, -0.1, "accuracy")).startswith("D: worse accuracy than the baseline")
    assert "no significant difference" in verdict("B", _diff(0.02, -0.001, 0.04))
    assert "no significant difference" in verdict("B", _diff(-0.02, -0.04, 0.0))  # CI touching 0 is not significant


def test_seed_summary_t_interval():
    s = seed_summary([0.90, 0.92, 0.94])
    assert s["mean"] == pytest.approx(0.92)
    half = 4.302652729911275 * 0.02 / np.sqrt(3)  # t(0.975, 2) × sd / √n
    assert s["ci"] == pytest.approx([0.92 - half, 0.92 + half])
    assert seed_summary([0.9])["ci"] is None
    assert seed_summary([0.99, 0.90, 1.0])["ci"][1] == 1.0  # a proportion's interval stops at 1


def _scores(rng, y, quality: float, threshold: float = 0.5) -> Scores:
    p = np.clip(quality * y + (1 - quality) * rng.random(len(y)), 0, 1)
    return Scores(y, p, threshold)


def test_paired_difference_detects_a_better_model_and_not_an_identical_one():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.6).astype(int)
    weak = [_scores(rng, y, 0.1), _scores(rng, y, 0.1)]
    strong = [_scores(rng, y, 0.6), _scores(rng, y, 0.6)]
    better = paired_difference(weak, strong, "roc_auc", n_boot=300)
    assert better["difference"] > 0.1 and better["ci"][0] > 0
    assert len(better["per_seed"]) == 2
    same = paired_difference(weak, weak, "accuracy", n_boot=100)
    assert same["difference"] == 0 and same["ci"] == [0.0, 0.0]
    assert "no significant difference" in verdict("x", same)


def test_paired_difference_refuses_different_test_sets():
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="same test images"):
        paired_difference([Scores(y, y * 1.0, 0.5)], [Scores(y[::-1], y * 1.0, 0.5)], "accuracy")


def test_synthetic_counts_per_condition():
    real = {"NORMAL": 100, "PNEUMONIA": 300}
    run = RunConfig(enlarge_ratio=0.5)
    assert synthetic_counts(real, "real", run) == {}
    assert synthetic_counts(real, "rebalanced", run) == {"NORMAL": 200}
    assert synthetic_counts(real, "enlarged", run) == {"NORMAL": 50, "PNEUMONIA": 150}
    assert synthetic_counts(real, "synthetic_only", run) == real
    assert synthetic_counts(real, "synthetic_only", RunConfig(synthetic_only_per_class=7)) == {
        "NORMAL": 7, "PNEUMONIA": 7}  # fmt: skip
    assert synthetic_counts({"NORMAL": 5, "PNEUMONIA": 5}, "rebalanced", run) == {}


def test_stage_runner_skips_finished_stages_and_reruns_changed_ones(tmp_path):
    calls = []

    def work(folder):
        calls.append(folder.name)
        (folder / "artefact.txt").write_text("x")
        return {"value": len(calls)}

    runner = StageRunner(tmp_path, log=lambda m: None)
    key = stage_key("a", {"lr": 1})
    folder, result = runner.run("train", key, work)
    assert result == {"value": 1} and json.loads((folder / "stage.json").read_text())["key"] == key
    _, again = StageRunner(tmp_path, log=lambda m: None).run("train", key, work)
    assert again == {"value": 1} and len(calls) == 1  # cached
    StageRunner(tmp_path, log=lambda m: None).run("train", stage_key("a", {"lr": 2}), work)
    assert len(calls) == 2  # a changed input is a new stage


def test_interrupted_stage_has_no_marker_and_runs_again(tmp_path):
    def boom(folder):
        raise KeyboardInterrupt

    runner = StageRunner(tmp_path, log=lambda m: None)
    with pytest.raises(KeyboardInterrupt):
        runner.run("gan", "k1", boom)
    assert not (runner.folder("gan", "k1") / "stage.json").exists()
    _, result = runner.run("gan", "k1", lambda f: {"ok": True})
    assert result == {"ok": True}


def test_report_renderers_escape_and_embed(tmp_path):
    from PIL import Image

    img = tmp_path / "a.png"
    Image.new("L", (4, 4)).save(img)
    blocks = [("h1", "T <x>"), ("note", "not a device"), ("li", "one `code`"), ("li", "two"),
              ("table", (["a", "b"], [["1", "2"]])), ("img", (img, "cap"))]  # fmt: skip
    page = render_html(blocks)
    assert "T &lt;x&gt;" in page and "<code>code</code>" in page and "data:image/png;base64," in page
    assert "http" not in page  # nothing external: opens offline
    md = render_markdown(blocks, tmp_path)
    assert "| a | b |" in md and "![cap](a.png)" in md and "- one `code`\n- two" in md


def test_condition_epochs_equalise_optimizer_steps():
    from pneumogan.config import load_config

    cfg = load_config(None, ["classify.epochs=3", "classify.batch_size=64"])
    assert condition_epochs(cfg, 4296, 4296) == 3  # the baseline: 3 epochs of 68 batches = 204 steps
    assert condition_epochs(cfg, 6444, 4296) == 2  # 101 batches per epoch → 2 epochs (202 steps)
    assert condition_epochs(cfg, 429, 4296) == 29  # 10 % of the data: 7 batches per epoch → 29 epochs (203)
    assert condition_epochs(cfg, 10**6, 4296) == 1  # never zero
