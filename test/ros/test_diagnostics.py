"""Frame statistics and diagnostic levels (pure Python, no ROS needed)."""

from __future__ import annotations

import pytest

from tir_tracker_ros.diagnostics import (
    ERROR,
    OK,
    WARN,
    FrameStats,
    Limits,
    ModelStatus,
    statuses,
)

LOADED = ModelStatus("default", "torch", "cpu", loaded=True)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _run(stats: FrameStats, clock: Clock, seconds: float, rate: float, every: int = 1,
         latency: float = 0.02) -> None:
    """Images at ``rate`` Hz for ``seconds``; one in ``every`` is processed, others dropped."""
    for i in range(int(seconds * rate)):
        clock.t += 1.0 / rate
        stats.received()
        if i % every:
            stats.dropped()
        else:
            stats.processed(latency, 0.01, targets=2, tracked=1, lost=1)


def _levels(snap, model=LOADED, limits=Limits()):
    return {s.name.split(": ")[1]: s for s in statuses("tir_tracker", "/image", snap, model,
                                                       limits)}


def test_rates_latency_and_counts():
    clock = Clock()
    stats = FrameStats(window=5.0, clock=clock)
    _run(stats, clock, seconds=10, rate=30)
    snap = stats.snapshot()
    assert snap.input_rate == pytest.approx(30, rel=0.05)
    assert snap.processing_fps == pytest.approx(30, rel=0.05)
    assert snap.latency_ms == pytest.approx((20.0, 20.0, 20.0))
    assert (snap.received, snap.processed, snap.dropped) == (300, 300, 0)
    got = _levels(snap)
    assert got["input"].level == OK and got["tracking"].level == OK and got["model"].level == OK
    assert float(got["tracking"].values["processing_fps"]) == pytest.approx(30, rel=0.05)
    assert got["tracking"].values["targets_lost"] == "1"
    assert got["tracking"].message.endswith("FPS, 2 target(s) (1 tracked, 1 lost), "
                                            "0 re-acquired")
    assert got["tracking"].values["reacquisitions"] == "0"
    stats.processed(0.02, 0.01, targets=2, tracked=2, lost=0, reacquisitions=3)
    stats.processed(0.02, 0.01, targets=2, tracked=2, lost=0)  # None: unchanged
    got = _levels(stats.snapshot())
    assert got["tracking"].values["reacquisitions"] == "3"  # lost targets tracked again
    assert got["tracking"].message.endswith("(2 tracked, 0 lost), 3 re-acquired")


def test_drops_and_rejections_warn_with_reason():
    clock = Clock()
    stats = FrameStats(window=5.0, clock=clock)
    _run(stats, clock, seconds=6, rate=30, every=3)
    stats.rejected("truncated image data: 10 bytes")
    got = _levels(stats.snapshot())
    assert got["tracking"].level == WARN and "dropping frames" in got["tracking"].message
    assert got["input"].level == WARN and "truncated image data" in got["input"].message
    assert got["tracking"].values["frames_dropped"] == str(stats.snapshot().dropped)


def test_rate_latency_and_staleness_limits():
    clock = Clock()
    stats = FrameStats(window=5.0, clock=clock)
    _run(stats, clock, seconds=6, rate=10, latency=0.5)
    limits = Limits(expected_min_rate=25.0, max_latency_ms=100.0, stale_timeout=2.0)
    got = _levels(stats.snapshot(), limits=limits)
    assert got["input"].level == WARN and "below the expected 25 Hz" in got["input"].message
    assert got["tracking"].level == WARN and "latency p50 500 ms" in got["tracking"].message
    clock.t += 3.0
    got = _levels(stats.snapshot(), limits=limits)
    assert "no image on /image for 3.0 s" in got["input"].message


def test_model_states():
    snap = FrameStats().snapshot()
    failed = ModelStatus("m.safetensors", "torch", "cpu", loaded=False,
                         error="'m.safetensors' failed: ModelLoadError: no such file",
                         failures=1)
    got = _levels(snap, model=failed)
    assert got["model"].level == ERROR and "no such file" in got["model"].message
    assert got["tracking"].level == ERROR
    refused = ModelStatus("default", "torch", "cpu", loaded=True, error="'x' failed: bad",
                          failures=2)
    got = _levels(snap, model=refused)
    assert got["model"].level == WARN and "a change was refused" in got["model"].message
    assert got["model"].values["load_failures"] == "2"


def test_gaps_in_stamps_count_missed_frames():
    clock = Clock()
    stats = FrameStats(window=5.0, clock=clock, expected_rate=30.0)
    period = round(1e9 / 30)
    stamp = 1_000_000_000_000
    missed = []
    for i in range(90):  # the node takes every third frame of a 30 Hz camera
        clock.t += 0.1
        missed.append(stats.received(stamp + 3 * i * period))
        stats.processed(0.02, 0.01, targets=1, tracked=1, lost=0)
    assert missed[0] == 0 and set(missed[1:]) == {2}
    snap = stats.snapshot()
    assert snap.camera_rate == pytest.approx(30, rel=0.05)
    assert snap.input_rate == pytest.approx(10, rel=0.05)
    got = _levels(snap)
    assert got["tracking"].level == WARN and "missed" in got["tracking"].message
    assert got["input"].values["camera_rate_hz"].startswith("30")
    # a paused stream (gap over max_gap) and backwards stamps count nothing
    assert stats.received(stamp + 100 * 10**9) == 0
    assert stats.received(stamp) == 0


def test_period_is_estimated_without_an_expected_rate():
    stats = FrameStats(expected_rate=0.0)
    stamp = 10**12
    for i in (0, 1, 2, 4, 5):  # 25 Hz with frame 3 missing
        missed = stats.received(stamp + i * 40_000_000)
    assert stats.period_estimate() == pytest.approx(25)
    assert stats.totals["dropped"] == 1 and missed == 0
