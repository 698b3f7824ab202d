"""Unit tests of the experiment's statistics, verdicts, synthetic-set plan and stage cache (no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pneumogan.config import RunConfig
from pneumogan.pipeline.compare import SEED_CI_METHOD, Scores, paired_difference, seed_summary
from pneumogan.pipeline.conditions import synthetic_counts
from pneumogan.pipeline.experiment import condition_epochs
from pneumogan.pipeline.report import headline_markdown, render_html, render_markdown
from pneumogan.pipeline.stages import StageRunner, stage_key


def _diff(d: float, ci: list[float] | None, n_seeds: int, p: float | None, metric: str = "roc_auc") -> dict:
    return {"metric": metric, "difference": d, "ci": ci, "n_seeds": n_seeds, "p_value": p, "ci_method": SEED_CI_METHOD}


def _results(diffs: dict[tuple[float, str], dict[str, dict]]) -> dict:
    """A results dict with the given vs_real differences per (fraction, condition)."""
    fractions: dict = {}
    for (share, cond), vs_real in diffs.items():
        entry = fractions.setdefault(f"{share * 100:g}pct", {"fraction": share, "conditions": {"real": {}}})
        entry["conditions"][cond] = {"vs_real": vs_real}
    return {"fractions": fractions}


def test_one_seed_makes_every_verdict_inconclusive_and_says_why():
    from pneumogan.pipeline.verdicts import comparison_records, sentence

    one = {"roc_auc": _diff(0.026, None, 1, None), "accuracy": _diff(0.05, None, 1, None, "accuracy")}
    results = _results({(1.0, "rebalanced"): one, (1.0, "enlarged"): one})
    records = comparison_records(results, RunConfig())
    assert [r["verdict"] for r in records] == ["inconclusive"] * 4
    assert records[0]["primary"] and (records[0]["condition"], records[0]["metric"]) == ("enlarged", "roc_auc")
    assert sum(r["primary"] for r in records) == 1
    assert "1 seed: training variance cannot be estimated" in sentence(records[0])


def test_three_seeds_primary_by_interval_secondaries_holm_corrected():
    from pneumogan.pipeline.verdicts import comparison_records, sentence

    diffs = {
        (0.1, "enlarged"): {
            "roc_auc": _diff(0.021, [0.004, 0.038], 3, 0.03),  # primary: the interval excludes 0 → improved
            "accuracy": _diff(0.03, [0.001, 0.059], 3, 0.049, "accuracy"),  # secondary: Holm ×3 → not detectable
        },
        (1.0, "enlarged"): {
            "roc_auc": _diff(-0.05, [-0.06, -0.04], 3, 0.001),  # secondary: Holm 0.003 → worse
            "accuracy": _diff(0.0, [-0.02, 0.02], 3, 0.9, "accuracy"),
        },
    }
    records = comparison_records(_results(diffs), RunConfig(conditions=["real", "enlarged"]))
    primary, *secondary = records
    assert primary["primary"] and primary["fraction"] == 0.1 and primary["verdict"] == "improved"
    assert primary["p_holm"] is None and "Primary" in sentence(primary) and "[95 % CI +0.4, +3.8]" in sentence(primary)
    by_key = {(r["fraction"], r["metric"]): r for r in secondary}
    assert by_key[(0.1, "accuracy")]["p_holm"] == pytest.approx(0.098)
    assert by_key[(0.1, "accuracy")]["verdict"] == "no_detectable_difference"
    assert "no detectable difference after the Holm correction" in sentence(by_key[(0.1, "accuracy")])
    assert by_key[(1.0, "roc_auc")]["verdict"] == "worse" and by_key[(1.0, "roc_auc")]["p_holm"] == pytest.approx(0.003)
    flat = sentence(by_key[(1.0, "accuracy")])
    assert "no detectable difference" in flat and "3 seeds" in flat
    found = by_key[(1.0, "accuracy")]["power"]  # 3 seeds at Holm's α/3: far more than the half-width, 2.0 points
    assert found["alpha"] == pytest.approx(0.05 / 3) and found["detectable_effect"] > 2 * 0.02
    assert "detected 80% of the time at the Holm level 0.017" in flat and "half-width, 2.0 points" in flat


def test_headline_tables_cover_every_condition_and_fraction_with_its_verdict():
    from pneumogan.pipeline.verdicts import comparison_records

    diffs = {
        (0.1, "enlarged"): {"roc_auc": _diff(0.021, [0.004, 0.038], 3, 0.03)},
        (1.0, "enlarged"): {"roc_auc": _diff(-0.05, [-0.06, -0.04], 3, 0.001)},  # Holm ×2 → 0.002: worse
        (1.0, "rebalanced"): {"roc_auc": _diff(-0.02, [-0.03, -0.01], 3, 0.04)},
        (0.1, "rebalanced"): {"roc_auc": _diff(0.02, [0.01, 0.03], 3, 0.03)},  # Holm ×3 → 0.09: not detectable
    }
    results = _results(diffs)
    for fraction in results["fractions"].values():
        for i, entry in enumerate(fraction["conditions"].values()):
            entry["summary"] = {
                "roc_auc": {"mean": 0.9 + i / 100, "ci": [0.89 + i / 100, 0.91 + i / 100], "ci_kind": "t"}
            }
    results["seeds"] = [0, 1, 2]
    results["comparisons"] = comparison_records(results, RunConfig(conditions=["real", "enlarged", "rebalanced"]))
    text = headline_markdown(results)
    auc, diff = text.split("Difference from the baseline")
    assert "with its 95 % CI (t):" in auc
    assert "| A real (baseline) | 90.0 [89.0, 91.0] | 90.0 [89.0, 91.0] |" in auc
    assert "| C enlarged | 91.0 [90.0, 92.0] | 91.0 [90.0, 92.0] |" in auc
    assert "| C enlarged | +2.1 [+0.4, +3.8]: better (primary) | -5.0 [-6.0, -4.0]: worse |" in diff
    after_holm = "+2.0 [+1.0, +3.0]: no detectable difference after Holm"  # its own interval excludes 0
    assert f"| B rebalanced | {after_holm} | -2.0 [-3.0, -1.0]: no detectable difference after Holm |" in diff
    assert "real (baseline)" not in diff  # the baseline is not compared with itself


def test_the_answer_paragraph_follows_the_computed_verdicts():
    from pneumogan.pipeline.verdicts import answer, comparison_records

    improved = {"roc_auc": _diff(0.021, [0.004, 0.038], 3, 0.03)}
    worse_elsewhere = {"roc_auc": _diff(-0.05, [-0.06, -0.04], 3, 0.001)}
    records = comparison_records(
        _results({(0.1, "enlarged"): improved, (1.0, "enlarged"): worse_elsewhere}),
        RunConfig(conditions=["real", "enlarged"]),
    )
    text = answer(records)
    assert text.startswith("Did synthetic images help here? Yes, by the primary measure.")
    assert "[95 % CI +0.4, +3.8], 3 seeds" in text
    assert "Of the 1 secondary comparisons (Holm-corrected), 0 improved, 1 were worse" in text
    one_seed = comparison_records(_results({(0.1, "enlarged"): {"roc_auc": _diff(0.02, None, 1, None)}}), RunConfig())
    assert answer(one_seed).startswith("Did synthetic images help here? This run cannot tell.")
    assert "no synthetic-data condition" in answer([])


def test_the_primary_fraction_can_be_declared_and_must_be_run():
    from pneumogan.pipeline.verdicts import comparison_records

    diff = {"roc_auc": _diff(0.01, [0.0, 0.02], 3, 0.04)}
    results = _results({(0.05, "enlarged"): diff, (0.1, "enlarged"): diff})
    lowest = comparison_records(results, RunConfig(fractions=[0.05, 0.1]))
    declared = comparison_records(results, RunConfig(fractions=[0.05, 0.1], primary_fraction=0.1))
    assert [(r["fraction"], r["primary"]) for r in lowest] == [(0.05, True), (0.1, False)]
    assert [(r["fraction"], r["primary"]) for r in declared] == [(0.1, True), (0.05, False)]
    with pytest.raises(ValueError, match=r"primary_fraction 0.25 is not one of run.fractions \[0.05, 0.1\]"):
        RunConfig(fractions=[0.05, 0.1], primary_fraction=0.25)


def test_primary_condition_can_be_declared():
    from pneumogan.pipeline.verdicts import primary_condition

    assert primary_condition(RunConfig()) == "enlarged"
    assert primary_condition(RunConfig(conditions=["real", "rebalanced", "synthetic_only"])) == "rebalanced"
    assert primary_condition(RunConfig(primary_condition="synthetic_only")) == "synthetic_only"
    assert primary_condition(RunConfig(conditions=["real"])) is None


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
    assert synthetic_counts(real, "weighted", run) == synthetic_counts(real, "enlarged", run)
    assert synthetic_counts(real, "synthetic_only", run) == real
    assert synthetic_counts(real, "synthetic_only", RunConfig(synthetic_only_per_class=7)) == {
        "NORMAL": 7,
        "PNEUMONIA": 7,
    }
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
    blocks = [
        ("h1", "T <x>"),
        ("note", "not a device"),
        ("li", "one `code`"),
        ("li", "two"),
        ("table", (["a", "b"], [["1", "2"]])),
        ("img", (img, "cap")),
    ]
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


def _gan_results(fidelity: dict[str, float], recall: dict[str, float], with_encoder: bool = False) -> dict:
    classes = list(fidelity)
    space = {
        c: {"recall": recall[c], "precision": 0.5, "fd": 10.0, "fd_floor": 2.0, "fd_ratio": 5.0, "n": 200}
        for c in classes
    }
    results = {c: {"class_fidelity": fidelity[c], **space[c]} for c in classes}
    results["classes"] = classes
    if with_encoder:  # recall in the encoder's space differs: the gate must read it there
        results["ssl_encoder"] = {c: {**space[c], "recall": 0.5} for c in classes}
    return results


def test_the_gate_reads_each_class_and_says_what_failed():
    from pneumogan.config import GateConfig
    from pneumogan.evaluate.generator_gate import gate_sentence, judge

    gate = GateConfig()
    broken = judge(_gan_results({"NORMAL": 0.52, "PNEUMONIA": 0.97}, {"NORMAL": 0.3, "PNEUMONIA": 0.0}), gate)
    assert broken["status"] == "failed" and broken["space"] == "classifier"
    assert [(f["class"], f["metric"]) for f in broken["failures"]] == [
        ("NORMAL", "class_fidelity"),
        ("PNEUMONIA", "recall"),
    ]
    text = gate_sentence(broken)
    expected = "The generator failed the quality gate — NORMAL class fidelity 52 %, PNEUMONIA recall 0.00"
    assert text.startswith(expected)
    assert "say nothing about synthetic data in general" in text
    fine = judge(
        _gan_results({"NORMAL": 0.95, "PNEUMONIA": 0.97}, {"NORMAL": 0.0, "PNEUMONIA": 0.0}, True), GateConfig()
    )
    assert fine["status"] == "passed" and fine["space"] == "ssl_encoder"  # recall 0.5 in the encoder's space
    strict_fd = judge(
        _gan_results({"NORMAL": 0.95, "PNEUMONIA": 0.97}, {"NORMAL": 0.3, "PNEUMONIA": 0.3}),
        GateConfig(max_fd_ratio=3.0),
    )
    assert {f["metric"] for f in strict_fd["failures"]} == {"fd_ratio"}
    off = judge(
        _gan_results({"NORMAL": 0.52, "PNEUMONIA": 0.97}, {"NORMAL": 0.3, "PNEUMONIA": 0.3}), GateConfig(mode="off")
    )
    assert off["status"] == "off" and off["failures"] and "would have failed" in gate_sentence(off)


def test_a_failed_gate_opens_the_answer():
    from pneumogan.config import GateConfig
    from pneumogan.evaluate.generator_gate import judge
    from pneumogan.pipeline.verdicts import answer, comparison_records

    gate = judge(_gan_results({"NORMAL": 0.52, "PNEUMONIA": 0.97}, {"NORMAL": 0.3, "PNEUMONIA": 0.3}), GateConfig())
    results = _results({(0.1, "enlarged"): {"roc_auc": _diff(0.02, [0.01, 0.03], 3, 0.01)}})
    results["fractions"]["10pct"]["generator_gate"] = gate
    records = comparison_records(results, RunConfig())
    assert records[0]["generator_gate"]["status"] == "failed"
    text = answer(records, {"10pct": gate})
    assert text.startswith("The generator failed the quality gate — NORMAL class fidelity 52 %")
    assert "Did synthetic images help here? Yes, by the primary measure." in text


def test_the_condition_registry_knows_every_configurable_condition_and_its_prerequisites():
    from typing import get_args

    from pneumogan.config import ConditionName
    from pneumogan.errors import PneumoganError
    from pneumogan.pipeline.conditions import CONDITIONS, SYNTHETIC_CONDITIONS, check_order

    assert set(CONDITIONS) == set(get_args(ConditionName))
    assert "real" not in SYNTHETIC_CONDITIONS and "pretrain_synthetic" in SYNTHETIC_CONDITIONS
    check_order(["real", "synthetic_only", "pretrain_synthetic", "filtered"])
    with pytest.raises(PneumoganError, match="list synthetic_only before it"):
        check_order(["pretrain_synthetic", "synthetic_only"])
    with pytest.raises(PneumoganError, match="list real before it"):
        check_order(["enlarged", "filtered"])


def test_one_place_knows_which_generator_families_are_conditional():
    from typing import get_args

    from pneumogan.config import GanConfig
    from pneumogan.gan.models import FAMILIES
    from pneumogan.generator_families import is_conditional

    assert set(FAMILIES) == set(get_args(GanConfig.model_fields["family"].annotation))
    assert [f for f in FAMILIES if not is_conditional(f)] == ["dcgan"] and is_conditional("diffusion")
    with pytest.raises(ValueError, match="unknown generator family"):
        is_conditional("vae")


def _seed_diff(per_seed: list[float]) -> dict:
    from pneumogan.pipeline.compare import interval_over_seeds

    return interval_over_seeds(per_seed, "roc_auc")


def test_the_combined_interval_adds_the_test_images_sampling_and_widens_with_it():
    from pneumogan.pipeline.compare import combined_difference

    seeds = _seed_diff([0.010, 0.014, 0.012, 0.016, 0.008])
    none = combined_difference(seeds, 0.0)
    assert none["ci"] == pytest.approx(seeds["ci"]) and none["p_value"] == pytest.approx(seeds["p_value"])
    widths = [np.diff(combined_difference(seeds, se)["ci"])[0] for se in (0.001, 0.004, 0.016)]
    assert widths[0] < widths[1] < widths[2]
    # se² adds: a test-sampling SE equal to the seeds' SE widens the interval by √2
    se_seed = combined_difference(seeds, 0.0)["se_seed"]
    assert np.diff(combined_difference(seeds, se_seed)["ci"])[0] == pytest.approx(np.sqrt(2) * np.diff(seeds["ci"])[0])
    # a difference the seeds call certain is not, once the test set's own noise is counted
    assert seeds["ci"][0] > 0 and combined_difference(seeds, 0.02)["ci"][0] < 0


def test_the_paired_bootstrap_reports_its_standard_error_and_grows_with_test_image_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)

    def scores(noise: float, seed: int) -> Scores:
        r = np.random.default_rng(seed)
        return Scores(y, np.clip(0.5 + (y - 0.5) * 0.4 + r.normal(0, noise, len(y)), 0, 1), 0.5)

    ses = []
    for noise in (0.1, 0.4):
        base = [scores(noise, s) for s in range(3)]
        other = [scores(noise, 10 + s) for s in range(3)]
        ses.append(paired_difference(base, other, "roc_auc", n_boot=300)["se"])
    assert 0 < ses[0] < ses[1]


def test_a_holm_corrected_interval_at_its_matched_level_agrees_with_its_verdict():
    from pneumogan.pipeline.verdicts import comparison_records, sentence

    diffs = {
        (0.1, "enlarged"): {"roc_auc": _diff(0.01, [-0.01, 0.03], 5, 0.2)},
        (0.1, "rebalanced"): {"roc_auc": _diff(0.03, [0.004, 0.056], 5, 0.03)},  # excludes 0; Holm ×3 does not
        (1.0, "rebalanced"): {"roc_auc": _diff(-0.05, [-0.06, -0.04], 5, 0.0001)},
        (1.0, "enlarged"): {"roc_auc": _diff(0.0, [-0.02, 0.02], 5, 0.9)},
    }
    records = comparison_records(_results(diffs), RunConfig(conditions=["real", "rebalanced", "enlarged"]))
    for r in records[1:]:
        lo, hi = r["ci_holm"]
        assert (lo > 0 or hi < 0) == (r["verdict"] in ("improved", "worse")), r
        assert r["holm_level"] >= 0.95
    held = next(r for r in records if (r["condition"], r["fraction"]) == ("rebalanced", 0.1))
    assert held["verdict"] == "no_detectable_difference" and held["ci"][0] > 0
    assert "at the Holm-matched level" in sentence(held) and "which includes 0" in sentence(held)


def test_synthetic_conditions_are_also_compared_with_their_count_matched_control():
    from pneumogan.pipeline.conditions import CONDITIONS, repeated_counts
    from pneumogan.pipeline.verdicts import answer, comparison_records

    assert CONDITIONS["enlarged"].control == "duplicated" and CONDITIONS["rebalanced"].control == "oversampled"
    assert CONDITIONS["synthetic_only"].control is None and not CONDITIONS["duplicated"].synthetic
    run = RunConfig(conditions=["real", "rebalanced", "enlarged", "duplicated", "oversampled"], enlarge_ratio=0.5)
    counts = {"NORMAL": 100, "PNEUMONIA": 300}
    assert repeated_counts(counts, "duplicated", run) == synthetic_counts(counts, "enlarged", run)
    assert repeated_counts(counts, "oversampled", run) == synthetic_counts(counts, "rebalanced", run)
    assert synthetic_counts(counts, "duplicated", run) == {} and repeated_counts(counts, "enlarged", run) == {}
    vs_real = {"roc_auc": _diff(0.02, [0.01, 0.03], 5, 0.004)}
    results = _results({(0.1, "enlarged"): vs_real, (0.1, "duplicated"): vs_real})
    results["fractions"]["10pct"]["conditions"]["enlarged"].update(
        control="duplicated", vs_control={"roc_auc": _diff(0.0, [-0.01, 0.01], 5, 0.99)}
    )
    records = comparison_records(results, run)
    assert [(r["condition"], r["baseline"], r["primary"]) for r in records] == [
        ("enlarged", "real", True),
        ("duplicated", "real", False),
        ("enlarged", "duplicated", False),
    ]
    assert records[2]["power"]["alpha"] == pytest.approx(0.05)  # alone in its Holm family
    text = answer(records)
    assert "Against the same number of duplicated real images: Secondary — enlarged vs duplicated" in text
    assert "leaves out generator variance" in text  # no generator_seeds recorded: one generator was shared
    results["fractions"]["10pct"]["generator_seeds"] = "paired"
    assert "leaves out generator variance" not in answer(comparison_records(results, run))


def test_the_duplicated_control_repeats_each_class_evenly_and_reproducibly():
    from pneumogan.data.loading import repeated_rows
    from pneumogan.data.prepare import PreparedDataset

    labels = np.array([0] * 4 + [1] * 10)
    train = PreparedDataset.__new__(PreparedDataset)
    train.labels, train.meta = labels, {"class_names": ["NORMAL", "PNEUMONIA"]}
    rows = repeated_rows(train, {"NORMAL": 10, "PNEUMONIA": 3}, seed=0)
    normal, pneumonia = rows[labels[rows] == 0], rows[labels[rows] == 1]
    assert len(normal) == 10 and set(np.bincount(normal, minlength=4)) <= {2, 3}  # twice whole, then 2 more
    assert len(pneumonia) == 3 and len(set(pneumonia)) == 3
    assert np.array_equal(rows, repeated_rows(train, {"NORMAL": 10, "PNEUMONIA": 3}, seed=0))
    assert not np.array_equal(rows, repeated_rows(train, {"NORMAL": 10, "PNEUMONIA": 3}, seed=1))
    with pytest.raises(Exception, match="names class 'OTHER'"):
        repeated_rows(train, {"OTHER": 1}, seed=0)
