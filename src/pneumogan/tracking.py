"""Runs you can watch: each training job's parameters and per-epoch (classifier) or per-window (GAN, diffusion)
metrics as TensorBoard event files in `<its folder>/tensorboard/` — cheap, no server; `tensorboard --logdir
runs/<run>/stages` shows every stage of an experiment side by side.

With an MLflow tracking URI (`MLFLOW_TRACKING_URI`, which `pneumogan run --tracking-uri` sets for its workers),
the same rows also go to MLflow: one MLflow run per job, named after its folder, nested under the experiment's
run when there is one (`PNEUMOGAN_MLFLOW_PARENT_RUN`, set by `experiment_run`). The job's MLflow run id is kept in
its folder, so a resumed job — in another worker, another process or on another Ray node — continues the same
MLflow run. A tracker that cannot reach MLflow says so once and goes on without it: tracking never stops training.

Written by the process that writes the job's history (rank 0), from the same rows, so the curves and
`history.csv` agree. A resumed job discards the TensorBoard events at or after its resume step (`purge_step`), so
a curve has one value per step however often the job was interrupted; MLflow cannot delete logged values, so a
window logged after the last checkpoint of an interrupted job appears twice at its step there.
"""

from __future__ import annotations

import json
import numbers
import os
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

TENSORBOARD = "tensorboard"  # the event-file folder inside a job's folder
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own variable: a job logs there when it is set
MLFLOW_PARENT_ENV = "PNEUMOGAN_MLFLOW_PARENT_RUN"  # the experiment's MLflow run id, for its stages to nest under
MLFLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"  # MLflow 3 refuses a folder store without it
MLFLOW_RUN_FILE = "mlflow_run.json"  # in a job's folder: the MLflow run it logs to (a resumed job continues it)
MLFLOW_EXPERIMENT = "pneumogan"  # the MLflow experiment runs go to, unless MLFLOW_EXPERIMENT_NAME names another


def _numbers(row: dict[str, Any]) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in row.items()
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and name not in ("epoch", "step")
    }


class Tracker:
    """One job's TensorBoard writer, and its MLflow run when a tracking URI is set; a disabled tracker (other
    ranks) does nothing."""

    def __init__(self, out: Path, config_yaml: str, start: int = 0, enabled: bool = True):
        self.writer = None
        self.mlflow: MlflowRun | None = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(out) / TENSORBOARD), purge_step=start or None)
        if not start:
            self.writer.add_text("config", f"```yaml\n{config_yaml}\n```", 0)
        if os.environ.get(MLFLOW_URI_ENV):
            self.mlflow = MlflowRun.for_job(Path(out), config_yaml)

    def row(self, row: dict[str, Any], step: int, prefix: str) -> None:
        """Every number in a history row, as `<prefix>/<name>` at `step`."""
        if self.writer is None:
            return
        values = {f"{prefix}/{name}": value for name, value in _numbers(row).items()}
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()
        if self.mlflow is not None:
            self.mlflow.metrics(values, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.mlflow is not None:
            self.mlflow.end("FINISHED")
            self.mlflow = None


def flat_params(tree: Any, prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow parameters: dotted keys (as on the command line), values as text."""
    if isinstance(tree, dict):
        out: dict[str, str] = {}
        for key, value in tree.items():
            out |= flat_params(value, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): json.dumps(tree) if isinstance(tree, list) else str(tree)}


class MlflowRun:
    """One MLflow run through MLflow's client (no global state, so worker processes and threads cannot mix up
    their runs). Every call that fails warns once and turns the run off."""

    def __init__(self, client: Any, run_id: str):
        self.client, self.run_id = client, run_id

    @staticmethod
    def connect() -> Any:
        """MLflow's client for the URI in the environment (a folder you chose: MLflow's file store allowed)."""
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ImportError("MLflow tracking needs MLflow's client: pip install 'pneumogan[tracking]'") from None

        uri = os.environ[MLFLOW_URI_ENV]
        if is_folder(uri):
            os.environ.setdefault(MLFLOW_FILE_STORE_ENV, "true")
        return MlflowClient(tracking_uri=uri)

    @classmethod
    def open(cls, folder: Path, name: str, params: dict[str, str], parent: str | None = None) -> MlflowRun | None:
        """The run recorded in `folder` (a resumed job), else a new one, named `name`, nested under `parent`."""
        record = folder / MLFLOW_RUN_FILE
        try:
            client = cls.connect()
            if record.is_file():
                run_id = json.loads(record.read_text())["run_id"]
                client.update_run(run_id, status="RUNNING")
                return cls(client, run_id)
            if parent:
                experiment_id = client.get_run(parent).info.experiment_id
            else:
                title = os.environ.get("MLFLOW_EXPERIMENT_NAME") or MLFLOW_EXPERIMENT
                found = client.get_experiment_by_name(title)
                experiment_id = found.experiment_id if found else client.create_experiment(title)
            tags = {"pneumogan.folder": str(folder.resolve())} | ({"mlflow.parentRunId": parent} if parent else {})
            run = client.create_run(experiment_id, run_name=name, tags=tags)
            mine = cls(client, run.info.run_id)
            mine.params(params)
            folder.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"run_id": mine.run_id, "tracking_uri": os.environ[MLFLOW_URI_ENV]}))
            return mine
        except Exception as exc:  # tracking must never stop a job
            warnings.warn(f"MLflow tracking off for {name}: {exc!r}", stacklevel=2)
            return None

    @classmethod
    def for_job(cls, out: Path, config_yaml: str) -> MlflowRun | None:
        params = flat_params(yaml.safe_load(config_yaml) or {}) if config_yaml else {}
        return cls.open(out, f"{out.parent.name}/{out.name}", params, os.environ.get(MLFLOW_PARENT_ENV))

    def _call(self, what: str, *args: Any, **kwargs: Any) -> None:
        if self.client is None:
            return
        try:
            getattr(self.client, what)(self.run_id, *args, **kwargs)
        except Exception as exc:
            warnings.warn(f"MLflow tracking off for run {self.run_id}: {exc!r}", stacklevel=3)
            self.client = None

    def params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k[:250], v[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 parameters a batch
            self._call("log_batch", params=items[i : i + 100])

    def metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._call("log_batch", metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def artifact(self, path: Path) -> None:
        """A file, or a folder as a folder of that name (a report with its assets)."""
        if path.is_dir():
            self._call("log_artifacts", str(path), artifact_path=path.name)
        elif path.is_file():
            self._call("log_artifact", str(path))

    def end(self, status: str) -> None:
        self._call("set_terminated", status=status)


@contextmanager
def experiment_run(
    root: Path, name: str, params: dict[str, str], tracking_uri: str | None
) -> Iterator[MlflowRun | None]:
    """The experiment's MLflow run (kept in the run folder, so a resumed experiment continues it) while the block
    runs, when a tracking URI is given or set: FINISHED when the block ends, FAILED when it raises. Its id and the
    URI are in the environment meanwhile, where every stage — in this process, a forked worker or a Ray task
    (`tracking_env`) — finds them and nests its own run under it; the environment is restored afterwards."""
    uri = resolve_tracking_uri(tracking_uri or os.environ.get(MLFLOW_URI_ENV))
    if not uri:
        yield None
        return
    saved = {k: os.environ.get(k) for k in (MLFLOW_URI_ENV, MLFLOW_PARENT_ENV, MLFLOW_FILE_STORE_ENV)}
    os.environ[MLFLOW_URI_ENV] = uri
    run = MlflowRun.open(root, name, params)
    if run is not None:
        os.environ[MLFLOW_PARENT_ENV] = run.run_id
    try:
        yield run
    except BaseException:
        if run is not None:
            run.end("FAILED")
        raise
    else:
        if run is not None:
            run.end("FINISHED")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def is_folder(uri: str) -> bool:
    """A `file:` URI or a plain path, not a server (http, https, databricks) or a database (sqlite, postgresql)."""
    return uri.startswith("file:") or (uri != "databricks" and not re.match(r"[a-z][a-z0-9+.-]+:", uri))


def resolve_tracking_uri(uri: str | None) -> str | None:
    """A folder or `file:` URI as an absolute `file:` URI (a worker on another node must find the same place).
    MLflow's file store (in maintenance mode since MLflow 3) is allowed for it (`MlflowRun.connect`): the only store
    that needs neither a server nor MLflow's database extras."""
    if not uri or not is_folder(uri):
        return uri or None
    return Path(uri.removeprefix("file://").removeprefix("file:")).expanduser().resolve().as_uri()


def tracking_env() -> dict[str, str]:
    """The tracking settings a worker on another machine needs (Ray tasks do not inherit the driver's environment)."""
    names = (MLFLOW_URI_ENV, MLFLOW_PARENT_ENV, MLFLOW_FILE_STORE_ENV)
    return {name: os.environ[name] for name in names if os.environ.get(name)}
