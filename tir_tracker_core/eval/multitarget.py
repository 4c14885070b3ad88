"""Multi-target evaluation on synthetic thermal sequences with several moving targets.

The tracking benchmarks are single-target, so the multi-target rules of the runtime (shared
search canvases, exclusive assignment, lost detection next to other targets) are measured
here: each tracker variant runs every sequence with all its targets at once, and the report
gives the mean success (LSOTB-TIR rules, per target) and the number of *collapsed* pair-frames:
frames where two tracked targets report one object (their boxes overlap by IoU >= 0.5) while
the two true boxes do not (IoU < 0.3).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.synthetic import SyntheticConfig, generate_sequence
from ..progress import bar
from ..tracking import Tracker, TrackState
from .metrics import evaluate_sequence, iou

COLLAPSE_IOU = 0.5  # two tracks this close report one object...
APART_IOU = 0.3  # ...when the true boxes overlap less than this


@dataclass(frozen=True)
class MultiTargetResult:
    name: str
    success: float  # mean over every target of every sequence
    targets: int
    collapsed: int  # pair-frames where two tracked targets report one object
    fps: float  # frames per second, all targets of a frame together

    def row(self) -> str:
        return (f"| {self.name} | {self.success:.3f} | {self.targets} | {self.collapsed} | "
                f"{self.fps:.1f} |")


def collapsed_pairs(pred: np.ndarray, gt: np.ndarray, tracked: np.ndarray) -> int:
    """Count pair-frames where two tracked targets overlap by IoU >= 0.5 and their true boxes
    by < 0.3. ``pred``, ``gt``: (targets, frames, 4) x, y, w, h; ``tracked``: (targets,
    frames) bool."""
    n = 0
    for a in range(len(pred)):
        for b in range(a + 1, len(pred)):
            both = tracked[a] & tracked[b]
            close = iou(pred[a], pred[b]) >= COLLAPSE_IOU
            apart = iou(gt[a], gt[b]) < APART_IOU
            n += int(np.sum(both & close & apart))
    return n


def evaluate_multitarget(variants: dict[str, Callable[[], Tracker]], seeds: Iterable[int],
                         targets: int = 4, frames: int = 150, width: int = 320,
                         height: int = 256, progress: bool = False) -> list[MultiTargetResult]:
    """Run every variant (a factory of fresh trackers) on the synthetic sequences of ``seeds``
    (``targets`` moving targets each) and return one result per variant.

    ``progress``: show a progress bar (frames, with the variant and sequence) on stderr.
    """
    seqs = [generate_sequence(SyntheticConfig(seed=s, num_frames=frames, width=width,
                                              height=height, num_targets=targets))
            for s in seeds]
    with bar(total=len(variants) * sum(len(s) - 1 for s in seqs), enabled=progress) as shown:
        return [_run_variant(name, make, seqs, shown, f"variant {k}/{len(variants)} {name}")
                for k, (name, make) in enumerate(variants.items(), start=1)]


def _run_variant(name: str, make: Callable[[], Tracker], seqs: list, shown: Any,
                 label: str) -> MultiTargetResult:
    """One variant on every sequence; ``shown`` (a progress bar) advances by frames."""
    scores: list[float] = []
    collapsed, n_frames, seconds = 0, 0, 0.0
    for number, seq in enumerate(seqs, start=1):
        shown.set_description(f"{label}, sequence {number}/{len(seqs)}")
        gt = seq.boxes  # (targets, frames, 4)
        tracker = make()
        ids = tracker.init(seq.tir_frame(0), [tuple(b) for b in gt[:, 0]])
        row = {track_id: k for k, track_id in enumerate(ids)}
        pred = np.repeat(gt[:, :1], len(seq), axis=1).astype(np.float64)
        tracked = np.ones(pred.shape[:2], bool)
        for f in range(1, len(seq)):
            frame = seq.tir_frame(f)
            t0 = time.perf_counter()
            tracks = tracker.update(frame)
            seconds += time.perf_counter() - t0
            n_frames += 1
            shown.update()
            for t in tracks:
                k = row[t.id]
                pred[k, f] = t.box
                tracked[k, f] = t.state is TrackState.TRACKED
        scores += [evaluate_sequence(pred[k], gt[k]).success for k in range(len(ids))]
        collapsed += collapsed_pairs(pred, gt, tracked)
    return MultiTargetResult(name, float(np.mean(scores)), len(scores), collapsed,
                             n_frames / max(seconds, 1e-9))


def markdown_table(results: list[MultiTargetResult]) -> str:
    head = ("| variant | mean success | targets | collapsed pair-frames | FPS |\n"
            "|---|---:|---:|---:|---:|")
    return "\n".join([head] + [r.row() for r in results])


__all__ = ["MultiTargetResult", "collapsed_pairs", "evaluate_multitarget", "markdown_table"]
