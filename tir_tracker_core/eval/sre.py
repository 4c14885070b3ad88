"""Spatial robustness evaluation (SRE, Wu et al., OTB, CVPR 2013 / TPAMI 2015).

A user draws the first box by hand, and a hand-drawn box is never the annotator's. OTB's SRE
starts every tracker from twelve perturbed first boxes and scores each run against the
unchanged ground truth: the box's centre shifted by 10 % of its width and / or height in
eight directions, and its size scaled by 0.8, 0.9, 1.1 and 1.2 about its centre. A sequence's
SRE success is the mean over the twelve runs; the suite's, the mean over sequences (as the
one-pass scores). :func:`tir_tracker_core.eval.runner.evaluate` runs the perturbed starts in
lockstep with the annotated one when given ``perturbations``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .metrics import Scores, SequenceScores, aggregate

__all__ = ["OTB_SRE", "Perturbation", "perturb_box", "sre_scores"]


@dataclass(frozen=True)
class Perturbation:
    """A change of the first box: its centre moved by ``dx`` widths and ``dy`` heights, then
    its width and height multiplied by ``scale`` about the (moved) centre."""

    name: str
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"perturbation {self.name!r}: scale {self.scale} must be positive")


OTB_SRE: tuple[Perturbation, ...] = (
    Perturbation("left", dx=-0.1),
    Perturbation("right", dx=0.1),
    Perturbation("up", dy=-0.1),
    Perturbation("down", dy=0.1),
    Perturbation("up-left", dx=-0.1, dy=-0.1),
    Perturbation("up-right", dx=0.1, dy=-0.1),
    Perturbation("down-left", dx=-0.1, dy=0.1),
    Perturbation("down-right", dx=0.1, dy=0.1),
    Perturbation("scale 0.8", scale=0.8),
    Perturbation("scale 0.9", scale=0.9),
    Perturbation("scale 1.1", scale=1.1),
    Perturbation("scale 1.2", scale=1.2),
)
"""OTB's twelve SRE perturbations (``shiftTypeSet`` of the OTB toolkit), without its rounding
to whole pixels."""


def perturb_box(box: Iterable[float], p: Perturbation) -> np.ndarray:
    """``box`` (``x, y, w, h``) under ``p``."""
    x, y, w, h = (float(v) for v in box)
    cx, cy = x + w / 2 + p.dx * w, y + h / 2 + p.dy * h
    w, h = w * p.scale, h * p.scale
    return np.array([cx - w / 2, cy - h / 2, w, h])


def sre_scores(per_perturbation: Mapping[str, SequenceScores]) -> Scores:
    """One sequence's SRE scores: its runs from every perturbed first box, averaged."""
    return aggregate(per_perturbation.values())
