"""Data sources behind one interface: a list of `Record`s and a way to decode each one.

Sources: a Kaggle "Chest X-Ray Images (Pneumonia)" folder (or a synthetic set in the same layout with a
`manifest.csv`), and a MedMNIST PneumoniaMNIST npz (local file or `pneumoniamnist:SIZE` by name).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from pneumogan.data import labels as lab
from pneumogan.data.decoded import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, DecodedImage
from pneumogan.data.images import read_image
from pneumogan.data.medmnist import fetch_pneumoniamnist, md5_of
from pneumogan.errors import PneumoganError
from pneumogan.layout import SYNTHETIC_MANIFEST

SPLITS: tuple[str, ...] = ("train", "val", "test")
MANIFEST = SYNTHETIC_MANIFEST


@dataclass(frozen=True)
class Record:
    """One image of a source: where it is, which split and class, whose it is, and where it came from."""

    path: str
    split: str
    label: int
    label3: int
    patient_id: str
    provenance: str = "real"


@dataclass(frozen=True)
class StrayFile:
    """A file in a source folder that is not read as an image (listed in reports, never dropped silently)."""

    path: str
    reason: str


class Source(Protocol):
    name: str
    has_patient_ids: bool
    default_fit: str  # how `data.fit=auto` makes this source's images square (data/geometry.py)

    def records(self) -> list[Record]: ...
    def stray_files(self) -> list[StrayFile]: ...
    def load(self, record: Record, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage: ...
    def read_bytes(self, record: Record) -> bytes: ...
    def fingerprint(self) -> str: ...


def _find_kaggle_root(root: Path) -> Path | None:
    """The folder holding split folders: `root` itself, or `chest_xray/` (possibly nested) below it."""
    candidates = [root, root / "chest_xray", root / "chest_xray" / "chest_xray"]
    for cand in candidates:
        if cand.is_dir() and any((cand / s).is_dir() for s in SPLITS):
            return cand
    return None


@dataclass
class KaggleFolderSource:
    """`<root>/{train,val,test}/{NORMAL,PNEUMONIA}/*` — the Kaggle layout, any image format and size.

    A synthetic set written by `pneumogan gan sample` has the same layout plus `manifest.csv`; its
    records get provenance "synthetic".
    """

    root: Path
    name: str = ""
    _stray: list[StrayFile] = field(default_factory=list, repr=False)
    # data.fit=auto: resized copies of X-rays are nearly always plain resizes (Kermany's 224 px set was
    # squeezed), and on full-resolution films a squeeze keeps the lateral lung fields that a crop cuts off
    default_fit: str = "squeeze"

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.name = self.name or str(self.root)

    @property
    def is_synthetic(self) -> bool:
        return (self.root / MANIFEST).is_file()

    @property
    def has_patient_ids(self) -> bool:
        return not self.is_synthetic

    @cached_property
    def _scan(self) -> tuple[list[Record], list[StrayFile]]:
        records: list[Record] = []
        stray: list[StrayFile] = []
        provenance = "synthetic" if self.is_synthetic else "real"
        for split_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            split = split_dir.name.lower()
            if split not in SPLITS:
                continue
            for class_dir in sorted(p for p in split_dir.iterdir()):
                labels = lab.class_folder_labels(class_dir.name)
                if not class_dir.is_dir() or labels is None:
                    stray.append(StrayFile(str(class_dir), "not a class folder (NORMAL/PNEUMONIA)"))
                    continue
                for path in sorted(class_dir.rglob("*")):
                    if path.is_dir():
                        continue
                    if path.suffix.lower() not in IMAGE_SUFFIXES:
                        stray.append(StrayFile(str(path), f"not an image file type ('{path.suffix}')"))
                        continue
                    label, label3 = labels
                    if label3 == lab.UNKNOWN:
                        label3 = lab.three_class_label(label, path.name)
                    pid = lab.patient_id(path.name) if provenance == "real" else f"synthetic:{path.stem}"
                    records.append(Record(str(path), split, label, label3, pid, provenance))
        return records, stray

    def records(self) -> list[Record]:
        return list(self._scan[0])

    def stray_files(self) -> list[StrayFile]:
        return list(self._scan[1])

    def read_bytes(self, record: Record) -> bytes:
        return Path(record.path).read_bytes()

    def load(self, record: Record, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
        return read_image(record.path, max_pixels=max_pixels)

    def fingerprint(self) -> str:
        """Content hash: relative path and MD5 of every file, so renames and edits both change it."""
        digest = hashlib.sha256()
        for rec in self.records():
            rel = Path(rec.path).relative_to(self.root).as_posix()
            digest.update(f"{rel}\0{md5_of(Path(rec.path))}\n".encode())
        return digest.hexdigest()[:16]


@dataclass
class NpzSource:
    """A MedMNIST npz: `{split}_images` (N,H,W) uint8 and `{split}_labels` (N,1). No patient ids."""

    path: Path
    name: str = ""
    has_patient_ids: bool = False
    default_fit: str = "crop"  # data.fit=auto: MedMNIST centre-cropped the originals to the short side

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.name = self.name or str(self.path)

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception as exc:
            raise PneumoganError(f"cannot read npz {self.path}: {exc}") from None

    def records(self) -> list[Record]:
        out: list[Record] = []
        for split in SPLITS:
            key = f"{split}_labels"
            if key not in self.arrays:
                continue
            for i, y in enumerate(np.asarray(self.arrays[key]).reshape(-1)):
                label = int(y)
                out.append(
                    Record(f"{self.path}#{split}/{i}", split, label, 0 if label == 0 else lab.UNKNOWN, f"{split}-{i}")
                )
        if not out:
            raise PneumoganError(f"{self.path} holds no '<split>_labels' arrays; is it a MedMNIST file?")
        return out

    def stray_files(self) -> list[StrayFile]:
        return []

    def _array(self, record: Record) -> np.ndarray:
        split, index = record.path.rsplit("#", 1)[1].split("/")
        return self.arrays[f"{split}_images"][int(index)]

    def read_bytes(self, record: Record) -> bytes:
        return np.ascontiguousarray(self._array(record)).tobytes()

    def load(self, record: Record, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
        return read_image(self._array(record), max_pixels=max_pixels)

    def fingerprint(self) -> str:
        return md5_of(self.path)[:16]


def open_source(spec: str | Path) -> KaggleFolderSource | NpzSource:
    """Resolve a user's data argument: a Kaggle-layout folder, an npz file, or `pneumoniamnist[:SIZE]`."""
    text = str(spec)
    if text.lower().startswith("pneumoniamnist") and not Path(text).exists():
        _, _, size = text.partition(":")
        try:
            px = int(size) if size else 28
        except ValueError:
            raise PneumoganError(f"bad dataset name '{text}': use pneumoniamnist:28|64|128|224") from None
        return NpzSource(fetch_pneumoniamnist(px), name=f"pneumoniamnist:{px}")
    path = Path(text).expanduser()
    if not path.exists():
        raise PneumoganError(f"data source not found: {path}")
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return NpzSource(path)
        raise PneumoganError(f"{path} is a file; expected a Kaggle-layout folder or a MedMNIST .npz")
    root = _find_kaggle_root(path)
    if root is None:
        raise PneumoganError(
            f"no images found in {path}: expected <root>/{{train,val,test}}/{{NORMAL,PNEUMONIA}}/* "
            "or a folder containing chest_xray/"
        )
    source = KaggleFolderSource(root)
    if not source.records():
        raise PneumoganError(f"no images found in {root} (split and class folders are empty)")
    return source


def absolute_source(spec: str | Path) -> str:
    """A local data source as an absolute path (what checkpoints record, so that a model served from another
    folder still finds its data); names such as `pneumoniamnist:28` and missing paths come back unchanged."""
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else str(spec)


def locate_source(recorded: str, recorded_absolute: str | None, near: Path | None = None) -> Path | None:
    """Find a data folder or file a checkpoint names, or None when it is not on this machine.

    Tries the absolute path recorded at training time, the path as written relative to the working directory,
    then relative to `near` (the checkpoint folder) and its parents, where a run folder usually sits beside
    the data the command was started with.
    """
    candidates = [Path(recorded_absolute)] if recorded_absolute else []
    relative = Path(recorded).expanduser()
    candidates.append(relative)
    if near is not None and not relative.is_absolute():
        candidates += [folder / relative for folder in (near, *near.resolve().parents)]
    return next((c for c in candidates if c.exists()), None)
