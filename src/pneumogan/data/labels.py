"""Class names, and what Kaggle file names tell us: patient id and pneumonia subtype."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Protocol

import numpy as np

BINARY_CLASSES: tuple[str, ...] = ("NORMAL", "PNEUMONIA")
THREE_CLASSES: tuple[str, ...] = ("NORMAL", "BACTERIAL", "VIRAL")
UNKNOWN = -1


def class_names(num_classes: int) -> list[str]:
    """The classes a model with `num_classes` outputs predicts, in output order."""
    return list(BINARY_CLASSES if num_classes == 2 else THREE_CLASSES)


class LabelledRows(Protocol):
    """Rows with binary and 3-class labels (`prepare.PreparedDataset`; described here, since prepare imports this
    module)."""

    labels: np.ndarray
    labels3: np.ndarray

    def __len__(self) -> int: ...


def targets(ds: LabelledRows, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels for the task and the mask of rows that have one (3-class needs a known subtype)."""
    if num_classes == 2:
        return ds.labels.astype(np.int64), np.ones(len(ds), bool)
    return ds.labels3.astype(np.int64), ds.labels3 >= 0


_PERSON = re.compile(r"^(person\d+)_", re.IGNORECASE)
# `IM-0115-0001` and `IM-0011-0001-0002` belong to patient `IM-0115` / `IM-0011`; NORMAL2- is a
# second numbering of normal studies, so it stays part of the id.
_IM = re.compile(r"^((?:NORMAL2-)?IM-\d+)", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(r"-\d+$")


def patient_id(filename: str) -> str:
    """Patient id encoded in a Kermany file name; the file stem when the pattern is unknown.

    >>> patient_id("person123_bacteria_45.jpeg"), patient_id("NORMAL2-IM-1427-0001.jpeg")
    ('person123', 'NORMAL2-IM-1427')
    """
    stem = PurePath(filename).stem
    match = _PERSON.match(stem) or _IM.match(stem)
    if match:
        return match.group(1)
    return _TRAILING_NUMBER.sub("", stem) or stem


def three_class_label(binary_label: int, filename: str) -> int:
    """0 NORMAL, 1 BACTERIAL, 2 VIRAL from the binary label and the `_bacteria_`/`_virus_` file-name tag."""
    if binary_label == 0:
        return 0
    name = PurePath(filename).name.lower()
    if "_bacteria_" in name:
        return 1
    if "_virus_" in name:
        return 2
    return UNKNOWN


def class_folder_labels(folder: str) -> tuple[int, int] | None:
    """(binary, 3-class) labels implied by a class folder name; None when it is not a class folder.

    NORMAL/PNEUMONIA is the Kaggle layout; BACTERIAL/VIRAL folders appear in 3-class synthetic sets.
    """
    return {
        "NORMAL": (0, 0),
        "PNEUMONIA": (1, UNKNOWN),
        "BACTERIAL": (1, 1),
        "VIRAL": (1, 2),
    }.get(folder.upper())
