"""Synthetic images unfit as training data are named in plain words: low class fidelity (label noise) and zero
recall (collapse), in `gan evaluate`'s output and in the run report."""

from __future__ import annotations

from pathlib import Path

from pneumogan.gan.quality import LOW_CLASS_FIDELITY, quality_warnings
from pneumogan.pipeline.report import _gan_blocks


def metrics(fidelity: float, recall: float) -> dict[str, float]:
    return {"fd": 10.0, "kid": 0.1, "kid_std": 0.0, "precision": 0.8, "recall": recall, "near_copy_fraction": 0.0,
            "class_fidelity": fidelity, "n": 200}  # fmt: skip


def test_healthy_images_raise_nothing():
    results = {"classes": ["NORMAL", "PNEUMONIA"], "NORMAL": metrics(0.98, 0.5), "PNEUMONIA": metrics(0.95, 0.7)}
    assert quality_warnings(results) == []


def test_label_noise_and_collapse_are_named_per_class():
    results = {"classes": ["NORMAL", "PNEUMONIA"], "NORMAL": metrics(0.66, 0.7), "PNEUMONIA": metrics(0.95, 0.0)}
    warnings = quality_warnings(results)
    assert len(warnings) == 2
    assert "66% of the synthetic NORMAL images" in warnings[0] and "label noise" in warnings[0]
    assert "PNEUMONIA" in warnings[1] and "zero recall" in warnings[1]
    just_below = {"classes": ["NORMAL"], "NORMAL": metrics(LOW_CLASS_FIDELITY - 0.01, 0.5)}
    at_threshold = {"classes": ["NORMAL"], "NORMAL": metrics(LOW_CLASS_FIDELITY, 0.5)}
    assert len(quality_warnings(just_below)) == 1 and quality_warnings(at_threshold) == []


def test_the_report_shows_the_warning_beside_the_gan_table(tmp_path: Path):
    def fraction(fidelity: float) -> dict:
        gan = {"gan_stage": "stages/gan", "eval_stage": "stages/eval"}
        return {"gan": {"NORMAL": {"metrics": metrics(fidelity, 0.5), **gan}}}

    notes = [value for kind, value in _gan_blocks(fraction(0.5), tmp_path) if kind == "note"]
    assert len(notes) == 1 and "50% of the synthetic NORMAL images" in notes[0]
    assert not [kind for kind, _ in _gan_blocks(fraction(0.97), tmp_path) if kind == "note"]
