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

__all__ = ["OTB_SRE", "Perturbation", "perturb_box", "perturbation_table", "sre_scores",
           "sre_table"]


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


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def sre_table(trackers: Iterable[str], sequences: Iterable[str],
              scores: Mapping[str, Mapping[str, Mapping[str, SequenceScores]]],
              groups: Mapping[str, list[str]]) -> str:
    """SRE success per sequence (rows) and tracker (columns), then each group of two or more
    sequences and the mean over sequences. ``scores``: tracker -> sequence -> perturbation."""
    trackers, sequences = list(trackers), list(sequences)
    per_seq = {t: {s: sre_scores(scores[t][s]).success for s in sequences} for t in trackers}
    lines = ["| sequence | " + " | ".join(trackers) + " |", "|---|" + "---:|" * len(trackers)]

    def row(label: str, values: Iterable[float]) -> None:
        lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + " |")

    for seq in sequences:
        row(seq, (per_seq[t][seq] for t in trackers))
    if len(groups) > 1:
        for g, names in groups.items():
            if len(names) > 1:
                row(f"group {g} ({len(names)})",
                    (_mean(per_seq[t][s] for s in names) for t in trackers))
    row(f"**mean ({len(sequences)})**", (_mean(per_seq[t].values()) for t in trackers))
    return "\n".join(lines) + "\n"


def perturbation_table(trackers: Iterable[str], sequences: Iterable[str],
                       scores: Mapping[str, Mapping[str, Mapping[str, SequenceScores]]],
                       perturbations: Iterable[Perturbation]) -> str:
    """Success per perturbation (rows, mean over sequences) and tracker (columns), then the
    worst sequence-and-perturbation run of each tracker."""
    trackers, sequences, perts = list(trackers), list(sequences), list(perturbations)
    lines = ["| first box | " + " | ".join(trackers) + " |", "|---|" + "---:|" * len(trackers)]
    for p in perts:
        lines.append(f"| {p.name} | " + " | ".join(
            f"{_mean(scores[t][s][p.name].success for s in sequences):.3f}" for t in trackers)
            + " |")
    worst = []
    for t in trackers:
        s, p = min(((s, p.name) for s in sequences for p in perts),
                   key=lambda sp: scores[t][sp[0]][sp[1]].success)
        worst.append(f"{scores[t][s][p].success:.3f} ({s}, {p})")
    lines.append("| worst run | " + " | ".join(worst) + " |")
    return "\n".join(lines) + "\n"
