"""Re-acquisition of lost targets on synthetic sequences whose truth is known.

Every target of a synthetic sequence with ``SyntheticConfig.dropouts`` vanishes completely
(hidden, or out of the image) for a while and shows again elsewhere. Each such *event* is
followed from the frame the target shows again up to the next dropout (or the end):

- **re-acquired**: some frame of that window reports the target ``TRACKED`` with IoU >=
  ``HIT_IOU`` against its true box; **frames to re-acquire** counts from the first frame it
  is shown again (0: tracked on it right away);
- **false re-acquisition** (counted over the whole sequence, every target): a target goes
  from ``LOST`` to ``TRACKED`` with IoU < ``HIT_IOU`` against its true box (a box put on a
  distractor or clutter).

The report also gives the mean success (LSOTB-TIR rules, per target) and the frame rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..data.synthetic import SyntheticConfig, SyntheticSequence, generate_sequence
from ..tracking import Tracker, TrackState
from .metrics import evaluate_sequence, iou

__all__ = ["HIT_IOU", "RedetectResult", "dropout_events", "evaluate_redetect",
           "markdown_table", "score_run"]

HIT_IOU = 0.3  # a box on the target: IoU at least this with the true box


@dataclass(frozen=True)
class RedetectResult:
    name: str
    events: int  # dropouts followed (target shown again before the sequence ends)
    reacquired: int  # events after which the target was tracked on again
    frames_to_reacquire: tuple[int, ...]  # per re-acquired event
    reacquisitions: int  # LOST -> TRACKED transitions, all targets
    false_reacquisitions: int  # of those, onto something else than the target
    success: float  # mean over every target of every sequence
    fps: float

    @property
    def share(self) -> float:
        return self.reacquired / self.events if self.events else float("nan")

    @property
    def median_frames(self) -> float:
        return float(np.median(self.frames_to_reacquire)) if self.frames_to_reacquire \
            else float("nan")

    def row(self) -> str:
        return (f"| {self.name} | {self.events} | {self.reacquired} ({100 * self.share:.0f}%) | "
                f"{self.median_frames:.1f} | {self.reacquisitions} | "
                f"{self.false_reacquisitions} | {self.success:.3f} | {self.fps:.1f} |")


def dropout_events(hidden: np.ndarray) -> list[tuple[int, int, int]]:
    """``(target, first frame shown again, end of its window)`` of every dropout in
    ``hidden`` (targets, frames) bool: a run of hidden frames followed by a shown one; the
    window ends where the next dropout starts (or at the last frame + 1)."""
    out = []
    for k, row in enumerate(hidden):
        d = np.diff(row.astype(np.int8))
        back = (np.flatnonzero(d == -1) + 1).tolist()  # first shown frame after a dropout
        gone = (np.flatnonzero(d == 1) + 1).tolist()  # first hidden frame
        for b in back:
            end = min([g for g in gone if g > b], default=len(row))
            out.append((k, b, end))
    return out


def score_run(pred: np.ndarray, tracked: np.ndarray, gt: np.ndarray,
              hidden: np.ndarray) -> tuple[list[int | None], int, int]:
    """Per event (``dropout_events`` order) the frames to re-acquire (None: never), and the
    number of re-acquisitions and false re-acquisitions. ``pred``, ``gt``: (targets, frames,
    4); ``tracked``, ``hidden``: (targets, frames) bool."""
    overlap = np.stack([iou(pred[k], gt[k]) for k in range(len(gt))])  # (targets, frames)
    on = tracked & (overlap >= HIT_IOU) & ~hidden
    frames: list[int | None] = []
    for k, back, end in dropout_events(hidden):
        hits = np.flatnonzero(on[k, back:end])
        frames.append(int(hits[0]) if len(hits) else None)
    comeback = tracked[:, 1:] & ~tracked[:, :-1]  # LOST -> TRACKED at frame f + 1
    wrong = ~on[:, 1:]
    return frames, int(comeback.sum()), int((comeback & wrong).sum())


def _run(make: Callable[[], Tracker], seq: SyntheticSequence
         ) -> tuple[np.ndarray, np.ndarray, float]:
    gt = seq.boxes
    tracker = make()
    ids = tracker.init(seq.tir_frame(0), [tuple(b) for b in gt[:, 0]])
    row = {track_id: k for k, track_id in enumerate(ids)}
    pred = np.repeat(gt[:, :1], len(seq), axis=1).astype(np.float64)
    tracked = np.ones(pred.shape[:2], bool)
    seconds = 0.0
    for f in range(1, len(seq)):
        frame = seq.tir_frame(f)
        t0 = time.perf_counter()
        tracks = tracker.update(frame)
        seconds += time.perf_counter() - t0
        for t in tracks:
            pred[row[t.id], f] = t.box
            tracked[row[t.id], f] = t.state is TrackState.TRACKED
    return pred, tracked, seconds


def evaluate_redetect(variants: dict[str, Callable[[], Tracker]], seeds: Iterable[int],
                      targets: int = 3, frames: int = 200, dropouts: int = 2,
                      width: int = 320, height: int = 256) -> list[RedetectResult]:
    """Run every variant (a factory of fresh trackers) on the synthetic sequences of
    ``seeds`` (``targets`` targets, each with ``dropouts`` dropouts of either kind) and
    return one result per variant."""
    seqs = [generate_sequence(SyntheticConfig(seed=s, num_frames=frames, width=width,
                                              height=height, num_targets=targets,
                                              dropouts=dropouts))
            for s in seeds]
    out = []
    for name, make in variants.items():
        found: list[int | None] = []
        scores: list[float] = []
        comebacks = wrong = 0
        seconds, n_frames = 0.0, 0
        for seq in seqs:
            pred, tracked, sec = _run(make, seq)
            f, c, w = score_run(pred, tracked, seq.boxes, seq.hidden)
            found += f
            comebacks, wrong = comebacks + c, wrong + w
            scores += [evaluate_sequence(pred[k], seq.boxes[k]).success
                       for k in range(len(pred))]
            seconds, n_frames = seconds + sec, n_frames + len(seq) - 1
        hits = tuple(v for v in found if v is not None)
        out.append(RedetectResult(name, len(found), len(hits), hits, comebacks, wrong,
                                  float(np.mean(scores)), n_frames / max(seconds, 1e-9)))
    return out


def markdown_table(results: list[RedetectResult]) -> str:
    head = ("| variant | events | re-acquired | median frames to re-acquire | "
            "re-acquisitions | false re-acquisitions | mean success | FPS |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|")
    return "\n".join([head] + [r.row() for r in results])
