"""Single-modality tracking benchmarks: one reader per layout, and layout detection.

- OTB-style folder: ``img/`` + ``groundtruth_rect.txt`` (``groundtruth_rect.<k>.txt`` for
  several targets, as OTB's Jogging), values separated by commas, tabs or spaces; optional
  per-frame VOT-TIR flag files ``*.label`` / ``*.tag`` become per-frame attributes.
- LSOTB-TIR root: ``sequences/<seq>/img/0001.jpg``, ``anno/<seq>.txt``, ``anno/att/<seq>.txt``
  (16 flags, :data:`LSOTB_TIR_ATTRIBUTES`).
- PTB-TIR root: ``tirsequences/<seq>/img/00000001.jpg``, ``tiranno/<seq>.txt``,
  ``tiranno/att/<seq>.txt`` (10 flags, :data:`PTB_TIR_ATTRIBUTES`).
- pysot-style JSON index: ``{seq: {img_names, gt_rect, init_rect, attr}}``.
- VOT folder: ``groundtruth.txt`` with 8-value polygons or 4-value rectangles (polygons become
  their axis-aligned min/max box); images in the folder itself or in ``ir/`` / ``color/``.
- Video sequence: a folder holding one video file (``.avi``, ``.mp4``, ``.mkv``, ...) and
  ``groundtruth.txt`` or ``groundtruth_rect.txt`` (Anti-UAV), or a video file with its box file
  given (:func:`load_video_sequence`). Frames decode to single-channel uint8 on demand
  (:class:`~tir_tracker_core.data.video.VideoFrameLoader`); the decodable frames are counted
  and checked against the box rows.
- The thermal half of a paired tracking sequence with sparse boxes (VTUAV ``rgb/`` +
  ``ir/`` or ``ir_gray/`` + ``rgb.txt`` / ``ir.txt``, read by
  :func:`~tir_tracker_core.data.paired.load_vtuav_sequence`).
- Pseudo-labelled tracks (a folder holding ``tracks.json``, written by ``tir-tracker
  pseudolabel``): one sequence per track (:mod:`~tir_tracker_core.data.tracks`).

A folder of YOLO-labelled still frames (``images/`` + ``labels_yolo/``, e.g. frames sampled one
in 25 from a video) is not a continuous sequence: a collection skips it with a warning and
:func:`detect_layout` names :func:`~tir_tracker_core.data.stills.load_stills` for it.

:func:`load_sequences` detects the layout (:func:`detect_layout`) and returns
:class:`~tir_tracker_core.data.sequence.Sequence` objects. A new single-modality layout adds
its reader here and one branch to :func:`detect_layout` / :func:`load_sequences`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .io import YOLO_LABEL_DIRS, list_images, read_boxes, read_rows
from .paired import is_vtuav_folder, load_vtuav_sequence
from .sequence import LengthPolicy, Modality, Sequence, expand_sparse_gt, reconcile_lengths
from .tracks import is_tracks_folder, load_track_sequences
from .video import VIDEO_EXTENSIONS, VideoFrameLoader, is_video_file

logger = logging.getLogger(__name__)

__all__ = [
    "LSOTB_TIR_ATTRIBUTES",
    "PTB_TIR_ATTRIBUTES",
    "detect_layout",
    "load_lsotb_tir",
    "load_otb_sequence",
    "load_ptb_tir",
    "load_pysot_json",
    "load_sequences",
    "load_video_folder",
    "load_video_sequence",
    "load_vot_sequence",
    "normalize_attribute_name",
]

LSOTB_TIR_ATTRIBUTES: tuple[str, ...] = (
    "deformation",
    "occlusion",
    "distractor",
    "background_clutter",
    "out_of_view",
    "scale_variation",
    "fast_motion",
    "motion_blur",
    "thermal_crossover",
    "intensity_variation",
    "low_resolution",
    "aspect_ratio_variation",
    "vehicle",
    "drone",
    "surveillance",
    "hand_held",
)
"""The 16 flags of ``anno/att/<seq>.txt`` in file order (LSOTB-TIR toolkit)."""

PTB_TIR_ATTRIBUTES: tuple[str, ...] = (
    "deformation",
    "occlusion",
    "scale_variation",
    "background_clutter",
    "low_resolution",
    "fast_motion",
    "motion_blur",
    "out_of_view",
    "intensity_variation",
    "thermal_crossover",
)
"""The 10 flags of ``tiranno/att/<seq>.txt`` in file order (PTB-TIR toolkit)."""

_PER_FRAME_FLAG_SUFFIXES: tuple[str, ...] = (".label", ".tag")


# --------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------


def normalize_attribute_name(name: str) -> str:
    """Canonical attribute key: lower case, words joined by ``_`` ("Out of view" ->
    "out_of_view")."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _read_flags(path: Path, expected: int | None = None) -> np.ndarray:
    rows = read_rows(path)
    values = np.asarray([v for row in rows for v in row], dtype=np.float64)
    if expected is not None and values.size != expected:
        raise DatasetError(
            f"attribute file {path} has {values.size} flags, expected {expected}; "
            "it does not belong to this benchmark layout"
        )
    return values != 0


def _read_per_frame_flags(folder: Path) -> dict[str, np.ndarray]:
    flags: dict[str, np.ndarray] = {}
    for suffix in _PER_FRAME_FLAG_SUFFIXES:
        for path in sorted(folder.glob(f"*{suffix}")):
            if not path.is_file():
                continue
            rows = read_rows(path) if path.stat().st_size else []
            if any(len(row) != 1 for row in rows):
                raise DatasetError(f"per-frame flag file {path} must hold one value per line")
            flags[normalize_attribute_name(path.stem)] = np.asarray(
                [row[0] != 0 for row in rows], dtype=bool
            )
    return flags


def _fit_per_frame(name: str, flags: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Per-frame flags cut or zero-padded to ``n`` frames (VOT tag files may stop early)."""
    out: dict[str, np.ndarray] = {}
    for key, values in flags.items():
        if len(values) > n:
            logger.warning(
                "sequence %r: per-frame flag %r has %d rows for %d frames; truncating",
                name,
                key,
                len(values),
                n,
            )
            values = values[:n]
        elif len(values) < n:
            values = np.concatenate([values, np.zeros(n - len(values), dtype=bool)])
        out[key] = values
    return out


def _build_sequence(
    name: str,
    layout: str,
    paths: tuple[Path, ...],
    gt: np.ndarray,
    attributes: Mapping[str, np.ndarray],
    length_mismatch: LengthPolicy,
) -> Sequence:
    n = reconcile_lengths(name, len(paths), gt, length_mismatch)
    if n == 0:
        raise DatasetError(f"sequence {name!r} has no frames")
    per_frame = {k: v for k, v in attributes.items() if np.ndim(v) == 1}
    fixed = {k: v for k, v in attributes.items() if np.ndim(v) == 0}
    fixed.update(_fit_per_frame(name, per_frame, n))
    return Sequence(name, layout, gt[:n], fixed, paths[:n])


# --------------------------------------------------------------------------------------------
# OTB and VOT sequence folders
# --------------------------------------------------------------------------------------------


def _otb_gt_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.glob("groundtruth_rect*.txt") if re.fullmatch(
            r"groundtruth_rect(\.\d+)?\.txt", p.name
        )
    )


def load_otb_sequence(
    folder: Path, *, length_mismatch: LengthPolicy = "error"
) -> list[Sequence]:
    """Read an OTB-style folder (``img/`` + ``groundtruth_rect.txt``).

    Every ``groundtruth_rect.<k>.txt`` (OTB's multi-target convention) gives one sequence named
    ``<folder>-<k>``. ``*.label`` / ``*.tag`` files (one 0/1 per frame) become per-frame
    attributes.
    """
    folder = Path(folder)
    gt_files = _otb_gt_files(folder)
    if not gt_files:
        raise DatasetError(f"{folder} has no groundtruth_rect.txt; it is not an OTB-style folder")
    paths = list_images(folder / "img")
    flags = _read_per_frame_flags(folder)
    sequences = []
    for gt_file in gt_files:
        suffix = gt_file.name[len("groundtruth_rect") : -len(".txt")]
        name = folder.name + (f"-{suffix[1:]}" if suffix else "")
        gt = read_boxes(gt_file)
        sequences.append(_build_sequence(name, "otb", paths, gt, flags, length_mismatch))
    return sequences


def _vot_image_folder(folder: Path) -> Path:
    for sub in ("ir", "color"):
        if (folder / sub).is_dir() and list_images(folder / sub):
            return folder / sub
    return folder


def load_vot_sequence(folder: Path, *, length_mismatch: LengthPolicy = "error") -> Sequence:
    """Read a VOT folder: ``groundtruth.txt`` (polygons or rectangles) + images.

    Images are taken from ``ir/`` if present (VOT-RGBT), else ``color/``, else the folder
    itself. Polygons become their axis-aligned min/max boxes. ``*.label`` / ``*.tag`` files
    become per-frame attributes.
    """
    folder = Path(folder)
    gt_file = folder / "groundtruth.txt"
    if not gt_file.is_file():
        raise DatasetError(f"{folder} has no groundtruth.txt; it is not a VOT sequence folder")
    gt = read_boxes(gt_file, allow_polygons=True)
    image_folder = _vot_image_folder(folder)
    paths = list_images(image_folder)
    if not paths:
        raise DatasetError(
            f"VOT sequence {folder} has no images in {folder}, {folder / 'ir'} or "
            f"{folder / 'color'}"
        )
    flags = _read_per_frame_flags(folder)
    return _build_sequence(folder.name, "vot", paths, gt, flags, length_mismatch)


# --------------------------------------------------------------------------------------------
# Video sequences (one video file + one box file)
# --------------------------------------------------------------------------------------------

VIDEO_GT_FILES: tuple[str, ...] = ("groundtruth.txt", "groundtruth_rect.txt")
"""Box files of a video sequence folder, in the order they are looked for."""


def _videos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_video_file(p))


def _video_gt_file(folder: Path, stem: str | None = None) -> Path | None:
    names = VIDEO_GT_FILES + ((f"{stem}.txt",) if stem else ())
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _is_video_folder(folder: Path) -> bool:
    videos = _videos_in(folder)
    return len(videos) == 1 and _video_gt_file(folder, videos[0].stem) is not None


def load_video_sequence(
    video: Path,
    gt: Path | None = None,
    *,
    name: str | None = None,
    length_mismatch: LengthPolicy = "error",
    gt_stride: int | None = None,
    grey: bool = True,
) -> Sequence:
    """Read a video file and its box file as one sequence (layout ``video``).

    Args:
        video: the video file.
        gt: box file, one ``x, y, w, h`` row per frame (commas, tabs or spaces); by default
            ``groundtruth.txt``, ``groundtruth_rect.txt`` or ``<video stem>.txt`` beside a video
            that is alone in its folder.
        name: sequence name; by default the folder name when the video is alone in its folder,
            else the video's stem.
        length_mismatch: ``error`` (default): box rows and decodable frames must agree;
            ``truncate``: keep the shorter, with a warning giving both counts.
        gt_stride: the box file annotates frames ``0, gt_stride, 2 * gt_stride, ...``; those
            frames get the boxes and the others ``NaN`` rows (see :attr:`Sequence.gt_frames`).
        grey: decode to single-channel uint8 (thermal video stored as 3 channels).

    The frames the video really decodes are counted (a fast pass); a container whose frame
    count differs from it is logged with both counts.
    """
    video = Path(video)
    if not is_video_file(video):
        raise DatasetError(
            f"{video} is not a video file ({', '.join(VIDEO_EXTENSIONS)})"
            + ("" if video.exists() else "; it does not exist")
        )
    alone = _videos_in(video.parent) == [video]
    if gt is None:
        gt = _video_gt_file(video.parent, video.stem) if alone else None
        if gt is None:
            raise DatasetError(
                f"no box file for video {video}: looked for {', '.join(VIDEO_GT_FILES)} and "
                f"{video.stem}.txt beside it" + ("" if alone else " (only when the video is "
                "alone in its folder)") + "; give the box file (--gt FILE)"
            )
    name = name or (video.parent.name if alone else video.stem)
    loader = VideoFrameLoader(video, grey=grey)
    decoded, claimed = len(loader), loader.container_frames()
    if claimed and claimed != decoded:
        logger.warning("video %s: the container says %d frames but %d decode",
                       video, claimed, decoded)
    if decoded == 0:
        raise DatasetError(f"video {video} decodes no frames")
    boxes = read_boxes(Path(gt), allow_polygons=True)
    if gt_stride is not None:
        boxes = expand_sparse_gt(name, boxes, decoded, gt_stride)
    n = reconcile_lengths(name, decoded, boxes, length_mismatch, "decoded video frames")
    return Sequence(name, "video", boxes[:n], {}, None, loader)


def load_video_folder(folder: Path, *, length_mismatch: LengthPolicy = "error") -> Sequence:
    """Read a folder holding one video file and ``groundtruth.txt`` / ``groundtruth_rect.txt``
    (Anti-UAV); the sequence is named after the folder. See :func:`load_video_sequence`."""
    folder = Path(folder)
    videos = _videos_in(folder)
    if len(videos) != 1:
        raise DatasetError(
            f"{folder} holds {len(videos)} video files ({', '.join(p.name for p in videos)}); "
            "a video sequence folder holds exactly one"
        )
    return load_video_sequence(videos[0], length_mismatch=length_mismatch)


# --------------------------------------------------------------------------------------------
# LSOTB-TIR and PTB-TIR roots (annotation folder + image folder per sequence)
# --------------------------------------------------------------------------------------------


def _root_names(root: Path, anno_root: Path, layout: str, names: list[str] | None) -> list[str]:
    """Sequences to read: ``names``, or every ``<anno_root>/<name>.txt``."""
    available = sorted(p.stem for p in anno_root.glob("*.txt"))
    wanted = available if names is None else list(names)
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise DatasetError(
            f"{layout} root {root}: no annotation {anno_root.name}/<name>.txt for {unknown}; "
            f"available: {len(available)} sequences"
        )
    return wanted


def _root_attributes(
    anno_root: Path, name: str, layout: str, attribute_names: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Sequence flags of ``<anno_root>/att/<name>.txt`` by name; ``{}`` when it is absent."""
    att_file = anno_root / "att" / f"{name}.txt"
    if not att_file.is_file():
        logger.debug("%s sequence %r has no attribute file %s", layout, name, att_file)
        return {}
    flags = _read_flags(att_file, expected=len(attribute_names))
    return {key: np.asarray(flag) for key, flag in zip(attribute_names, flags)}


def _report_missing_images(
    root: Path, layout: str, seq_dir: str, missing: list[str], found_any: bool
) -> None:
    """Error if no annotated sequence has its images, else a warning naming the skipped ones."""
    if not missing:
        return
    if not found_any:
        raise DatasetError(
            f"{layout} root {root}: none of the {len(missing)} annotated sequences has "
            f"its images at {seq_dir}/<name>/img/ (e.g. {root / seq_dir / missing[0]}"
            "/img); download the images or point to the right root"
        )
    logger.warning(
        "%s root %s: %d annotated sequences have no %s/<name>/img folder and are skipped: %s",
        layout,
        root,
        len(missing),
        seq_dir,
        ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""),
    )


def _load_benchmark_root(
    root: Path,
    *,
    layout: str,
    anno_dir: str,
    seq_dir: str,
    attribute_names: tuple[str, ...],
    names: list[str] | None,
    length_mismatch: LengthPolicy,
) -> list[Sequence]:
    anno_root = root / anno_dir
    if not anno_root.is_dir():
        raise DatasetError(f"{root} has no {anno_dir}/ folder; it is not a {layout} root")
    sequences: list[Sequence] = []
    missing_images: list[str] = []
    for name in _root_names(root, anno_root, layout, names):
        img_dir = root / seq_dir / name / "img"
        if not img_dir.is_dir():
            missing_images.append(name)
            continue
        gt = read_boxes(anno_root / f"{name}.txt")
        attributes = _root_attributes(anno_root, name, layout, attribute_names)
        sequences.append(
            _build_sequence(name, layout, list_images(img_dir), gt, attributes, length_mismatch)
        )
    _report_missing_images(root, layout, seq_dir, missing_images, bool(sequences))
    return sequences


def load_lsotb_tir(
    root: Path, *, names: list[str] | None = None, length_mismatch: LengthPolicy = "error"
) -> list[Sequence]:
    """Read an LSOTB-TIR root (``sequences/<seq>/img``, ``anno/<seq>.txt``, ``anno/att``).

    Sequences whose image folder is missing are skipped with a warning (an error if all are).
    """
    return _load_benchmark_root(
        Path(root),
        layout="lsotb_tir",
        anno_dir="anno",
        seq_dir="sequences",
        attribute_names=LSOTB_TIR_ATTRIBUTES,
        names=names,
        length_mismatch=length_mismatch,
    )


def load_ptb_tir(
    root: Path, *, names: list[str] | None = None, length_mismatch: LengthPolicy = "error"
) -> list[Sequence]:
    """Read a PTB-TIR root (``tirsequences/<seq>/img``, ``tiranno/<seq>.txt``, ``tiranno/att``).

    Sequences whose image folder is missing are skipped with a warning (an error if all are).
    """
    return _load_benchmark_root(
        Path(root),
        layout="ptb_tir",
        anno_dir="tiranno",
        seq_dir="tirsequences",
        attribute_names=PTB_TIR_ATTRIBUTES,
        names=names,
        length_mismatch=length_mismatch,
    )


# --------------------------------------------------------------------------------------------
# pysot-style JSON index
# --------------------------------------------------------------------------------------------


def _is_pysot_index(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(v, dict) and "img_names" in v and "gt_rect" in v for v in data.values())
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read JSON index {path}: {exc}") from exc


def _pysot_image_root(json_path: Path, data: dict[str, Any]) -> Path:
    """First of the JSON's folder, ``tirsequences/``, ``sequences/``, ``<json stem>/`` that
    holds the index's first image."""
    first = next(iter(data.values()))["img_names"][0]
    base = json_path.parent
    candidates = [base, base / "tirsequences", base / "sequences", base / json_path.stem]
    found = [c for c in candidates if (c / first).is_file()]
    if not found:
        raise DatasetError(
            f"images of {json_path} not found: looked for {first!r} under "
            + ", ".join(str(c) for c in candidates)
            + "; pass image_root= to point at the image folder"
        )
    return found[0]


def _pysot_sequence(
    name: str,
    entry: dict[str, Any],
    image_root: Path,
    attr_names: list[str],
    length_mismatch: LengthPolicy,
) -> Sequence:
    """One entry of the index; its attributes are flags over all ``attr_names`` of the file."""
    paths = tuple(image_root / p for p in entry["img_names"])
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(
            f"pysot sequence {name!r}: {len(missing)} of {len(paths)} images are missing "
            f"(first: {missing[0]}); check image_root"
        )
    gt = np.asarray(entry["gt_rect"], dtype=np.float64)
    if gt.ndim != 2 or gt.shape[1] != 4:
        raise DatasetError(
            f"pysot sequence {name!r}: gt_rect must be a list of [x, y, w, h], got shape "
            f"{gt.shape}"
        )
    present = {normalize_attribute_name(a) for a in entry.get("attr", [])}
    attributes = {a: np.asarray(a in present) for a in attr_names}
    return _build_sequence(name, "pysot_json", paths, gt, attributes, length_mismatch)


def load_pysot_json(
    json_path: Path,
    *,
    image_root: Path | None = None,
    length_mismatch: LengthPolicy = "error",
) -> list[Sequence]:
    """Read a pysot-style JSON index ``{seq: {img_names, gt_rect, init_rect, attr}}``.

    ``img_names`` are relative to ``image_root``; by default the first of the JSON's folder,
    its ``tirsequences/`` and ``sequences/`` sub-folders and ``<json stem>/`` where the first
    image exists. Attribute flags are 0-d bool arrays over the union of the ``attr`` names in
    the file, so a sequence without a flag carries it as ``False``.
    """
    json_path = Path(json_path)
    data = _read_json(json_path)
    if not _is_pysot_index(data):
        raise DatasetError(
            f"{json_path} is not a pysot-style index: expected a dict of sequences, each with "
            "'img_names' and 'gt_rect'"
        )
    root = _pysot_image_root(json_path, data) if image_root is None else Path(image_root)
    attr_names = sorted(
        {normalize_attribute_name(a) for v in data.values() for a in v.get("attr", [])}
    )
    return [
        _pysot_sequence(name, entry, root, attr_names, length_mismatch)
        for name, entry in data.items()
    ]


# --------------------------------------------------------------------------------------------
# Layout detection
# --------------------------------------------------------------------------------------------

_LOOKED_FOR = (
    "a pysot JSON index file (*.json with img_names/gt_rect)",
    "an LSOTB-TIR root (anno/ + sequences/)",
    "a PTB-TIR root (tiranno/ + tirsequences/)",
    "an OTB folder (img/ + groundtruth_rect.txt)",
    "a video folder (one video file + groundtruth.txt or groundtruth_rect.txt)",
    "a video file (its box file beside it or given)",
    "a VTUAV folder (rgb/ + ir/ or ir_gray/ + rgb.txt / ir.txt)",
    "a VOT folder (groundtruth.txt + images)",
    "a pseudo-label tracks folder (tracks.json)",
    "a folder of such sequence folders",
)

def _is_still_folder(folder: Path) -> bool:
    """A YOLO-labelled folder of still images (``images/`` + ``labels_yolo/`` or ``labels/``)."""
    return (folder / "images").is_dir() and any((folder / d).is_dir() for d in YOLO_LABEL_DIRS)


_STILLS_NOTE = (
    "annotated still images (images/ + YOLO labels), not a continuous tracking sequence (frames "
    "sampled apart cannot be tracked); use them as stills (tir-tracker probe, data.stills."
    "load_stills)"
)


def _pysot_jsons(folder: Path) -> list[Path]:
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if _is_pysot_index(data):
            out.append(path)
    return out


def _single_layout(folder: Path) -> str | None:
    if is_tracks_folder(folder):
        return "tracks"
    if _otb_gt_files(folder) and (folder / "img").is_dir():
        return "otb"
    if _is_video_folder(folder):
        return "video"
    if is_vtuav_folder(folder):
        return "vtuav"
    if (folder / "groundtruth.txt").is_file() and not _videos_in(folder):
        return "vot"  # (next to several videos it is ambiguous: see _layout_hints)
    return None


def _layout_hints(path: Path) -> list[str]:
    """What is half there at ``path``, for the unknown-layout message."""
    hints = []
    if (path / "anno").is_dir():
        hints.append("anno/ exists but sequences/ (the LSOTB-TIR images) is missing")
    if (path / "tiranno").is_dir():
        hints.append("tiranno/ exists but tirsequences/ (the PTB-TIR images) is missing")
    if (path / "img").is_dir():
        hints.append("img/ exists but there is no groundtruth_rect.txt")
    if _otb_gt_files(path) or (path / "groundtruth.txt").is_file():
        videos = _videos_in(path)
        if len(videos) > 1:
            hints.append(f"{len(videos)} video files next to the box file; a video folder "
                         "holds exactly one")
        elif _otb_gt_files(path):
            hints.append("groundtruth_rect.txt exists but there is no img/ folder or video")
    return hints


def detect_layout(path: Path) -> str:
    """Name of the layout at ``path``: ``pysot_json``, ``lsotb_tir``, ``ptb_tir``, ``otb``,
    ``video`` (a video folder or file), ``vtuav``, ``vot``, ``tracks`` or ``collection`` (a
    folder of sequence folders).

    Raises:
        DatasetError: listing what was looked for, with hints for half-present layouts; for a
            YOLO stills folder, saying that it is not a sequence.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset path {path} does not exist")
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "pysot_json"
        if is_video_file(path):
            return "video"
        raise DatasetError(
            f"{path} is a file; give a dataset folder, a pysot JSON index or a video file "
            f"({', '.join(VIDEO_EXTENSIONS)})"
        )
    if (path / "anno").is_dir() and (path / "sequences").is_dir():
        return "lsotb_tir"
    if (path / "tiranno").is_dir() and (path / "tirsequences").is_dir():
        return "ptb_tir"
    single = _single_layout(path)
    if single is not None:
        return single
    if _pysot_jsons(path):
        return "pysot_json"
    subdirs = [p for p in sorted(path.iterdir()) if p.is_dir()]
    if any(_single_layout(p) for p in subdirs):
        return "collection"
    if _is_still_folder(path):
        raise DatasetError(f"{path} holds {_STILLS_NOTE}")
    hints = _layout_hints(path)
    raise DatasetError(
        f"unknown dataset layout at {path}; looked for " + "; ".join(_LOOKED_FOR)
        + (" (" + "; ".join(hints) + ")" if hints else "")
    )


def _load_single(folder: Path, kind: str, length_mismatch: LengthPolicy,
                 modality: Modality = "tir") -> list[Sequence]:
    """The sequences of one sequence folder of layout ``kind`` (see :func:`_single_layout`);
    ``modality`` picks the half of a paired (VTUAV) folder."""
    if kind == "otb":
        return load_otb_sequence(folder, length_mismatch=length_mismatch)
    if kind == "video":
        return [load_video_folder(folder, length_mismatch=length_mismatch)]
    if kind == "vtuav":
        paired = load_vtuav_sequence(folder, length_mismatch=length_mismatch)
        return [paired.as_sequence(modality)]
    if kind == "tracks":
        return load_track_sequences(folder, modality)
    return [load_vot_sequence(folder, length_mismatch=length_mismatch)]


def _load_collection(path: Path, length_mismatch: LengthPolicy,
                     modality: Modality = "tir") -> list[Sequence]:
    """Every sequence folder directly under ``path`` (others skipped with a warning)."""
    sequences: list[Sequence] = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        kind = _single_layout(sub)
        if kind is not None:
            sequences.extend(_load_single(sub, kind, length_mismatch, modality))
        elif _is_still_folder(sub):
            logger.warning("skipping %s: %s", sub, _STILLS_NOTE)
        else:
            logger.warning("skipping %s: not a sequence folder (OTB, VOT, video or VTUAV)", sub)
    return sequences


def load_sequences(
    path: Path,
    *,
    length_mismatch: LengthPolicy = "error",
    gt: Path | None = None,
    gt_stride: int | None = None,
    modality: Modality = "tir",
) -> list[Sequence]:
    """Load every sequence at ``path``, detecting the layout (see :func:`detect_layout`).

    ``path`` may be one sequence folder, a folder of sequence folders, a benchmark root, a
    pysot JSON index or a video file. Ground-truth rows must match the frames unless
    ``length_mismatch='truncate'`` (then the longer side is cut with a warning).

    ``gt`` (box file) and ``gt_stride`` (it annotates every ``gt_stride``-th frame) apply to a
    video file only; a video file without ``gt`` uses the box file beside it (see
    :func:`load_video_sequence`). A VTUAV folder gives its thermal sequence (``modality="rgb"``:
    its visible one), with ``NaN`` rows on the frames its sparse boxes skip; single-modality
    layouts ignore ``modality``.
    """
    path = Path(path)
    layout = detect_layout(path)
    logger.debug("detected layout %r at %s", layout, path)
    if (gt is not None or gt_stride is not None) and not (layout == "video" and path.is_file()):
        raise DatasetError(
            f"a box file or annotation stride can only be given with a video file; {path} is "
            f"a {layout} layout, which names its own box files"
        )
    if layout == "video" and path.is_file():
        return [load_video_sequence(path, None if gt is None else Path(gt),
                                    length_mismatch=length_mismatch, gt_stride=gt_stride)]
    if layout == "lsotb_tir":
        return load_lsotb_tir(path, length_mismatch=length_mismatch)
    if layout == "ptb_tir":
        return load_ptb_tir(path, length_mismatch=length_mismatch)
    if layout in ("otb", "video", "vtuav", "vot", "tracks"):
        return _load_single(path, layout, length_mismatch, modality)
    if layout == "pysot_json":
        json_files = [path] if path.is_file() else _pysot_jsons(path)
        if len(json_files) > 1:
            raise DatasetError(
                f"{path} holds several pysot JSON indexes "
                f"({', '.join(p.name for p in json_files)}); pass the one to use"
            )
        return load_pysot_json(json_files[0], length_mismatch=length_mismatch)
    return _load_collection(path, length_mismatch, modality)
