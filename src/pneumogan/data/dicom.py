"""Read a DICOM radiograph into the same grayscale uint8 form as every other image.

Order of operations follows the DICOM standard's grayscale pipeline: modality LUT (rescale slope and
intercept) → VOI LUT or window centre/width when present → MONOCHROME1 inversion → linear map of the
output range to 0..255. Any bit depth ends up in the range the models expect.
"""

from __future__ import annotations

import io

import numpy as np

from pneumogan.data.decoded import (
    MULTI_FRAME,
    NOT_IMAGE,
    DecodedImage,
    channel_spread,
    check_pixels,
    scale_to_uint8,
)
from pneumogan.errors import ImageReadError

NO_PIXEL_DATA = "DICOM without pixel data"
UNSUPPORTED_COMPRESSION = "unsupported DICOM compression"
BAD_DICOM = "unreadable DICOM"


def read_dicom(data: bytes, max_pixels: int) -> DecodedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except InvalidDicomError as exc:
        raise ImageReadError(NOT_IMAGE, f"not a DICOM file: {exc}") from None
    except Exception as exc:
        raise ImageReadError(BAD_DICOM, f"{type(exc).__name__}: {exc}") from None
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise ImageReadError(NO_PIXEL_DATA, "the file has no PixelData element")
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    check_pixels(cols, rows, max_pixels)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageReadError(MULTI_FRAME, f"{frames} frames in a DICOM; expected a single radiograph")

    tsuid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        if tsuid is not None and tsuid.is_compressed:
            raise ImageReadError(
                UNSUPPORTED_COMPRESSION,
                f"transfer syntax '{tsuid.name}' ({tsuid}) cannot be decoded here; install a pydicom "
                "pixel-data plugin for it (e.g. pylibjpeg with its JPEG/JPEG-LS/JPEG 2000 plugins) or "
                "export the image uncompressed",
            ) from None
        raise ImageReadError(BAD_DICOM, f"pixel data cannot be read: {type(exc).__name__}: {exc}") from None

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
    notes = [f"DICOM {photometric}, {bits}-bit"]
    if pixels.ndim == 3:  # colour DICOM (RGB/YBR): average to gray; rare for radiographs
        notes.append("colour DICOM averaged to grayscale")
        values = np.asarray(pixels, dtype=np.float64).mean(axis=-1)
        return _decoded(scale_to_uint8(values), ds, notes, channel_spread(scale_to_uint8(pixels)))

    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    has_voi = "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds)
    if has_voi:
        values = np.asarray(apply_voi_lut(values, ds, index=0), dtype=np.float64)
        notes.append("VOI LUT / window applied")
        # pydicom maps a window onto the stored bit range; map that range, not the data's min–max,
        # so the window chosen by the modality is what the model sees.
        low, high = _voi_output_range(ds, bits)
    else:
        low, high = float(values.min()), float(values.max())
    gray = scale_to_uint8(values, low, high)
    if photometric == "MONOCHROME1":  # high values are dark in MONOCHROME1
        gray = 255 - gray
        notes.append("MONOCHROME1 inverted")
    return _decoded(gray, ds, notes)


def _voi_output_range(ds, bits: int) -> tuple[float, float]:
    if "VOILUTSequence" in ds:
        item = ds.VOILUTSequence[0]
        lut_bits = int(item.LUTDescriptor[2])
        return 0.0, float(2**lut_bits - 1)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def _decoded(gray: np.ndarray, ds, notes: list[str], colour: float = 0.0) -> DecodedImage:
    view = str(ds.get("ViewPosition", "") or "").strip()
    return DecodedImage(
        array=np.ascontiguousarray(gray),
        mode=str(ds.get("PhotometricInterpretation", "")),
        width=int(gray.shape[1]),
        height=int(gray.shape[0]),
        format="DICOM",
        notes=notes,
        colour=colour,
        view_position=view or None,
    )
