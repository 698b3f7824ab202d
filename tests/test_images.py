from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from tests.corpus import BAD_CORPUS_EXPECTED, jpeg_bytes, write_bad_corpus, xray_like

from pneumogan.data.decoded import OVERSIZED, scale_to_uint8
from pneumogan.data.images import read_image
from pneumogan.errors import ImageReadError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_bad_corpus(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("name", sorted(BAD_CORPUS_EXPECTED))
def test_bad_corpus_outcomes(corpus, name):
    expected = BAD_CORPUS_EXPECTED[name]
    if expected == "converted":
        img = read_image(corpus[name])
        assert img.array.dtype == np.uint8 and img.array.ndim == 2
        assert img.notes, "a conversion must be recorded"
        assert img.array.std() > 10  # content survived the conversion
    else:
        with pytest.raises(ImageReadError) as info:
            read_image(corpus[name])
        assert info.value.reason == expected


def test_sixteen_bit_keeps_relative_intensities(corpus):
    img = read_image(corpus["sixteen.png"])
    ref = read_image(corpus["rgba.png"])  # same base image, stored as 8-bit RGBA
    corr = np.corrcoef(img.array.ravel().astype(float), ref.array.ravel().astype(float))[0, 1]
    assert corr > 0.99
    assert "16" in img.notes[0]


def test_pixel_limit_is_configurable():
    data = jpeg_bytes(xray_like(100))
    assert read_image(data).array.shape == (100, 100)
    with pytest.raises(ImageReadError) as info:
        read_image(data, max_pixels=5_000)
    assert info.value.reason == OVERSIZED and "10,000" in info.value.detail


def test_rgb_jpeg_becomes_gray_without_note():
    arr = xray_like(32)
    img = read_image(jpeg_bytes(arr, mode="RGB"))
    assert img.mode == "RGB" and img.notes == []
    assert np.abs(img.array.astype(int) - arr.astype(int)).mean() < 6  # JPEG loss only


def test_array_and_pil_inputs():
    arr = xray_like(20)
    assert np.array_equal(read_image(arr).array, arr)
    assert np.array_equal(read_image(Image.fromarray(arr)).array, arr)
    float_img = read_image(arr.astype(np.float32) / 255.0)
    assert float_img.array.max() == 255 and float_img.notes
    with pytest.raises(ImageReadError):
        read_image(np.zeros((2, 3, 4, 5)))


def test_missing_path_is_a_read_error(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.png")


def test_scale_to_uint8():
    out = scale_to_uint8(np.array([10.0, 20.0, 30.0, 60.0]))
    assert out.tolist() == [0, 51, 102, 255]
    assert scale_to_uint8(np.array([5.0, 5.0])).tolist() == [0, 0]
    assert scale_to_uint8(np.array([-5.0, 20.0, 400.0]), 0, 100).tolist() == [0, 51, 255]
