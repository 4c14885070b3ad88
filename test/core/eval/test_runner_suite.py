"""Evaluation over a suite: sparse ground truth scored on its annotated frames only, and the
per-sequence table with group and overall means."""

from __future__ import annotations

import numpy as np

from tir_tracker_core.data import Sequence
from tir_tracker_core.eval.runner import evaluate, group_sequences, sequence_group


class _Replay:
    """A single-target 'tracker' that replays fixed boxes (frame 0 is the init box)."""

    name = "replay"

    def __init__(self, boxes: np.ndarray) -> None:
        self.boxes, self.k = boxes, 0

    def init(self, frame, box) -> None:
        self.k = 1

    def track(self, frame):
        b = self.boxes[self.k]
        self.k += 1
        return tuple(float(v) for v in b), 1.0


def _sequence(name: str, gt: np.ndarray) -> Sequence:
    return Sequence(name, "memory", gt, frame_loader=lambda i: np.zeros((64, 64), np.uint8))


def test_sparse_ground_truth_is_scored_on_annotated_frames_only():
    n = 21
    truth = np.tile([10.0, 10.0, 20.0, 20.0], (n, 1))
    boxes = truth.copy()
    boxes[1::2] = [40.0, 40.0, 20.0, 20.0]  # wrong on every odd frame, none of them annotated
    sparse = truth.copy()
    sparse[np.arange(n) % 10 != 0] = np.nan  # a box every 10th frame: frames 0, 10, 20
    report = evaluate({"replay": lambda: _Replay(boxes)}, [_sequence("s", sparse)])
    scores = report.sequence_scores["replay"]["s"]
    assert scores.num_frames == 3
    assert scores.success == 20 / 21  # every IoU is 1 (> t up to 0.95); NaN rows would fail
    dense = evaluate({"replay": lambda: _Replay(boxes)}, [_sequence("d", truth)])
    assert dense.sequence_scores["replay"]["d"].num_frames == n
    assert dense.scores["replay"].success < 0.6


def test_groups_and_sequence_table():
    assert sequence_group("antiuav_4") == "antiuav"
    assert sequence_group("vottir_horse") == "vottir_horse"
    assert group_sequences(["antiuav_4", "vottir_horse", "antiuav_5"]) == {
        "antiuav": ["antiuav_4", "antiuav_5"], "vottir_horse": ["vottir_horse"]}
    truth = np.tile([10.0, 10.0, 20.0, 20.0], (5, 1))
    off = truth + [5.0, 0.0, 0.0, 0.0]
    seqs = [_sequence(n, truth) for n in ("drone_1", "drone_2", "horse")]
    report = evaluate({"good": lambda: _Replay(truth), "off": lambda: _Replay(off)}, seqs)
    table = report.sequence_table()
    assert "| group drone (2) |" in table and "**mean (3)**" in table
    assert table.count("\n") == 2 + 3 + 1 + 1
    groups = report.to_dict()["trackers"]["off"]["groups"]
    assert groups["drone"]["num_sequences"] == 2
    assert groups["drone"]["success"] == round(report.group_scores("off")["drone"].success, 6)
    single = evaluate({"good": lambda: _Replay(truth)}, seqs[:1])
    assert single.sequence_table() == ""
