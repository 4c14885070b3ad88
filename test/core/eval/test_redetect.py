"""Re-acquisition evaluation: events, frames to re-acquire, false re-acquisitions."""

from __future__ import annotations

import numpy as np

from tir_tracker_core.api import build_trackers
from tir_tracker_core.eval.redetect import (dropout_events, evaluate_redetect, markdown_table,
                                            score_run)


def test_dropout_events_and_windows():
    hidden = np.zeros((2, 20), bool)
    hidden[0, 3:6] = True
    hidden[0, 10:12] = True
    hidden[1, 15:20] = True  # never shown again: no event
    assert dropout_events(hidden) == [(0, 6, 10), (0, 12, 20)]


def test_score_run_counts_reacquisitions_and_false_ones():
    gt = np.tile(np.array([10.0, 10.0, 10.0, 10.0]), (1, 12, 1))
    gt[0, 6:, :2] = 50.0  # shows again elsewhere at frame 6
    hidden = np.zeros((1, 12), bool)
    hidden[0, 3:6] = True
    pred = gt.copy()
    pred[0, 3:, :2] = 10.0  # held where it vanished...
    tracked = np.ones((1, 12), bool)
    tracked[0, 3:5] = False
    pred[0, 9:, :2] = 50.0  # ...tracked on it again from frame 9
    tracked[0, 6:9] = False
    # LOST -> TRACKED at 5 (while hidden: false) and at 9 (on the target)
    frames, comebacks, wrong = score_run(pred, tracked, gt, hidden)
    assert frames == [3] and comebacks == 2 and wrong == 1


def test_evaluate_redetect_runs_variants():
    trackers = build_trackers("default")
    results = evaluate_redetect({"on": trackers,
                                 "off": trackers.with_overrides({"redetect": False})},
                                seeds=[1], targets=1, frames=100, dropouts=1, width=160,
                                height=128)
    assert [r.name for r in results] == ["on", "off"]
    for r in results:
        assert r.events == 1 and 0 <= r.reacquired <= 1
        assert 0 <= r.false_reacquisitions <= r.reacquisitions
    assert "| on | 1 |" in markdown_table(results)
