"""Decode every record of a source once, in parallel, never raising for a bad file.

Shared by the integrity report (which wants hashes, modes and reasons) and `prepare` (which also wants
the resized pixels), so both judge a file the same way.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pneumogan.data.decoded import DEFAULT_MAX_PIXELS, EMPTY, UNREADABLE
from pneumogan.data.geometry import LEGACY_FIT, fit_square
from pneumogan.data.images import read_image
from pneumogan.data.sources import KaggleFolderSource, Record, Source
from pneumogan.errors import ImageReadError
from pneumogan.progress import track

#: Below this many files a process pool costs more to start than it saves.
PARALLEL_MIN_RECORDS = 64


@dataclass
class ScanResult:
    record: Record
    md5: str | None = None
    mode: str = ""
    width: int = 0
    height: int = 0
    notes: list[str] = field(default_factory=list)
    reason: str | None = None  # None when the image is usable
    detail: str = ""
    array: np.ndarray | None = None  # resized to `size` when one was asked for

    @property
    def ok(self) -> bool:
        return self.reason is None


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _examine(data: bytes, name: str, size: int | None, max_pixels: int, fit: str = LEGACY_FIT) -> dict:
    out: dict = {"md5": hashlib.md5(data).hexdigest()}
    if not data:
        out.update(reason=EMPTY, detail="0 bytes")
        return out
    try:
        img = read_image(data, max_pixels=max_pixels, name=name)
    except ImageReadError as exc:
        out.update(reason=exc.reason, detail=exc.detail)
        return out
    except Exception as exc:  # a scan never crashes on one hostile file
        out.update(reason=UNREADABLE, detail=f"{type(exc).__name__}: {exc}")
        return out
    out.update(mode=img.mode, width=img.width, height=img.height, notes=img.notes)
    if size:
        out["array"] = fit_square(img.array, size, fit)
    return out


def _examine_path(args: tuple[str, int | None, int, str]) -> dict:
    path, size, max_pixels, fit = args
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return {"reason": UNREADABLE, "detail": exc.strerror or str(exc)}
    return _examine(data, path, size, max_pixels, fit)


def scan_records(
    source: Source,
    records: list[Record] | None = None,
    size: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 0,
    description: str = "decoding",
    fit: str = LEGACY_FIT,
) -> Iterator[ScanResult]:
    """Yield one `ScanResult` per record, in order, resized to `size` by `fit` when a size is given.
    `workers=0` picks one per CPU core."""
    records = source.records() if records is None else records
    workers = workers or default_workers()
    if isinstance(source, KaggleFolderSource) and workers > 1 and len(records) > PARALLEL_MIN_RECORDS:
        jobs = [(r.path, size, max_pixels, fit) for r in records]
        with mp.get_context("spawn").Pool(workers) as pool:
            results = pool.imap(_examine_path, jobs, chunksize=32)
            for rec, res in zip(records, track(results, len(records), description), strict=True):
                yield ScanResult(record=rec, **res)
        return
    for rec in track(records, len(records), description):
        try:
            data = source.read_bytes(rec)
        except OSError as exc:
            yield ScanResult(record=rec, reason=UNREADABLE, detail=exc.strerror or str(exc))
            continue
        if isinstance(source, KaggleFolderSource):
            yield ScanResult(record=rec, **_examine(data, rec.path, size, max_pixels, fit))
        else:  # in-memory arrays: decode the array, hash its bytes
            res = ScanResult(record=rec, md5=hashlib.md5(data).hexdigest())
            img = source.load(rec, max_pixels=max_pixels)
            res.mode, res.width, res.height, res.notes = img.mode, img.width, img.height, img.notes
            res.array = fit_square(img.array, size, fit) if size else None
            yield res
