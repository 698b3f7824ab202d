"""Stages cached by the hash of their inputs: a finished stage is skipped on rerun, a changed input reruns it.

Each stage owns `stages/<name>-<key>/`; `stage.json` is written last (atomically), so a stage interrupted by
Ctrl-C or a kill has no marker and runs again — and the stage's own work (classifier epochs, GAN steps)
resumes from its last saved state inside that folder.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pneumogan.distributed import Dist, barrier, silent
from pneumogan.layout import STAGE_MARKER as MARKER
from pneumogan.layout import STAGES
from pneumogan.runs import atomic_write_json


def stage_key(*parts: Any) -> str:
    """A short hash of JSON-serialisable inputs (config sections, upstream keys, counts)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class StageRunner:
    """Runs stages once. Under torchrun, training stages run on every process (`collective=True`); the rest
    run on rank 0 while the others wait, then read its result from the marker."""

    def __init__(
        self,
        root: Path,
        log: Callable[[str], None] = print,
        on_stage: Callable[[str], None] | None = None,
        dist: Dist | None = None,
    ):
        self.dist = dist or Dist()
        self.root = Path(root) / STAGES
        if self.dist.main:
            self.root.mkdir(parents=True, exist_ok=True)
        barrier(self.dist)
        self.log = log if self.dist.main else silent
        self.on_stage = on_stage  # called after each finished stage (tests use it to interrupt a run)
        self.timings: dict[str, dict[str, Any]] = {}

    def folder(self, name: str, key: str) -> Path:
        return self.root / f"{name}-{key}"

    def run(
        self, name: str, key: str, fn: Callable[[Path], dict[str, Any]], collective: bool = False
    ) -> tuple[Path, dict[str, Any]]:
        """Run `fn(folder)` unless the stage already finished with this key; returns (folder, its result)."""
        folder = self.folder(name, key)
        marker = folder / MARKER
        if marker.is_file():
            done = json.loads(marker.read_text())
            self.timings[name] = {"seconds": done["seconds"], "cached": True}
            self.log(f"[skip] {name} (finished earlier, key {key})")
            return folder, done["result"]
        if self.dist.main:
            folder.mkdir(parents=True, exist_ok=True)
        barrier(self.dist)
        self.log(f"[run ] {name}")
        t0 = time.perf_counter()
        result = fn(folder) if (collective or self.dist.main) else {}
        seconds = round(time.perf_counter() - t0, 1)
        if self.dist.main:
            atomic_write_json(marker, {"name": name, "key": key, "seconds": seconds, "result": result})
        barrier(self.dist)
        if not self.dist.main:
            result = json.loads(marker.read_text())["result"]
        self.timings[name] = {"seconds": seconds, "cached": False}
        self.log(f"[done] {name} in {seconds:.1f} s")
        if self.on_stage is not None:
            self.on_stage(name)
        return folder, result
