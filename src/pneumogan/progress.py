"""Progress bars for long loops: rich on a terminal; off a terminal (logs of background jobs), a plain line at
most once a minute, so short loops and tests stay silent."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

# seconds between the plain progress lines written off a terminal; 0 turns them off
HEARTBEAT_ENV = "PNEUMOGAN_PROGRESS_EVERY_S"


class Status:
    """Live text shown beside a progress bar (e.g. the running loss); set `.text` inside the loop."""

    text: str = ""


def track(
    items: Iterable[T],
    total: int | None = None,
    description: str = "working",
    status: Status | None = None,
    enabled: bool = True,
) -> Iterator[T]:
    """Yield `items`, showing a progress bar with rate, ETA and `status.text` when stderr is a terminal
    (and `enabled`: only rank 0 of a distributed run draws one); off a terminal, a plain progress line every
    $PNEUMOGAN_PROGRESS_EVERY_S seconds (default 60)."""
    if not enabled:
        yield from items
        return
    if not sys.stderr.isatty():
        yield from heartbeat(items, total, description, status, _heartbeat_seconds())
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total, status="")
        for item in items:
            yield item
            bar.update(task, advance=1, status=status.text if status else "")


def _heartbeat_seconds() -> float:
    raw = os.environ.get(HEARTBEAT_ENV, "60")
    try:
        return max(float(raw), 0.0)
    except ValueError:
        raise ValueError(f"{HEARTBEAT_ENV} must be a number of seconds, got {raw!r}") from None


def heartbeat(
    items: Iterable[T],
    total: int | None,
    description: str,
    status: Status | None,
    every_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[T]:
    """Yield `items`; after an item, if `every_s` (> 0) seconds have passed since the last line, write one line
    to stderr: done/total, rate, elapsed, remaining time and `status.text`."""
    if every_s <= 0:
        yield from items
        return
    start = last = clock()
    for done, item in enumerate(items, 1):
        yield item
        now = clock()
        if now - last >= every_s:
            last = now
            print(progress_line(description, done, total, now - start, status), file=sys.stderr, flush=True)


def progress_line(description: str, done: int, total: int | None, elapsed_s: float, status: Status | None) -> str:
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    parts = [f"{description}: {done}/{total}" if total else f"{description}: {done}"]
    if total:
        parts[0] += f" ({100 * done / total:.0f} %)"
    parts.append(f"{rate:.2f} it/s" if rate < 10 else f"{rate:.0f} it/s")
    parts.append(f"elapsed {_clock_text(elapsed_s)}")
    if total and rate > 0:
        parts.append(f"left {_clock_text((total - done) / rate)}")
    if status and status.text:
        parts.append(status.text)
    return " | ".join(parts)


def _clock_text(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
