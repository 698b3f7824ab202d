"""Image regions as fractions of the image side, shared by the shortcut checks and the border blanking."""

from __future__ import annotations

Box = tuple[float, float, float, float]  # row0, row1, col0, col1 as fractions of the side

# The central thoracic region: rows 10–90 %, columns 10–90 % (a square crop of a PA film with the neck,
# shoulders and abdomen edges excluded).
THORAX_BOX: Box = (0.10, 0.90, 0.10, 0.90)


def centre_box(border: float) -> Box:
    """The box left when `border` of the side is taken off each edge."""
    return (border, 1.0 - border, border, 1.0 - border)


def box_slices(shape: tuple[int, ...], box: Box = THORAX_BOX) -> tuple[slice, slice]:
    """Row and column slices of a fractional box in an image of `shape` (…, H, W)."""
    h, w = shape[-2:]
    return slice(int(box[0] * h), round(box[1] * h)), slice(int(box[2] * w), round(box[3] * w))
