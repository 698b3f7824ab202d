"""The Ray executor (`pneumogan run --executor ray [--address ADDR]`): each stage a Ray task with its resource
request, its inputs' tasks as its dependencies; a task whose worker dies is retried by Ray and resumes from the
stage's own checkpoint. Ray is an optional extra (`pip install 'pneumogan[cluster]'`).

The run folder must be on storage every node sees (an NFS mount, say): `check_shared_storage` writes a token there
and asks a task on every alive node to read it, and refuses to start if one cannot.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pneumogan.distributed import Dist
from pneumogan.errors import PneumoganError
from pneumogan.pipeline.stages import MARKER, StageNode, StageRunner, write_marker
from pneumogan.tracking import tracking_env

INSTALL = "pip install 'pneumogan[cluster]' (or: pip install ray)"


def import_ray():
    try:
        import ray
    except ImportError:
        raise PneumoganError(f"--executor ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


class RayRunner(StageRunner):
    """Submits each stage as a Ray task (`cpus` CPUs, and `gpus` GPUs for training stages) once declared; Ray
    starts it when its inputs' tasks have finished. Results come back through the stage markers' contents."""

    executor = "ray"

    def __init__(
        self,
        root: Path,
        log: Callable[[str], None] = print,
        on_stage: Callable[[str], None] | None = None,
        dist: Dist | None = None,
        address: str | None = None,
        cpus: int = 1,
        gpus: float = 0,
        retries: int = 2,
    ):
        super().__init__(Path(root).resolve(), log, on_stage, dist)
        if self.dist.world > 1:
            raise PneumoganError("--executor ray starts its own workers; do not run it under torchrun")
        ray = import_ray()
        self.ray, self.started = ray, not ray.is_initialized()
        if self.started:
            ray.init(address=address, include_dashboard=False, log_to_driver=True, configure_logging=False)
        self.cpus, self.gpus, self.retries = cpus, gpus, retries
        self.refs: dict[str, Any] = {}
        self.task = ray.remote(_ray_stage)
        check_shared_storage(ray, self.root)
        resources = ray.cluster_resources()
        self.log(f"ray: {resources.get('CPU', 0):g} CPUs on {len(alive_nodes(ray))} node(s); {cpus} CPU(s) a stage")

    def execute(self, node: StageNode, fn: Callable[[Path], dict[str, Any]], collective: bool):  # a task per stage
        folder = self.folder(node.name, node.key)
        folder.mkdir(parents=True, exist_ok=True)
        gpus = self.gpus if node.kind in ("classify", "gan", "diffusion", "ssl") else 0
        options = {"num_cpus": self.cpus, "num_gpus": gpus, "max_retries": self.retries, "name": node.name}
        env = tracking_env()  # MLflow settings: a task on another node does not inherit the driver's environment
        if env:
            options["runtime_env"] = {"env_vars": env}
        inputs = [self.refs[i] for i in node.inputs if i in self.refs]  # Ray starts it once these finished
        self.refs[node.name] = self.task.options(**options).remote(node, fn, str(folder), self.cpus, *inputs)
        self.log(f"[sent] {node.name}")
        return None

    def result(self, name: str) -> dict[str, Any]:
        if name not in self.results:
            self.collect(self.refs[name])
        return self.results[name]

    def collect(self, ref: Any) -> None:
        name = next(n for n, r in self.refs.items() if r == ref)
        try:
            seconds, result = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            raise PneumoganError(f"stage {name} failed on its Ray worker: {exc.cause!r}") from None
        except self.ray.exceptions.WorkerCrashedError:
            raise PneumoganError(f"stage {name}: its Ray worker died {self.retries + 1} times") from None
        self.done(self.graph[name], seconds, result)

    def finish(self) -> None:
        pending = [r for n, r in self.refs.items() if n not in self.results]
        while pending:  # in the order they finish, so the log reads as the run went
            ready, pending = self.ray.wait(pending, num_returns=1)
            self.collect(ready[0])

    def close(self) -> None:
        for name, ref in self.refs.items():
            if name not in self.results:
                self.ray.cancel(ref, force=True)
        if self.started:
            self.ray.shutdown()


def _ray_stage(node: StageNode, fn: Callable[[Path], dict[str, Any]], folder: str, threads: int, *_inputs: Any):
    """A stage on a Ray worker: its marker if an earlier attempt finished it, else the work and the marker."""
    import json

    import torch

    torch.set_num_threads(threads)
    marker = Path(folder) / MARKER
    if marker.is_file():
        done = json.loads(marker.read_text())
        return done["seconds"], done["result"]
    t0 = time.perf_counter()
    result = fn(Path(folder))
    seconds = round(time.perf_counter() - t0, 1)
    write_marker(Path(folder), node, seconds, result)
    return seconds, result


def alive_nodes(ray: Any) -> list[dict[str, Any]]:
    return [n for n in ray.nodes() if n.get("Alive")]


def check_shared_storage(ray: Any, root: Path) -> None:
    """Refuse to start unless a task on every alive node can read a token written into the run folder."""
    root.mkdir(parents=True, exist_ok=True)
    token = root / f".ray-check-{uuid.uuid4().hex[:8]}"
    token.write_text("pneumogan")
    try:
        blind = nodes_that_cannot_read(ray, token)
    finally:
        token.unlink(missing_ok=True)
    if blind:
        raise PneumoganError(
            f"the run folder {root} is not visible from Ray node(s) {', '.join(blind)}: put it on storage every node "
            "mounts at the same path (e.g. NFS) and pass that path as --out"
        )


def nodes_that_cannot_read(ray: Any, path: Path) -> list[str]:
    """The addresses of the alive nodes on which a task cannot read `path`."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(_can_read)
    nodes = alive_nodes(ray)
    checks = [
        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(str(path))
        for n in nodes
    ]
    return [n["NodeManagerAddress"] for n, ok in zip(nodes, ray.get(checks), strict=True) if not ok]


def _can_read(path: str) -> bool:
    return Path(path).is_file()
