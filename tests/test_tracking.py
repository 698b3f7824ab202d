"""Runs you can watch: every training job writes its curves as TensorBoard event files, read back here with
TensorBoard's own reader."""

from __future__ import annotations

import csv
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
