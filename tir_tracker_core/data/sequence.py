"""The sequence types every reader returns, and the rule for frames vs ground-truth rows.

- :class:`Sequence`: one annotated single-target sequence (a benchmark sequence, one modality
  of a paired sequence, a synthetic target).
- :class:`PairedSequence`: a registered visible + thermal sequence, annotated or not.
- :func:`reconcile_lengths`: what a reader does when frames and ground-truth rows disagree in
  number (:data:`LengthPolicy`).
- Sparse ground truth (a box every N-th frame, as VTUAV): :func:`infer_gt_stride` and
  :func:`expand_sparse_gt` turn the rows into one row per frame, ``NaN`` where a frame is not
  annotated; :attr:`Sequence.gt_frames` lists the annotated frames. Evaluation scores those
  frames only.

Frames are read on demand, from image files or from a ``loader(i)`` (:data:`FrameLoader`), so
a sequence never holds its frames in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import DatasetError
from .io import read_image

logger = logging.getLogger(__name__)

__all__ = [
    "FrameLoader",
    "LengthPolicy",
    "PairedSequence",
    "Sequence",
    "annotated_mask",
    "expand_sparse_gt",
    "infer_gt_stride",
    "reconcile_lengths",
]

FrameLoader = Callable[[int], np.ndarray]
"""``loader(i) -> frame`` for a 0-based frame index."""

LengthPolicy = Literal["error", "truncate"]
"""What to do when ground-truth rows and frames disagree in number."""

Modality = Literal["tir", "rgb"]
"""Which half of registered visible + thermal data: thermal (``tir``) or visible (``rgb``)."""

_LENGTH_POLICIES: tuple[str, ...] = ("error", "truncate")


def reconcile_lengths(
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


def annotated_mask(gt: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: rows that carry a box (no ``NaN``). A ``NaN`` row is an unannotated frame;
    a row with ``w`` or ``h <= 0`` is annotated (the target is absent or unmeasured there)."""
    return ~np.isnan(np.asarray(gt, dtype=np.float64)).any(axis=-1)


def infer_gt_stride(num_rows: int, num_frames: int) -> int | None:
    """The annotation stride ``s`` when ``num_rows`` rows annotate frames ``0, s, 2s, ...`` of
    ``num_frames`` frames, or ``None`` when no single ``s`` fits.

    ``s`` must satisfy ``(num_rows - 1) * s <= num_frames - 1 < num_rows * s`` (the last row
    is within the video and one more row would not be); equal counts give ``1``. VTUAV: 11 rows
    for 101 frames -> 10.
    """
    if num_rows < 1 or num_frames < num_rows:
        return None
    if num_rows == num_frames:
        return 1
    if num_rows == 1:
        return None  # any stride >= num_frames fits
    lo = -(-num_frames // num_rows)  # ceil(F / R): R * s >= F
    hi = (num_frames - 1) // (num_rows - 1)  # (R - 1) * s <= F - 1
    return lo if lo == hi else None


def expand_sparse_gt(
    name: str, gt: np.ndarray, num_frames: int, stride: int | None = None
) -> np.ndarray:
    """``(num_frames, 4)`` boxes from rows annotating frames ``0, stride, 2 * stride, ...``;
    unannotated frames get ``NaN`` rows.

    ``stride=None`` infers it (:func:`infer_gt_stride`) and raises :class:`DatasetError` when the
    counts fit no single stride (or several).
    """
    gt = np.asarray(gt, dtype=np.float64)
    if stride is None:
        stride = infer_gt_stride(len(gt), num_frames)
        if stride is None:
            raise DatasetError(
                f"sequence {name!r}: {len(gt)} ground-truth rows for {num_frames} frames fit no "
                "single annotation stride (rows on frames 0, s, 2s, ...); give the stride "
                "explicitly or fix the files"
            )
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    frames = np.arange(len(gt)) * stride
    if len(gt) == 0 or frames[-1] >= num_frames:
        raise DatasetError(
            f"sequence {name!r}: {len(gt)} rows every {stride} frames reach frame "
            f"{frames[-1] if len(gt) else 0} but the sequence has {num_frames} frames"
        )
    dense = np.full((num_frames, 4), np.nan)
    dense[frames] = gt
    return dense


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


def _frozen_attributes(
    name: str, attributes: Mapping[str, Any], num_frames: int
) -> dict[str, np.ndarray]:
    """Read-only copies of sequence flags (0-d) and per-frame flags (``(num_frames,)``)."""
    out: dict[str, np.ndarray] = {}
    for key, value in attributes.items():
        arr = np.array(value, copy=True)
        if arr.ndim == 1 and len(arr) != num_frames:
            raise DatasetError(
                f"sequence {name!r}: per-frame attribute {key!r} has {len(arr)} values "
                f"for {num_frames} frames"
            )
        if arr.ndim > 1:
            raise DatasetError(
                f"sequence {name!r}: attribute {key!r} must be 0-d (sequence flag) or "
                f"1-d (per-frame), got shape {arr.shape}"
            )
        arr.setflags(write=False)
        out[key] = arr
    return out


@dataclass(frozen=True, eq=False)
class Sequence:
    """One annotated single-target sequence.

    Attributes:
        name: sequence name as the benchmark spells it.
        layout: layout it was read from (``otb``, ``lsotb_tir``, ``ptb_tir``, ``pysot_json``,
            ``vot``, ``synthetic``, ...).
        gt: ``(N, 4)`` float64 ``x, y, w, h`` per frame, exactly as in the file (read-only);
            a ``NaN`` row is a frame without annotation (sparse ground truth, see
            :attr:`gt_frames`). Frame 0 must be annotated.
        attributes: benchmark flags by canonical name: 0-d bool arrays for sequence-level flags,
            ``(N,)`` bool arrays for per-frame labels.
        frame_paths: image file per frame, or ``None`` for an in-memory sequence.
        frame_loader: ``loader(i) -> frame`` for a sequence not stored as image files (decoded
            video, raw thermal video, generated frames); exactly one of ``frame_paths`` and
            ``frame_loader`` is set.
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
        if np.isnan(gt[0]).any():
            raise DatasetError(
                f"sequence {self.name!r}: frame 0 has no ground-truth box; a tracker is "
                "initialised with it (cut the sequence to start at an annotated frame)"
            )
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
        attributes = _frozen_attributes(self.name, self.attributes, len(gt))
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

    @property
    def annotated(self) -> np.ndarray:
        """``(N,)`` bool: frames with a ground-truth box (all ``True`` for dense ground truth)."""
        return annotated_mask(self.gt)

    @property
    def gt_frames(self) -> np.ndarray:
        """Indices of the annotated frames, the only frames evaluation may score (all frames for
        dense ground truth; ``0, 10, ..., 100`` for VTUAV's sparse boxes)."""
        return np.flatnonzero(self.annotated)

    @property
    def gt_stride(self) -> int | None:
        """Spacing of the annotated frames when it is regular (1 for dense ground truth), else
        ``None``."""
        frames = self.gt_frames
        if len(frames) == 1:
            return 1 if len(self) == 1 else None
        steps = np.unique(np.diff(frames))
        return int(steps[0]) if len(steps) == 1 else None

    @property
    def is_sparse(self) -> bool:
        """Some frames carry no ground-truth box."""
        return not bool(self.annotated.all())

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

    def as_sequence(self, modality: Modality = "tir") -> Sequence:
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
