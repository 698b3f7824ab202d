from __future__ import annotations

from typing import get_args

import pytest

from pneumogan.config import CONFIG_DIR, ConditionName, Config, dump_config, load_config, parse_override
from pneumogan.errors import PneumoganError


def test_defaults_and_env_source(monkeypatch):
    monkeypatch.delenv("PNEUMOGAN_DATA", raising=False)
    assert Config().data.source == "pneumoniamnist:28"
    monkeypatch.setenv("PNEUMOGAN_DATA", "/data/xray")
    assert Config().data.source == "/data/xray"


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
def test_bundled_configs_load(name):
    cfg = load_config(name)
    assert cfg.name == name


def test_the_default_run_can_answer_the_question():
    """`pneumogan run` with no arguments: enough seeds for a seed-aware verdict, the low-data fraction first (the
    primary comparison is made there) and the full data."""
    run = load_config("quick").run
    assert len(set(run.seeds)) >= 3 and run.fractions == [0.1, 1.0]
    assert {"real", "rebalanced", "enlarged", "synthetic_only"} <= set(run.conditions)


def test_the_standard_experiment_covers_what_its_result_claims():
    """benchmarks/results/standard_run/ reports 5 seeds, four fractions and every condition from this config: all
    but the count-matched controls, which came later."""
    from pneumogan.pipeline.conditions import CONDITIONS

    run = load_config("standard").run
    assert sorted(set(run.seeds)) == [0, 1, 2, 3, 4]
    assert run.fractions == [0.05, 0.1, 0.25, 1.0]
    controls = {name for name, c in CONDITIONS.items() if c.repeats_real}
    assert controls == {"duplicated", "oversampled"}
    assert set(run.conditions) == set(get_args(ConditionName)) - controls
    assert run.generator_seeds == "shared"  # as the committed run was made


def test_yaml_roundtrip(tmp_path):
    cfg = load_config("tiny", ["data.size=48", "split.seed=7"])
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg


def test_overrides_parse_yaml_values():
    cfg = load_config(None, ["data.size=96", "augment.enabled=false", "split.val_fraction=0.2", "name=x"])
    assert (cfg.data.size, cfg.augment.enabled, cfg.split.val_fraction, cfg.name) == (96, False, 0.2, "x")
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.sise=3", "data.sise"),
        ("data.size=abc", "data.size"),
        ("split.val_fraction=1.5", "split.val_fraction"),
        ("nonsense", "section.key=value"),
        ("run.primary_condition=real", "cannot be real"),
        ("run.primary_condition=filtered", "not one of run.conditions"),
    ],
)
def test_bad_overrides_are_clear_errors(override, message):
    with pytest.raises(PneumoganError, match=message):
        load_config(None, [override])


def test_unknown_config_name_lists_bundled():
    with pytest.raises(PneumoganError, match="quick"):
        load_config("nope")
