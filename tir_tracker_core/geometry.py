"""Box and crop geometry: the one home of every box convention and crop rule.

Conventions, used by the runtime, training, calibration and evaluation alike:

- A box is ``(x, y, w, h)`` in pixels, ``(x, y)`` the top-left corner.
- Its centre is ``(x + (w - 1) / 2, y + (h - 1) / 2)`` (pysot's and the LSOTB-TIR toolkit's
  pixel convention: pixel ``i`` covers ``[i - 0.5, i + 0.5)``).
- A crop of side ``side`` centred on ``(cx, cy)`` is pysot's ``get_subwindow``: the window
  starts at the integer pixel ``floor(cx - (side + 1) / 2 + 0.5)``, is resized bilinearly to
  ``out x out``, and pixels outside the image take a padding colour. ``crop`` and
  ``crop_batch`` do this as one affine warp, and ``box_in_crop`` / ``crop_to_image`` map
  coordinates with the same transform, so a training crop and a runtime crop of the same box
  are the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .errors import InvalidBoxError

__all__ = [
    "box_center",
    "box_from_center",
    "box_in_crop",
    "box_iou",
    "box_iou_xywh",
    "context_side",
    "context_sides",
    "crop",
    "crop_batch",
    "crop_transform",
    "mean_colour",
    "pysot_box",
    "validate_box",
    "warp",
]


# --------------------------------------------------------------------------- boxes


def box_center(box: Sequence[float]) -> np.ndarray:
    """Centre ``(cx, cy)`` of an ``(x, y, w, h)`` box, pysot's pixel convention."""
    return np.array([box[0] + (box[2] - 1) / 2, box[1] + (box[3] - 1) / 2])


def box_from_center(center: Sequence[float],
                    size: Sequence[float]) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` of the box with centre ``center`` (``box_center``'s convention) and
    size ``(w, h)``."""
    return (float(center[0] - (size[0] - 1) / 2), float(center[1] - (size[1] - 1) / 2),
            float(size[0]), float(size[1]))


def pysot_box(center: Sequence[float],
              size: Sequence[float]) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` as pysot, NanoTrack's tracker and OpenCV's TrackerNano report a target
    at ``center`` (``box_center``'s convention): ``x = cx - w / 2``, half a pixel up-left of
    ``box_from_center`` (``TrackerConfig.pysot_report``)."""
    return (float(center[0] - size[0] / 2), float(center[1] - size[1] / 2),
            float(size[0]), float(size[1]))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every ``(x1, y1, x2, y2)`` box in ``a`` (M, 4) with every one in ``b`` (K, 4)."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``x, y, w, h`` boxes ``(..., 4)``, element-wise (broadcasting); 0 where the
    union is empty or a box is ``NaN``."""
    iw = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    ih = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    with np.errstate(invalid="ignore"):
        ok = union > 0
    return np.divide(inter, union, out=np.zeros_like(inter), where=ok)


def _plain(values: np.ndarray) -> str:
    """``(1, 2.5, 3, 4)``: numbers as a person writes them (no numpy reprs)."""
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


def validate_box(box: Sequence[float], width: int, height: int) -> np.ndarray:
    """Check one ``(x, y, w, h)`` box against a ``width x height`` image; returns it clipped to
    the image. Raises ``InvalidBoxError`` with a one-line reason and fix."""
    try:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidBoxError(f"box {box!r} is not 4 numbers (x, y, w, h)") from None
    if b.size != 4:
        raise InvalidBoxError(f"box {_plain(b)} has {b.size} values; give 4 values (x, y, w, h)")
    if not np.all(np.isfinite(b)):
        raise InvalidBoxError(f"box {_plain(b)} contains NaN or inf; give finite pixel values")
    x, y, w, h = b
    if w <= 0 or h <= 0:
        raise InvalidBoxError(f"box {_plain(b)} has zero or negative size; w and h must be > 0")
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, float(width)), min(y + h, float(height))
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise InvalidBoxError(f"box {_plain(b)} lies outside the {width}x{height} image; give a "
                              "box that overlaps the image by at least one pixel")
    return np.array([x1, y1, x2 - x1, y2 - y1])


# --------------------------------------------------------------------------- context


def context_sides(sizes: np.ndarray, context_amount: float, zoom: float = 1.0) -> np.ndarray:
    """Template-crop side of each ``(w, h)`` row of ``sizes`` (N, 2): the side of the square
    with the area of the box padded by ``context_amount * (w + h)`` on each axis, divided by
    ``zoom`` (``ModelConfig.zoom``: a network at zoom < 1 sees its crops at lower resolution)."""
    sizes = np.asarray(sizes, np.float64)
    pad = context_amount * sizes.sum(-1, keepdims=True)
    return np.sqrt(np.prod(sizes + pad, -1)) / zoom


def context_side(w: float, h: float, context_amount: float, zoom: float = 1.0) -> float:
    """``context_sides`` for one ``w x h`` target."""
    p = context_amount * (w + h)
    return math.sqrt((w + p) * (h + p)) / zoom


# --------------------------------------------------------------------------- crops


def mean_colour(img: np.ndarray) -> tuple[float, ...]:
    """Per-channel mean of an ``H x W x C`` image: the padding colour of crops (pysot)."""
    return tuple(float(v) for v in img.reshape(-1, img.shape[2]).mean(0))


def crop_transform(cx: float, cy: float, side: float, out: int,
                   stretch: float = 1.0) -> np.ndarray:
    """The 2x3 affine map from image pixels to crop pixels of ``crop``.

    The window is ``side / stretch`` wide and ``side * stretch`` high (square when
    ``stretch == 1``), starts at the integer pixel that centres it best on ``(cx, cy)`` (its
    middle, :func:`window_centers`, lies within half a pixel of it) and is resized to
    ``out x out``; so the crop shows the scene stretched by ``stretch`` in x and ``1 / stretch``
    in y. (pysot's ``get_subwindow`` starts at ``floor(c - (side + 1) / 2 + 0.5)``, which
    centres the window 0.5-1.5 px before ``c``; decoding offsets from ``c`` then shifts every
    estimate by about 0.75 px, a fifth of the IoU of a 10 px target.)
    """
    m = np.zeros((2, 3), np.float64)
    for axis, (c, sz) in enumerate(((cx, side / stretch), (cy, side * stretch))):
        start = math.floor(c - (sz - 1) / 2 + 0.5)
        s = out / sz
        m[axis, axis] = s
        m[axis, 2] = s * (0.5 - start) - 0.5
    return m


def window_centers(centers: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """Image point at the middle of each square ``crop`` window of side ``sides[i]`` asked for
    around ``centers[i]`` (N, 2): the point a crop's centre pixel shows, so the origin of
    offsets measured in the crop."""
    sz = np.asarray(sides, np.float64).reshape(-1, 1)
    return np.floor(np.asarray(centers, np.float64) - (sz - 1) / 2 + 0.5) + (sz - 1) / 2


def crop(img: np.ndarray, cx: float, cy: float, side: float, out: int,
         pad: Sequence[float], stretch: float = 1.0) -> np.ndarray:
    """``out x out`` crop (``H x W x C``, the image's dtype) of ``side`` image pixels centred on
    ``(cx, cy)``; pixels outside the image take the colour ``pad``."""
    return warp(img, crop_transform(cx, cy, side, out, stretch), out, out, pad)


def warp(img: np.ndarray, m: np.ndarray, width: int, height: int,
         pad: Sequence[float]) -> np.ndarray:
    """``height x width`` picture of ``img`` through the 2x3 affine map ``m`` (image pixels ->
    picture pixels), bilinear; pixels from outside the image take the colour ``pad``. The one
    warp behind every crop and every shared search canvas."""
    return cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(pad))


def crop_batch(img: np.ndarray, centers: np.ndarray, sides: np.ndarray, out: int,
               pads: Sequence[Sequence[float]]) -> np.ndarray:
    """``crop`` of every target: (N, C, out, out) float32 for an ``H x W x C`` image."""
    n = len(centers)
    batch = np.empty((n, img.shape[2], out, out), np.float32)
    for i in range(n):
        c = crop(img, centers[i][0], centers[i][1], float(sides[i]), out, pads[i])
        batch[i] = c.reshape(out, out, -1).transpose(2, 0, 1)
    return batch


def box_in_crop(box: Sequence[float], cx: float, cy: float, side: float, out: int,
                stretch: float = 1.0) -> np.ndarray:
    """``(x, y, w, h)`` image box -> ``(x1, y1, x2, y2)`` in the pixels of ``crop(img, cx, cy,
    side, out, pad, stretch)`` (float32)."""
    m = crop_transform(cx, cy, side, out, stretch)
    bcx, bcy = box_center(box)
    ccx, ccy = m[0, 0] * bcx + m[0, 2], m[1, 1] * bcy + m[1, 2]
    w, h = m[0, 0] * box[2], m[1, 1] * box[3]
    return np.array([ccx - w / 2, ccy - h / 2, ccx + w / 2, ccy + h / 2], np.float32)
