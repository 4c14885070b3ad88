"""Annotated still thermal images: one ``(image, box)`` :class:`Still` per annotated box.

- LLVIP: ``infrared/`` + Pascal VOC ``Annotations/`` (read by
  :func:`~tir_tracker_core.data.paired.load_llvip`; the thermal image of each pair).
- YOLO: ``images/`` + ``labels_yolo/`` or ``labels/``, one ``class cx cy w h`` line per box,
  normalised by the image size.
- Any tracking-sequence layout of :func:`~tir_tracker_core.data.benchmarks.load_sequences`:
  every ``every``-th annotated frame, each taken as a still image.

:func:`load_stills` detects the layout (:func:`detect_still_layout`). Boxes are ``x, y, w, h``
float64 in pixels; only boxes with both sides at least ``min_side`` are kept. A new detection
layout (e.g. COCO JSON) adds its reader here and one branch to both functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from ..errors import DatasetError
from .benchmarks import load_sequences
from .io import IMAGE_EXTENSIONS, YOLO_LABEL_DIRS, read_image
from .paired import load_llvip

__all__ = [
    "YOLO_LABEL_DIRS",
    "Still",
    "StillLayout",
    "detect_still_layout",
    "llvip_stills",
    "load_stills",
    "sequence_stills",
    "yolo_stills",
]

StillLayout = Literal["yolo", "llvip", "sequences"]


class Still(NamedTuple):
    """One annotated box on a still image (the image is shared by the boxes it holds)."""

    image: np.ndarray
    box: np.ndarray  # (4,) float64 x, y, w, h in pixels


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------


def llvip_stills(folder: Path, min_side: float) -> list[Still]:
    """Thermal image and box of every LLVIP VOC box with both sides >= ``min_side``."""
    items = []
    for rec in load_llvip(folder):
        boxes = [b for b in rec.boxes if min(b[2], b[3]) >= min_side]
        if boxes:
            img = rec.tir()
            items += [Still(img, np.asarray(b, np.float64)) for b in boxes]
    return items


def _yolo_label_dir(folder: Path) -> Path | None:
    return next((folder / d for d in YOLO_LABEL_DIRS if (folder / d).is_dir()), None)


def _yolo_image_path(folder: Path, txt: Path) -> Path:
    """``images/<stem>.<image extension>`` of a label file."""
    img_path = next((p for p in sorted((folder / "images").glob(txt.stem + ".*"))
                     if p.suffix.lower() in IMAGE_EXTENSIONS), None)
    if img_path is None:
        raise DatasetError(f"{txt}: no image {txt.stem}.jpg/.png in {folder / 'images'}")
    return img_path


def _yolo_box(fields: list[str], txt: Path, line: int, width: int, height: int) -> np.ndarray:
    """Pixel ``x, y, w, h`` of one ``class cx cy w h`` line (normalised by the image size)."""
    if len(fields) != 5:
        raise DatasetError(f"{txt}:{line}: expected 'class cx cy w h' (normalised), "
                           f"got {len(fields)} fields")
    cx, cy, w, h = (float(v) for v in fields[1:])
    return np.array([(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height])


def yolo_stills(folder: Path, min_side: float, labels: Path | None = None) -> list[Still]:
    """Image and box of every YOLO label line with both sides >= ``min_side``.

    ``labels`` defaults to the first of :data:`YOLO_LABEL_DIRS` under ``folder``; label files
    without lines are skipped (images without objects).
    """
    labels = _yolo_label_dir(folder) if labels is None else labels
    if labels is None:
        raise DatasetError(f"{folder} has none of {', '.join(YOLO_LABEL_DIRS)}; not a YOLO folder")
    items = []
    for txt in sorted(labels.glob("*.txt")):
        rows = [r.split() for r in txt.read_text().splitlines() if r.strip()]
        if not rows:
            continue
        img = read_image(_yolo_image_path(folder, txt))
        h_img, w_img = img.shape[:2]
        for i, fields in enumerate(rows):
            box = _yolo_box(fields, txt, i + 1, w_img, h_img)
            if min(box[2], box[3]) >= min_side:
                items.append(Still(img, box))
    return items


def sequence_stills(folder: Path, min_side: float, every: int) -> list[Still]:
    """Frame and box of every ``every``-th frame of each sequence at ``folder`` (from frame
    0), finite boxes with both sides >= ``min_side`` only."""
    items = []
    for seq in load_sequences(folder):
        for i in range(0, len(seq), every):
            box = np.asarray(seq.gt[i], np.float64)
            if np.isfinite(box).all() and min(box[2], box[3]) >= min_side:
                items.append(Still(seq.frame(i), box))
    return items


# --------------------------------------------------------------------------------------------
# Layout detection
# --------------------------------------------------------------------------------------------


def detect_still_layout(folder: Path) -> StillLayout:
    """``yolo`` (``images/`` + a label folder), ``llvip`` (``Annotations/``), else
    ``sequences`` (left to :func:`~tir_tracker_core.data.benchmarks.detect_layout`)."""
    folder = Path(folder)
    if _yolo_label_dir(folder) is not None and (folder / "images").is_dir():
        return "yolo"
    if (folder / "Annotations").is_dir():
        return "llvip"
    return "sequences"


def _spread(items: list[Still], max_boxes: int | None) -> list[Still]:
    """``max_boxes`` of ``items`` evenly spread over the list (all when ``None`` or 0)."""
    if max_boxes and len(items) > max_boxes:
        keep = np.linspace(0, len(items) - 1, max_boxes).round().astype(int)
        items = [items[i] for i in keep]
    return items


def load_stills(folder: str | Path, min_side: float = 20.0, max_boxes: int | None = None,
                every: int = 15) -> list[Still]:
    """(thermal image, box) :class:`Still` items of an annotated folder, detecting the layout.

    Boxes have both sides at least ``min_side`` px; ``max_boxes`` keeps that many, evenly
    spread. Layouts: LLVIP (``infrared/`` + Pascal VOC ``Annotations/``), YOLO (``images/`` +
    ``labels_yolo/`` or ``labels/``, ``class cx cy w h`` normalised per line), or any
    tracking-sequence layout of ``eval`` (every ``every``-th annotated frame).
    """
    folder = Path(folder)
    layout = detect_still_layout(folder)
    if layout == "yolo":
        items = yolo_stills(folder, min_side)
    elif layout == "llvip":
        items = llvip_stills(folder, min_side)
    else:
        try:
            items = sequence_stills(folder, min_side, max(1, every))
        except DatasetError as e:
            raise DatasetError(f"{folder}: not an annotated image folder (LLVIP: infrared/ + "
                               "Annotations/; YOLO: images/ + labels_yolo/ or labels/) nor a "
                               f"tracking-sequence layout: {e}") from e
    if not items:
        raise DatasetError(f"{folder}: no annotated box with both sides >= {min_side} px; give "
                           "an LLVIP-layout folder (infrared/ + Annotations/), a YOLO one "
                           "(images/ + labels_yolo/ or labels/) or a tracking sequence")
    return _spread(items, max_boxes)
