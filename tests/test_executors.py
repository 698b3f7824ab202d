"""The experiment as a stage graph: its declared stages and inputs, `--plan` without training, and the local
executor — worker processes, the same numbers as the serial executor at the same thread count, and a worker
killed mid-stage retried from the stage's checkpoint."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from tests.shared_cache import with_shared_prepared

from pneumogan.config import load_config
from pneumogan.errors import PneumoganError
from pneumogan.pipeline.experiment import plan_pipeline, run_pipeline
from pneumogan.pipeline.stages import LocalRunner, StageRunner

pytestmark = pytest.mark.realdata
OVERRIDES = ["run.conditions=[real, enlarged]", "run.seeds=[0, 1]", "classify.epochs=2", "gan.steps=10"]


def _cfg(kaggle_224: Path, *more: str):
    return load_config("tiny", [f"data.source={kaggle_224}", *OVERRIDES, *more])


def _per_seed(results: dict) -> dict[str, dict]:
    conditions = results["fractions"]["100pct"]["conditions"]
    return {f"{c}/{s}": e["seeds"][s]["metrics"] for c, e in conditions.items() for s in e["seeds"]}


def test_the_graph_names_every_stage_its_kind_and_inputs_and_plans_without_running(kaggle_224, tmp_path, monkeypatch):
    monkeypatch.setenv("PNEUMOGAN_CACHE_DIR", str(with_shared_prepared(tmp_path / "cache")))
    graph = plan_pipeline(_cfg(kaggle_224), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # planning writes nothing
    stages = {s["name"]: s for s in graph["stages"]}
    assert [s["kind"] for s in graph["stages"]].count("classify") == 4
    assert stages["classify-real-100pct-seed0"]["inputs"] == []
    assert stages["synthetic-enlarged-100pct-seed1"]["inputs"] == ["gan-acgan-all-100pct-seed1"]
    assert stages["classify-enlarged-100pct-seed1"]["inputs"] == ["synthetic-enlarged-100pct-seed1"]
    evaluation = stages["gan-eval-gan-acgan-all-100pct-seed0"]
    assert evaluation["inputs"] == ["gan-acgan-all-100pct-seed0", "classify-real-100pct-seed0"]
    assert not any(s["cached"] for s in graph["stages"])
    again = plan_pipeline(_cfg(kaggle_224), tmp_path / "run")
    assert [(s["name"], s["key"]) for s in again["stages"]] == [(s["name"], s["key"]) for s in graph["stages"]]


def test_a_stage_cannot_read_a_stage_nobody_declared(tmp_path):
    runner = StageRunner(tmp_path, log=lambda m: None)
    with pytest.raises(PneumoganError, match="reads gan-x, which no earlier stage declared"):
        runner.run("classify-a", "k", lambda f: {}, inputs=["gan-x"])


def test_local_workers_run_stages_once_their_inputs_are_done_and_report_failures(tmp_path):
    order: list[str] = []
    runner = LocalRunner(tmp_path, log=order.append, workers=2, threads=1)
    runner.run("a", "k1", lambda f: (f / "out.txt").write_text("a") and {"a": 1})
    runner.run("b", "k2", lambda f: {"b": (tmp_path / "stages" / "a-k1" / "out.txt").read_text()}, inputs=["a"])
    assert runner.result("b") == {"b": "a"} and runner.result("a") == {"a": 1}
    runner.run("c", "k3", lambda f: 1 / 0)
    with pytest.raises(PneumoganError, match="stage c failed in its worker: ZeroDivisionError"):
        runner.finish()
    assert StageRunner(tmp_path, log=lambda m: None).run("a", "k1", lambda f: {})[1] == {"a": 1}  # one cache


@pytest.fixture(scope="module")
def serial_run(kaggle_224, tmp_path_factory) -> dict:
    """The reference: the tiny two-seed run, serial, one thread (what each worker below uses)."""
    out = tmp_path_factory.mktemp("serial")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PNEUMOGAN_CACHE_DIR", str(with_shared_prepared(out / "cache")))
            return run_pipeline(_cfg(kaggle_224, KILL_CONDITIONS), out / "run", log=lambda m: None)
    finally:
        torch.set_num_threads(threads)


KILL_CONDITIONS = "run.conditions=[real, duplicated]"  # no generator, to keep it short: the graph test covers those


def _kill_once(monkeypatch, flag: Path) -> None:
    """The stage classify-real-100pct-seed1 kills its own worker (SIGKILL) after its first epoch, once."""
    import pneumogan.classify.train as training

    monkeypatch.setattr(training, "_unpatched_train", training.train, raising=False)

    def train_then_die(cfg, out, log=None, **kw):
        # the real function: kept aside in a forked worker; the module's own in a fresh Ray worker (captured by
        # reference it would not pickle: the patched module attribute no longer names it)
        import pneumogan.classify.train as module

        original = getattr(module, "_unpatched_train", module.train)
        if "seed1" in str(out) and "classify-real" in str(out) and not flag.exists():
            flag.touch()
            return original(cfg, out, log=log, on_epoch_end=lambda epoch: os.kill(os.getpid(), signal.SIGKILL))
        return original(cfg, out, log=log, **kw)

    monkeypatch.setattr(training, "train", train_then_die)


def _file_log(path: Path):
    def log(message: str) -> None:  # the workers' lines too (a list would fill in each worker's own copy)
        with path.open("a") as f:
            f.write(message + "\n")

    return log


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_an_executor_gives_the_serial_numbers_and_survives_a_killed_worker(
    executor, serial_run, kaggle_224, tmp_path, monkeypatch
):
    """Two one-thread workers (forked, or Ray tasks on a local Ray cluster), one of which is SIGKILLed after its
    first epoch: the stage is retried, resumes from its checkpoint, and every per-seed test metric is the serial
    one-thread run's."""
    monkeypatch.setenv("PNEUMOGAN_CACHE_DIR", str(with_shared_prepared(tmp_path / "cache")))
    flag, log_file = tmp_path / "killed-once", tmp_path / "log.txt"
    _kill_once(monkeypatch, flag)
    cfg = _cfg(kaggle_224, KILL_CONDITIONS)
    tracking = (tmp_path / "mlruns").as_uri()  # and every stage's curves to MLflow, whichever process trains it
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE", "PNEUMOGAN_MLFLOW_PARENT_RUN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # a relative run folder, as on the command line
    run = run_pipeline(
        cfg, Path("run"), log=_file_log(log_file), executor=executor, workers=2, threads=1, tracking_uri=tracking
    )
    run_log = tmp_path / "run" / "log.txt"  # Ray workers' lines (stage logs on another machine land there)
    lines = (log_file.read_text() + (run_log.read_text() if run_log.exists() else "")).splitlines()
    assert flag.exists() and any("resuming from epoch 1" in m for m in lines)
    if executor == "local":
        assert any(m.startswith("[lost] classify-real-100pct-seed1") for m in lines)
    assert _per_seed(run) == _per_seed(serial_run)
    assert run["comparisons"] == serial_run["comparisons"] and run["answer"] == serial_run["answer"]
    _check_mlflow(tracking, tmp_path / "run")


def _check_mlflow(uri: str, root: Path) -> None:
    """One MLflow run per classifier stage, nested under the experiment's run (the killed stage's retry continued
    its run: one run, both epochs), every run finished, the report among the experiment's artefacts."""
    import json

    from mlflow.tracking import MlflowClient

    from pneumogan.tracking import MLFLOW_RUN_FILE

    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(json.loads((root / MLFLOW_RUN_FILE).read_text())["run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    names = sorted(r.info.run_name.split("-", 2)[1] + "/" + r.info.run_name.split("seed")[1][0] for r in children)
    assert names == ["duplicated/0", "duplicated/1", "real/0", "real/1"]
    assert {r.info.status for r in [parent, *children]} == {"FINISHED"}
    killed = next(r for r in children if r.info.run_name.startswith("classify-real-100pct-seed1"))
    assert sorted({m.step for m in client.get_metric_history(killed.info.run_id, "classify/val_auc")}) == [1, 2]
    assert killed.data.params["classify.epochs"] == "2"
    artefacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.html", "report.md", "results.json", "report_assets"} <= artefacts


def test_ray_is_optional_and_refuses_a_run_folder_its_nodes_cannot_see(tmp_path, monkeypatch):
    import sys

    import ray

    from pneumogan.pipeline import ray_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(PneumoganError, match=r"needs Ray, which is not installed: pip install 'pneumogan\[cluster\]'"):
        ray_executor.import_ray()
    monkeypatch.setitem(sys.modules, "ray", ray)
    ray.init(num_cpus=1, include_dashboard=False, configure_logging=False)
    try:
        token = tmp_path / "seen"
        token.write_text("x")
        assert ray_executor.nodes_that_cannot_read(ray, token) == []
        blind = ray_executor.nodes_that_cannot_read(ray, tmp_path / "elsewhere")  # a real task, on the node
        assert blind == [ray_executor.alive_nodes(ray)[0]["NodeManagerAddress"]]
        monkeypatch.setattr(ray_executor, "nodes_that_cannot_read", lambda r, p: ["10.0.0.7"])
        with pytest.raises(PneumoganError, match=r"not visible from Ray node\(s\) 10.0.0.7: put it on storage"):
            ray_executor.check_shared_storage(ray, tmp_path / "run")
    finally:
        ray.shutdown()


def test_the_cli_prints_the_plan_and_refuses_an_unknown_executor(kaggle_224, tmp_path):
    from tests.test_cli import run_cli

    cache, out = str(tmp_path / "c"), str(tmp_path / "run")
    src = f"data.source={kaggle_224}"
    plan = run_cli("run", "-c", "tiny", "--out", out, "--plan", src, *OVERRIDES, env_cache=cache)
    assert plan.returncode == 0, plan.stderr
    assert "stages, 0 cached" in plan.stdout and "classify" in plan.stdout and "no measured stage time" in plan.stdout
    assert not Path(out).exists()
    bad = run_cli("run", "-c", "tiny", "--out", out, "--executor", "cluster", src, env_cache=cache)
    assert bad.returncode != 0 and "unknown executor 'cluster'; choose from: serial, local, ray" in bad.stderr
    assert "Traceback" not in bad.stderr
