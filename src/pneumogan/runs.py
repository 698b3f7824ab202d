"""Atomic file writes and resume state: a reader never sees half an artefact, an interrupted job leaves no
corrupt file, and a resumed job continues only from state written for the same configuration."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pneumogan.layout import HISTORY_CSV, HISTORY_JSON


def atomic_save(path: str | Path, write: Callable[[Path], object]) -> Path:
    """`write(tmp)` writes the file at a temporary path beside `path`, which then replaces `path` in one step.

    Every writer in the project goes through here: bytes and JSON, torch resume states, safetensors weights.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_save(path, lambda tmp: tmp.write_bytes(data))


def atomic_save_tensors(path: str | Path, module: Any) -> Path:
    """A module's state dict as safetensors (weights only, never pickles), written atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    return atomic_save(path, lambda tmp: save_file(state, str(tmp)))


class ResumeState:
    """A training job's resume file (`torch.save` of tensors and plain data), tied to a config fingerprint.

    `load()` returns the saved state only when it was written for the same fingerprint, so a changed config
    starts from scratch instead of continuing someone else's run; `save()` writes atomically.
    """

    def __init__(self, path: str | Path, fingerprint: str) -> None:
        self.path, self.fingerprint = Path(path), fingerprint

    def load(self, log: Callable[[str], None] = print) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        import torch

        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            stale = self.path.with_name(self.path.name + ".stale")
            self.path.replace(stale)  # set aside, never overwritten: a fingerprint bug must not cost hours of training
            log(f"config changed since the saved state: starting from scratch (the old state is kept as {stale.name})")
            return None
        return state

    def save(self, state: dict[str, Any]) -> Path:
        import torch

        return atomic_save(self.path, lambda tmp: torch.save({**state, "fingerprint": self.fingerprint}, tmp))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def atomic_write_csv(path: str | Path, rows: list[dict[str, Any]], fields: list[str] | None = None) -> Path:
    """Rows as CSV; the header is `fields`, or every key in order of first appearance."""
    import csv
    import io

    fields = fields or list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())


def write_history(out: str | Path, history: list[dict[str, Any]]) -> None:
    """A training history as `history.json` and `history.csv` in `out`."""
    out = Path(out)
    atomic_write_json(out / HISTORY_JSON, history)
    if history:
        atomic_write_csv(out / HISTORY_CSV, history)


def median_images_per_s(history: list[dict[str, Any]]) -> float | None:
    """A training's speed: median `images_per_s` over its history rows, the first left out when there are
    others (it includes warm-up)."""
    speeds = sorted(row["images_per_s"] for row in history[1:] or history)
    if not speeds:
        return None
    mid = len(speeds) // 2
    return round(speeds[mid] if len(speeds) % 2 else (speeds[mid - 1] + speeds[mid]) / 2, 1)


@contextmanager
def atomic_directory(final: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it is renamed to `final` in one step."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():  # a concurrent writer finished first; theirs is equivalent
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def git_commit(where: str | Path) -> str:
    """The commit checked out at `where` (for benchmark records), or "unknown" outside a git work tree."""
    import subprocess

    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return proc.stdout.strip() or "unknown"
