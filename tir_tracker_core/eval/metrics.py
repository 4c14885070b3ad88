"""One-pass evaluation metrics with the LSOTB-TIR toolkit rules.

Rules (see ``notes/benchmarks.md``):

- Success: a frame succeeds at threshold ``t`` if IoU > t, ``t = 0:0.05:1`` (21 values); the
  score is the mean of the curve (AUC).
- Precision: centre error <= ``t`` pixels, ``t = 0..50``; the score is the value at 20 px.
  The centre of a box is ``(x + (w - 1) / 2, y + (h - 1) / 2)``.
- Normalized precision: both centres divided by the ground-truth ``w`` and ``h``;
  ``t = 0:0.01:0.5``; the score is the mean of the curve.
- Frame 1 is set to the ground truth. A prediction that is NaN or has ``w`` or ``h`` <= 0 is
  replaced by the previous frame's (already repaired) prediction.
- A ground-truth row with any value <= 0 (or NaN) gets IoU = -1 (always a failure) and centre
  errors = -1 (always a success for precision and normalized precision).
- Curves are computed per sequence and averaged over sequences; a sequence whose whole curve
  is zero is dropped from that curve's average.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ..geometry import box_iou_xywh

__all__ = [
    "NORM_PRECISION_THRESHOLDS",
    "PRECISION_THRESHOLDS",
    "PRECISION_THRESHOLD_PX",
    "SUCCESS_THRESHOLDS",
    "Scores",
    "SequenceScores",
    "aggregate",
    "aggregate_by_attribute",
    "center_error",
    "evaluate_sequence",
    "iou",
    "normalized_center_error",
    "repair_predictions",
    "restrict_frames",
    "valid_gt_mask",
]

SUCCESS_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.0, 21)
"""IoU thresholds 0:0.05:1 of the success curve."""
PRECISION_THRESHOLDS: np.ndarray = np.arange(0, 51, dtype=np.float64)
"""Centre-error thresholds 0..50 px of the precision curve."""
PRECISION_THRESHOLD_PX = 20
"""The precision score is the curve's value at this many pixels."""
NORM_PRECISION_THRESHOLDS: np.ndarray = np.linspace(0.0, 0.5, 51)
"""Normalized centre-error thresholds 0:0.01:0.5 of the normalized precision curve."""

for _arr in (SUCCESS_THRESHOLDS, PRECISION_THRESHOLDS, NORM_PRECISION_THRESHOLDS):
    _arr.setflags(write=False)


def _boxes(boxes: np.ndarray | Iterable[float], name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.shape[-1:] != (4,):
        raise ValueError(f"{name} must have shape (..., 4) as x, y, w, h; got {arr.shape}")
    return arr


def _centers(boxes: np.ndarray) -> np.ndarray:
    return boxes[..., :2] + (boxes[..., 2:] - 1.0) / 2.0


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``(..., 4)`` ``x, y, w, h``, element-wise.

    Plain geometry, without the toolkit's ground-truth rules (see :func:`evaluate_sequence`).
    The OTB pixel convention (right = x + w - 1, intersection + 1) gives the same value. A
    zero-area union gives 0.
    """
    return box_iou_xywh(_boxes(a, "a"), _boxes(b, "b"))


def center_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance in pixels between box centres ``x + (w - 1) / 2``, element-wise."""
    a, b = _boxes(a, "a"), _boxes(b, "b")
    return np.linalg.norm(_centers(a) - _centers(b), axis=-1)


def normalized_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Centre distance with x divided by the ground-truth width and y by its height.

    Ground-truth boxes with ``w`` or ``h`` <= 0 give NaN here; :func:`evaluate_sequence` sets
    such frames to -1.
    """
    pred, gt = _boxes(pred, "pred"), _boxes(gt, "gt")
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = (_centers(pred) - _centers(gt)) / np.where(gt[..., 2:] > 0, gt[..., 2:], np.nan)
    return np.linalg.norm(diff, axis=-1)


def valid_gt_mask(gt: np.ndarray) -> np.ndarray:
    """True for ground-truth rows whose four values are all > 0 (NaN counts as invalid)."""
    gt = _boxes(gt, "gt")
    return np.all(gt > 0, axis=-1)


def repair_predictions(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Apply the toolkit's rules to raw predictions (returns a new ``(N, 4)`` array).

    Frame 1 becomes the ground truth; every later prediction that is NaN or has ``w`` or
    ``h`` <= 0 is replaced by the previous frame's repaired prediction.
    """
    pred = _boxes(pred, "pred").reshape(-1, 4).copy()
    gt = _boxes(gt, "gt").reshape(-1, 4)
    if len(pred) != len(gt):
        raise ValueError(
            f"{len(pred)} predictions for {len(gt)} ground-truth rows; the tracker must report "
            "one box per frame"
        )
    if len(gt) == 0:
        raise ValueError("cannot evaluate an empty sequence")
    pred[0] = gt[0]
    bad = np.isnan(pred).any(axis=1) | (pred[:, 2] <= 0) | (pred[:, 3] <= 0)
    bad[0] = False
    for i in np.flatnonzero(bad):
        pred[i] = pred[i - 1]
    return pred


@dataclass(frozen=True, eq=False)
class SequenceScores:
    """Scores and curves of one tracker on one sequence.

    Attributes:
        success: mean of ``success_curve`` (AUC).
        precision: ``precision_curve`` at 20 px.
        norm_precision: mean of ``norm_precision_curve``.
        success_curve: fraction of frames with IoU > t for :data:`SUCCESS_THRESHOLDS`.
        precision_curve: fraction with centre error <= t for :data:`PRECISION_THRESHOLDS`.
        norm_precision_curve: same for :data:`NORM_PRECISION_THRESHOLDS`.
        ious: per-frame IoU (-1 where the ground truth is invalid).
        center_errors: per-frame centre error in pixels (-1 where the ground truth is invalid).
        norm_center_errors: per-frame normalized centre error (-1 likewise).
    """

    success: float
    precision: float
    norm_precision: float
    success_curve: np.ndarray
    precision_curve: np.ndarray
    norm_precision_curve: np.ndarray
    ious: np.ndarray
    center_errors: np.ndarray
    norm_center_errors: np.ndarray

    @property
    def num_frames(self) -> int:
        """Number of evaluated frames."""
        return len(self.ious)


def _success_curve(ious: np.ndarray) -> np.ndarray:
    return (ious[None, :] > SUCCESS_THRESHOLDS[:, None]).mean(axis=1)


def _error_curve(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return (errors[None, :] <= thresholds[:, None]).mean(axis=1)


def _precision_index() -> int:
    return int(np.flatnonzero(PRECISION_THRESHOLDS == PRECISION_THRESHOLD_PX)[0])


def _scores_from_frames(
    ious: np.ndarray, errors: np.ndarray, norm_errors: np.ndarray
) -> SequenceScores:
    success_curve = _success_curve(ious)
    precision_curve = _error_curve(errors, PRECISION_THRESHOLDS)
    norm_curve = _error_curve(norm_errors, NORM_PRECISION_THRESHOLDS)
    for arr in (success_curve, precision_curve, norm_curve, ious, errors, norm_errors):
        arr.setflags(write=False)
    return SequenceScores(
        success=float(success_curve.mean()),
        precision=float(precision_curve[_precision_index()]),
        norm_precision=float(norm_curve.mean()),
        success_curve=success_curve,
        precision_curve=precision_curve,
        norm_precision_curve=norm_curve,
        ious=ious,
        center_errors=errors,
        norm_center_errors=norm_errors,
    )


def evaluate_sequence(pred: np.ndarray, gt: np.ndarray) -> SequenceScores:
    """Score raw predictions ``(N, 4)`` against ground truth ``(N, 4)`` with the toolkit rules."""
    gt = _boxes(gt, "gt").reshape(-1, 4)
    fixed = repair_predictions(pred, gt)
    valid = valid_gt_mask(gt)
    ious = np.full(len(gt), -1.0)
    errors = np.full(len(gt), -1.0)
    norm_errors = np.full(len(gt), -1.0)
    ious[valid] = iou(fixed[valid], gt[valid])
    errors[valid] = center_error(fixed[valid], gt[valid])
    norm_errors[valid] = normalized_center_error(fixed[valid], gt[valid])
    return _scores_from_frames(ious, errors, norm_errors)


def restrict_frames(scores: SequenceScores, mask: np.ndarray) -> SequenceScores:
    """Scores recomputed over the frames where ``mask`` is True (per-frame attribute analysis).

    Raises:
        ValueError: ``mask`` does not have one value per frame, or selects no frame.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != scores.ious.shape:
        raise ValueError(f"mask has shape {mask.shape}, expected ({scores.num_frames},)")
    if not mask.any():
        raise ValueError("mask selects no frame")
    return _scores_from_frames(
        scores.ious[mask].copy(),
        scores.center_errors[mask].copy(),
        scores.norm_center_errors[mask].copy(),
    )


@dataclass(frozen=True, eq=False)
class Scores:
    """Scores averaged over sequences (the numbers a benchmark table reports).

    Attributes:
        success, precision, norm_precision: scores of the averaged curves.
        success_curve, precision_curve, norm_precision_curve: per-sequence curves averaged over
            the sequences whose curve is not all zero.
        num_sequences: sequences given.
        num_used: sequences kept in each curve's average, by curve name (``success``,
            ``precision``, ``norm_precision``).
    """

    success: float
    precision: float
    norm_precision: float
    success_curve: np.ndarray
    precision_curve: np.ndarray
    norm_precision_curve: np.ndarray
    num_sequences: int
    num_used: Mapping[str, int]


def _mean_nonzero(curves: np.ndarray) -> tuple[np.ndarray, int]:
    keep = curves.sum(axis=1) > np.finfo(np.float64).eps
    if not keep.any():
        return np.zeros(curves.shape[1]), 0
    return curves[keep].mean(axis=0), int(keep.sum())


def aggregate(scores: Iterable[SequenceScores]) -> Scores:
    """Average per-sequence curves, dropping all-zero curves, and score the averages."""
    items = list(scores)
    if not items:
        raise ValueError("aggregate() needs at least one SequenceScores")
    success, n_s = _mean_nonzero(np.stack([s.success_curve for s in items]))
    precision, n_p = _mean_nonzero(np.stack([s.precision_curve for s in items]))
    norm, n_n = _mean_nonzero(np.stack([s.norm_precision_curve for s in items]))
    for arr in (success, precision, norm):
        arr.setflags(write=False)
    return Scores(
        success=float(success.mean()),
        precision=float(precision[_precision_index()]),
        norm_precision=float(norm.mean()),
        success_curve=success,
        precision_curve=precision,
        norm_precision_curve=norm,
        num_sequences=len(items),
        num_used={"success": n_s, "precision": n_p, "norm_precision": n_n},
    )


def aggregate_by_attribute(
    scores: Mapping[str, SequenceScores],
    attributes: Mapping[str, Mapping[str, np.ndarray]],
) -> dict[str, Scores]:
    """Aggregate per attribute.

    A sequence-level flag (0-d array, LSOTB-TIR / PTB-TIR style) puts the whole sequence in
    the attribute's group. A per-frame label array (1-d, VOT-TIR style) puts only its labelled
    frames there (see :func:`restrict_frames`); a sequence with no labelled frame is left out.

    Args:
        scores: sequence name -> scores.
        attributes: sequence name -> its attribute arrays (as in ``Sequence.attributes``).

    Returns:
        attribute name -> :class:`Scores`, for every attribute present at least once, sorted.
    """
    members: dict[str, list[SequenceScores]] = {}
    for name, seq_scores in scores.items():
        for attr, values in attributes.get(name, {}).items():
            values = np.asarray(values)
            if not values.any():
                continue
            if values.ndim == 0:
                members.setdefault(attr, []).append(seq_scores)
            else:
                members.setdefault(attr, []).append(restrict_frames(seq_scores, values))
    return {attr: aggregate(members[attr]) for attr in sorted(members)}
