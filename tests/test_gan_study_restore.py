"""The GAN study continues on a fresh machine: finished cells come back from the committed JSON (never
retrained), unfinished ones train, and a study in another feature space or budget refuses to mix with it."""

from __future__ import annotations

import json
from argparse import Namespace

import pytest
from tests.benchmark_modules import load_benchmark


@pytest.fixture(scope="module")
def study():
    return load_benchmark("bench_gan_study.py")


def args(**changes) -> Namespace:
    base = dict(
        minutes=10.0, n=500, tstr_seeds=[0, 1, 2], tstr_per_class=1000, tstr_epochs=4, data="d", snapshots=5, set=[]
    )
    return Namespace(**{**base, **changes})


def previous_study(seeds_done: dict[str, list[int]]) -> dict:
    snapshots, tstr, plans = [], [], {}
    for variant, seeds in seeds_done.items():
        family, name = variant.split("/")
        plans[f"{variant}@0.1"] = {"all": {"steps": 450, "probe_s": 1.3}}
        for k in range(2):
            for cls in ("NORMAL", "PNEUMONIA"):
                snapshots.append(
                    {"family": family, "variant": name, "fraction": 0.1, "size": 64, "space": "ssl_encoder",
                     "snapshot": k, "step": 225 * (k + 1), "kimg": 7.2 * (k + 1), "wall_s": 300.0 * (k + 1),
                     "class": cls, "fd": 40.0 - k, "kid": 0.01, "precision": 0.5, "recall": 0.1,
                     "near_copy_fraction": 0.0, "n": 500}
                )  # fmt: skip
        tstr.append(
            {"family": family, "variant": name, "fraction": 0.1, "size": 64, "seeds": seeds,
             "tstr_val_auc": [0.9 + s / 100 for s in seeds], "tstr_accuracy": [0.8] * len(seeds),
             "tstr_auc": [0.85] * len(seeds), "per_class_images": 1000, "epochs": 4}
        )  # fmt: skip
    return {
        "commit": "abc123",
        "budget_minutes_per_cell": 10.0,
        "metrics_n_per_class": 500,
        "size": 64,
        "spaces": {"ssl_encoder": {"encoder_sha256": "e" * 64}, "classifier": {"weights_sha256": "c" * 64}},
        "plans": plans,
        "snapshots": snapshots,
        "tstr": tstr,
    }


SPACES = {
    "ssl_encoder": {"path": "runs/ssl64", "encoder_sha256": "e" * 64},
    "classifier": {"path": "runs/ref", "weights_sha256": "c" * 64},
}


def test_finished_cells_are_restored_and_unfinished_ones_are_left_to_train(study, tmp_path):
    previous = previous_study({"cgan/stable": [0, 1, 2], "acgan/stable": [0]})
    cells = [("cgan/stable", 0.1), ("acgan/stable", 0.1), ("fastgan/stable", 0.1)]
    restored = study.restore_cells(previous, tmp_path, cells, args(), SPACES)
    assert restored == ["restored cgan/stable@0.1"]
    cgan = study.Cell(tmp_path, "cgan/stable", 0.1, args())
    assert cgan.finished() and cgan.state["restored_from"] == "abc123"
    assert cgan.state["plan"] == previous["plans"]["cgan/stable@0.1"]
    assert len(cgan.state["snapshots"]) == 4 and all(r["family"] == "cgan" for r in cgan.state["snapshots"])
    record = cgan.tstr_record()
    assert record["tstr_val_auc"] == previous["tstr"][0]["tstr_val_auc"] and record["seeds"] == [0, 1, 2]
    assert not study.Cell(tmp_path, "acgan/stable", 0.1, args()).finished()  # one seed of three: trains here
    assert not study.Cell(tmp_path, "acgan/stable", 0.1, args()).state_file.exists()
    # the summary of restored cells is the one the earlier study would have written
    summary = study.summarise(cgan.state["snapshots"], [record])
    assert summary["0.1"]["variants"]["cgan/stable"]["final_fd"] == {"NORMAL": 39.0, "PNEUMONIA": 39.0}
    # this machine's own state is never overwritten
    cgan.state["tstr"]["0"]["val_auc"] = 0.5
    cgan.save()
    assert study.restore_cells(previous, tmp_path, cells, args(), SPACES) == []
    assert json.loads(cgan.state_file.read_text())["tstr"]["0"]["val_auc"] == 0.5


def test_a_different_space_or_budget_refuses_to_mix(study, tmp_path):
    previous = previous_study({"cgan/stable": [0, 1, 2]})
    cells = [("cgan/stable", 0.1)]
    other_encoder = {**SPACES, "ssl_encoder": {"path": "runs/ssl64", "encoder_sha256": "f" * 64}}
    with pytest.raises(SystemExit, match="ssl_encoder space differs"):
        study.restore_cells(previous, tmp_path, cells, args(), other_encoder)
    with pytest.raises(SystemExit, match="budget_minutes_per_cell"):
        study.restore_cells(previous, tmp_path, cells, args(minutes=40.0), SPACES)
    with pytest.raises(SystemExit, match="other TSTR settings"):
        study.restore_cells(previous, tmp_path, cells, args(tstr_epochs=8), SPACES)
    assert not (tmp_path / "cgan_stable").exists()
    # an earlier study that recorded no hashes is restored with a warning (the user vouches for the space)
    del previous["spaces"]["ssl_encoder"]["encoder_sha256"]
    assert study.restore_cells(previous, tmp_path, cells, args(), SPACES) == ["restored cgan/stable@0.1"]


def test_an_unfinished_cell_trains_the_steps_its_variant_got_at_the_other_fraction(study, tmp_path):
    # equal work across machines of different speed: the plan of cgan/stable at 10 % pins cgan/stable at 100 %
    previous = previous_study({"cgan/stable": [0, 1, 2]})
    previous["plans"]["cgan/stable@1"] = None
    previous["plans"]["acgan/stable@1"] = None
    cells = [("cgan/stable", 0.1), ("cgan/stable", 1.0), ("acgan/stable", 1.0)]
    restored = study.restore_cells(previous, tmp_path, cells, args(), SPACES)
    assert restored == ["restored cgan/stable@0.1", "restored cgan/stable@1 (plan only: 450 steps)"]
    cell = study.Cell(tmp_path, "cgan/stable", 1.0, args())
    assert not cell.finished() and cell.state["plan"]["all"]["steps"] == 450
    assert cell.state["plan"]["all"]["pinned_from"] == "cgan/stable@0.1"
    assert not study.Cell(tmp_path, "acgan/stable", 1.0, args()).state_file.exists()  # no plan anywhere: probes


def test_a_variant_compared_at_equal_work_trains_its_base_variants_plan(study, tmp_path):
    # cgan/cbn is cgan/stable with one change: it trains cgan/stable's steps at the same fraction, not its own probe
    assert study.PLAN_FROM["cgan/cbn"] == "cgan/stable"
    previous = previous_study({"cgan/stable": [0, 1, 2], "cgan/cbn": [0, 1, 2]})
    previous["plans"]["cgan/cbn@0.1"] = {"all": {"steps": 859, "probe_s": 0.7}}  # trained before pinning
    cells = [("cgan/stable", 0.1), ("cgan/cbn", 0.1)]
    restored = study.restore_cells(previous, tmp_path, cells, args(), SPACES)
    assert restored == [
        "restored cgan/stable@0.1",
        "cgan/cbn@0.1 not restored: it trained another plan than its base variant's",
    ]
    cbn = study.Cell(tmp_path, "cgan/cbn", 0.1, args())
    assert not cbn.state_file.exists()
    assert study.base_plan(cbn) == {"all": {"steps": 450, "probe_s": 1.3, "pinned_from": "cgan/stable@0.1"}}
    # a cell that already trained its base's plan is restored like any other
    previous["plans"]["cgan/cbn@0.1"] = {"all": {"steps": 450, "probe_s": 1.3, "pinned_from": "cgan/stable@0.1"}}
    assert study.restore_cells(previous, tmp_path, cells, args(), SPACES) == ["restored cgan/cbn@0.1"]


def test_a_pinned_variant_refuses_to_train_before_its_base_has_a_plan(study, tmp_path):
    cbn = study.Cell(tmp_path, "cgan/cbn", 1.0, args())
    with pytest.raises(SystemExit, match="cgan/stable at 1: run"):
        study.base_plan(cbn)
