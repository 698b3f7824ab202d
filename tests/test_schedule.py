"""The scale-out estimate: list scheduling of a stage graph on N slots from measured stage times."""

from __future__ import annotations

import random

import pytest

from pneumogan.pipeline.schedule import simulate, stage_seconds


def _stage(name: str, *inputs: str, kind: str = "classify") -> dict:
    return {"name": name, "kind": kind, "inputs": list(inputs)}


def test_a_chain_takes_its_critical_path_and_independent_stages_share_the_slots():
    chain = [_stage("a"), _stage("b", "a"), _stage("c", "b")]
    seconds = {"a": 1.0, "b": 2.0, "c": 3.0}
    assert simulate(chain, seconds, 4).wall_s == 6.0 == simulate(chain, seconds, 1).wall_s
    free = [_stage(n) for n in "abcd"]
    ones = dict.fromkeys("abcd", 1.0)
    assert [simulate(free, ones, k).wall_s for k in (1, 2, 3, 4, 8)] == [4.0, 2.0, 2.0, 1.0, 1.0]
    assert simulate(free, ones, 2).busy == 1.0 and simulate(free, ones, 3).busy == pytest.approx(4 / 6)


def test_a_stage_waits_for_all_its_inputs_and_ready_stages_go_in_declaration_order():
    diamond = [_stage("a"), _stage("b", "a"), _stage("c", "a"), _stage("d", "b", "c")]
    seconds = {"a": 1.0, "b": 2.0, "c": 1.0, "d": 1.0}
    assert simulate(diamond, seconds, 1).wall_s == 5.0
    assert simulate(diamond, seconds, 2).wall_s == 4.0  # d starts when b (the slower input) ends
    # two slots: the short chain runs beside the long stage
    graph = [_stage("long"), _stage("x"), _stage("y", "x")]
    assert simulate(graph, {"long": 5.0, "x": 1.0, "y": 1.0}, 2).wall_s == 5.0


def test_no_schedule_beats_the_critical_path_or_the_work_divided_by_the_slots():
    rng = random.Random(0)
    for _ in range(50):
        stages = []
        for i in range(30):
            inputs = rng.sample([s["name"] for s in stages], k=min(len(stages), rng.randint(0, 2)))
            stages.append(_stage(f"s{i}", *inputs))
        seconds = {s["name"]: rng.uniform(0.5, 10) for s in stages}
        for slots in (1, 2, 5, 100):
            est = simulate(stages, seconds, slots)
            assert est.wall_s >= max(est.critical_path_s, est.work_s / slots) - 1e-9
            assert est.wall_s <= est.work_s + 1e-9
        assert simulate(stages, seconds, 100).wall_s == pytest.approx(est.critical_path_s)


def test_stage_times_come_from_the_same_stage_else_its_kind_at_its_fraction_else_its_kind():
    stages = [
        _stage("classify-real-10pct-seed0"),
        _stage("classify-real-10pct-seed7"),
        _stage("classify-real-50pct-seed0"),
        _stage("gan-acgan-all-10pct-seed0", kind="gan"),
    ]
    measured = {"classify-real-10pct-seed0": 10.0, "classify-x-10pct-seed1": 20.0, "classify-real-100pct-seed0": 90.0}
    with pytest.raises(ValueError, match="no measured time for a stage of kind 'gan'"):
        stage_seconds(stages, measured)
    seconds = stage_seconds(stages[:3], measured)
    assert seconds == {
        "classify-real-10pct-seed0": 10.0,
        "classify-real-10pct-seed7": 15.0,
        "classify-real-50pct-seed0": 40.0,
    }


def test_an_assumed_time_wins_over_a_measured_one_at_its_fraction_or_kind():
    stages = [
        _stage("classify-real-10pct-seed0"),
        _stage("classify-real-100pct-seed0"),
        _stage("diffusion-all-10pct", kind="diffusion"),
    ]
    measured = {"classify-real-10pct-seed0": 10.0, "classify-real-100pct-seed0": 90.0}
    seconds = stage_seconds(stages, measured, {"classify@100pct": 60.0, "diffusion": 3600.0})
    assert seconds == {
        "classify-real-10pct-seed0": 10.0,
        "classify-real-100pct-seed0": 60.0,
        "diffusion-all-10pct": 3600.0,
    }
