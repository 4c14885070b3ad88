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
    assert got["tracking"].message.endswith("FPS, 2 target(s) (1 tracked, 1 lost)")


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
