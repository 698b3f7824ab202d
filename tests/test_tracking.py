"""Runs you can watch: every training job writes its curves as TensorBoard event files, read back here with
TensorBoard's own reader."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pneumogan.tracking import TENSORBOARD, Tracker


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder / TENSORBOARD))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.mark.realdata
def test_a_classifier_writes_its_epochs_as_tensorboard_scalars(tiny_checkpoint):
    scalars = _scalars(tiny_checkpoint)
    with (tiny_checkpoint / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    assert [step for step, _ in scalars["classify/val_auc"]] == [1, 2]
    assert [v for _, v in scalars["classify/val_auc"]] == pytest.approx([float(r["val_auc"]) for r in history])
    assert {"classify/train_loss", "classify/val_loss", "classify/images_per_s"} <= set(scalars)
    events = EventAccumulator(str(tiny_checkpoint / TENSORBOARD))
    events.Reload()
    assert "config/text_summary" in events.Tags()["tensors"]  # the parameters, as the job's YAML


def test_a_resumed_job_keeps_one_value_per_step(tmp_path):
    first = Tracker(tmp_path, "a: 1")
    for step in (1, 2, 3):
        first.row({"loss": float(step), "step": step, "events": "x"}, step, "gan")
    first.close()
    resumed = Tracker(tmp_path, "a: 1", start=3)  # the resume state was written at step 2
    resumed.row({"loss": 30.0}, 3, "gan")
    resumed.row({"loss": 40.0}, 4, "gan")
    resumed.close()
    assert _scalars(tmp_path)["gan/loss"] == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0)]
    assert Tracker(tmp_path / "off", "", enabled=False).writer is None and not (tmp_path / "off").exists()


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A file-store MLflow tracking URI for this test; the environment is put back afterwards."""
    from pneumogan import tracking

    for name in (tracking.MLFLOW_PARENT_ENV, tracking.MLFLOW_FILE_STORE_ENV):  # the latter set by the tracker
        monkeypatch.setenv(name, "")  # so that monkeypatch puts back whatever was there, or nothing
        monkeypatch.delenv(name)
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv(tracking.MLFLOW_URI_ENV, uri)
    return uri


def test_a_job_logs_to_mlflow_and_a_resumed_job_continues_its_run(tmp_path, mlflow_store):
    from mlflow.tracking import MlflowClient

    from pneumogan import tracking

    with tracking.experiment_run(tmp_path / "run", "run", {"seed": "0"}, None) as parent:
        job = tmp_path / "run" / "stages" / "classify-real-s0" / "model"
        first = Tracker(job, "classify:\n  epochs: 2\n  lr: 0.001\nrun:\n  seeds: [0, 1]\n")
        first.row({"val_auc": 0.9, "epoch": 1, "note": "x"}, 1, "classify")
        first.mlflow.end("KILLED")  # as if the worker died: no close()
        resumed = Tracker(job, "classify:\n  epochs: 2\n", start=1)
        resumed.row({"val_auc": 0.95}, 2, "classify")
        resumed.close()
    client = MlflowClient(tracking_uri=mlflow_store)
    runs = client.search_runs([client.get_experiment_by_name(tracking.MLFLOW_EXPERIMENT).experiment_id])
    assert {r.info.run_name for r in runs} == {"run", "classify-real-s0/model"}  # the resumed job: the same run
    child = next(r for r in runs if r.info.run_name == "classify-real-s0/model")
    assert child.data.tags["mlflow.parentRunId"] == parent.run_id and child.info.status == "FINISHED"
    assert child.data.params == {"classify.epochs": "2", "classify.lr": "0.001", "run.seeds": "[0, 1]"}
    history = client.get_metric_history(child.info.run_id, "classify/val_auc")
    assert [(m.step, m.value) for m in history] == [(1, 0.9), (2, 0.95)]
    assert client.get_run(parent.run_id).info.status == "FINISHED"
    assert os.environ.get(tracking.MLFLOW_PARENT_ENV) is None  # put back after the experiment


def test_tracking_that_cannot_reach_mlflow_warns_and_the_job_goes_on(tmp_path, monkeypatch):
    from pneumogan import tracking

    monkeypatch.setenv(tracking.MLFLOW_URI_ENV, "nosuchscheme://tracker")
    with pytest.warns(UserWarning, match="MLflow tracking off for"):
        job = Tracker(tmp_path, "a: 1")
    job.row({"loss": 1.0}, 1, "gan")  # TensorBoard still gets it
    job.close()
    assert _scalars(tmp_path)["gan/loss"] == [(1, 1.0)]


def test_a_tracking_folder_becomes_an_absolute_file_uri_and_servers_pass_through(tmp_path, monkeypatch):
    from pneumogan.tracking import resolve_tracking_uri

    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri("mlruns") == (tmp_path / "mlruns").as_uri()
    assert resolve_tracking_uri(f"file:{tmp_path}/x") == (tmp_path / "x").as_uri()
    for uri in ("http://head:5000", "sqlite:///mlflow.db", "databricks"):
        assert resolve_tracking_uri(uri) == uri


def test_tracking_without_mlflow_installed_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    from pneumogan import tracking

    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    monkeypatch.setenv(tracking.MLFLOW_URI_ENV, "http://tracker:5000")
    with pytest.warns(UserWarning, match=r"pip install 'pneumogan\[tracking\]'"):
        assert tracking.MlflowRun.for_job(tmp_path / "job", "a: 1") is None
