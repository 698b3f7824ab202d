from __future__ import annotations

import pytest

from pneumogan.data.labels import UNKNOWN, class_folder_labels, patient_id, three_class_label


@pytest.mark.parametrize(
    ("name", "pid"),
    [
        ("person123_bacteria_45.jpeg", "person123"),
        ("person1_virus_6.jpeg", "person1"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("IM-0011-0001-0002.jpeg", "IM-0011"),
        ("NORMAL2-IM-1427-0001.jpeg", "NORMAL2-IM-1427"),
        ("scan-0042.png", "scan"),
        ("whatever.png", "whatever"),
    ],
)
def test_patient_id(name, pid):
    assert patient_id(name) == pid


def test_three_class_label():
    assert three_class_label(0, "IM-0001-0001.jpeg") == 0
    assert three_class_label(1, "person1_bacteria_1.jpeg") == 1
    assert three_class_label(1, "person100_virus_184.jpeg") == 2
    assert three_class_label(1, "mystery.jpeg") == UNKNOWN


def test_class_folders():
    assert class_folder_labels("normal") == (0, 0)
    assert class_folder_labels("PNEUMONIA") == (1, UNKNOWN)
    assert class_folder_labels("VIRAL") == (1, 2)
    assert class_folder_labels("misc") is None
