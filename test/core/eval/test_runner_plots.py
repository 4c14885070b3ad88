"""The evaluation plots: one colour and legend position per tracker, titles in plain English."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

import tir_tracker_core.progress
from tir_tracker_core.data import Sequence
from tir_tracker_core.eval.runner import evaluate, tracker_colours

Box = tuple[float, float, float, float]


class ShiftedTracker:
    """Reports the ground truth moved by ``dx`` pixels and scaled by ``scale``."""

    def __init__(self, gt: np.ndarray, dx: float, scale: float) -> None:
        self.name = f"shift{dx}"
        self._gt, self._dx, self._scale, self._index = gt, dx, scale, 0

    def init(self, frame: np.ndarray, box: Box) -> None:
        self._index = 0

    def track(self, frame: np.ndarray) -> tuple[Box, float]:
        self._index += 1
        x, y, w, h = self._gt[self._index]
        return (x + self._dx, y, w * self._scale, h * self._scale), 1.0


def _sequence(name: str = "walk", n: int = 8) -> Sequence:
    gt = np.array([[20.0 + 3 * i, 30.0, 24.0, 16.0] for i in range(n)])
    return Sequence(name, "memory", gt, frame_loader=lambda i: np.zeros((96, 128), np.uint8))


@pytest.fixture()
def saved_figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Figures as ``save_plots`` saves them."""
    figures: list[Figure] = []
    real = Figure.savefig

    def keep(fig: Figure, *args, **kwargs):
        figures.append(fig)
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def test_each_tracker_keeps_its_colour_and_legend_place(saved_figures, tmp_path) -> None:
    seq = _sequence()
    # "far" has the better overlap (big box, off-centre), "near" the better centre error: the
    # ranking differs between the success and the precision plot
    trackers = {"far": lambda: ShiftedTracker(seq.gt, 9.0, 1.0),
                "near": lambda: ShiftedTracker(seq.gt, 0.0, 2.2)}
    report = evaluate(trackers, [seq])
    assert (report.scores["far"].success > report.scores["near"].success) != (
        report.scores["far"].precision > report.scores["near"].precision)
    paths = report.save_plots(tmp_path)
    assert [p.name for p in paths] == ["success_plot.png", "precision_plot.png",
                                       "norm_precision_plot.png"]
    colours = tracker_colours(["far", "near"])
    assert colours["far"] != colours["near"]
    for fig in saved_figures:
        (ax,) = fig.axes
        lines = ax.get_lines()
        assert [line.get_label().split(" [")[0] for line in lines] == ["far", "near"]
        assert [to_rgb(line.get_color()) for line in lines] == [colours["far"], colours["near"]]
        legend = [t.get_text().split(" [")[0] for t in ax.get_legend().get_texts()]
        assert legend == ["far", "near"]


@pytest.mark.parametrize(("count", "words"), [(1, "(1 sequence,"), (2, "(2 sequences,")])
def test_titles_count_sequences_in_english(saved_figures, tmp_path, count, words) -> None:
    seqs = [_sequence(f"s{k}") for k in range(count)]
    report = evaluate({"a": lambda: ShiftedTracker(seqs[0].gt, 1.0, 1.0)}, seqs)
    report.save_plots(tmp_path)
    assert all(words in fig.axes[0].get_title() for fig in saved_figures)


def test_evaluate_progress_counts_frames_and_names_the_sequence(capsys, monkeypatch) -> None:
    # redraw on every update (tqdm redraws at most every 0.1 s; this run takes less)
    monkeypatch.setattr(tir_tracker_core.progress, "tqdm",
                        functools.partial(tir_tracker_core.progress.tqdm, mininterval=0))
    seqs = [_sequence("first", 5), _sequence("second", 7)]
    evaluate({"a": lambda: ShiftedTracker(seqs[1].gt, 0.0, 1.0)}, seqs, progress=True)
    err = capsys.readouterr().err
    assert "sequence 2/2 second" in err and "12/12" in err
    evaluate({"a": lambda: ShiftedTracker(seqs[1].gt, 0.0, 1.0)}, seqs, progress=False)
    assert capsys.readouterr().err == ""
