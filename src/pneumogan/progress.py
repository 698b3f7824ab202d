"""Progress bars for long loops: rich on a terminal, silent in logs and tests."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


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
    (and `enabled`: only rank 0 of a distributed run draws one)."""
    if not enabled or not sys.stderr.isatty():
        yield from items
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
