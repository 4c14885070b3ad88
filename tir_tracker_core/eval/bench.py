"""Latency benchmark of multi-target trackers as the number of targets grows.

A multi-target tracker has ``init(frame, boxes) -> ids`` and ``update(frame) -> tracks`` (the
``tracking.Tracker`` API). Single-target peers (OpenCV) are run through
``eval.adapters.MultiFromSingle``, one instance per target. The benchmark replicates a
sequence's first ground-truth box N times with small deterministic offsets (kept inside the
image), decodes the frames once up front so that no I/O is timed, and reports per-frame
``update`` latency (p50 / p99 / mean), FPS, the FPS ratio to a named reference tracker and
memory.

Memory: ``peak_rss_mb`` is the process's peak resident set size after the run
(``resource.getrusage``; it never decreases, so it bounds every earlier run too), and
``rss_increase_mb`` is the largest growth of the current RSS over its value before the tracker
was built (sampled after each frame from ``/proc/self/statm``; ``None`` where unavailable).
"""

from __future__ import annotations

import json
import logging
import math
import resource
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.sequence import Sequence
from ..progress import bar
from .adapters import MultiTrackerFactory
from .runner import hardware_info

logger = logging.getLogger(__name__)

__all__ = [
    "BenchReport",
    "BenchResult",
    "bench",
    "lost_targets",
    "replicate_boxes",
]

BENCH_JSON = "bench.json"
BENCH_PLOT = "bench_latency.png"


def replicate_boxes(
    box: SequenceABC[float], count: int, width: int, height: int, step: float = 0.15
) -> np.ndarray:
    """``count`` copies of ``box`` shifted on a grid around it, kept inside the image.

    Copy 0 is ``box`` itself; the others take the grid offsets ``(i, j) * step * (w, h)``
    closest to the centre first (ties broken by angle), so the result is deterministic. Boxes
    are shifted (not shrunk) back inside the ``width`` x ``height`` image; a box larger than the
    image is cut to it.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    x, y, w, h = (float(v) for v in box)
    if not (w > 0 and h > 0):
        raise ValueError(f"box ({x:g}, {y:g}, {w:g}, {h:g}) must have w > 0 and h > 0")
    radius = int(math.ceil(math.sqrt(count))) + 1
    grid = [(i, j) for i in range(-radius, radius + 1) for j in range(-radius, radius + 1)]
    grid.sort(key=lambda ij: (ij[0] ** 2 + ij[1] ** 2, math.atan2(ij[1], ij[0])))
    w, h = min(w, float(width)), min(h, float(height))
    out = np.empty((count, 4))
    for k, (i, j) in enumerate(grid[:count]):
        bx = min(max(x + i * step * w, 0.0), width - w)
        by = min(max(y + j * step * h, 0.0), height - h)
        out[k] = (bx, by, w, h)
    return out


@dataclass(frozen=True)
class BenchResult:
    """Latency of one tracker with one number of targets.

    Attributes:
        tracker: tracker name.
        num_targets: targets tracked at once.
        num_frames: timed frames (after warm-up).
        latency_ms_p50, latency_ms_p99, latency_ms_mean: per-frame ``update`` latency.
        fps: ``1000 / latency_ms_mean``.
        init_ms: time of the ``init`` call for all targets.
        fps_ratio_to_reference: ``fps / reference fps`` at the same number of targets, or
            ``None`` without a reference.
        peak_rss_mb: process peak RSS after the run (monotonic over the process lifetime).
        rss_increase_mb: largest RSS growth during the run over the value before the tracker
            was built, or ``None`` where the current RSS cannot be read.
        lost_targets: targets of the run that vanish for good after a few frames
            (``bench(lost=...)``, ``lost_targets``: the cost of searching for lost
            targets); 0 for a run with every target on the object.
        lost_per_frame: targets the tracker reported lost, on average over the timed
            frames, ``None`` when its tracks carry no lost state (a little under
            ``lost_targets`` when the tracker's patience runs past the warm-up).
    """

    tracker: str
    num_targets: int
    num_frames: int
    latency_ms_p50: float
    latency_ms_p99: float
    latency_ms_mean: float
    fps: float
    init_ms: float
    fps_ratio_to_reference: float | None
    peak_rss_mb: float
    rss_increase_mb: float | None
    lost_targets: int = 0
    lost_per_frame: float | None = None


@dataclass(frozen=True)
class BenchReport:
    """Results of :func:`bench`."""

    sequence: str
    frame_shape: tuple[int, ...]
    warmup: int
    reference: str | None
    results: tuple[BenchResult, ...]
    hardware: Mapping[str, Any]
    rounds: int = 1

    def result(self, tracker: str, num_targets: int, lost_targets: int = 0) -> BenchResult:
        """The result of ``tracker`` with ``num_targets`` targets (``lost_targets`` of them
        lost)."""
        for r in self.results:
            if (r.tracker == tracker and r.num_targets == num_targets
                    and r.lost_targets == lost_targets):
                return r
        raise KeyError(f"no bench result for tracker {tracker!r} with {num_targets} targets")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "sequence": self.sequence,
            "frame_shape": list(self.frame_shape),
            "warmup": self.warmup,
            "reference": self.reference,
            "rounds": self.rounds,
            "hardware": dict(self.hardware),
            "results": [asdict(r) for r in self.results],
        }

    def to_json(self, path: Path) -> Path:
        """Write :meth:`to_dict` to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def markdown_table(self) -> str:
        """One row per tracker and target count."""
        lines = [
            "| tracker | targets | p50 ms | p99 ms | mean ms | FPS | x ref FPS | RSS +MB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.results:
            ratio = "-" if r.fps_ratio_to_reference is None else f"{r.fps_ratio_to_reference:.2f}"
            rss = "-" if r.rss_increase_mb is None else f"{r.rss_increase_mb:.1f}"
            targets = f"{r.num_targets}" + (f" ({r.lost_targets} lost)" if r.lost_targets
                                             else "")
            lines.append(
                f"| {r.tracker} | {targets} | {r.latency_ms_p50:.2f} | "
                f"{r.latency_ms_p99:.2f} | {r.latency_ms_mean:.2f} | {r.fps:.1f} | "
                f"{ratio} | {rss} |"
            )
        return "\n".join(lines) + "\n"

    def save_plot(self, path: Path) -> Path:
        """Latency (mean, with the p50-p99 range) against the number of targets, as PNG."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig = Figure(figsize=(6.0, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        for tracker, lost in dict.fromkeys((r.tracker, r.lost_targets) for r in self.results):
            rows = sorted((r for r in self.results
                           if r.tracker == tracker and r.lost_targets == lost),
                          key=lambda r: r.num_targets)
            n = [r.num_targets for r in rows]
            mean = np.array([r.latency_ms_mean for r in rows])
            p50 = np.array([r.latency_ms_p50 for r in rows])
            p99 = np.array([r.latency_ms_p99 for r in rows])
            label = f"{tracker}, {lost} lost" if lost else tracker
            line = ax.plot(n, mean, marker="o", linewidth=2, label=label)[0]
            ax.fill_between(n, p50, p99, color=line.get_color(), alpha=0.15)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("targets tracked at once")
        ax.set_ylabel("latency per frame (ms; band: p50-p99)")
        ax.set_title(f"Latency on {self.sequence} ({'x'.join(map(str, self.frame_shape))})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.savefig(path, bbox_inches="tight")
        return path


def _current_rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


@dataclass
class _Run:
    """Raw timings of one tracker with one number of targets, over the rounds so far."""

    latencies: list[float]
    init_ms: list[float]
    rss_increase_mb: float | None = None
    peak_rss_mb: float = 0.0  # the process's peak after this run's latest round
    lost: list[int] | None = None  # targets reported lost in each timed frame


def _bench_one(
    factory: MultiTrackerFactory,
    frames: list[np.ndarray],
    boxes: np.ndarray,
    warmup: int,
    run: _Run,
) -> None:
    """Time a fresh tracker on ``frames`` (initialised on the first); appends its timings
    to ``run``."""
    rss_before = _current_rss_mb()
    tracker = factory()
    start = time.perf_counter_ns()
    tracker.init(frames[0], [tuple(b) for b in boxes])
    run.init_ms.append((time.perf_counter_ns() - start) / 1e6)
    rss_max = rss_before
    for index, frame in enumerate(frames[1:]):
        start = time.perf_counter_ns()
        tracks = tracker.update(frame)
        elapsed = (time.perf_counter_ns() - start) / 1e6
        if index >= warmup:
            run.latencies.append(elapsed)
            if all(hasattr(t, "lost") for t in tracks):
                run.lost = (run.lost or []) + [sum(bool(t.lost) for t in tracks)]
        rss = _current_rss_mb()
        if rss is not None and rss_max is not None:
            rss_max = max(rss_max, rss)
    if rss_before is not None and rss_max is not None:
        grown = rss_max - rss_before
        run.rss_increase_mb = grown if run.rss_increase_mb is None else max(grown,
                                                                            run.rss_increase_mb)
    run.peak_rss_mb = _peak_rss_mb()


def _result(name: str, num_targets: int, run: _Run, lost: int = 0) -> BenchResult:
    lat = np.asarray(run.latencies)
    mean = float(lat.mean())
    return BenchResult(
        tracker=name,
        num_targets=num_targets,
        num_frames=len(lat),
        latency_ms_p50=float(np.percentile(lat, 50)),
        latency_ms_p99=float(np.percentile(lat, 99)),
        latency_ms_mean=mean,
        fps=1000.0 / mean if mean > 0 else math.inf,
        init_ms=float(np.median(run.init_ms)),
        fps_ratio_to_reference=None,
        peak_rss_mb=run.peak_rss_mb,
        rss_increase_mb=run.rss_increase_mb,
        lost_targets=lost,
        lost_per_frame=None if run.lost is None else float(np.mean(run.lost)),
    )


def bench(
    trackers: Mapping[str, MultiTrackerFactory],
    sequence: Sequence,
    target_counts: SequenceABC[int] = (1, 4, 16),
    warmup: int = 5,
    *,
    max_frames: int = 100,
    reference: str | None = None,
    out_dir: Path | None = None,
    progress: bool = False,
    rounds: int = 1,
    lost: int = 0,
) -> BenchReport:
    """Measure per-frame latency of each tracker for each number of targets.

    Args:
        trackers: name -> factory of fresh multi-target trackers (wrap single-target peers
            in ``eval.adapters.MultiFromSingle``).
        sequence: frames and the ground-truth box that is replicated (first frame's box).
        target_counts: numbers of targets to track at once.
        warmup: updates run before timing starts (not counted).
        max_frames: frames decoded up front and used (the first initialises).
        reference: tracker whose FPS the others are divided by (same number of targets).
        out_dir: when given, ``bench.json`` and ``bench_latency.png`` are written there.
        progress: show a progress bar (frames, with the run it is on) on stderr.
        rounds: how many times every (tracker, targets) run is repeated, in interleaved
            order (all runs once, then all again...); each result pools its frames over the
            rounds, so a slow spell of a shared machine falls on every run alike instead of
            on one. ``init_ms`` is the median over the rounds.
        lost: when > 0, every target count above it is also run with ``lost`` of its
            targets lost for good (``lost_targets``): started on a checkerboard in an image
            corner that vanishes after ``LOST_SHOWN`` frames, its surroundings emptied, so
            that every tracker reports them lost after its patience (a tracker that searches
            for lost targets pays for it in these runs; ``lost_per_frame`` shows it).
    """
    counts = _check_bench_args(trackers, sequence, target_counts, warmup, max_frames,
                               reference, rounds)
    frames = _decode_frames(sequence, min(len(sequence), max_frames))
    if lost < 0:
        raise ValueError(f"lost must be >= 0, got {lost}")
    runs = [(name, n, 0) for name in trackers for n in counts]
    runs += [(name, n, lost) for name in trackers for n in counts if 0 < lost < n]
    timings = _time_runs(trackers, runs, frames, sequence.gt[0], warmup, rounds, progress)
    results = _with_reference([_result(name, n, timings[(name, n, k)], k)
                               for name, n, k in runs], reference)
    report = BenchReport(
        sequence=sequence.name,
        frame_shape=tuple(frames[0].shape),
        warmup=warmup,
        reference=reference,
        results=tuple(results),
        hardware=hardware_info(),
        rounds=rounds,
    )
    if out_dir is not None:
        out = Path(out_dir)
        report.to_json(out / BENCH_JSON)
        report.save_plot(out / BENCH_PLOT)
        logger.info("bench results written to %s", out)
    return report


def _check_bench_args(
    trackers: Mapping[str, MultiTrackerFactory],
    sequence: Sequence,
    target_counts: SequenceABC[int],
    warmup: int,
    max_frames: int,
    reference: str | None,
    rounds: int,
) -> list[int]:
    """Validate :func:`bench`'s arguments; returns the target counts as integers."""
    if not trackers:
        raise ValueError("bench() needs at least one tracker")
    if reference is not None and reference not in trackers:
        raise ValueError(
            f"reference {reference!r} is not a benchmarked tracker; valid: {list(trackers)}"
        )
    counts = [int(c) for c in target_counts]
    if not counts or min(counts) < 1:
        raise ValueError(f"target_counts must be positive integers, got {tuple(target_counts)}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    num = min(len(sequence), max_frames)
    if num - 1 - warmup < 1:
        raise ValueError(
            f"{sequence.name!r} gives {num} frames (max_frames={max_frames}): not enough for "
            f"init + {warmup} warm-up updates + 1 timed frame; use a longer sequence or less warmup"
        )
    return counts


def _decode_frames(sequence: Sequence, num: int) -> list[np.ndarray]:
    """The first ``num`` frames, decoded up front (no I/O is timed) and read-only."""
    frames = []
    for i in range(num):
        frame = sequence.frame(i).view()
        frame.setflags(write=False)
        frames.append(frame)
    return frames


def _time_runs(
    trackers: Mapping[str, MultiTrackerFactory],
    runs: list[tuple[str, int, int]],
    frames: list[np.ndarray],
    box: np.ndarray,
    warmup: int,
    rounds: int,
    progress: bool,
) -> dict[tuple[str, int, int], _Run]:
    """Time every (tracker, target count) run ``rounds`` times, interleaved."""
    height, width = frames[0].shape[:2]
    timings = {run: _Run([], []) for run in runs}
    scenes: dict[tuple[int, int], tuple[list[np.ndarray], np.ndarray]] = {}  # lost runs
    order = [run for _ in range(rounds) for run in runs]
    with bar(total=len(order) * (len(frames) - 1), unit="frame", enabled=progress) as shown:
        for k, (name, n, lost) in enumerate(order, start=1):
            shown.set_description(f"run {k}/{len(order)} {name} x{n}"
                                  + (f" ({lost} lost)" if lost else ""))
            boxes = replicate_boxes(box, n, width, height)
            run_frames = frames
            if lost:
                if (n, lost) not in scenes:
                    scenes[(n, lost)] = lost_targets(frames, boxes, lost)
                run_frames, boxes = scenes[(n, lost)]
            _bench_one(trackers[name], run_frames, boxes, warmup, timings[(name, n, lost)])
            shown.update(len(frames) - 1)
            logger.debug("bench %s x%d (%d lost): %.2f ms/frame so far", name, n, lost,
                         float(np.mean(timings[(name, n, lost)].latencies)))
    return timings


LOST_SHOWN = 3
"""Frames (the first included) that show a lost target's pattern before it vanishes: the
tracker sees it well for a couple of updates, as it would a real target."""

LOST_MARGIN = 2.5
"""The region emptied around a lost target's box, in box sides on each side: more than half
a search window (about two box sides at the usual context) plus room to drift."""


def lost_targets(frames: list[np.ndarray], boxes: np.ndarray, lost: int,
                 shown: int = LOST_SHOWN) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames and boxes of a run whose last ``lost`` targets vanish for good.

    Each lost box is half the size of the first box (at least 8 px a side) and moved to a
    corner of the image, the corners farthest from ``boxes[0]`` first. Its region is filled
    with a checkerboard of the first frame's darkest and brightest values in the first
    ``shown`` frames; in every later frame the box grown by ``LOST_MARGIN`` box sides on each
    side is filled with the first frame's mean instead (the crop padding colour), so the
    target is gone and nothing lies within its search window: any tracker's lost test fires
    after its patience, whatever the model, and the lost target cannot drift onto clutter.
    Returns new frames (read-only; the unchanged later frames are shared) and boxes.
    """
    out, boxes = [f for f in frames], boxes.copy()
    first = frames[0]
    height, width = first.shape[:2]
    low, high = first.min(), first.max()
    w, h = (max(min(8.0, s), s / 2) for s in boxes[0, 2:])
    middle = boxes[0, :2] + boxes[0, 2:] / 2
    corners = [(2.0, 2.0), (width - w - 2.0, 2.0), (width - w - 2.0, height - h - 2.0),
               (2.0, height - h - 2.0)]
    corners.sort(key=lambda c: -float(np.hypot(c[0] + w / 2 - middle[0],
                                                c[1] + h / 2 - middle[1])))
    yy, xx = np.mgrid[0:int(np.ceil(h)), 0:int(np.ceil(w))]
    cell = max(2, int(min(w, h)) // 4)
    board = np.where(((yy // cell) + (xx // cell)) % 2 == 0, low, high)
    margin = LOST_MARGIN * max(w, h)
    regions = []
    for n, k in enumerate(range(len(boxes) - lost, len(boxes))):
        x, y = corners[n % 4]
        boxes[k] = max(x, 0.0), max(y, 0.0), min(w, width), min(h, height)
        regions.append(boxes[k].copy())
    if shown < 1:
        raise ValueError(f"shown must be >= 1 (the first frame), got {shown}")
    fill = None
    for i in range(len(frames)):
        frame = frames[i].copy()
        if i == shown:  # the mean of the first frame as the tracker was started on it
            fill = out[0].reshape(height, width, -1).mean((0, 1)).round().astype(first.dtype)
            fill = fill if first.ndim == 3 else fill[0]
        for x, y, bw, bh in regions:
            if i < shown:
                x0, y0 = int(x), int(y)
                region = frame[y0:y0 + board.shape[0], x0:x0 + board.shape[1]]
                patch = board[:region.shape[0], :region.shape[1]]
                region[...] = patch[..., None] if region.ndim == 3 else patch
            else:
                x0, y0 = max(int(x - margin), 0), max(int(y - margin), 0)
                frame[y0:int(np.ceil(y + bh + margin)), x0:int(np.ceil(x + bw + margin))] = fill
        frame.setflags(write=False)
        out[i] = frame
    return out, boxes


def _with_reference(results: list[BenchResult], reference: str | None) -> list[BenchResult]:
    """``results`` with their FPS ratio to ``reference`` at the same number of targets
    (and of lost targets)."""
    if reference is None:
        return results
    ref_fps = {(r.num_targets, r.lost_targets): r.fps for r in results
               if r.tracker == reference}
    return [
        BenchResult(**{**asdict(r), "fps_ratio_to_reference":
                       r.fps / ref_fps[(r.num_targets, r.lost_targets)]})
        for r in results
    ]
