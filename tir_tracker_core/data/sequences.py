"""Tracking sequences and readers for the benchmark layouts this project evaluates on.

Single-modality sequences (:class:`Sequence`):

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

Paired visible + thermal data (:class:`PairedSequence`, :class:`PairedImage`):

- LLVIP: ``visible/``, ``infrared/`` (optionally split into sub-folders), Pascal VOC
  ``Annotations/<stem>.xml``.
- RGBT234 / LasHeR sequence folders: ``visible/`` + ``infrared/``, boxes ``visible.txt`` /
  ``infrared.txt`` or ``init.txt`` (``x, y, w, h``).
- GTOT sequence folders: ``v/`` + ``i/``, boxes ``groundTruth_v.txt`` / ``groundTruth_i.txt``
  (``x1 y1 x2 y2``) or ``init.txt``.

Boxes are ``(x, y, w, h)`` float64 exactly as written in the annotation files (no 0/1-based
shift); corner formats are converted with ``w = x2 - x1`` and ``h = y2 - y1``.
:func:`load_sequences` and :func:`load_paired` detect the layout automatically.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from ..errors import TrackerError

logger = logging.getLogger(__name__)

__all__ = [
    "IMAGE_EXTENSIONS",
    "LSOTB_TIR_ATTRIBUTES",
    "PTB_TIR_ATTRIBUTES",
    "DatasetError",
    "FrameLoader",
    "LengthPolicy",
    "PairedImage",
    "PairedSequence",
    "PathFrameLoader",
    "Sequence",
    "detect_layout",
    "detect_paired_layout",
    "list_images",
    "load_gtot_sequence",
    "load_llvip",
    "load_lsotb_tir",
    "load_otb_sequence",
    "load_paired",
    "load_ptb_tir",
    "load_pysot_json",
    "load_rgbt_sequence",
    "load_sequences",
    "load_vot_sequence",
    "normalize_attribute_name",
    "polygon_to_rect",
    "read_boxes",
    "read_image",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

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

FrameLoader = Callable[[int], np.ndarray]
"""``loader(i) -> frame`` for a 0-based frame index."""

LengthPolicy = Literal["error", "truncate"]
"""What to do when ground-truth rows and frames disagree in number."""

_LENGTH_POLICIES: tuple[str, ...] = ("error", "truncate")
_SPLIT_RE = re.compile(r"[,\s;]+")
_DIGITS_RE = re.compile(r"(\d+)")
_PER_FRAME_FLAG_SUFFIXES: tuple[str, ...] = (".label", ".tag")


class DatasetError(TrackerError, ValueError):
    """A dataset folder or annotation file is missing, malformed or of an unknown layout."""


# --------------------------------------------------------------------------------------------
# Low-level helpers
# --------------------------------------------------------------------------------------------


def normalize_attribute_name(name: str) -> str:
    """Canonical attribute key: lower case, words joined by ``_`` ("Out of view" ->
    "out_of_view")."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


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


def polygon_to_rect(polygons: np.ndarray) -> np.ndarray:
    """Axis-aligned min/max boxes ``(x, y, w, h)`` of ``(N, 2k)`` polygons ``x1,y1,x2,y2,...``."""
    polygons = np.asarray(polygons, dtype=np.float64)
    if polygons.ndim != 2 or polygons.shape[1] % 2 or polygons.shape[1] < 4:
        raise DatasetError(f"polygons must be (N, 2k) with k >= 2, got shape {polygons.shape}")
    xs, ys = polygons[:, 0::2], polygons[:, 1::2]
    x0, y0 = xs.min(axis=1), ys.min(axis=1)
    return np.stack([x0, y0, xs.max(axis=1) - x0, ys.max(axis=1) - y0], axis=1)


def _parse_rows(path: Path) -> list[list[float]]:
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


def read_boxes(path: Path, *, corners: bool = False, allow_polygons: bool = False) -> np.ndarray:
    """Read a ground-truth text file as an ``(N, 4)`` float64 array of ``(x, y, w, h)``.

    Args:
        path: text file, one row per frame, values separated by commas, tabs or spaces.
        corners: rows are ``x1 y1 x2 y2`` (GTOT); converted to ``w = x2 - x1``, ``h = y2 - y1``.
        allow_polygons: rows may hold 8 values (VOT polygons), converted with
            :func:`polygon_to_rect`; 4-value rows in the same file are kept as rectangles.
    """
    path = Path(path)
    rows = _parse_rows(path)
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


def _read_flags(path: Path, expected: int | None = None) -> np.ndarray:
    rows = _parse_rows(path)
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
            rows = _parse_rows(path) if path.stat().st_size else []
            if any(len(row) != 1 for row in rows):
                raise DatasetError(f"per-frame flag file {path} must hold one value per line")
            flags[normalize_attribute_name(path.stem)] = np.asarray(
                [row[0] != 0 for row in rows], dtype=bool
            )
    return flags


def _reconcile_lengths(
    name: str,
    num_frames: int,
    gt: np.ndarray,
    policy: LengthPolicy,
    what: str = "frames",
) -> int:
    """Number of frames to keep; raises or warns when frames and ground truth disagree."""
    if policy not in _LENGTH_POLICIES:
        raise ValueError(f"length_mismatch must be one of {_LENGTH_POLICIES}, got {policy!r}")
    if num_frames == len(gt):
        return num_frames
    if policy == "error":
        raise DatasetError(
            f"sequence {name!r}: {len(gt)} ground-truth rows but {num_frames} {what}; fix the "
            "dataset, or pass length_mismatch='truncate' to keep the shorter of the two"
        )
    keep = min(num_frames, len(gt))
    logger.warning(
        "sequence %r: %d ground-truth rows but %d %s; truncating to %d",
        name,
        len(gt),
        num_frames,
        what,
        keep,
    )
    return keep


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


@dataclass(frozen=True)
class PathFrameLoader:
    """Frame loader over a list of image files (``loader(i)`` reads ``paths[i]``)."""

    paths: tuple[Path, ...]

    def __call__(self, index: int) -> np.ndarray:
        return read_image(self.paths[index])

    def __len__(self) -> int:
        return len(self.paths)


def _check_frame(frame: Any, source: str, index: int) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or not (
        frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)
    ):
        shape = getattr(frame, "shape", type(frame).__name__)
        raise DatasetError(
            f"{source}: frame {index} must be an HxW or HxWx3 numpy array, got {shape}; "
            "fix the frame loader"
        )
    return frame


def _as_gt(gt: Any, name: str) -> np.ndarray:
    arr = np.array(gt, dtype=np.float64, copy=True)
    if arr.ndim != 2 or arr.shape[1] != 4 or len(arr) == 0:
        raise DatasetError(
            f"sequence {name!r}: ground truth must be a non-empty (N, 4) array of x, y, w, h; "
            f"got shape {arr.shape}"
        )
    arr.setflags(write=False)
    return arr


# --------------------------------------------------------------------------------------------
# Sequence
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Sequence:
    """One annotated single-target sequence.

    Attributes:
        name: sequence name as the benchmark spells it.
        layout: layout it was read from (``otb``, ``lsotb_tir``, ``ptb_tir``, ``pysot_json``,
            ``vot``, ``synthetic``, ...).
        gt: ``(N, 4)`` float64 ``x, y, w, h`` per frame, exactly as in the file (read-only).
        attributes: benchmark flags by canonical name: 0-d bool arrays for sequence-level flags,
            ``(N,)`` bool arrays for per-frame labels.
        frame_paths: image file per frame, or ``None`` for an in-memory sequence.
        frame_loader: ``loader(i) -> frame`` for an in-memory sequence (exactly one of
            ``frame_paths`` and ``frame_loader`` is set).
    """

    name: str
    layout: str
    gt: np.ndarray
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    frame_paths: tuple[Path, ...] | None = None
    frame_loader: FrameLoader | None = None

    def __post_init__(self) -> None:
        gt = _as_gt(self.gt, self.name)
        object.__setattr__(self, "gt", gt)
        if (self.frame_paths is None) == (self.frame_loader is None):
            raise DatasetError(
                f"sequence {self.name!r}: give exactly one of frame_paths and frame_loader"
            )
        if self.frame_paths is not None:
            paths = tuple(Path(p) for p in self.frame_paths)
            if len(paths) != len(gt):
                raise DatasetError(
                    f"sequence {self.name!r}: {len(paths)} frame paths for {len(gt)} "
                    "ground-truth rows; they must match"
                )
            object.__setattr__(self, "frame_paths", paths)
        attributes: dict[str, np.ndarray] = {}
        for key, value in self.attributes.items():
            arr = np.array(value, copy=True)
            if arr.ndim == 1 and len(arr) != len(gt):
                raise DatasetError(
                    f"sequence {self.name!r}: per-frame attribute {key!r} has {len(arr)} values "
                    f"for {len(gt)} frames"
                )
            if arr.ndim > 1:
                raise DatasetError(
                    f"sequence {self.name!r}: attribute {key!r} must be 0-d (sequence flag) or "
                    f"1-d (per-frame), got shape {arr.shape}"
                )
            arr.setflags(write=False)
            attributes[key] = arr
        object.__setattr__(self, "attributes", attributes)

    def __len__(self) -> int:
        return len(self.gt)

    def __repr__(self) -> str:
        return f"Sequence(name={self.name!r}, layout={self.layout!r}, frames={len(self)})"

    @property
    def init_box(self) -> tuple[float, float, float, float]:
        """Ground-truth box of the first frame (the box a tracker is initialised with)."""
        x, y, w, h = (float(v) for v in self.gt[0])
        return (x, y, w, h)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based): 8/16-bit mono ``HxW`` or BGR ``HxWx3``, unchanged."""
        if not 0 <= index < len(self):
            raise IndexError(f"frame index {index} out of range for {len(self)} frames")
        if self.frame_paths is not None:
            return read_image(self.frame_paths[index])
        assert self.frame_loader is not None
        return _check_frame(self.frame_loader(index), f"sequence {self.name!r}", index)

    def frames(self) -> Iterator[np.ndarray]:
        """Iterate over all frames in order, reading one at a time."""
        for index in range(len(self)):
            yield self.frame(index)

    def has_attribute(self, name: str) -> bool:
        """True if the sequence carries flag ``name`` (sequence flag set or any frame flagged)."""
        values = self.attributes.get(name)
        return bool(values is not None and np.any(values))

    def head(self, num_frames: int) -> Sequence:
        """The first ``num_frames`` frames as a new sequence (per-frame attributes cut too)."""
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        n = min(num_frames, len(self))
        attributes = {k: (v[:n] if v.ndim == 1 else v) for k, v in self.attributes.items()}
        loader = self.frame_loader
        if loader is not None:
            return Sequence(self.name, self.layout, self.gt[:n], attributes, None, loader)
        assert self.frame_paths is not None
        return Sequence(self.name, self.layout, self.gt[:n], attributes, self.frame_paths[:n])


# --------------------------------------------------------------------------------------------
# Single-modality readers
# --------------------------------------------------------------------------------------------


def _build_sequence(
    name: str,
    layout: str,
    paths: tuple[Path, ...],
    gt: np.ndarray,
    attributes: Mapping[str, np.ndarray],
    length_mismatch: LengthPolicy,
) -> Sequence:
    n = _reconcile_lengths(name, len(paths), gt, length_mismatch)
    if n == 0:
        raise DatasetError(f"sequence {name!r} has no frames")
    per_frame = {k: v for k, v in attributes.items() if np.ndim(v) == 1}
    fixed = {k: v for k, v in attributes.items() if np.ndim(v) == 0}
    fixed.update(_fit_per_frame(name, per_frame, n))
    return Sequence(name, layout, gt[:n], fixed, paths[:n])


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
    available = sorted(p.stem for p in anno_root.glob("*.txt"))
    wanted = available if names is None else list(names)
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise DatasetError(
            f"{layout} root {root}: no annotation {anno_dir}/<name>.txt for {unknown}; "
            f"available: {len(available)} sequences"
        )
    sequences: list[Sequence] = []
    missing_images: list[str] = []
    for name in wanted:
        img_dir = root / seq_dir / name / "img"
        if not img_dir.is_dir():
            missing_images.append(name)
            continue
        gt = read_boxes(anno_root / f"{name}.txt")
        att_file = anno_root / "att" / f"{name}.txt"
        attributes: dict[str, np.ndarray] = {}
        if att_file.is_file():
            flags = _read_flags(att_file, expected=len(attribute_names))
            attributes = {key: np.asarray(flag) for key, flag in zip(attribute_names, flags)}
        else:
            logger.debug("%s sequence %r has no attribute file %s", layout, name, att_file)
        sequences.append(
            _build_sequence(name, layout, list_images(img_dir), gt, attributes, length_mismatch)
        )
    if missing_images:
        if not sequences:
            raise DatasetError(
                f"{layout} root {root}: none of the {len(missing_images)} annotated sequences has "
                f"its images at {seq_dir}/<name>/img/ (e.g. {root / seq_dir / missing_images[0]}"
                "/img); download the images or point to the right root"
            )
        logger.warning(
            "%s root %s: %d annotated sequences have no %s/<name>/img folder and are skipped: %s",
            layout,
            root,
            len(missing_images),
            seq_dir,
            ", ".join(missing_images[:10]) + (" ..." if len(missing_images) > 10 else ""),
        )
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
    if image_root is None:
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
        image_root = found[0]
    image_root = Path(image_root)
    attr_names = sorted(
        {normalize_attribute_name(a) for v in data.values() for a in v.get("attr", [])}
    )
    sequences = []
    for name, entry in data.items():
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
        sequences.append(
            _build_sequence(name, "pysot_json", paths, gt, attributes, length_mismatch)
        )
    return sequences


# --------------------------------------------------------------------------------------------
# Layout detection
# --------------------------------------------------------------------------------------------

_LOOKED_FOR = (
    "a pysot JSON index file (*.json with img_names/gt_rect)",
    "an LSOTB-TIR root (anno/ + sequences/)",
    "a PTB-TIR root (tiranno/ + tirsequences/)",
    "an OTB folder (img/ + groundtruth_rect.txt)",
    "a VOT folder (groundtruth.txt + images)",
    "a folder of such sequence folders",
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
    if _otb_gt_files(folder) and (folder / "img").is_dir():
        return "otb"
    if (folder / "groundtruth.txt").is_file():
        return "vot"
    return None


def detect_layout(path: Path) -> str:
    """Name of the layout at ``path``: ``pysot_json``, ``lsotb_tir``, ``ptb_tir``, ``otb``,
    ``vot`` or ``collection`` (a folder of sequence folders).

    Raises:
        DatasetError: listing what was looked for, with hints for half-present layouts.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset path {path} does not exist")
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "pysot_json"
        raise DatasetError(f"{path} is a file; give a dataset folder or a pysot JSON index")
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
    hints = []
    if (path / "anno").is_dir():
        hints.append("anno/ exists but sequences/ (the LSOTB-TIR images) is missing")
    if (path / "tiranno").is_dir():
        hints.append("tiranno/ exists but tirsequences/ (the PTB-TIR images) is missing")
    if (path / "img").is_dir():
        hints.append("img/ exists but there is no groundtruth_rect.txt")
    if _otb_gt_files(path):
        hints.append("groundtruth_rect.txt exists but there is no img/ folder")
    raise DatasetError(
        f"unknown dataset layout at {path}; looked for " + "; ".join(_LOOKED_FOR)
        + (" (" + "; ".join(hints) + ")" if hints else "")
    )


def load_sequences(path: Path, *, length_mismatch: LengthPolicy = "error") -> list[Sequence]:
    """Load every sequence at ``path``, detecting the layout (see :func:`detect_layout`).

    ``path`` may be one sequence folder, a folder of sequence folders, a benchmark root or a
    pysot JSON index. Ground-truth rows must match the frames unless
    ``length_mismatch='truncate'`` (then the longer side is cut with a warning).
    """
    path = Path(path)
    layout = detect_layout(path)
    logger.debug("detected layout %r at %s", layout, path)
    if layout == "lsotb_tir":
        return load_lsotb_tir(path, length_mismatch=length_mismatch)
    if layout == "ptb_tir":
        return load_ptb_tir(path, length_mismatch=length_mismatch)
    if layout == "otb":
        return load_otb_sequence(path, length_mismatch=length_mismatch)
    if layout == "vot":
        return [load_vot_sequence(path, length_mismatch=length_mismatch)]
    if layout == "pysot_json":
        json_files = [path] if path.is_file() else _pysot_jsons(path)
        if len(json_files) > 1:
            raise DatasetError(
                f"{path} holds several pysot JSON indexes "
                f"({', '.join(p.name for p in json_files)}); pass the one to use"
            )
        return load_pysot_json(json_files[0], length_mismatch=length_mismatch)
    sequences: list[Sequence] = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        kind = _single_layout(sub)
        if kind == "otb":
            sequences.extend(load_otb_sequence(sub, length_mismatch=length_mismatch))
        elif kind == "vot":
            sequences.append(load_vot_sequence(sub, length_mismatch=length_mismatch))
        else:
            logger.warning("skipping %s: not an OTB or VOT sequence folder", sub)
    return sequences


# --------------------------------------------------------------------------------------------
# Paired visible + thermal data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PairedSequence:
    """A registered visible (RGB) + thermal sequence.

    Attributes:
        name: sequence name.
        layout: ``rgbt`` (RGBT234 / LasHeR), ``gtot`` or ``synthetic``.
        num_frames: number of frame pairs.
        rgb_loader: ``loader(i)`` -> BGR ``HxWx3`` visible frame.
        tir_loader: ``loader(i)`` -> thermal frame (mono or 3-channel as stored).
        gt: ``(N, 4)`` boxes ``x, y, w, h`` in the thermal image, or ``None`` (unannotated).
        gt_rgb: ``(N, 4)`` boxes in the visible image where the benchmark annotates it
            separately, else ``None`` (then ``gt`` holds for both).
    """

    name: str
    layout: str
    num_frames: int
    rgb_loader: FrameLoader
    tir_loader: FrameLoader
    gt: np.ndarray | None = None
    gt_rgb: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise DatasetError(f"paired sequence {self.name!r} has no frames")
        for key in ("gt", "gt_rgb"):
            value = getattr(self, key)
            if value is None:
                continue
            arr = _as_gt(value, self.name)
            if len(arr) != self.num_frames:
                raise DatasetError(
                    f"paired sequence {self.name!r}: {key} has {len(arr)} rows for "
                    f"{self.num_frames} frames"
                )
            object.__setattr__(self, key, arr)

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return f"PairedSequence(name={self.name!r}, layout={self.layout!r}, frames={len(self)})"

    def _index(self, index: int) -> int:
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame index {index} out of range for {self.num_frames} frames")
        return index

    def rgb_frame(self, index: int) -> np.ndarray:
        """Visible frame ``index`` (BGR)."""
        frame = self.rgb_loader(self._index(index))
        return _check_frame(frame, f"paired sequence {self.name!r} (rgb)", index)

    def tir_frame(self, index: int) -> np.ndarray:
        """Thermal frame ``index`` as stored (8/16-bit mono, or 3-channel)."""
        frame = self.tir_loader(self._index(index))
        return _check_frame(frame, f"paired sequence {self.name!r} (tir)", index)

    def as_sequence(self, modality: Literal["tir", "rgb"] = "tir") -> Sequence:
        """One modality as a :class:`Sequence` (needs ground truth)."""
        if modality not in ("tir", "rgb"):
            raise ValueError(f"modality must be 'tir' or 'rgb', got {modality!r}")
        gt = self.gt if modality == "tir" or self.gt_rgb is None else self.gt_rgb
        if gt is None:
            raise DatasetError(
                f"paired sequence {self.name!r} has no ground truth; it cannot be evaluated"
            )
        loader = self.tir_frame if modality == "tir" else self.rgb_frame
        return Sequence(f"{self.name}", f"{self.layout}_{modality}", gt, {}, None, loader)


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


def _read_voc(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
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


def _is_llvip(folder: Path) -> bool:
    return (folder / "infrared").is_dir() and not _rgbt_kind(folder) and (
        (folder / "visible").is_dir() or (folder / "Annotations").is_dir()
    )


def _images_recursive(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: [_natural_key(q) for q in p.relative_to(folder).parts])


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
    tir_paths = _images_recursive(ir_dir)
    if not tir_paths:
        raise DatasetError(f"LLVIP folder {folder}: infrared/ holds no images")
    records: list[PairedImage] = []
    missing_rgb: list[str] = []
    for tir_path in tir_paths:
        rel = tir_path.relative_to(ir_dir)
        rgb_path: Path | None = None
        if vis_dir.is_dir():
            rgb_path = vis_dir / rel
            if not rgb_path.is_file():
                missing_rgb.append(str(rel))
                rgb_path = None
        ann = ann_dir / f"{tir_path.stem}.xml"
        if ann.is_file():
            boxes, labels = _read_voc(ann)
            annotated = True
        else:
            boxes, labels, annotated = np.zeros((0, 4)), (), False
        name = rel.with_suffix("").as_posix()
        records.append(PairedImage(name, rgb_path, tir_path, boxes, labels, annotated))
    if missing_rgb:
        logger.warning(
            "LLVIP folder %s: %d infrared images have no visible counterpart (e.g. %s)",
            folder,
            len(missing_rgb),
            missing_rgb[0],
        )
    return records


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


def _load_paired_sequence(
    folder: Path, kind: str, length_mismatch: LengthPolicy
) -> PairedSequence:
    vis_name, ir_name = _RGBT_FOLDERS[kind]
    rgb_paths = list_images(folder / vis_name)
    tir_paths = list_images(folder / ir_name)
    name = folder.name
    n = len(tir_paths)
    if len(rgb_paths) != len(tir_paths):
        if length_mismatch == "error":
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
    corners = kind == "gtot"
    vis_file, ir_file = (folder / f for f in _RGBT_BOX_FILES[kind])
    gt_tir = read_boxes(ir_file, corners=corners) if ir_file.is_file() else None
    gt_rgb = read_boxes(vis_file, corners=corners) if vis_file.is_file() else None
    if gt_tir is None:
        # One shared annotation: the visible boxes, else init.txt (always x, y, w, h).
        init_file = folder / "init.txt"
        gt_tir = gt_rgb if gt_rgb is not None else read_boxes(init_file)
        gt_rgb = None
    n = _reconcile_lengths(name, n, gt_tir, length_mismatch)
    if gt_rgb is not None:
        n = _reconcile_lengths(name, n, gt_rgb, length_mismatch, "frames (visible boxes)")
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
