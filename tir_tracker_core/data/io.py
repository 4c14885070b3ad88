"""File-level reading shared by every dataset reader: images and annotation files; and the
one atomic file writer (:func:`atomic_write_bytes`: tracks files, checkpoints, run state).

- Images: :func:`list_images` / :func:`list_images_recursive` (natural order, ``2.jpg`` before
  ``10.jpg``), :func:`read_image` (8/16-bit kept), :class:`PathFrameLoader`.
- Box files: :func:`read_rows` (numbers separated by commas, tabs, spaces or ``;``),
  :func:`read_boxes` (``x, y, w, h``; corner rows and VOT polygons converted),
  :func:`polygon_to_rect`, :func:`read_voc` (one Pascal VOC XML file).

Nothing here knows a dataset layout; the layout readers (``benchmarks``, ``paired``, ``stills``)
build on these functions. Other frame sources (video files, raw 16-bit CPTV video) live in
``video``: like :class:`PathFrameLoader`, each is a ``loader(i) -> frame`` the layout readers
hand to a sequence. Boxes are ``(x, y, w, h)`` float64 exactly as written in the files
(no 0/1-based shift); corner formats become ``w = x2 - x1`` and ``h = y2 - y1``.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import DatasetError

__all__ = [
    "IMAGE_EXTENSIONS",
    "PathFrameLoader",
    "YOLO_LABEL_DIRS",
    "atomic_write_bytes",
    "list_images",
    "list_images_recursive",
    "polygon_to_rect",
    "read_boxes",
    "read_image",
    "read_rows",
    "read_voc",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

YOLO_LABEL_DIRS: tuple[str, ...] = ("labels_yolo", "labels")
"""Label folders of a YOLO layout, in the order they are looked for next to ``images/``."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, synced and
    renamed into place: a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SPLIT_RE = re.compile(r"[,\s;]+")
_DIGITS_RE = re.compile(r"(\d+)")


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def _natural_key(name: str) -> list[Any]:
    """Sort key ordering embedded numbers by value (``2.jpg`` before ``10.jpg``)."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in _DIGITS_RE.split(name)]


def list_images(folder: Path) -> tuple[Path, ...]:
    """Image files directly in ``folder`` in natural order (``2.jpg`` before ``10.jpg``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist; check the dataset path")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return tuple(sorted(files, key=lambda p: _natural_key(p.name)))


def list_images_recursive(folder: Path) -> list[Path]:
    """Image files anywhere under ``folder``, natural order path part by path part."""
    folder = Path(folder)
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: [_natural_key(q) for q in p.relative_to(folder).parts])


def read_image(path: Path) -> np.ndarray:
    """Read an image unchanged: 8/16-bit mono stays ``HxW``, colour stays ``HxWx3`` BGR.

    A 4-channel image loses its alpha channel (BGRA -> BGR).
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        if not Path(path).is_file():
            raise DatasetError(f"frame {path} does not exist; the sequence folder is incomplete")
        raise DatasetError(
            f"OpenCV cannot decode {path}; the file is corrupt or not an image "
            f"(supported: {', '.join(IMAGE_EXTENSIONS)})"
        )
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return image


@dataclass(frozen=True)
class PathFrameLoader:
    """Frame loader over a list of image files (``loader(i)`` reads ``paths[i]``)."""

    paths: tuple[Path, ...]

    def __call__(self, index: int) -> np.ndarray:
        return read_image(self.paths[index])

    def __len__(self) -> int:
        return len(self.paths)


# --------------------------------------------------------------------------------------------
# Annotation files
# --------------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[list[float]]:
    """Numeric rows of a text file (values separated by commas, tabs, spaces or ``;``).

    Trailing blank lines are ignored; a blank line inside the file or a non-numeric value is a
    :class:`DatasetError` naming the file and line.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise DatasetError(f"cannot read annotation file {path}: {exc}") from exc
    rows: list[list[float]] = []
    lines = text.strip().splitlines()
    for lineno, line in enumerate(lines, start=1):
        tokens = [tok for tok in _SPLIT_RE.split(line.strip()) if tok]
        if not tokens:
            raise DatasetError(
                f"{path}:{lineno} is empty inside the file; every frame needs one row "
                "(remove the blank line or write NaN values for an unannotated frame)"
            )
        try:
            rows.append([float(tok) for tok in tokens])
        except ValueError:
            raise DatasetError(
                f"{path}:{lineno} has a non-numeric value: {line.strip()!r}; expected numbers "
                "separated by commas, tabs or spaces"
            ) from None
    return rows


def polygon_to_rect(polygons: np.ndarray) -> np.ndarray:
    """Axis-aligned min/max boxes ``(x, y, w, h)`` of ``(N, 2k)`` polygons ``x1,y1,x2,y2,...``."""
    polygons = np.asarray(polygons, dtype=np.float64)
    if polygons.ndim != 2 or polygons.shape[1] % 2 or polygons.shape[1] < 4:
        raise DatasetError(f"polygons must be (N, 2k) with k >= 2, got shape {polygons.shape}")
    xs, ys = polygons[:, 0::2], polygons[:, 1::2]
    x0, y0 = xs.min(axis=1), ys.min(axis=1)
    return np.stack([x0, y0, xs.max(axis=1) - x0, ys.max(axis=1) - y0], axis=1)


def read_boxes(path: Path, *, corners: bool = False, allow_polygons: bool = False) -> np.ndarray:
    """Read a ground-truth text file as an ``(N, 4)`` float64 array of ``(x, y, w, h)``.

    Args:
        path: text file, one row per frame, values separated by commas, tabs or spaces.
        corners: rows are ``x1 y1 x2 y2`` (GTOT); converted to ``w = x2 - x1``, ``h = y2 - y1``.
        allow_polygons: rows may hold 8 values (VOT polygons), converted with
            :func:`polygon_to_rect`; 4-value rows in the same file are kept as rectangles.
    """
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise DatasetError(f"annotation file {path} is empty; expected one box per frame")
    out = np.empty((len(rows), 4), dtype=np.float64)
    for i, row in enumerate(rows):
        if len(row) == 4:
            out[i] = row
        elif allow_polygons and len(row) >= 6 and len(row) % 2 == 0:
            out[i] = polygon_to_rect(np.asarray([row]))[0]
        else:
            expected = "4 values (x,y,w,h) or 8 values (polygon)" if allow_polygons else "4 values"
            raise DatasetError(
                f"{path}:{i + 1} has {len(row)} values, expected {expected}"
                + ("; VOT segmentation masks are not supported" if allow_polygons else "")
            )
    if corners:
        out[:, 2] -= out[:, 0]
        out[:, 3] -= out[:, 1]
    return out


def read_voc(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Boxes ``(K, 4)`` ``x, y, w, h`` and class names of one Pascal VOC XML file.

    ``xmin, ymin, xmax, ymax`` become ``x = xmin, y = ymin, w = xmax - xmin, h = ymax - ymin``.
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise DatasetError(f"cannot parse Pascal VOC annotation {path}: {exc}") from exc
    boxes: list[list[float]] = []
    labels: list[str] = []
    for obj in root.iter("object"):
        bnd = obj.find("bndbox")
        if bnd is None:
            raise DatasetError(f"{path}: an <object> has no <bndbox>")
        try:
            x1, y1, x2, y2 = (float(bnd.findtext(k, "")) for k in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError:
            raise DatasetError(
                f"{path}: a <bndbox> has a missing or non-numeric coordinate"
            ) from None
        boxes.append([x1, y1, x2 - x1, y2 - y1])
        labels.append((obj.findtext("name") or "").strip())
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), tuple(labels)
