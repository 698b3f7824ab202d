"""How long a stage graph takes with N stages at a time: the wall time an executor would need, simulated from
stage times measured in an earlier run.

The simulation does what the `local` and `ray` executors do: a stage starts once all its inputs have finished and
a slot is free, ready stages in the order the experiment declared them. A slot is one stage's share of the
machines (`--threads` cores); with K nodes of C cores each there are K·C/threads slots. It assumes a stage takes
as long beside others as it took where it was measured — on a machine whose cores share memory bandwidth it does
not (docs/clusters.md measures 1.76× on a 2-core VM), so read the result as a lower bound, and the critical path
(the longest chain of inputs) as the floor no number of nodes goes below.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import mean
from typing import Any

FRACTION = re.compile(r"-(\d+pct)\b")


@dataclass(frozen=True)
class Estimate:
    slots: int
    wall_s: float  # the simulated schedule's length
    work_s: float  # every stage's seconds added up (the serial time)
    critical_path_s: float  # the longest chain of inputs: no schedule is shorter

    @property
    def busy(self) -> float:
        """The share of the slots' time spent in stages."""
        return self.work_s / (self.wall_s * self.slots) if self.wall_s else 0.0


def _group(name: str, kind: str) -> tuple[str, str | None]:
    found = FRACTION.search(name)
    return kind, found.group(1) if found else None


def stage_seconds(
    stages: Iterable[dict[str, Any]], measured: dict[str, float], assumed: dict[str, float] | None = None
) -> dict[str, float]:
    """Each stage's seconds: `assumed` for its kind at its data fraction (`classify@10pct`) or its kind
    (`classify`) where given — a time taken from elsewhere, for a stage this graph has not run yet — else measured
    for its own name, else the mean of the measured stages of its kind at its fraction, else of its kind; a kind
    with neither raises (no guess)."""
    assumed = assumed or {}
    stages = list(stages)
    by_group: dict[tuple[str, str | None], list[float]] = {}
    by_kind: dict[str, list[float]] = {}
    kinds = {s["name"]: s["kind"] for s in stages}
    known = sorted(set(kinds.values()), key=len, reverse=True)  # "gan-eval-…" is a gan-eval, not a gan
    for name, seconds in measured.items():
        kind = kinds.get(name) or next((k for k in known if name.startswith(k + "-")), name.split("-")[0])
        by_group.setdefault(_group(name, kind), []).append(seconds)
        by_kind.setdefault(kind, []).append(seconds)
    out = {}
    for s in stages:
        kind, fraction = _group(s["name"], s["kind"])
        found = (
            assumed.get(f"{kind}@{fraction}")
            or assumed.get(kind)
            or measured.get(s["name"])
            or (mean(by_group[g]) if (g := _group(s["name"], s["kind"])) in by_group else None)
            or (mean(by_kind[s["kind"]]) if s["kind"] in by_kind else None)
        )
        if found is None:
            raise ValueError(f"no measured time for a stage of kind {s['kind']!r} ({s['name']})")
        out[s["name"]] = float(found)
    return out


def critical_path(stages: list[dict[str, Any]], seconds: dict[str, float]) -> float:
    finish: dict[str, float] = {}
    for s in stages:  # declared after their inputs
        finish[s["name"]] = seconds[s["name"]] + max((finish[i] for i in s["inputs"]), default=0.0)
    return max(finish.values(), default=0.0)


def simulate(stages: list[dict[str, Any]], seconds: dict[str, float], slots: int) -> Estimate:
    """List scheduling of the graph on `slots` slots: ready stages start in declaration order."""
    if slots < 1:
        raise ValueError("slots must be at least 1")
    order = {s["name"]: i for i, s in enumerate(stages)}
    waiting = {s["name"]: set(s["inputs"]) for s in stages}
    readers: dict[str, list[str]] = {}
    for s in stages:
        for i in s["inputs"]:
            readers.setdefault(i, []).append(s["name"])
    ready = [order[n] for n, inputs in waiting.items() if not inputs]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []  # (finish time, name)
    now, done = 0.0, 0
    while ready or running:
        while ready and len(running) < slots:
            name = stages[heapq.heappop(ready)]["name"]
            heapq.heappush(running, (now + seconds[name], name))
        now, name = heapq.heappop(running)
        done += 1
        for reader in readers.get(name, []):
            waiting[reader].discard(name)
            if not waiting[reader]:
                heapq.heappush(ready, order[reader])
    if done != len(stages):
        raise ValueError("the graph has a stage whose inputs never finish")
    return Estimate(slots, now, sum(seconds.values()), critical_path(stages, seconds))
