"""The classifier-recipe study continues on a fresh machine: recipes not trained there keep the committed
figures, new recipes are compared with the restored baseline by seed, and a study made with other settings
refuses to mix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.benchmark_modules import load_benchmark

SETTINGS = {"data": "d", "arch": "simple_cnn", "size": 64, "epochs": 8, "seeds": [0, 1, 2], "set": []}


@pytest.fixture(scope="module")
def seeded():
    return load_benchmark("_seeded_runs.py")


def record(recipe: str, seed: int | None, auc: float, val: float) -> dict:
    return {"recipe": recipe, "seed": seed, "roc_auc": auc, "accuracy": auc - 0.1, "val_roc_auc": val}


def committed(tmp_path: Path) -> dict:
    records = [record("baseline", s, 0.96 + s / 100, 0.998) for s in (0, 1, 2)]
    records += [record("baseline+temperature", s, 0.96, 0.998) for s in (0, 1, 2)]
    records += [record("standardised", s, 0.97 + s / 100, 0.999) for s in (0, 1, 2)]
    records += [record("standardised+ensemble", None, 0.975, 0.999)]
    table = {"baseline": {"val_roc_auc": {"mean": 0.998}}, "standardised": {"val_roc_auc": {"mean": 0.999}}}
    payload = {"args": SETTINGS, "records": records, "table": table, "ensembles": {"standardised+ensemble": {}}}
    payload["machine"] = {"cpu_model": "AMD EPYC"}
    path = tmp_path / "classifier_recipes.json"
    path.write_text(json.dumps(payload))
    return json.loads(path.read_text())  # as the study reads it


def test_recipes_not_trained_here_come_back_with_their_records(seeded, tmp_path):
    local = {"standardised": [{"seed": 0, "val_roc_auc": 0.999}, {"seed": 1, "val_roc_auc": 0.5}]}
    out = seeded.restore_study(committed(tmp_path), "c.json", SETTINGS, local)
    assert list(out["table"]) == ["baseline"]  # standardised is measured here, so its old entry is dropped
    assert {r["recipe"] for r in out["records"]} == {"baseline", "baseline+temperature"}
    assert out["ensembles"] == {}  # standardised's ensemble goes with it
    assert [r["seed"] for r in out["baseline_records"]] == [0, 1, 2]
    checks = {c["seed"]: c["identical"] for c in out["info"]["reproduced"]}
    assert checks == {0: True, 1: False}  # seed 1 did not reproduce its committed val ROC-AUC
    assert out["info"]["machine"] == {"cpu_model": "AMD EPYC"}  # the restored figures' CPU is not this one's


def test_a_study_made_with_other_settings_is_refused(seeded, tmp_path):
    with pytest.raises(SystemExit, match="epochs"):
        seeded.restore_study(committed(tmp_path), "c.json", SETTINGS | {"epochs": 4}, {})


def test_new_recipes_are_compared_with_the_restored_baseline_by_seed(seeded, tmp_path):
    baseline = seeded.restore_study(committed(tmp_path), "c.json", SETTINGS, {})["baseline_records"]
    rows = [
        {"seed": s, "roc_auc": 0.98 + s / 100, "accuracy": 0.9, "recall": 0.9, "specificity": 0.8}
        | {"val_roc_auc": 0.999, "wall_s": 1.0, "threshold": 0.5}
        for s in (0, 1, 2)
    ]
    # no scores on disk for either side: only the seed-aware difference can be (and is) computed
    table = seeded.summarise({"warmup": rows}, tmp_path, lambda n: [], restored_baseline=baseline)
    delta = table["warmup"]["delta_roc_auc"]
    assert delta["per_seed"] == pytest.approx([0.02, 0.02, 0.02])
    assert "delta_roc_auc_test_sampling" not in table["warmup"]


def test_a_recipe_with_fewer_seeds_is_not_selected(seeded):
    """An interrupted study must not crown its unfinished recipe on a mean over fewer seeds."""

    def entry(val: float, n: int) -> dict:
        return {"val_roc_auc": {"mean": val, "n_seeds": n}, "accuracy": {"n_seeds": n}}

    table = {"baseline": entry(0.998, 3), "ssl_init": entry(0.9987, 3), "size_x2": entry(0.9995, 2)}
    choice = seeded.select_on_val(table)
    assert choice["selected"] == "ssl_init" and choice["test_evaluations"] == 8
    table["size_x2"] = entry(0.9995, 3)
    assert seeded.select_on_val(table)["selected"] == "size_x2"


def test_a_run_reports_the_cpu_and_precision_it_trained_with(seeded, tmp_path):
    """Restored studies mix machines, so each record carries its own CPU and training precision."""
    folder = tmp_path / "s2"
    (folder / "eval_test").mkdir(parents=True)
    metrics = {k: 0.9 for k in seeded.METRICS} | {"threshold": 0.5, "ece": 0.05, "ci": {}}
    (folder / "eval_test" / "metrics.json").write_text(json.dumps(metrics))
    meta = {"arch": "simple_cnn", "precision": "bf16", "val_metrics": {"roc_auc": 0.99, "accuracy": 0.95}}
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "history.json").write_text(json.dumps([{"images_per_s": 100.0}]))
    row = seeded.read_run(folder)
    assert (row["seed"], row["precision"], row["cpu_model"]) == (2, "bf16", None)  # a run from before the CPU file
    (folder / "bench_cpu.txt").write_text("Intel(R) Xeon(R) Processor\n")
    assert seeded.read_run(folder)["cpu_model"] == "Intel(R) Xeon(R) Processor"


def test_the_val_log_loss_criterion_picks_the_lowest_and_reads_the_selected_epochs_loss(seeded, tmp_path):
    def entry(val_auc: float, loss: float) -> dict:
        return {"val_roc_auc": {"mean": val_auc, "n_seeds": 3}, "val_log_loss": {"mean": loss, "n_seeds": 3}} | {
            "accuracy": {"n_seeds": 3}
        }

    table = {"baseline": entry(0.998, 0.10), "epochs_x3": entry(0.999, 0.08), "epochs_x6": entry(0.9985, 0.05)}
    assert seeded.select_on_val(table)["selected"] == "epochs_x3"  # saturated AUC and log-loss disagree
    choice = seeded.select_on_val(table, "val_log_loss")
    assert choice["selected"] == "epochs_x6" and choice["selection_metric"] == "mean val log-loss over seeds"
    folder = tmp_path / "s0"
    (folder / "eval_test").mkdir(parents=True)
    metrics = {k: 0.9 for k in seeded.METRICS} | {"threshold": 0.5, "ece": 0.05, "ci": {}}
    (folder / "eval_test" / "metrics.json").write_text(json.dumps(metrics))
    meta = {"arch": "simple_cnn", "epoch": 1, "val_metrics": {"roc_auc": 0.99, "accuracy": 0.95}}
    (folder / "meta.json").write_text(json.dumps(meta))
    history = [{"epoch": e, "val_loss": loss, "images_per_s": 1.0} for e, loss in enumerate([0.3, 0.2, 0.25])]
    (folder / "history.json").write_text(json.dumps(history))
    assert seeded.read_run(folder)["val_log_loss"] == 0.2  # the selected epoch's, not the last or the lowest
