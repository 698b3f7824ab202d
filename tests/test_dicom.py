from __future__ import annotations

import numpy as np
import pytest
from tests.dicom_factory import make_dicom

from pneumogan.data.dicom import NO_PIXEL_DATA, UNSUPPORTED_COMPRESSION
from pneumogan.data.images import read_image
from pneumogan.errors import ImageReadError


def ramp(rows: int = 8, cols: int = 32, top: int = 4095) -> np.ndarray:
    return np.tile(np.linspace(0, top, cols).astype(np.uint16), (rows, 1))


def test_monochrome2_12bit_maps_full_range(tmp_path):
    img = read_image(make_dicom(tmp_path / "a.dcm", ramp()))
    row = img.array[0].astype(int)
    assert img.format == "DICOM" and row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row) >= 0)  # brighter stays brighter


def test_monochrome1_is_inverted(tmp_path):
    m2 = read_image(make_dicom(tmp_path / "m2.dcm", ramp())).array
    m1 = read_image(make_dicom(tmp_path / "m1.dcm", ramp(), photometric="MONOCHROME1"))
    assert np.array_equal(m1.array, 255 - m2)
    assert any("MONOCHROME1 inverted" in n for n in m1.notes)


def test_window_is_applied(tmp_path):
    pixels = np.array([[0, 1000, 1500, 2000, 4095]], dtype=np.uint16)
    img = read_image(make_dicom(tmp_path / "w.dcm", pixels, window=(1500, 1000)))
    values = img.array[0].astype(int).tolist()
    assert values[0] == 0 and values[1] == 0  # below the window
    assert values[3] == 255 and values[4] == 255  # above the window
    assert 100 < values[2] < 155  # the centre lands mid-grey
    assert any("window" in n for n in img.notes)


def test_any_bit_depth(tmp_path):
    for bits in (8, 10, 16):
        top = 2**bits - 1
        img = read_image(make_dicom(tmp_path / f"b{bits}.dcm", ramp(top=top), bits_stored=bits))
        assert img.array.min() == 0 and img.array.max() == 255


def test_missing_pixel_data(tmp_path):
    with pytest.raises(ImageReadError) as info:
        read_image(make_dicom(tmp_path / "empty.dcm", None))
    assert info.value.reason == NO_PIXEL_DATA


def test_compressed_transfer_syntax_is_a_clear_error(tmp_path):
    with pytest.raises(ImageReadError) as info:
        read_image(make_dicom(tmp_path / "jls.dcm", ramp(), compressed=True))
    assert info.value.reason == UNSUPPORTED_COMPRESSION
    assert "JPEG-LS" in info.value.detail and "1.2.840.10008.1.2.4.80" in info.value.detail


def test_dicom_detected_by_magic_without_suffix(tmp_path):
    path = make_dicom(tmp_path / "noext", ramp())
    assert read_image(path.read_bytes()).format == "DICOM"
