"""One-pass evaluation of several trackers on the same frames.

Every tracker follows the single-target protocol of ``docs/architecture.md`` (``init(frame,
box)``, ``track(frame) -> (box, score)``) and is given as a factory, so each sequence gets a
fresh instance. Frames are decoded once per sequence and handed to every tracker in lockstep
(one frame in memory at a time, read-only so that no tracker can alter what the next one sees).
Times cover only the ``init`` / ``track`` calls, not decoding. Scores follow the LSOTB-TIR
toolkit rules (:mod:`tir_tracker_core.eval.metrics`). With ``perturbations`` (OTB's SRE,
:mod:`tir_tracker_core.eval.sre`) every tracker also runs from each perturbed first box, in the
same lockstep pass, scored against the unchanged ground truth.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..backends.base import usable_cpus
from ..data.sequence import Sequence
from ..progress import bar
from .adapters import TrackerFactory
from .metrics import (
    NORM_PRECISION_THRESHOLDS,
    PRECISION_THRESHOLD_PX,
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    Scores,
    SequenceScores,
    aggregate,
    aggregate_by_attribute,
    evaluate_sequence,
    restrict_frames,
)
from .sre import Perturbation, perturb_box, sre_scores

logger = logging.getLogger(__name__)

__all__ = [
    "EvalReport",
    "SequenceRun",
    "evaluate",
    "hardware_info",
    "run_sequence",
    "safe_filename",
]

RESULTS_JSON = "results.json"
RESULTS_MARKDOWN = "results.md"


@dataclass(frozen=True, eq=False)
class SequenceRun:
    """Raw output of one tracker on one sequence.

    Attributes:
        tracker: tracker name.
        sequence: sequence name.
        boxes: ``(N, 4)`` reported boxes; frame 0 holds the initial box.
        scores: ``(N,)`` reported scores; frame 0 holds 1.0.
        times_s: ``(N,)`` seconds spent in ``init`` (frame 0) and ``track`` (later frames),
            frame decoding excluded.
    """

    tracker: str
    sequence: str
    boxes: np.ndarray
    scores: np.ndarray
    times_s: np.ndarray

    @property
    def num_frames(self) -> int:
        """Number of frames processed."""
        return len(self.boxes)

    @property
    def total_time_s(self) -> float:
        """Seconds spent in the tracker over the whole sequence, ``init`` included."""
        return float(self.times_s.sum())

    @property
    def fps(self) -> float:
        """Frames per second over the sequence, ``init`` included (as the OTB toolkit counts)."""
        total = self.total_time_s
        return self.num_frames / total if total > 0 else math.inf


def safe_filename(name: str) -> str:
    """A file-name-safe version of a tracker or sequence name (``opencv:nano:/a/b`` ->
    ``opencv_nano__a_b``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "unnamed"


def _as_box(value: Any, tracker: str, index: int) -> np.ndarray:
    box = np.asarray(value, dtype=np.float64).reshape(-1)
    if box.shape != (4,):
        raise ValueError(
            f"tracker {tracker!r} returned {value!r} at frame {index}; track() must return "
            "((x, y, w, h), score)"
        )
    return box


def _nothing() -> None:
    """The default ``on_frame`` hook."""


def _run_lockstep(
    factories: Mapping[str, TrackerFactory], seq: Sequence, on_frame: Callable[[], Any] = _nothing,
    init_boxes: Mapping[str, np.ndarray] | None = None,
) -> dict[str, SequenceRun]:
    """Run every tracker on ``seq``, decoding each frame once and reusing it for all;
    ``on_frame()`` is called after each frame (progress display). ``init_boxes``: name -> the
    first box that tracker starts from (default: the sequence's)."""
    n = len(seq)
    names = list(factories)
    trackers = {name: factories[name]() for name in names}
    boxes = {name: np.empty((n, 4)) for name in names}
    scores = {name: np.empty(n) for name in names}
    times = {name: np.empty(n) for name in names}
    starts = {name: (init_boxes or {}).get(name, seq.init_box) for name in names}
    for index, decoded in enumerate(seq.frames()):
        frame = decoded.view()
        frame.setflags(write=False)
        for name in names:
            tracker = trackers[name]
            try:
                if index == 0:
                    start = time.perf_counter()
                    tracker.init(frame, starts[name])
                    times[name][0] = time.perf_counter() - start
                    boxes[name][0], scores[name][0] = starts[name], 1.0
                    continue
                start = time.perf_counter()
                box, score = tracker.track(frame)
                times[name][index] = time.perf_counter() - start
                boxes[name][index] = _as_box(box, name, index)
                scores[name][index] = float(score)
            except Exception as exc:
                exc.add_note(f"tracker {name!r}, sequence {seq.name!r}, frame {index}")
                raise
        on_frame()
    runs = {}
    for name in names:
        for arr in (boxes[name], scores[name], times[name]):
            arr.setflags(write=False)
        runs[name] = SequenceRun(name, seq.name, boxes[name], scores[name], times[name])
    return runs


def run_sequence(factory: TrackerFactory, seq: Sequence, name: str | None = None) -> SequenceRun:
    """Run one tracker (a fresh instance from ``factory``) over ``seq``.

    ``name`` defaults to the tracker's own ``name`` attribute.
    """
    if name is None:
        probe = factory()
        name = str(getattr(probe, "name", type(probe).__name__))
        return _run_lockstep({name: lambda: probe}, seq)[name]
    return _run_lockstep({name: factory}, seq)[name]


def hardware_info() -> dict[str, Any]:
    """The machine the timings were taken on (reported next to FPS, as benchmarks ask)."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _table(first: str, columns: Iterable[str],
           rows: Iterable[tuple[str, Iterable[float | str]]]) -> str:
    """A Markdown table: ``first`` heads the label column, one column per name in ``columns``;
    numbers are written with three decimals."""
    columns = list(columns)
    lines = [f"| {first} | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for label, values in rows:
        cells = (v if isinstance(v, str) else f"{v:.3f}" for v in values)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _range_str(values: np.ndarray) -> str:
    """``start:step:stop`` (MATLAB style) of evenly spaced thresholds."""
    step = float(values[1] - values[0])
    return f"{float(values[0]):g}:{step:g}:{float(values[-1]):g}"


def _scores_dict(scores: Scores | SequenceScores) -> dict[str, float]:
    return {
        "success": round(scores.success, 6),
        "precision": round(scores.precision, 6),
        "norm_precision": round(scores.norm_precision, 6),
    }


@dataclass(frozen=True, eq=False)
class EvalReport:
    """Results of :func:`evaluate`.

    Attributes:
        trackers: tracker names in the order given.
        sequences: sequence names in the order given.
        runs: tracker -> sequence -> raw run.
        sequence_scores: tracker -> sequence -> scores.
        scores: tracker -> scores averaged over sequences.
        attribute_scores: tracker -> attribute -> scores over the sequences carrying it.
        extra_columns: tracker -> column -> value (e.g. params, MACs) shown in the table.
        hardware: the machine the timings come from.
        perturbations: the first-box perturbations also run (OTB's SRE), or none.
        sre_runs: tracker -> sequence -> perturbation name -> the run from that perturbed
            first box (empty without ``perturbations``).
        sre_scores: the same -> its scores.
    """

    trackers: tuple[str, ...]
    sequences: tuple[str, ...]
    runs: Mapping[str, Mapping[str, SequenceRun]]
    sequence_scores: Mapping[str, Mapping[str, SequenceScores]]
    scores: Mapping[str, Scores]
    attribute_scores: Mapping[str, Mapping[str, Scores]]
    extra_columns: Mapping[str, Mapping[str, Any]]
    hardware: Mapping[str, Any]
    perturbations: tuple[Perturbation, ...] = ()
    sre_runs: Mapping[str, Mapping[str, Mapping[str, SequenceRun]]] = field(default_factory=dict)
    sre_scores: Mapping[str, Mapping[str, Mapping[str, SequenceScores]]] = field(
        default_factory=dict)

    def fps(self, tracker: str) -> float:
        """Overall frames per second of ``tracker``: all frames over all tracker time."""
        runs = self.runs[tracker].values()
        total = sum(r.total_time_s for r in runs)
        frames = sum(r.num_frames for r in runs)
        return frames / total if total > 0 else math.inf

    def _extra_names(self) -> list[str]:
        names: list[str] = []
        for columns in self.extra_columns.values():
            names.extend(c for c in columns if c not in names)
        return names

    def markdown_table(self) -> str:
        """Table with one row per tracker: success, precision, norm. precision, FPS, extras."""
        extras = self._extra_names()
        header = ["tracker", "success", "precision", "norm. precision", "FPS", *extras]
        lines = [
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        for name in self.trackers:
            s = self.scores[name]
            extra = self.extra_columns.get(name, {})
            cells = [
                name,
                f"{s.success:.3f}",
                f"{s.precision:.3f}",
                f"{s.norm_precision:.3f}",
                f"{self.fps(name):.1f}",
                *(_fmt(extra.get(c)) for c in extras),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def group_scores(self, tracker: str) -> dict[str, Scores]:
        """group -> ``tracker``'s scores over the group's sequences (:func:`group_sequences`)."""
        return {g: aggregate([self.sequence_scores[tracker][s] for s in names])
                for g, names in group_sequences(self.sequences).items()}

    def sequence_table(self) -> str:
        """Success per sequence (rows) and tracker (columns), then each group of two or more
        sequences and the mean over all sequences; empty for a single sequence."""
        if len(self.sequences) < 2:
            return ""
        per_group = {t: self.group_scores(t) for t in self.trackers}
        return self._suite_table(lambda t, s: self.sequence_scores[t][s].success,
                                 lambda t, g, _: per_group[t][g].success,
                                 lambda t: self.scores[t].success)

    def _suite_table(self, per_sequence: Callable[[str, str], float],
                     per_group: Callable[[str, str, list[str]], float],
                     mean: Callable[[str], float]) -> str:
        """Rows: every sequence, each group of two or more sequences (when there are several
        groups), the mean; columns: trackers; values from the three functions."""
        ts = self.trackers
        rows = [(seq, [per_sequence(t, seq) for t in ts]) for seq in self.sequences]
        groups = group_sequences(self.sequences)
        if len(groups) > 1:
            rows += [(f"group {g} ({len(names)})", [per_group(t, g, names) for t in ts])
                     for g, names in groups.items() if len(names) > 1]
        rows.append((f"**mean ({len(self.sequences)})**", [mean(t) for t in ts]))
        return _table("sequence", ts, rows)

    def sre_success(self, tracker: str) -> dict[str, float]:
        """sequence -> ``tracker``'s SRE success there (its perturbed runs averaged)."""
        return {seq: sre_scores(self.sre_scores[tracker][seq]).success
                for seq in self.sequences}

    def sre_tables(self) -> str:
        """With perturbations: SRE success per sequence, group and mean (means of the
        sequences' SRE success), then per perturbation (mean over sequences) and each
        tracker's worst run; empty without."""
        if not self.perturbations:
            return ""
        sre = {t: self.sre_success(t) for t in self.trackers}

        def mean(values: Iterable[float]) -> float:
            return float(np.mean(list(values)))

        by_sequence = self._suite_table(lambda t, s: sre[t][s],
                                        lambda t, _, names: mean(sre[t][s] for s in names),
                                        lambda t: mean(sre[t].values()))
        rows: list[tuple[str, list[float | str]]] = [
            (p.name, [mean(self.sre_scores[t][s][p.name].success for s in self.sequences)
                      for t in self.trackers])
            for p in self.perturbations]
        worst: list[float | str] = []
        for t in self.trackers:
            s, p = min(((s, p.name) for s in self.sequences for p in self.perturbations),
                       key=lambda sp: self.sre_scores[t][sp[0]][sp[1]].success)
            worst.append(f"{self.sre_scores[t][s][p].success:.3f} ({s}, {p})")
        rows.append(("worst run", worst))
        return (
            f"SRE success (mean over {len(self.perturbations)} perturbed first boxes):\n\n"
            + by_sequence
            + "\nSRE success per first-box perturbation (mean over sequences):\n\n"
            + _table("first box", self.trackers, rows))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: per tracker overall / per-sequence / per-attribute scores."""
        trackers: dict[str, Any] = {}
        for name in self.trackers:
            overall = self.scores[name]
            trackers[name] = {
                "overall": {
                    **_scores_dict(overall),
                    "fps": round(self.fps(name), 3),
                    "num_sequences": overall.num_sequences,
                    "num_used": dict(overall.num_used),
                    "curves": {
                        "success": overall.success_curve.round(6).tolist(),
                        "precision": overall.precision_curve.round(6).tolist(),
                        "norm_precision": overall.norm_precision_curve.round(6).tolist(),
                    },
                },
                "sequences": {
                    seq: {
                        **_scores_dict(self.sequence_scores[name][seq]),
                        "fps": round(self.runs[name][seq].fps, 3),
                        "num_frames": self.runs[name][seq].num_frames,
                    }
                    for seq in self.sequences
                },
                "attributes": {
                    attr: {**_scores_dict(s), "num_sequences": s.num_sequences}
                    for attr, s in self.attribute_scores.get(name, {}).items()
                },
                "groups": {
                    g: {**_scores_dict(sc), "num_sequences": sc.num_sequences}
                    for g, sc in self.group_scores(name).items()
                },
                "extra": dict(self.extra_columns.get(name, {})),
            }
            if self.perturbations:
                trackers[name]["sre"] = self._sre_dict(name)
        return {
            "metric": {
                "rules": "LSOTB-TIR toolkit (one-pass evaluation)",
                "success_thresholds": _range_str(SUCCESS_THRESHOLDS),
                "precision_thresholds_px": _range_str(PRECISION_THRESHOLDS),
                "precision_at_px": PRECISION_THRESHOLD_PX,
                "norm_precision_thresholds": _range_str(NORM_PRECISION_THRESHOLDS),
            },
            "hardware": dict(self.hardware),
            "sequences": list(self.sequences),
            "perturbations": [vars(p) for p in self.perturbations],
            "trackers": trackers,
        }

    def _sre_dict(self, name: str) -> dict[str, Any]:
        per_seq = self.sre_success(name)
        return {
            "success": round(float(np.mean(list(per_seq.values()))), 6),
            "sequences": {
                seq: {"success": round(per_seq[seq], 6),
                      "perturbations": {p: round(s.success, 6)
                                        for p, s in self.sre_scores[name][seq].items()}}
                for seq in self.sequences
            },
        }

    def to_json(self, path: Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (parent folders are created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=_json_default) + "\n")
        return path

    def save_predictions(self, out_dir: Path) -> list[Path]:
        """Write ``<out_dir>/<tracker>/<sequence>.txt`` with one ``x,y,w,h`` row per frame, and
        the perturbed starts' runs as ``<out_dir>/<tracker>/sre/<sequence>_<perturbation>.txt``."""
        written = []
        for name in self.trackers:
            folder = Path(out_dir) / safe_filename(name)
            runs = [(folder / f"{safe_filename(seq)}.txt", run)
                    for seq, run in self.runs[name].items()]
            runs += [(folder / "sre" / f"{safe_filename(f'{seq}_{p}')}.txt", run)
                     for seq, by_p in self.sre_runs.get(name, {}).items()
                     for p, run in by_p.items()]
            for path, run in runs:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(
                    "".join(",".join(f"{v:.3f}" for v in row) + "\n" for row in run.boxes)
                )
                written.append(path)
        return written

    def save_plots(self, out_dir: Path) -> list[Path]:
        """Success, precision and normalized precision plots as PNG files in ``out_dir``.

        A tracker keeps one colour and one legend position (the order given) in every plot;
        its score is in its legend label.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        plots = (
            ("success", "Success plot", "Overlap threshold", SUCCESS_THRESHOLDS, "AUC"),
            ("precision", "Precision plot", "Location error threshold (px)",
             PRECISION_THRESHOLDS, f"@{PRECISION_THRESHOLD_PX}px"),
            ("norm_precision", "Normalized precision plot", "Normalized location error threshold",
             NORM_PRECISION_THRESHOLDS, "AUC"),
        )
        colours = tracker_colours(self.trackers)
        n = len(self.sequences)
        written = []
        for key, title, xlabel, thresholds, tag in plots:
            fig = Figure(figsize=(6.0, 4.5), dpi=100)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            for name in self.trackers:
                s = self.scores[name]
                curve = getattr(s, f"{key}_curve")
                ax.plot(thresholds, curve, linewidth=2, color=colours[name],
                        label=f"{name} [{getattr(s, key):.3f}]")
            ax.set_title(f"{title} ({n} sequence{'' if n == 1 else 's'}, {tag})")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("Success rate" if key == "success" else "Precision")
            ax.set_xlim(float(thresholds[0]), float(thresholds[-1]))
            ax.set_ylim(0.0, 1.0)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="lower left" if key == "success" else "lower right", fontsize=8)
            path = out_dir / f"{key}_plot.png"
            fig.savefig(path, bbox_inches="tight")
            written.append(path)
        return written

    def save(self, out_dir: Path) -> None:
        """Write ``results.json``, ``results.md``, the plots and per-sequence predictions."""
        out_dir = Path(out_dir)
        self.to_json(out_dir / RESULTS_JSON)
        table = self.sequence_table()
        sre = self.sre_tables()
        (out_dir / RESULTS_MARKDOWN).write_text(
            self.markdown_table() + (f"\nSuccess per sequence:\n\n{table}" if table else "")
            + (f"\n{sre}" if sre else ""))
        self.save_plots(out_dir)
        self.save_predictions(out_dir / "predictions")
        logger.info("evaluation results written to %s", out_dir)


def tracker_colours(trackers: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """One fixed colour per tracker, by its position in ``trackers`` (matplotlib's tab10, then
    tab20 beyond ten), so that every plot of a run draws a tracker alike."""
    from matplotlib import colormaps

    names = list(dict.fromkeys(trackers))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: tuple(cmap(i % cmap.N)[:3]) for i, name in enumerate(names)}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable; give numbers or strings")


def evaluate(
    trackers: Mapping[str, TrackerFactory],
    sequences: Iterable[Sequence],
    out_dir: Path | None = None,
    extra_columns: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    progress: bool = False,
    perturbations: Iterable[Perturbation] = (),
) -> EvalReport:
    """Run every tracker on every sequence and score them.

    Args:
        trackers: name -> factory of fresh single-target trackers.
        sequences: the sequences (names must be unique).
        out_dir: when given, ``results.json``, ``results.md``, PNG plots and predictions are
            written there.
        extra_columns: tracker -> {column: value} added to the table and JSON (params, MACs).
        progress: show a progress bar (frames, with the sequence it is on) on stderr.
        perturbations: first-box perturbations (e.g. :data:`~tir_tracker_core.eval.sre.OTB_SRE`)
            each tracker also starts from, in the same pass; their runs are scored against
            the unchanged ground truth into ``sre_scores`` (FPS comes from the plain runs).

    Returns:
        An :class:`EvalReport`; per-attribute scores cover the sequences that carry flags.
    """
    seqs = list(sequences)
    extra = _check_evaluate_args(trackers, seqs, extra_columns)
    perts = tuple(perturbations)
    names = [p.name for p in perts]
    if len(set(names)) != len(names):
        raise ValueError(f"perturbation names must be unique; got {names}")
    runs, perturbed = _run_all(trackers, seqs, progress, perts)
    gts = {s.name: s.gt for s in seqs}
    attributes = {s.name: s.attributes for s in seqs if s.attributes}
    # sparse ground truth (a box every N-th frame): score the annotated frames only, as the
    # VTUAV and LasHeR toolkits do; dense sequences are scored on every frame
    scored = {s.name: s.annotated for s in seqs if s.is_sparse}
    seq_scores = {
        name: {seq: _score(run.boxes, gts[seq], scored.get(seq)) for seq, run in per_seq.items()}
        for name, per_seq in runs.items()
    }
    report = EvalReport(
        trackers=tuple(trackers),
        sequences=tuple(s.name for s in seqs),
        runs=runs,
        sequence_scores=seq_scores,
        scores={name: aggregate(s.values()) for name, s in seq_scores.items()},
        attribute_scores={
            name: aggregate_by_attribute(s, attributes) for name, s in seq_scores.items()
        },
        extra_columns=extra,
        hardware=hardware_info(),
        perturbations=perts,
        sre_runs=perturbed,
        sre_scores={
            name: {seq: {p: _score(run.boxes, gts[seq], scored.get(seq)) for p, run in by_p.items()}
                   for seq, by_p in per_seq.items()}
            for name, per_seq in perturbed.items()
        },
    )
    if out_dir is not None:
        report.save(Path(out_dir))
    return report


def _score(boxes: np.ndarray, gt: np.ndarray, annotated: np.ndarray | None) -> SequenceScores:
    scores = evaluate_sequence(boxes, gt)
    return scores if annotated is None else restrict_frames(scores, annotated)


def sequence_group(name: str) -> str:
    """The family a sequence belongs to: its name without a trailing number (``antiuav_4`` ->
    ``antiuav``; ``vottir_horse`` stays itself)."""
    stem = re.sub(r"[_\-]?\d+$", "", name)
    return stem or name


def group_sequences(names: Iterable[str]) -> dict[str, list[str]]:
    """group -> its sequences (in the order given), by :func:`sequence_group`."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(sequence_group(name), []).append(name)
    return groups


def _check_evaluate_args(
    trackers: Mapping[str, TrackerFactory],
    seqs: list[Sequence],
    extra_columns: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    """Validate :func:`evaluate`'s arguments; returns the extra columns as plain dicts."""
    if not trackers:
        raise ValueError("evaluate() needs at least one tracker")
    if not seqs:
        raise ValueError("evaluate() needs at least one sequence")
    names = [s.name for s in seqs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"sequence names must be unique; repeated: {duplicates}")
    extra = {k: dict(v) for k, v in (extra_columns or {}).items()}
    unknown = sorted(set(extra) - set(trackers))
    if unknown:
        raise ValueError(f"extra_columns names unknown trackers {unknown}; valid: {list(trackers)}")
    return extra


def _run_all(
    trackers: Mapping[str, TrackerFactory], seqs: list[Sequence], progress: bool,
    perturbations: tuple[Perturbation, ...] = (),
) -> tuple[dict[str, dict[str, SequenceRun]], dict[str, dict[str, dict[str, SequenceRun]]]]:
    """tracker -> sequence -> run, every tracker in lockstep on each sequence; and tracker ->
    sequence -> perturbation -> run from that perturbed first box (same pass)."""
    runs: dict[str, dict[str, SequenceRun]] = {name: {} for name in trackers}
    perturbed: dict[str, dict[str, dict[str, SequenceRun]]] = {
        name: {} for name in trackers} if perturbations else {}
    # the perturbed runs' keys: (tracker, perturbation) pairs, apart from every tracker name
    keys = {f"{name}\x00{p.name}": (name, p) for name in trackers for p in perturbations}
    factories = {**trackers, **{k: trackers[name] for k, (name, _) in keys.items()}}
    with bar(total=sum(len(s) for s in seqs), unit="frame", enabled=progress) as frames:
        for k, seq in enumerate(seqs, start=1):
            frames.set_description(f"sequence {k}/{len(seqs)} {seq.name}")
            starts = {key: perturb_box(seq.init_box, p) for key, (_, p) in keys.items()}
            for key, run in _run_lockstep(factories, seq, frames.update, starts).items():
                if key in keys:
                    name, p = keys[key]
                    perturbed[name].setdefault(seq.name, {})[p.name] = run
                else:
                    runs[key][seq.name] = run
            logger.debug("evaluated %d trackers on %s (%d frames)", len(trackers), seq.name,
                         len(seq))
    return runs, perturbed
