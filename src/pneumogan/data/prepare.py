"""`pneumogan data prepare`: decode every image once into a compact cached dataset.

Images are stored as grayscale uint8 (N, S, S), made square by `data.fit` (crop, squeeze or pad; see
`data/geometry.py`) and resized to S, with labels, 3-class labels, patient ids, paths, source split and provenance. The
cache folder is keyed by the source's content fingerprint and the parameters, written atomically, and
memory-mapped on load, so training never decodes a JPEG again.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pneumogan import __version__
from pneumogan.data.decoded import DEFAULT_MAX_PIXELS
from pneumogan.data.geometry import RECIPES, resolve_fit, square_source
from pneumogan.data.labels import BINARY_CLASSES
from pneumogan.data.medmnist import cache_dir
from pneumogan.data.scan import scan_records
from pneumogan.data.sources import Source
from pneumogan.errors import PneumoganError
from pneumogan.layout import META, PREPARED_COLUMNS, PREPARED_IMAGES
from pneumogan.runs import atomic_directory, atomic_write_json

FORMAT_VERSION = 2  # bump when the stored layout or the preprocessing changes (2: the geometry, `fit`)
_COLUMNS = ("labels", "labels3", "splits", "patient_ids", "paths", "provenance")


@dataclass
class PreparedDataset:
    """Decoded images and their per-image columns; `select` gives views for splits and subsets."""

    images: np.ndarray  # (N, S, S) uint8
    labels: np.ndarray  # (N,) 0 NORMAL / 1 PNEUMONIA
    labels3: np.ndarray  # (N,) 0 NORMAL / 1 BACTERIAL / 2 VIRAL / -1 unknown
    splits: np.ndarray  # (N,) the source's own split
    patient_ids: np.ndarray
    paths: np.ndarray
    provenance: np.ndarray  # "real" / "synthetic"
    meta: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def has_patient_ids(self) -> bool:
        return bool(self.meta.get("has_patient_ids", False))

    def select(self, index: np.ndarray) -> PreparedDataset:
        """Rows at `index` (bool mask or integer indices), as a new dataset sharing `meta`."""
        index = np.asarray(index)
        cols = {c: getattr(self, c)[index] for c in _COLUMNS}
        return PreparedDataset(images=self.images[index], meta=self.meta, root=self.root, **cols)

    def save(self, root: Path) -> None:
        np.save(root / PREPARED_IMAGES, np.ascontiguousarray(self.images, dtype=np.uint8))
        np.savez(root / PREPARED_COLUMNS, **{c: getattr(self, c) for c in _COLUMNS})
        atomic_write_json(root / META, self.meta)

    @classmethod
    def load(cls, root: str | Path, mmap: bool = True) -> PreparedDataset:
        root = Path(root)
        if not (root / META).is_file():
            raise PneumoganError(f"{root} is not a prepared dataset (no meta.json); run `pneumogan data prepare`")
        images = np.load(root / PREPARED_IMAGES, mmap_mode="r" if mmap else None)
        with np.load(root / PREPARED_COLUMNS) as cols:
            columns = {c: cols[c] for c in _COLUMNS}
        meta = json.loads((root / META).read_text())
        return cls(images=images, meta=meta, root=root, **columns)


def cache_key(fingerprint: str, size: int, max_pixels: int, fit: str) -> str:
    payload = json.dumps({"fp": fingerprint, "size": size, "max_pixels": max_pixels, "fit": fit, "v": FORMAT_VERSION})
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _slug(name: str) -> str:
    base = Path(name.split("#")[0].rstrip("/")).name or name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-") or "source"


def prepare(
    source: Source,
    size: int,
    cache_root: str | Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 0,
    force: bool = False,
    fit: str = "auto",
) -> PreparedDataset:
    """Return the prepared dataset for (`source`, `size`, `fit`), building and caching it when needed."""
    if size < 8:
        raise PneumoganError(f"size must be at least 8 px, got {size}")
    try:
        fit = resolve_fit(fit, source.default_fit)
    except ValueError as exc:
        raise PneumoganError(str(exc)) from None
    cache_root = Path(cache_root) if cache_root else cache_dir() / "prepared"
    fingerprint = source.fingerprint()
    final = cache_root / f"{_slug(source.name)}-{size}px-{cache_key(fingerprint, size, max_pixels, fit)}"
    if final.exists() and not force:
        return PreparedDataset.load(final)
    if final.exists():
        import shutil

        shutil.rmtree(final)

    start = time.perf_counter()
    records = source.records()
    images = np.empty((len(records), size, size), dtype=np.uint8)
    keep = np.zeros(len(records), dtype=bool)
    skipped = [{"path": s.path, "reason": s.reason, "detail": ""} for s in source.stray_files()]
    converted = 0
    shapes: set[tuple[int, int]] = set()
    for i, res in enumerate(
        scan_records(
            source,
            records,
            size=size,
            max_pixels=max_pixels,
            workers=workers,
            description=f"preparing {size}px",
            fit=fit,
        )
    ):
        if res.ok and res.array is not None:
            images[i] = res.array
            keep[i] = True
            shapes.add((res.width, res.height))
            converted += any(not n.startswith("DICOM ") for n in res.notes)
        else:
            skipped.append({"path": res.record.path, "reason": res.reason or "", "detail": res.detail})
    if not keep.any():
        raise PneumoganError(f"no usable images in {source.name}: all {len(records)} files were skipped")
    kept = [r for r, k in zip(records, keep, strict=True) if k]
    dataset = PreparedDataset(
        images=images[keep],
        labels=np.array([r.label for r in kept], dtype=np.int8),
        labels3=np.array([r.label3 for r in kept], dtype=np.int8),
        splits=np.array([r.split for r in kept]),
        patient_ids=np.array([r.patient_id for r in kept]),
        paths=np.array([r.path for r in kept]),
        provenance=np.array([r.provenance for r in kept]),
    )
    dataset.meta = {
        "format_version": FORMAT_VERSION,
        "pneumogan_version": __version__,
        "source": source.name,
        "fingerprint": fingerprint,
        "size": size,
        "max_pixels": max_pixels,
        "class_names": list(BINARY_CLASSES),
        "has_patient_ids": source.has_patient_ids,
        "n": len(kept),
        "counts": {
            s: {c: int(np.sum((dataset.splits == s) & (dataset.labels == k))) for k, c in enumerate(BINARY_CLASSES)}
            for s in sorted(set(dataset.splits))
        },
        "converted": converted,
        "skipped": skipped,
        "seconds": round(time.perf_counter() - start, 2),
        "fit": fit,
        # every source image one square size: resized before it reached us, so `fit` changed no pixel here and
        # only says how serving should make full-resolution uploads square
        "square_source": square_source(shapes),
        "preprocessing": f"grayscale uint8; {RECIPES[fit]}; bicubic resize",
    }
    with atomic_directory(final) as tmp:
        dataset.save(tmp)
    return PreparedDataset.load(final)


def concat(datasets: list[PreparedDataset]) -> PreparedDataset:
    """Rows of several prepared datasets of the same image size, in order (e.g. real + synthetic)."""
    datasets = [d for d in datasets if len(d)]
    if not datasets:
        raise PneumoganError("nothing to concatenate: every dataset is empty")
    sizes = {d.size for d in datasets}
    if len(sizes) > 1:
        raise PneumoganError(f"cannot mix image sizes {sorted(sizes)}; prepare every source at one size")
    cols = {c: np.concatenate([getattr(d, c) for d in datasets]) for c in _COLUMNS}
    images = np.concatenate([np.asarray(d.images) for d in datasets])
    return PreparedDataset(images=images, meta=datasets[0].meta, root=None, **cols)
