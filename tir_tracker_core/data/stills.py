"""Annotated still thermal images: detection records and ``(image, box)`` stills.

Detection records (:class:`AnnotatedImage`: image path, ``(K, 4)`` boxes, class names), usable
as training data, from :func:`load_detections`:

- COCO JSON: ``images`` (``file_name``, or HIT-UAV's ``filename``), boxes under ``annotations``
  (or HIT-UAV's ``annotation``), ``categories`` for the names; ``iscrowd`` boxes dropped. A
  folder of such files (``annotations/{val,test}.json``) gives the records of all, named
  ``<json stem>/<file name>``; images are looked for beside the JSON, in ``images/``, and in
  ``../<json stem>/`` (HIT-UAV ``val/``, COCO ``val2017/`` for ``instances_val2017.json``).
- YOLO: ``images/`` + ``labels_yolo/`` or ``labels/``, one ``class cx cy w h`` line per box,
  normalised by the image size; names from ``classes.txt`` / ``obj.names`` when present.
- Pascal VOC: ``Annotations/*.xml`` + ``JPEGImages/`` or ``images/``; LLVIP (``infrared/`` +
  ``Annotations/``, read by :func:`~tir_tracker_core.data.paired.load_llvip`) gives its thermal
  images.

``(image, box)`` :class:`Still` items (for ``probe``) from :func:`load_stills`: one per box of
the records above with both sides at least ``min_side`` and a class not in
:data:`IGNORED_CLASSES`, or from any tracking-sequence layout of
:func:`~tir_tracker_core.data.benchmarks.load_sequences`: every ``every``-th annotated frame,
each taken as a still image. Only the images of the boxes kept are read.

:func:`detect_still_layout` names the layout. Boxes are ``x, y, w, h`` float64 in pixels. A new
detection layout adds its reader here and one branch to :func:`detect_still_layout` and
:func:`load_detections`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np

from ..errors import DatasetError
from .benchmarks import load_sequences
from .io import IMAGE_EXTENSIONS, YOLO_LABEL_DIRS, read_image, read_voc
from .paired import load_llvip

logger = logging.getLogger(__name__)

__all__ = [
    "COCO_ANNOTATION_KEYS",
    "IGNORED_CLASSES",
    "YOLO_LABEL_DIRS",
    "AnnotatedImage",
    "Still",
    "StillLayout",
    "coco_images",
    "detect_still_layout",
    "llvip_stills",
    "load_detections",
    "load_stills",
    "sequence_stills",
    "voc_images",
    "yolo_images",
    "yolo_stills",
]

StillLayout = Literal["coco", "yolo", "voc", "llvip", "sequences"]

COCO_ANNOTATION_KEYS: tuple[str, ...] = ("annotations", "annotation")
"""Keys of a COCO JSON's box list: the standard one, and HIT-UAV's."""

IGNORED_CLASSES: frozenset[str] = frozenset({"dontcare", "ignore", "ignored", "ignored regions"})
"""Class names (lower case) that mark regions to ignore, not objects; never made into stills."""

_VOC_IMAGE_DIRS: tuple[str, ...] = ("JPEGImages", "images", "infrared")
_YOLO_NAME_FILES: tuple[str, ...] = ("classes.txt", "obj.names")


class Still(NamedTuple):
    """One annotated box on a still image (the image is shared by the boxes it holds)."""

    image: np.ndarray
    box: np.ndarray  # (4,) float64 x, y, w, h in pixels


@dataclass(frozen=True, eq=False)
class AnnotatedImage:
    """One still image and its boxes (a detection record).

    Attributes:
        name: image name, prefixed by its split when several annotation files are read.
        path: the image file.
        boxes: ``(K, 4)`` float64 ``x, y, w, h`` in pixels; ``(0, 4)`` for an image without
            objects.
        labels: class name per box.
    """

    name: str
    path: Path
    boxes: np.ndarray
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        boxes = np.array(self.boxes, dtype=np.float64, copy=True).reshape(-1, 4)
        boxes.setflags(write=False)
        object.__setattr__(self, "boxes", boxes)
        if len(self.labels) != len(boxes):
            raise DatasetError(
                f"annotated image {self.name!r}: {len(self.labels)} labels for {len(boxes)} boxes"
            )

    def image(self) -> np.ndarray:
        """The image as stored (8/16-bit kept)."""
        return read_image(self.path)


# --------------------------------------------------------------------------------------------
# COCO JSON
# --------------------------------------------------------------------------------------------


def _coco_key(data: Any) -> str | None:
    """The box-list key of a COCO-style dict, or ``None`` if ``data`` is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        return None
    return next((k for k in COCO_ANNOTATION_KEYS if isinstance(data.get(k), list)), None)


def _read_coco(path: Path) -> tuple[dict[str, Any], str]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read COCO annotation file {path}: {exc}") from exc
    key = _coco_key(data)
    if key is None:
        raise DatasetError(
            f"{path} is not a COCO-style annotation file: expected an 'images' list and an "
            f"{' or '.join(repr(k) for k in COCO_ANNOTATION_KEYS)} list"
        )
    return data, key


def _coco_file_name(entry: dict[str, Any], path: Path) -> str:
    name = entry.get("file_name", entry.get("filename"))
    if not isinstance(name, str):
        raise DatasetError(f"{path}: image entry {entry.get('id')!r} has no file_name")
    return name


def _coco_image_root(json_path: Path, first: str) -> Path:
    """First folder holding the first image: beside the JSON, ``images/``, ``../<stem>/``..."""
    base, up = json_path.parent, json_path.parent.parent
    stem = json_path.stem
    short = stem.removeprefix("instances_")
    candidates = [base, base / "images", up / stem, up / short, up / "images" / stem,
                  up / "images" / short, up / "images", up]
    found = next((c for c in candidates if (c / first).is_file()), None)
    if found is None:
        raise DatasetError(
            f"images of {json_path} not found: looked for {first!r} in "
            + ", ".join(str(c) for c in dict.fromkeys(candidates))
            + "; pass image_root= to point at the image folder"
        )
    return found


def coco_images(
    json_path: Path, image_root: Path | None = None, prefix: str = ""
) -> list[AnnotatedImage]:
    """Detection records of a COCO-style JSON file (see the module notes); every image, with
    ``(0, 4)`` boxes when it has none. ``prefix`` is put before each image name."""
    json_path = Path(json_path)
    data, key = _read_coco(json_path)
    names = {c.get("id"): str(c.get("name", c.get("id"))) for c in data.get("categories", [])}
    entries = data["images"]
    if not entries:
        return []
    root = image_root or _coco_image_root(json_path, _coco_file_name(entries[0], json_path))
    by_image: dict[Any, list[dict[str, Any]]] = {}
    crowd = 0
    for ann in data[key]:
        if ann.get("iscrowd"):
            crowd += 1
            continue
        by_image.setdefault(ann.get("image_id"), []).append(ann)
    if crowd:
        logger.debug("%s: %d crowd boxes dropped", json_path, crowd)
    records, missing = [], []
    for entry in entries:
        file_name = _coco_file_name(entry, json_path)
        path = root / file_name
        if not path.is_file():
            missing.append(file_name)
            continue
        anns = by_image.pop(entry.get("id"), [])
        boxes = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        labels = tuple(names.get(a.get("category_id"), str(a.get("category_id"))) for a in anns)
        records.append(AnnotatedImage(prefix + file_name, path, boxes, labels))
    if missing:
        raise DatasetError(f"{json_path}: {len(missing)} of {len(entries)} images are missing "
                           f"under {root} (first: {missing[0]})")
    if by_image:
        logger.warning("%s: boxes of %d image ids with no 'images' entry are ignored",
                       json_path, len(by_image))
    return records


def _coco_files(folder: Path) -> list[Path]:
    """COCO-style JSON files in ``folder`` and ``folder/annotations``."""
    out = []
    for path in sorted([*folder.glob("*.json"), *(folder / "annotations").glob("*.json")]):
        try:
            if _coco_key(json.loads(path.read_text())) is not None:
                out.append(path)
        except (OSError, json.JSONDecodeError):
            continue
    return out


def _coco_records(path: Path) -> list[AnnotatedImage]:
    if path.is_file():
        return coco_images(path)
    files = _coco_files(path)
    if len(files) == 1:
        return coco_images(files[0])
    return [rec for f in files for rec in coco_images(f, prefix=f"{f.stem}/")]


# --------------------------------------------------------------------------------------------
# YOLO and Pascal VOC folders
# --------------------------------------------------------------------------------------------


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
    try:
        cx, cy, w, h = (float(v) for v in fields[1:])
    except ValueError:
        raise DatasetError(f"{txt}:{line}: non-numeric value in {' '.join(fields)!r}") from None
    return np.array([(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height])


def _yolo_class_names(folder: Path) -> list[str]:
    path = next((folder / n for n in _YOLO_NAME_FILES if (folder / n).is_file()), None)
    return [] if path is None else [ln.strip() for ln in path.read_text().splitlines()
                                    if ln.strip()]


def _image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of an image file."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        read_image(path)  # raises the DatasetError naming the problem
    return image.shape[:2]


def yolo_images(folder: Path, labels: Path | None = None) -> list[AnnotatedImage]:
    """Detection records of a YOLO folder (``images/`` + ``labels_yolo/`` or ``labels/``).

    ``labels`` defaults to the first of :data:`YOLO_LABEL_DIRS` under ``folder``. An empty label
    file is an image without objects (skipped when the image is absent). Class names come from
    ``classes.txt`` / ``obj.names`` when present, else the class number as text. Each image is
    read once for its size.
    """
    folder = Path(folder)
    labels = _yolo_label_dir(folder) if labels is None else labels
    if labels is None:
        raise DatasetError(f"{folder} has none of {', '.join(YOLO_LABEL_DIRS)}; not a YOLO folder")
    names = _yolo_class_names(folder)
    records = []
    for txt in sorted(labels.glob("*.txt")):
        rows = [r.split() for r in txt.read_text().splitlines() if r.strip()]
        try:
            img_path = _yolo_image_path(folder, txt)
        except DatasetError:
            if rows:
                raise
            continue  # an empty label file without its image: nothing to read
        boxes, classes = [], []
        if rows:
            height, width = _image_size(img_path)
            for i, fields in enumerate(rows):
                boxes.append(_yolo_box(fields, txt, i + 1, width, height))
                cls = fields[0]
                classes.append(names[int(cls)] if cls.isdigit() and int(cls) < len(names)
                               else cls)
        records.append(AnnotatedImage(img_path.stem, img_path, np.asarray(boxes).reshape(-1, 4),
                                      tuple(classes)))
    return records


def _voc_image(folder: Path, xml: Path) -> Path:
    for sub in _VOC_IMAGE_DIRS:
        hit = next((p for p in sorted((folder / sub).glob(xml.stem + ".*"))
                    if p.suffix.lower() in IMAGE_EXTENSIONS), None)
        if hit is not None:
            return hit
    raise DatasetError(f"{xml}: no image {xml.stem}.* in "
                       + ", ".join(f"{folder / d}" for d in _VOC_IMAGE_DIRS))


def voc_images(folder: Path) -> list[AnnotatedImage]:
    """Detection records of a Pascal VOC folder: ``Annotations/*.xml`` + the image of the same
    stem in ``JPEGImages/``, ``images/`` or ``infrared/`` (LLVIP's thermal images)."""
    folder = Path(folder)
    ann_dir = folder / "Annotations"
    if not ann_dir.is_dir():
        raise DatasetError(f"{folder} has no Annotations/ folder; not a Pascal VOC folder")
    records = []
    for xml in sorted(ann_dir.glob("*.xml")):
        boxes, labels = read_voc(xml)
        records.append(AnnotatedImage(xml.stem, _voc_image(folder, xml), boxes, labels))
    return records


# --------------------------------------------------------------------------------------------
# (image, box) stills
# --------------------------------------------------------------------------------------------


def _keep(box: np.ndarray, label: str, min_side: float) -> bool:
    return bool(np.isfinite(box).all() and min(box[2], box[3]) >= min_side
                and label.strip().lower() not in IGNORED_CLASSES)


def _candidates(records: Iterable[AnnotatedImage], min_side: float
                ) -> list[tuple[AnnotatedImage, np.ndarray]]:
    out = []
    for rec in records:
        labels = rec.labels or ("",) * len(rec.boxes)
        out += [(rec, np.asarray(b, np.float64)) for b, lab in zip(rec.boxes, labels)
                if _keep(b, lab, min_side)]
    return out


def _read_stills(candidates: list[tuple[AnnotatedImage, np.ndarray]]) -> list[Still]:
    """Stills of ``(record, box)`` pairs; each image read once and shared by its boxes."""
    images: dict[Path, np.ndarray] = {}
    items = []
    for rec, box in candidates:
        if rec.path not in images:
            images[rec.path] = rec.image()
        items.append(Still(images[rec.path], box))
    return items


def llvip_stills(folder: Path, min_side: float) -> list[Still]:
    """Thermal image and box of every LLVIP VOC box with both sides >= ``min_side``."""
    return _read_stills(_candidates(_llvip_records(Path(folder)), min_side))


def yolo_stills(folder: Path, min_side: float, labels: Path | None = None) -> list[Still]:
    """Image and box of every YOLO label line with both sides >= ``min_side`` (see
    :func:`yolo_images`)."""
    return _read_stills(_candidates(yolo_images(Path(folder), labels), min_side))


def _llvip_records(folder: Path) -> list[AnnotatedImage]:
    return [AnnotatedImage(r.name, r.tir_path, r.boxes, r.labels or ("",) * len(r.boxes))
            for r in load_llvip(folder) if r.annotated]


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


def detect_still_layout(path: Path) -> StillLayout:
    """``coco`` (a COCO-style JSON file, or a folder with one in it or in ``annotations/``),
    ``yolo`` (``images/`` + a label folder), ``llvip`` (``Annotations/`` + ``infrared/``),
    ``voc`` (``Annotations/`` + ``JPEGImages/`` or ``images/``), else ``sequences`` (left to
    :func:`~tir_tracker_core.data.benchmarks.detect_layout`)."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() == ".json" and _coco_files(path.parent).count(path):
            return "coco"
        return "sequences"
    if _yolo_label_dir(path) is not None and (path / "images").is_dir():
        return "yolo"
    if (path / "Annotations").is_dir():
        return "llvip" if (path / "infrared").is_dir() else "voc"
    if path.is_dir() and _coco_files(path):
        return "coco"
    return "sequences"


def load_detections(path: str | Path) -> list[AnnotatedImage]:
    """Detection records (:class:`AnnotatedImage`) of a COCO, YOLO, Pascal VOC or LLVIP
    dataset at ``path``, detecting the layout (:func:`detect_still_layout`). HIT-UAV
    (``annotations/{val,test}.json`` + ``val/``, ``test/``) reads as COCO."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"detection dataset {path} does not exist")
    layout = detect_still_layout(path)
    if layout == "coco":
        return _coco_records(path)
    if layout == "yolo":
        return yolo_images(path)
    if layout == "voc":
        return voc_images(path)
    if layout == "llvip":
        return _llvip_records(path)
    raise DatasetError(
        f"{path}: not a detection dataset; looked for a COCO JSON (here or in annotations/), "
        "YOLO (images/ + labels_yolo/ or labels/), Pascal VOC (Annotations/ + JPEGImages/) and "
        "LLVIP (infrared/ + Annotations/)"
    )


def _spread(items: list[Any], max_boxes: int | None) -> list[Any]:
    """``max_boxes`` of ``items`` evenly spread over the list (all when ``None`` or 0)."""
    if max_boxes and len(items) > max_boxes:
        keep = np.linspace(0, len(items) - 1, max_boxes).round().astype(int)
        items = [items[i] for i in keep]
    return items


def load_stills(folder: str | Path, min_side: float = 20.0, max_boxes: int | None = None,
                every: int = 15) -> list[Still]:
    """(thermal image, box) :class:`Still` items of an annotated folder, detecting the layout.

    Boxes have both sides at least ``min_side`` px and a class not in :data:`IGNORED_CLASSES`;
    ``max_boxes`` keeps that many, evenly spread (only their images are read). Layouts: COCO
    JSON (a file, or a folder holding them or ``annotations/``; HIT-UAV), YOLO (``images/`` +
    ``labels_yolo/`` or ``labels/``), Pascal VOC (``Annotations/`` + ``JPEGImages/``), LLVIP
    (``infrared/`` + ``Annotations/``), or any tracking-sequence layout of ``eval`` (every
    ``every``-th annotated frame).
    """
    folder = Path(folder)
    layout = detect_still_layout(folder)
    if layout != "sequences":
        items = _read_stills(_spread(_candidates(load_detections(folder), min_side), max_boxes))
    else:
        try:
            items = _spread(sequence_stills(folder, min_side, max(1, every)), max_boxes)
        except DatasetError as e:
            raise DatasetError(f"{folder}: not an annotated image folder (COCO JSON; LLVIP: "
                               "infrared/ + Annotations/; YOLO: images/ + labels_yolo/ or "
                               "labels/; VOC: Annotations/ + JPEGImages/) nor a "
                               f"tracking-sequence layout: {e}") from e
    if not items:
        raise DatasetError(f"{folder}: no annotated box with both sides >= {min_side} px; give "
                           "an LLVIP-layout folder (infrared/ + Annotations/), a YOLO one "
                           "(images/ + labels_yolo/ or labels/), a COCO JSON or a tracking "
                           "sequence")
    return items
