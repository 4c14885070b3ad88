"""Registered visible + thermal data: one reader per layout, and layout detection.

- LLVIP: ``visible/``, ``infrared/`` (optionally split into sub-folders), Pascal VOC
  ``Annotations/<stem>.xml`` -> :class:`PairedImage` records.
- RGBT234 / LasHeR sequence folders: ``visible/`` + ``infrared/``, boxes ``visible.txt`` /
  ``infrared.txt`` or ``init.txt`` (``x, y, w, h``) ->
  :class:`~tir_tracker_core.data.sequence.PairedSequence`.
- GTOT sequence folders: ``v/`` + ``i/``, boxes ``groundTruth_v.txt`` / ``groundTruth_i.txt``
  (``x1 y1 x2 y2``) or ``init.txt`` -> :class:`~tir_tracker_core.data.sequence.PairedSequence`.

:func:`load_paired` detects the layout (:func:`detect_paired_layout`). A new paired layout
(e.g. visible + infrared videos) adds its reader here and one branch to both functions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .io import (
    PathFrameLoader,
    list_images,
    list_images_recursive,
    read_boxes,
    read_image,
    read_voc,
)
from .sequence import LengthPolicy, PairedSequence, reconcile_lengths

logger = logging.getLogger(__name__)

__all__ = [
    "PairedImage",
    "detect_paired_layout",
    "load_gtot_sequence",
    "load_llvip",
    "load_paired",
    "load_rgbt_sequence",
]


# --------------------------------------------------------------------------------------------
# LLVIP image pairs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PairedImage:
    """One registered visible + thermal image pair with its boxes (LLVIP).

    Attributes:
        name: image stem, prefixed by its sub-folder when the dataset is split.
        rgb_path: visible image, or ``None`` when only the thermal image exists.
        tir_path: thermal image.
        boxes: ``(K, 4)`` float64 ``x, y, w, h`` (shared by both images); ``(0, 4)`` when there
            are no objects or no annotation.
        labels: class name per box.
        annotated: whether an annotation file exists (distinguishes "no objects" from
            "not annotated").
    """

    name: str
    rgb_path: Path | None
    tir_path: Path
    boxes: np.ndarray
    labels: tuple[str, ...] = ()
    annotated: bool = False

    def __post_init__(self) -> None:
        boxes = np.array(self.boxes, dtype=np.float64, copy=True).reshape(-1, 4)
        boxes.setflags(write=False)
        object.__setattr__(self, "boxes", boxes)
        if self.labels and len(self.labels) != len(boxes):
            raise DatasetError(
                f"paired image {self.name!r}: {len(self.labels)} labels for {len(boxes)} boxes"
            )

    def rgb(self) -> np.ndarray:
        """The visible image (BGR)."""
        if self.rgb_path is None:
            raise DatasetError(f"paired image {self.name!r} has no visible image (thermal only)")
        return read_image(self.rgb_path)

    def tir(self) -> np.ndarray:
        """The thermal image as stored."""
        return read_image(self.tir_path)


def _is_llvip(folder: Path) -> bool:
    return (folder / "infrared").is_dir() and not _rgbt_kind(folder) and (
        (folder / "visible").is_dir() or (folder / "Annotations").is_dir()
    )


def _llvip_record(
    tir_path: Path, ir_dir: Path, vis_dir: Path, ann_dir: Path, missing_rgb: list[str]
) -> PairedImage:
    """The pair of one infrared image; appends its relative path to ``missing_rgb`` when
    ``visible/`` exists but lacks it."""
    rel = tir_path.relative_to(ir_dir)
    rgb_path: Path | None = None
    if vis_dir.is_dir():
        rgb_path = vis_dir / rel
        if not rgb_path.is_file():
            missing_rgb.append(str(rel))
            rgb_path = None
    ann = ann_dir / f"{tir_path.stem}.xml"
    if ann.is_file():
        boxes, labels = read_voc(ann)
        annotated = True
    else:
        boxes, labels, annotated = np.zeros((0, 4)), (), False
    name = rel.with_suffix("").as_posix()
    return PairedImage(name, rgb_path, tir_path, boxes, labels, annotated)


def load_llvip(folder: Path) -> list[PairedImage]:
    """Read an LLVIP folder: ``infrared/``, optional ``visible/`` and ``Annotations/``.

    Images may sit in sub-folders (``infrared/train/...``); the visible image is the same
    relative path under ``visible/`` and the annotation is ``Annotations/<stem>.xml``. VOC
    boxes ``xmin, ymin, xmax, ymax`` become ``x = xmin, y = ymin, w = xmax - xmin,
    h = ymax - ymin``.
    """
    folder = Path(folder)
    ir_dir, vis_dir, ann_dir = folder / "infrared", folder / "visible", folder / "Annotations"
    if not ir_dir.is_dir():
        raise DatasetError(f"{folder} has no infrared/ folder; it is not an LLVIP folder")
    tir_paths = list_images_recursive(ir_dir)
    if not tir_paths:
        raise DatasetError(f"LLVIP folder {folder}: infrared/ holds no images")
    missing_rgb: list[str] = []
    records = [_llvip_record(p, ir_dir, vis_dir, ann_dir, missing_rgb) for p in tir_paths]
    if missing_rgb:
        logger.warning(
            "LLVIP folder %s: %d infrared images have no visible counterpart (e.g. %s)",
            folder,
            len(missing_rgb),
            missing_rgb[0],
        )
    return records


# --------------------------------------------------------------------------------------------
# RGBT234 / LasHeR / GTOT sequences
# --------------------------------------------------------------------------------------------

_RGBT_FOLDERS = {"rgbt": ("visible", "infrared"), "gtot": ("v", "i")}
_RGBT_BOX_FILES = {
    "rgbt": ("visible.txt", "infrared.txt"),
    "gtot": ("groundTruth_v.txt", "groundTruth_i.txt"),
}


def _rgbt_kind(folder: Path) -> str | None:
    for kind, (vis, ir) in _RGBT_FOLDERS.items():
        if (folder / vis).is_dir() and (folder / ir).is_dir():
            box_files = (*_RGBT_BOX_FILES[kind], "init.txt")
            if any((folder / f).is_file() for f in box_files):
                return kind
    return None


def _paired_frame_count(
    name: str, rgb_paths: tuple[Path, ...], tir_paths: tuple[Path, ...], policy: LengthPolicy
) -> int:
    """Number of frame pairs; raises or warns when the two folders differ in length."""
    if len(rgb_paths) == len(tir_paths):
        return len(tir_paths)
    if policy == "error":
        raise DatasetError(
            f"paired sequence {name!r}: {len(rgb_paths)} visible but {len(tir_paths)} "
            "infrared frames; fix the dataset, or pass length_mismatch='truncate'"
        )
    n = min(len(rgb_paths), len(tir_paths))
    logger.warning(
        "paired sequence %r: %d visible but %d infrared frames; truncating to %d",
        name,
        len(rgb_paths),
        len(tir_paths),
        n,
    )
    return n


def _paired_boxes(folder: Path, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(gt, gt_rgb)``: the infrared boxes (else the visible ones, else ``init.txt``), and the
    visible boxes only when both modalities are annotated separately."""
    corners = kind == "gtot"
    vis_file, ir_file = (folder / f for f in _RGBT_BOX_FILES[kind])
    gt_tir = read_boxes(ir_file, corners=corners) if ir_file.is_file() else None
    gt_rgb = read_boxes(vis_file, corners=corners) if vis_file.is_file() else None
    if gt_tir is None:
        # One shared annotation: the visible boxes, else init.txt (always x, y, w, h).
        init_file = folder / "init.txt"
        gt_tir = gt_rgb if gt_rgb is not None else read_boxes(init_file)
        gt_rgb = None
    return gt_tir, gt_rgb


def _load_paired_sequence(
    folder: Path, kind: str, length_mismatch: LengthPolicy
) -> PairedSequence:
    vis_name, ir_name = _RGBT_FOLDERS[kind]
    rgb_paths = list_images(folder / vis_name)
    tir_paths = list_images(folder / ir_name)
    name = folder.name
    n = _paired_frame_count(name, rgb_paths, tir_paths, length_mismatch)
    gt_tir, gt_rgb = _paired_boxes(folder, kind)
    n = reconcile_lengths(name, n, gt_tir, length_mismatch)
    if gt_rgb is not None:
        n = reconcile_lengths(name, n, gt_rgb, length_mismatch, "frames (visible boxes)")
    return PairedSequence(
        name,
        kind,
        n,
        PathFrameLoader(rgb_paths[:n]),
        PathFrameLoader(tir_paths[:n]),
        gt_tir[:n],
        None if gt_rgb is None else gt_rgb[:n],
    )


def load_rgbt_sequence(folder: Path, *, length_mismatch: LengthPolicy = "error") -> PairedSequence:
    """Read an RGBT234 / LasHeR sequence folder (``visible/`` + ``infrared/`` + box files).

    ``gt`` comes from ``infrared.txt`` (else ``visible.txt``, else ``init.txt``) and ``gt_rgb``
    from ``visible.txt`` when both modality files exist.
    """
    folder = Path(folder)
    if _rgbt_kind(folder) != "rgbt":
        raise DatasetError(
            f"{folder} is not an RGBT234/LasHeR folder: expected visible/, infrared/ and one of "
            "visible.txt, infrared.txt, init.txt"
        )
    return _load_paired_sequence(folder, "rgbt", length_mismatch)


def load_gtot_sequence(folder: Path, *, length_mismatch: LengthPolicy = "error") -> PairedSequence:
    """Read a GTOT sequence folder (``v/`` + ``i/`` + ``groundTruth_v.txt`` /
    ``groundTruth_i.txt`` as ``x1 y1 x2 y2``, or ``init.txt`` as ``x, y, w, h``)."""
    folder = Path(folder)
    if _rgbt_kind(folder) != "gtot":
        raise DatasetError(
            f"{folder} is not a GTOT folder: expected v/, i/ and one of groundTruth_v.txt, "
            "groundTruth_i.txt, init.txt"
        )
    return _load_paired_sequence(folder, "gtot", length_mismatch)


# --------------------------------------------------------------------------------------------
# Layout detection
# --------------------------------------------------------------------------------------------

_PAIRED_LOOKED_FOR = (
    "an LLVIP folder (infrared/ + visible/ and/or Annotations/)",
    "an RGBT234/LasHeR sequence (visible/ + infrared/ + visible.txt/infrared.txt/init.txt)",
    "a GTOT sequence (v/ + i/ + groundTruth_v.txt/groundTruth_i.txt/init.txt)",
    "a folder of those",
)


def detect_paired_layout(path: Path) -> str:
    """``llvip``, ``rgbt``, ``gtot`` or ``collection`` (a folder of those)."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"paired dataset path {path} is not a folder")
    kind = _rgbt_kind(path)
    if kind is not None:
        return kind
    if _is_llvip(path):
        return "llvip"
    subdirs = [p for p in sorted(path.iterdir()) if p.is_dir()]
    if any(_rgbt_kind(p) or _is_llvip(p) for p in subdirs):
        return "collection"
    raise DatasetError(
        f"unknown paired RGB-T layout at {path}; looked for " + "; ".join(_PAIRED_LOOKED_FOR)
    )


def _load_paired_collection(
    path: Path, length_mismatch: LengthPolicy
) -> list[PairedSequence] | list[PairedImage]:
    """Every paired folder directly under ``path``; LLVIP names get their folder as prefix."""
    images: list[PairedImage] = []
    sequences: list[PairedSequence] = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        kind = _rgbt_kind(sub)
        if kind is not None:
            sequences.append(_load_paired_sequence(sub, kind, length_mismatch))
        elif _is_llvip(sub):
            images.extend(
                PairedImage(f"{sub.name}/{r.name}", r.rgb_path, r.tir_path, r.boxes, r.labels,
                            r.annotated)
                for r in load_llvip(sub)
            )
        else:
            logger.warning("skipping %s: not a paired RGB-T folder", sub)
    if images and sequences:
        raise DatasetError(
            f"{path} mixes LLVIP image pairs and RGB-T sequences; load the two kinds separately"
        )
    return sequences if sequences else images


def load_paired(
    path: Path, *, length_mismatch: LengthPolicy = "error"
) -> list[PairedSequence] | list[PairedImage]:
    """Load paired visible + thermal data at ``path``, detecting the layout.

    Returns :class:`PairedImage` records for LLVIP (one folder, or a root of LLVIP folders such
    as ``pairs_annotated/``, ``ir_only_annotated/``), :class:`PairedSequence` objects for
    RGBT234 / LasHeR / GTOT (one sequence folder or a folder of them). A root mixing image
    pairs and sequences is rejected.
    """
    path = Path(path)
    layout = detect_paired_layout(path)
    if layout == "llvip":
        return load_llvip(path)
    if layout in _RGBT_FOLDERS:
        return [_load_paired_sequence(path, layout, length_mismatch)]
    return _load_paired_collection(path, length_mismatch)
