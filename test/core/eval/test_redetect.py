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


def test_lost_targets_show_a_pattern_then_vanish_with_their_surroundings():
    """``bench(lost=...)`` scene: the lost boxes go to the corners farthest from the first
    box, show a checkerboard in the first ``LOST_SHOWN`` frames and then a flat region; the
    frames passed in are left as they were."""
    from tir_tracker_core.eval.bench import LOST_MARGIN, LOST_SHOWN, lost_targets

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (120, 160), dtype=np.uint8) for _ in range(6)]
    for f in frames:
        f.setflags(write=False)
    boxes = np.array([[120.0, 80.0, 20.0, 16.0]] * 3)
    out, moved = lost_targets(frames, boxes, 2)
    assert np.array_equal(moved[0], boxes[0]) and np.array_equal(boxes[1], boxes[0])
    np.testing.assert_array_equal(moved[1:, 2:], [[10.0, 8.0]] * 2)  # half size
    np.testing.assert_array_equal(moved[1:, :2], [[2.0, 2.0], [2.0, 110.0]])  # far corners
    assert all(not f.flags.writeable for f in out) and len(out) == len(frames)
    x, y = 2, 2
    for i, f in enumerate(out):
        patch = f[y:y + 8, x:x + 10]
        if i < LOST_SHOWN:
            assert set(np.unique(patch)) == {frames[0].min(), frames[0].max()}
        else:
            side = int(LOST_MARGIN * 10)
            region = f[0:y + 8 + side, 0:x + 10 + side]
            assert len(np.unique(region)) == 1  # emptied, box and surroundings
            assert np.array_equal(f[80:, 100:], frames[i][80:, 100:])  # the object untouched


def test_bench_lost_run_reports_its_lost_targets(shared_data):
    """With one of three targets lost, the tracker reports exactly one target lost on every
    timed frame once its patience has run out (the copies on the object kept apart by
    exclusion_iou 1.0, so that none of them is reported lost); with re-detection on and off."""
    from tir_tracker_core.data import load_sequences
    from tir_tracker_core.eval.bench import bench

    (seq,) = load_sequences(shared_data / "tir" / "vottir_horse")
    trackers = build_trackers("default", backend="onnxruntime",
                              tracker={"exclusion_iou": 1.0, "lost_patience": 5})
    report = bench({"on": trackers, "off": trackers.with_overrides({"redetect": False})},
                   seq.head(30), target_counts=(3,), warmup=8, max_frames=30, lost=1)
    for name in ("on", "off"):
        assert report.result(name, 3).lost_per_frame == 0.0
        assert report.result(name, 3, lost_targets=1).lost_per_frame == 1.0


def test_eval_and_bench_variants_run_our_trackers_again(shared_data, tmp_path, capsys):
    """``--variant NAME:key=value`` in eval / bench: each of our SPECs runs again with the
    TrackerConfig overrides, named 'SPEC-NAME NAME'; peers are not repeated."""
    import json

    from tir_tracker_core.cli import main

    horse = str(shared_data / "tir" / "vottir_horse")
    assert main(["eval", horse, "--tracker", "default", "--tracker", "opencv:kcf",
                 "--variant", "off:redetect=false", "--max-frames", "12",
                 "--out", str(tmp_path / "eval")]) == 0
    names = list(json.loads((tmp_path / "eval" / "results.json").read_text())["trackers"])
    assert len(names) == 3 and names[1] == f"{names[0]} off" and "kcf" in names[2].lower()
    assert main(["bench", horse, "--tracker", "default", "--reference", "default",
                 "--targets", "2", "--lost", "1", "--max-frames", "10", "--warmup", "1",
                 "--variant", "off:redetect=false", "--out", str(tmp_path / "bench")]) == 0
    res = json.loads((tmp_path / "bench" / "bench.json").read_text())["results"]
    assert {(r["tracker"].split()[-1], r["lost_targets"]) for r in res} >= {("off", 0),
                                                                              ("off", 1)}
    assert all(r["fps_ratio_to_reference"] is not None for r in res)
    capsys.readouterr()
