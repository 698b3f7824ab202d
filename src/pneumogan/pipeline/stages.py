"""Stages cached by the hash of their inputs, and the executors that run them.

Each stage owns `stages/<name>-<key>/`; `stage.json` is written last (atomically), so a stage interrupted by
Ctrl-C or a kill has no marker and runs again — and the stage's own work (classifier epochs, GAN steps)
resumes from its last saved state inside that folder. The cache is the single source of truth: whatever the
executor, a stage with a marker is skipped.

Every stage is declared with its kind and its inputs (the stages whose folders it reads), so the runner holds the
experiment's graph as it is declared (`graph`). Executors:

- `StageRunner` (`serial`): runs each stage when it is declared, in this process (under torchrun, training stages
  on every process).
- `LocalRunner` (`local`): runs stages in up to `workers` forked worker processes on this machine, the CPU cores
  split between them; a stage starts once its inputs have finished. A worker killed by a signal is retried and the
  stage resumes from its own checkpoint.
- `PlanRunner` (`--plan`): records the graph and which stages are cached, and runs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pneumogan.distributed import Dist, barrier, silent
from pneumogan.errors import PneumoganError
from pneumogan.layout import STAGE_MARKER as MARKER
from pneumogan.layout import STAGES
from pneumogan.runs import atomic_write_json

STAGE_ERROR = "stage_error.txt"  # a failed worker's traceback, in its stage folder
EXECUTORS = ("serial", "local", "ray")


def stage_key(*parts: Any) -> str:
    """A short hash of JSON-serialisable inputs (config sections, upstream keys, counts)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def stage_name(folder: Path) -> str:
    """The stage name of a stage folder (`<name>-<key>`)."""
    return Path(folder).name.rsplit("-", 1)[0]


@dataclass(frozen=True)
class StageNode:
    """One stage of the graph: its name (unique in a run), cache key, kind and the stages it reads."""

    name: str
    key: str
    kind: str
    inputs: tuple[str, ...] = ()


class StageRunner:
    """The serial executor: runs each stage once, when it is declared. Under torchrun, training stages run on
    every process (`collective=True`); the rest run on rank 0 while the others wait, then read its result from
    the marker."""

    executor = "serial"
    planning = False

    def __init__(
        self,
        root: Path,
        log: Callable[[str], None] = print,
        on_stage: Callable[[str], None] | None = None,
        dist: Dist | None = None,
    ):
        self.dist = dist or Dist()
        self.root = Path(root) / STAGES
        if self.dist.main and not self.planning:
            self.root.mkdir(parents=True, exist_ok=True)
        barrier(self.dist)
        self.log = log if self.dist.main else silent
        self.on_stage = on_stage  # called after each finished stage (tests use it to interrupt a run)
        self.timings: dict[str, dict[str, Any]] = {}
        self.graph: dict[str, StageNode] = {}
        self.results: dict[str, dict[str, Any]] = {}

    def folder(self, name: str, key: str) -> Path:
        return self.root / f"{name}-{key}"

    def run(
        self,
        name: str,
        key: str,
        fn: Callable[[Path], dict[str, Any]],
        collective: bool = False,
        kind: str | None = None,
        inputs: tuple[str, ...] | list[str] = (),
    ) -> tuple[Path, dict[str, Any] | None]:
        """Declare a stage and run `fn(folder)` unless it already finished with this key. Returns its folder and
        its result (None while it is still running under a parallel executor: ask `result(name)`)."""
        node = self.declare(name, key, kind, inputs)
        folder = self.folder(name, key)
        done = self.finished(node)
        if done is not None:
            return folder, done
        return folder, self.execute(node, fn, collective)

    def declare(self, name: str, key: str, kind: str | None, inputs: tuple[str, ...] | list[str]) -> StageNode:
        unknown = [i for i in inputs if i not in self.graph]
        if unknown:
            raise PneumoganError(f"stage {name} reads {', '.join(unknown)}, which no earlier stage declared")
        node = StageNode(name, key, kind or name.split("-", 1)[0], tuple(inputs))
        self.graph[name] = node
        return node

    def finished(self, node: StageNode) -> dict[str, Any] | None:
        """The result of a stage that finished earlier (its marker), or None."""
        marker = self.folder(node.name, node.key) / MARKER
        if not marker.is_file():
            return None
        done = json.loads(marker.read_text())
        self.timings[node.name] = {"seconds": done["seconds"], "cached": True}
        self.results[node.name] = done["result"]
        self.log(f"[skip] {node.name} (finished earlier, key {node.key})")
        return done["result"]

    def execute(self, node: StageNode, fn: Callable[[Path], dict[str, Any]], collective: bool) -> dict[str, Any]:
        folder = self.folder(node.name, node.key)
        if self.dist.main:
            folder.mkdir(parents=True, exist_ok=True)
        barrier(self.dist)
        self.log(f"[run ] {node.name}")
        t0 = time.perf_counter()
        result = fn(folder) if (collective or self.dist.main) else {}
        seconds = round(time.perf_counter() - t0, 1)
        if self.dist.main:
            write_marker(folder, node, seconds, result)
        barrier(self.dist)
        if not self.dist.main:
            result = json.loads((folder / MARKER).read_text())["result"]
        self.done(node, seconds, result)
        return result

    def done(self, node: StageNode, seconds: float, result: dict[str, Any]) -> None:
        self.results[node.name] = result
        self.timings[node.name] = {"seconds": seconds, "cached": False}
        self.log(f"[done] {node.name} in {seconds:.1f} s")
        if self.on_stage is not None:
            self.on_stage(node.name)

    def result(self, name: str) -> dict[str, Any]:
        """A declared stage's result, once it has finished."""
        return self.results[name]

    def finish(self) -> None:
        """Wait for every declared stage (the serial executor has run them all already)."""

    def close(self) -> None:
        """Stop what is still running (after an error or Ctrl-C)."""


def write_marker(folder: Path, node: StageNode, seconds: float, result: dict[str, Any]) -> None:
    atomic_write_json(folder / MARKER, {"name": node.name, "key": node.key, "seconds": seconds, "result": result})


class PlanRunner(StageRunner):
    """Records the graph — every stage, its kind, its inputs, whether it is cached — and runs nothing."""

    executor = "plan"
    planning = True

    def __init__(self, root: Path):
        super().__init__(root, log=silent)
        self.cached: set[str] = set()

    def run(self, name, key, fn, collective=False, kind=None, inputs=()):  # StageRunner's signature
        node = self.declare(name, key, kind, inputs)
        marker = self.folder(name, key) / MARKER
        if marker.is_file():
            done = json.loads(marker.read_text())
            self.cached.add(name)
            self.results[name] = done["result"]
            self.timings[name] = {"seconds": done["seconds"], "cached": True}
        return self.folder(node.name, node.key), self.results.get(name)

    def result(self, name: str) -> dict[str, Any]:
        return self.results.get(name, {})


class LocalRunner(StageRunner):
    """Runs stages in up to `workers` forked processes on this machine, each with its share of the CPU cores; a
    stage starts as soon as its inputs have finished. A worker killed by a signal (out of memory, a SIGKILL) is
    retried up to `retries` times, resuming from the stage's own checkpoint; a stage that raises stops the run."""

    executor = "local"

    def __init__(
        self,
        root: Path,
        log: Callable[[str], None] = print,
        on_stage: Callable[[str], None] | None = None,
        dist: Dist | None = None,
        workers: int = 2,
        retries: int = 2,
        threads: int | None = None,
    ):
        super().__init__(root, log, on_stage, dist)
        if self.dist.world > 1:
            raise PneumoganError("--executor local runs stages in worker processes; under torchrun use serial")
        self.workers, self.retries = max(1, workers), retries
        # a stage's numbers depend on its thread count (floating-point sums split differently): a serial run with
        # as many threads gives the same numbers
        self.threads = forkable_threads(threads or max(1, (os.cpu_count() or 1) // self.workers), self.log)
        self.waiting: dict[str, tuple[StageNode, Callable[[Path], dict[str, Any]]]] = {}
        self.running: dict[str, tuple[Any, float, Callable[[Path], dict[str, Any]]]] = {}
        self.attempts: dict[str, int] = {}

    def execute(self, node, fn, collective):  # a process per stage: never collective
        self.waiting[node.name] = (node, fn)
        self.start_ready()
        return None

    def start_ready(self) -> None:
        for name, (node, fn) in list(self.waiting.items()):
            if len(self.running) >= self.workers:
                return
            if all(i in self.results for i in node.inputs):
                del self.waiting[name]
                self.spawn(node, fn)

    def spawn(self, node: StageNode, fn: Callable[[Path], dict[str, Any]]) -> None:
        import multiprocessing

        folder = self.folder(node.name, node.key)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STAGE_ERROR).unlink(missing_ok=True)
        attempt = self.attempts.get(node.name, 0)
        self.log(f"[run ] {node.name}" + (f" (attempt {attempt + 1})" if attempt else ""))
        # fork: the stage's closure and the experiment's state are inherited; this process never runs torch's
        # thread pools itself under this executor, so forking is safe
        process = multiprocessing.get_context("fork").Process(
            target=_work, args=(node, fn, folder, self.threads), name=node.name
        )
        process.start()
        self.running[node.name] = (process, time.perf_counter(), fn)

    def reap(self) -> None:
        """Wait until at least one worker ends; record it, retry it or fail."""
        from multiprocessing.connection import wait

        if not self.running:
            stuck = ", ".join(self.waiting)
            raise PneumoganError(f"stages {stuck} wait for inputs that never finish")
        ended = wait([p.sentinel for p, _, _ in self.running.values()])
        for name, (process, _, fn) in list(self.running.items()):
            if process.sentinel not in ended:
                continue
            process.join()
            del self.running[name]
            node = self.graph[name]
            folder = self.folder(node.name, node.key)
            if process.exitcode == 0:
                done = json.loads((folder / MARKER).read_text())
                self.done(node, done["seconds"], done["result"])
            elif process.exitcode < 0 and self.attempts.get(name, 0) < self.retries:
                self.attempts[name] = self.attempts.get(name, 0) + 1
                self.log(f"[lost] {name}: its worker died (signal {-process.exitcode}); retrying from its checkpoint")
                self.waiting = {name: (node, fn), **self.waiting}
            else:
                error = folder / STAGE_ERROR
                why = error.read_text().strip().splitlines()[-1] if error.is_file() else f"exit code {process.exitcode}"
                raise PneumoganError(f"stage {name} failed in its worker: {why} (traceback: {error})")

    def result(self, name: str) -> dict[str, Any]:
        while name not in self.results:
            if name not in self.waiting and name not in self.running:
                raise PneumoganError(f"stage {name} was never declared")
            self.start_ready()
            self.reap()
            self.start_ready()
        return self.results[name]

    def finish(self) -> None:
        while self.waiting or self.running:
            self.start_ready()
            self.reap()

    def close(self) -> None:
        for process, _, _ in self.running.values():
            process.kill()
            process.join()
        self.running.clear()


def forkable_threads(threads: int, log: Callable[[str], None], timeout: float = 20.0) -> int:
    """The threads a forked worker can use. A process forked after its parent ran OpenMP-parallel torch code hangs
    in its first parallel region with more than one thread (libgomp is not fork-safe); a parent that has not (the
    `pneumogan run` process, which only plans, reads data and does statistics) is fine. A forked probe tells."""
    if threads <= 1:
        return 1
    import multiprocessing

    probe = multiprocessing.get_context("fork").Process(target=_parallel_probe, args=(threads,))
    probe.start()
    probe.join(timeout)
    if probe.exitcode == 0:
        return threads
    probe.kill()
    probe.join()
    log(f"forked workers cannot use {threads} threads after this process ran parallel torch code: using 1 each")
    return 1


def _parallel_probe(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.nn.functional.conv2d(torch.ones(8, 16, 64, 64), torch.ones(16, 16, 3, 3)).sum().item()
    os._exit(0)


def _work(node: StageNode, fn: Callable[[Path], dict[str, Any]], folder: Path, threads: int) -> None:
    """A worker: the stage with its share of the cores; the marker on success, the traceback on failure."""
    import torch

    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        result = fn(folder)
        write_marker(folder, node, round(time.perf_counter() - t0, 1), result)
    except BaseException:
        (folder / STAGE_ERROR).write_text(traceback.format_exc())
        os._exit(1)
    os._exit(0)
