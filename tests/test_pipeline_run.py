"""The whole experiment on the `tiny` config and a small real subset: artefacts, interruption, caching."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tests.shared_cache import with_shared_prepared

from pneumogan.config import load_config
from pneumogan.pipeline.experiment import run_pipeline

pytestmark = pytest.mark.realdata
CONDITIONS = ["real", "rebalanced", "enlarged", "synthetic_only"]


class Interrupt(Exception):
    pass


def _tiny(kaggle_224: Path, *overrides: str):
    return load_config("tiny", [f"data.source={kaggle_224}", *overrides])


@pytest.fixture(scope="module")
def full_run(kaggle_224, tmp_path_factory) -> Path:
    """The uninterrupted tiny run; what it printed is kept in `console.txt` beside it."""
    out = tmp_path_factory.mktemp("run") / "uninterrupted"
    console: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PNEUMOGAN_CACHE_DIR", str(with_shared_prepared(out.parent / "cache")))
        run_pipeline(_tiny(kaggle_224), out, log=console.append)
    (out.parent / "console.txt").write_text("\n".join(console))
    return out


def test_text_for_people_holds_no_python_structures(full_run):
    console = (full_run.parent / "console.txt").read_text()
    assert "real training images 61 NORMAL, 175 PNEUMONIA" in console.replace(":", "")
    for text in (console, (full_run / "report.md").read_text()):
        assert "{'" not in text and "['" not in text and "[0]" not in text


def test_sample_grids_are_enlarged_for_display(full_run):
    from PIL import Image

    grid = sorted(next((full_run / "stages").glob("gan-acgan-*")).glob("grids/step_*.png"))[-1]
    width, height = Image.open(grid).size
    # two classes of four 32 px tiles, each enlarged 4× to 128 px, with a 2 px border
    assert (width, height) == (4 * 130, 2 * 130)


def test_pipeline_models_show_their_test_metrics_on_the_model_card(full_run):
    from pneumogan.serve.service import ModelService

    results = json.loads((full_run / "results.json").read_text())
    seed = results["fractions"]["100pct"]["conditions"]["real"]["seeds"]["0"]
    service = ModelService(full_run / seed["stage"] / "model", device="cpu")
    card = service.model_card_data()
    assert card["test_metrics"] is not None, card.get("test_metrics_reason")
    assert card["test_metrics"]["accuracy"]["value"] == pytest.approx(seed["metrics"]["accuracy"])
    assert card["test_metrics"]["roc_auc"]["value"] == pytest.approx(seed["metrics"]["roc_auc"])
    # experiment models skip the OOD fit (evaluated, never served); the card says how to add one
    assert card["out_of_distribution_check"] is None
    assert "fit-ood" in service.model_card()


def test_tiny_run_produces_report_and_results_for_all_conditions(full_run):
    results = json.loads((full_run / "results.json").read_text())
    fres = results["fractions"]["100pct"]
    assert list(fres["conditions"]) == CONDITIONS
    for cond in CONDITIONS:
        summary = fres["conditions"][cond]["summary"]
        assert 0 <= summary["roc_auc"]["mean"] <= 1 and len(summary["accuracy"]["ci"]) == 2
        if cond != "real":
            assert set(fres["conditions"][cond]["vs_real"]) == {"roc_auc", "accuracy"}
    assert fres["synthetic_counts"]["rebalanced"] == {"NORMAL": 114}  # 61 real NORMAL vs 175 PNEUMONIA
    # one seed: training variance cannot be estimated, so every verdict is inconclusive (done-when of #15)
    comparisons = results["comparisons"]
    assert results["schema_version"] == 2 and len(comparisons) == len(results["verdicts"]) == 6
    assert {c["verdict"] for c in comparisons} == {"inconclusive"} and all(c["n_seeds"] == 1 for c in comparisons)
    assert [c["primary"] for c in comparisons] == [True] + [False] * 5
    assert (comparisons[0]["condition"], comparisons[0]["metric"]) == ("enlarged", "roc_auc")
    assert all("inconclusive (1 seed: training variance cannot be estimated" in v for v in results["verdicts"])
    assert all(c["ci_method"].startswith("t-interval over per-seed paired differences") for c in comparisons)
    assert set(fres["gan"]) == {"NORMAL", "PNEUMONIA"} and "fd" in fres["gan"]["NORMAL"]["metrics"]
    html = (full_run / "report.html").read_text()
    md = (full_run / "report.md").read_text()
    assert "not a medical device" in html and html.count("data:image/png;base64,") >= 5
    assert "<script" not in html and "https://" not in html
    for verdict in results["verdicts"]:
        assert verdict in md
    # a 30-step AC-GAN is a broken generator: the gate fails it, every synthetic comparison carries that, and the
    # answer says so before anything else
    gate = fres["generator_gate"]
    assert gate["status"] == "failed" and gate["failures"] and gate["space"] == "classifier"
    assert set(gate["per_class"]) == {"NORMAL", "PNEUMONIA"}
    # the tiny subset has 61 real NORMAL images for n = 61: no two disjoint real samples of that n, so no floor
    assert gate["per_class"]["NORMAL"]["fd_floor"] is None and gate["per_class"]["NORMAL"]["fd_ratio"] is None
    assert all(c["generator_gate"] == {"status": "failed", "failures": gate["failures"]} for c in comparisons)
    assert results["answer"].startswith("The generator failed the quality gate — ")
    assert "Did synthetic images help here? This run cannot tell." in results["answer"]
    assert md.index(results["answer"]) < md.index("## Data")  # the answer opens the report
    for name in ("curves_100pct.png", "roc_100pct.png", "confusion_100pct.png"):
        assert (full_run / "report_assets" / name).stat().st_size > 1000
    # the synthetic set of the rebalanced condition holds exactly the planned images, with a manifest
    sdir = next((full_run / "stages").glob("synthetic-rebalanced-*")) / "set"
    assert len(list((sdir / "train" / "NORMAL").glob("*.png"))) == 114
    assert len((sdir / "manifest.csv").read_text().splitlines()) == 115


@pytest.mark.slow  # over 45 s; the default run keeps a shorter end-to-end test of the same path
def test_interrupted_run_resumes_skipping_finished_stages_with_same_results(full_run, kaggle_224, tmp_path):
    out = tmp_path / "interrupted"

    def stop_after_gan(name: str) -> None:
        if name.startswith("gan-"):
            raise Interrupt

    with pytest.raises(Interrupt):
        run_pipeline(_tiny(kaggle_224), out, log=lambda m: None, on_stage=stop_after_gan)
    assert not (out / "results.json").exists()
    logs: list[str] = []
    resumed = run_pipeline(_tiny(kaggle_224), out, log=logs.append)
    assert any(m.startswith("[skip] data") for m in logs) and any(m.startswith("[skip] gan-") for m in logs)
    assert not any(m.startswith("[run ] gan-acgan") for m in logs)
    expected = json.loads((full_run / "results.json").read_text())
    for cond in CONDITIONS:
        got = resumed["fractions"]["100pct"]["conditions"][cond]["seeds"]["0"]["metrics"]
        want = expected["fractions"]["100pct"]["conditions"][cond]["seeds"]["0"]["metrics"]
        assert got["roc_auc"] == pytest.approx(want["roc_auc"], abs=1e-9)
        assert got["confusion_matrix"] == want["confusion_matrix"]

    # changing one setting reruns only the stages that depend on it
    logs.clear()
    run_pipeline(_tiny(kaggle_224, "run.gan_eval_per_class=20"), out, log=logs.append)
    ran = [m[len("[run ] ") :] for m in logs if m.startswith("[run ]")]
    assert ran and all(name.startswith("gan-eval") for name in ran), ran


@pytest.mark.slow  # 25 s (copies the tiny run and adds stages); stage caching stays tested by the default run
def test_new_synthetic_uses_reuse_the_finished_stages(full_run, tmp_path):
    """A copy of the finished run with truncated latents, the down-weighted condition and pretraining on
    synthetic images: only the stages that depend on them run; the weighted classifier weighs its synthetic
    images at run.synthetic_weight, pretrain_synthetic starts from the synthetic_only model of its seed."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(full_run, out)
    source = json.loads((full_run / "results.json").read_text())["config"]["data"]["source"]
    logs: list[str] = []
    cfg = load_config(
        "tiny",
        [
            f"data.source={source}",
            "run.conditions=[real,synthetic_only,weighted,pretrain_synthetic,filtered]",
            "run.truncation=0.8",
            "run.synthetic_weight=0.25",
        ],
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PNEUMOGAN_CACHE_DIR", str(with_shared_prepared(full_run.parent / "cache")))
        results = run_pipeline(cfg, out, log=logs.append)
    ran = sorted(m[len("[run ] ") :].split("-")[0] for m in logs if m.startswith("[run ]"))
    assert ran == ["classify"] * 4 + ["synthetic"] * 3, [
        m for m in logs if m.startswith("[run ]")
    ]  # synthetic_only's set changed with the truncation
    conditions = results["fractions"]["100pct"]["conditions"]
    assert set(conditions) == {"real", "synthetic_only", "weighted", "pretrain_synthetic", "filtered"}
    assert "vs_real" in conditions["pretrain_synthetic"] and "vs_real" in conditions["weighted"]

    def meta(condition: str) -> dict:
        stage = out / conditions[condition]["seeds"]["0"]["stage"]
        return json.loads((stage / "model" / "meta.json").read_text())

    assert meta("weighted")["config"]["classify"]["synthetic_weight"] == 0.25
    start = Path(meta("pretrain_synthetic")["config"]["classify"]["init_from"])
    assert start == (out / conditions["synthetic_only"]["seeds"]["0"]["stage"] / "model").resolve()
    assert meta("pretrain_synthetic")["config"]["data"]["extra_train"] == []
    manifest = next((out / "stages").glob("synthetic-weighted-*")) / "set" / "manifest.csv"
    rows = manifest.read_text().splitlines()
    assert rows[0].endswith("truncation") and all(r.endswith(",0.8") for r in rows[1:])
    filtered = next((out / "stages").glob("synthetic-filtered-*")) / "set" / "manifest.csv"
    with filtered.open() as f:
        kept = list(csv.DictReader(f))
    planned = results["fractions"]["100pct"]["synthetic_counts"]["filtered"]
    assert {c: sum(r["class"] == c for r in kept) for c in planned} == planned
    assert all(0 <= float(r["filter_score"]) <= 1 for r in kept)


def test_ssl_pretraining_stage_starts_every_classifier_from_the_fractions_encoder(full_run, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(full_run, out)
    source = json.loads((full_run / "results.json").read_text())["config"]["data"]["source"]
    cfg = load_config(
        "tiny", [f"data.source={source}", "run.conditions=[real]", "run.ssl_pretrain=true", "ssl.epochs=1"]
    )
    logs: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PNEUMOGAN_CACHE_DIR", str(with_shared_prepared(full_run.parent / "cache")))
        results = run_pipeline(cfg, out, log=logs.append)
    ran = sorted(m[len("[run ] ") :].split("-")[0] for m in logs if m.startswith("[run ]"))
    assert ran == ["classify", "gradcam", "ssl"], [m for m in logs if m.startswith("[run ]")]  # gradcam: a new model
    encoder = next((out / "stages").glob("ssl-*"))
    assert (encoder / "encoder.safetensors").is_file()
    stage = out / results["fractions"]["100pct"]["conditions"]["real"]["seeds"]["0"]["stage"]
    meta = json.loads((stage / "model" / "meta.json").read_text())
    assert Path(meta["config"]["classify"]["init_from"]) == encoder.resolve()
    with pytest.raises(Exception, match=r"ssl\.arch"):
        run_pipeline(
            load_config("tiny", [f"data.source={source}", "run.ssl_pretrain=true", "ssl.arch=resnet18"]), tmp_path / "x"
        )


def test_a_strict_gate_stops_before_classifiers_learn_from_a_failed_generator(kaggle_224, tmp_path, monkeypatch):
    from pneumogan.errors import PneumoganError

    monkeypatch.setenv("PNEUMOGAN_CACHE_DIR", str(with_shared_prepared(tmp_path / "cache")))
    cfg = _tiny(kaggle_224, "run.conditions=[real, enlarged]", "run.generator_gate=strict", "classify.epochs=1")
    with pytest.raises(PneumoganError, match=r"failed the quality gate .* strict: stopping"):
        run_pipeline(cfg, tmp_path / "run", log=lambda *_: None)
    stages = {p.name.rsplit("-", 1)[0] for p in (tmp_path / "run" / "stages").iterdir()}
    assert "classify-real-100pct-seed0" in stages and not any(s.startswith("classify-enlarged") for s in stages)


def test_paired_generators_and_the_duplicated_control(kaggle_224, tmp_path, monkeypatch):
    """Two classifier seeds, each learning from its own generator's images; `duplicated` adds as many copies of
    real images as `enlarged` adds synthetic ones (same class mix, same steps, no synthetic file), and every
    synthetic comparison is made against it too, with the combined interval and its generator gate."""
    monkeypatch.setenv("PNEUMOGAN_CACHE_DIR", str(with_shared_prepared(tmp_path / "cache")))
    cfg = _tiny(kaggle_224, "run.conditions=[real, enlarged, duplicated]", "run.seeds=[0, 1]", "classify.epochs=1")
    results = run_pipeline(cfg, tmp_path / "run", log=lambda *_: None)
    fres = results["fractions"]["100pct"]
    stages = {p.name.rsplit("-", 1)[0] for p in (tmp_path / "run" / "stages").iterdir()}
    assert {f"gan-acgan-all-100pct-seed{s}" for s in range(2)} <= stages
    assert {f"synthetic-enlarged-100pct-seed{s}" for s in range(2)} <= stages
    assert not any(s.startswith("synthetic-duplicated") for s in stages)  # the control samples nothing
    seeds = fres["conditions"]["enlarged"]["seeds"]
    assert [seeds[str(s)]["generator_seed"] for s in range(2)] == [0, 1]
    assert set(fres["generators"]) == {"0", "1"}
    assert "generator seed 1:" in results["answer"]  # each generator is gated, and a failure names its seed
    # the same images, class mix and steps as enlarged; none of them synthetic
    assert fres["repeated_counts"]["duplicated"] == fres["synthetic_counts"]["enlarged"]
    assert fres["synthetic_counts"]["duplicated"] == {}
    assert fres["training"]["duplicated"] == fres["training"]["enlarged"]
    for s in range(2):
        stage = tmp_path / "run" / fres["conditions"]["duplicated"]["seeds"][str(s)]["stage"]
        meta = json.loads((stage / "model" / "meta.json").read_text())
        assert meta["config"]["data"]["extra_train"] == []
        assert meta["config"]["data"]["repeat_train"] == fres["synthetic_counts"]["enlarged"]
    # enlarged against real and against the control, each with the combined interval (wider than the seeds')
    records = {(r["condition"], r["baseline"], r["metric"]): r for r in results["comparisons"]}
    assert set(records) == {
        (c, b, m)
        for c, b in [("enlarged", "real"), ("duplicated", "real"), ("enlarged", "duplicated")]
        for m in ("roc_auc", "accuracy")
    }
    for r in records.values():
        assert r["se_test"] > 0 and r["ci"][1] - r["ci"][0] > r["ci_seeds"][1] - r["ci_seeds"][0]
        assert ("generator_gate" in r) == (r["condition"] == "enlarged")
    assert any("vs duplicated" in v for v in results["verdicts"])
    assert "Against the same number of duplicated real images:" in results["answer"]
