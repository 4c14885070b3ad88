"""Frame-pipeline statistics and the diagnostic statuses the node publishes.

Pure Python (no rclpy), shaped after diagnostic_updater's conventions: one status per
concern (model, input, tracking), a frequency check against an expected rate window, and
OK / WARN / ERROR with a message saying why. The node turns :class:`Status` into
``diagnostic_msgs/DiagnosticStatus``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


@dataclass(frozen=True)
class Status:
    level: int
    name: str
    message: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """What counts as healthy (node parameters)."""

    expected_min_rate: float = 0.0  # Hz (camera rate); 0 = no lower bound
    expected_max_rate: float = 0.0  # Hz; 0 = no upper bound
    max_latency_ms: float = 0.0  # image stamp -> tracks published; 0 = no bound
    stale_timeout: float = 2.0  # s without images before WARN


@dataclass(frozen=True)
class Snapshot:
    uptime: float
    window: float
    input_rate: float  # images the node took per second
    camera_rate: float  # images taken plus missed (stamp gaps) per second
    expected_rate: float  # Hz the gaps are measured against (parameter or estimate)
    processing_fps: float
    latency_ms: tuple[float, float, float] | None  # p50, p99, max over the window
    processing_ms: float | None  # mean over the window
    received: int
    processed: int
    dropped: int
    rejected: int
    dropped_recent: int
    rejected_recent: int
    last_rejection: str
    since_last_image: float | None
    requests_rejected: int
    last_request_error: str
    targets: int
    tracked: int
    lost: int
    reacquisitions: int = 0  # lost targets tracked again (same id), over the node's life


class FrameStats:
    """Thread-safe counters and windowed rates of images received, dropped, rejected and
    processed.

    Dropped frames are the ones the node never saw: with a KEEP_LAST 1 image queue, images
    that arrive while a frame is tracked replace each other in the queue. They are found
    from gaps in the header stamps of the images taken: a gap of ``g`` seconds at
    ``expected_rate`` Hz means ``round(g * rate) - 1`` frames missed (dropped by the node or
    lost on the way). ``expected_rate`` 0 estimates the period as the shortest gap seen;
    gaps over ``max_gap`` seconds (a paused or restarted stream) and backwards stamps count
    nothing.
    """

    def __init__(self, window: float = 5.0, clock=time.monotonic, expected_rate: float = 0.0,
                 max_gap: float = 2.0) -> None:
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self.expected_rate = expected_rate
        self.max_gap = max_gap
        self._last_stamp = 0
        self._gaps: deque[float] = deque(maxlen=100)
        self._start = clock()
        self._received: deque[float] = deque()
        self._processed: deque[tuple[float, float | None, float]] = deque()
        self._dropped: deque[float] = deque()
        self._rejected: deque[float] = deque()
        self.totals = {"received": 0, "processed": 0, "dropped": 0, "rejected": 0,
                       "requests_rejected": 0}
        self._last_rejection = ""
        self._last_request_error = ""
        self._targets = (0, 0, 0)
        self._reacquisitions = 0

    def received(self, stamp_ns: int = 0) -> int:
        """An image taken with header stamp ``stamp_ns`` (0: unstamped); returns the number
        of frames missed since the previous one."""
        missed = self._missed(stamp_ns)
        self._count("received", self._received)
        for _ in range(missed):
            self._count("dropped", self._dropped)
        return missed

    def _missed(self, stamp_ns: int) -> int:
        if not stamp_ns:
            return 0
        with self._lock:
            last, self._last_stamp = self._last_stamp, stamp_ns
            gap = (stamp_ns - last) * 1e-9
            if not last or gap <= 0 or gap > self.max_gap:
                return 0
            self._gaps.append(gap)
            rate = self.expected_rate or 1.0 / min(self._gaps)
        return max(0, round(gap * rate) - 1)

    def period_estimate(self) -> float:
        """The rate gaps are measured against: the parameter, or 1 / shortest gap seen."""
        with self._lock:
            if self.expected_rate:
                return self.expected_rate
            return 1.0 / min(self._gaps) if self._gaps else 0.0

    def dropped(self) -> None:
        self._count("dropped", self._dropped)

    def rejected(self, reason: str) -> None:
        with self._lock:
            self._last_rejection = reason
        self._count("rejected", self._rejected)

    def request_rejected(self, reason: str) -> None:
        with self._lock:
            self.totals["requests_rejected"] += 1
            self._last_request_error = reason

    def processed(self, latency: float | None, processing: float, targets: int,
                  tracked: int, lost: int, reacquisitions: int | None = None) -> None:
        """One frame done: latency (image stamp -> publication, s; None when the image had
        no stamp) and processing time (received -> published, s); ``reacquisitions``: the
        total of lost targets tracked again so far (None: unchanged)."""
        now = self._clock()
        with self._lock:
            self.totals["processed"] += 1
            self._processed.append((now, latency, processing))
            self._targets = (targets, tracked, lost)
            if reacquisitions is not None:
                self._reacquisitions = reacquisitions
            self._trim(now)

    def _count(self, key: str, events: deque) -> None:
        now = self._clock()
        with self._lock:
            self.totals[key] += 1
            events.append(now)
            self._trim(now)

    def _trim(self, now: float) -> None:
        old = now - self._window
        for events in (self._received, self._dropped, self._rejected):
            while events and events[0] <= old:
                events.popleft()
        while self._processed and self._processed[0][0] <= old:
            self._processed.popleft()

    def snapshot(self) -> Snapshot:
        now = self._clock()
        with self._lock:
            self._trim(now)
            span = max(min(self._window, now - self._start), 1e-6)
            latencies = [lat for _, lat, _ in self._processed if lat is not None]
            processing = [p for _, _, p in self._processed]
            lat = None
            if latencies:
                p50, p99, mx = np.percentile(np.asarray(latencies) * 1e3, (50, 99, 100))
                lat = (float(p50), float(p99), float(mx))
            return Snapshot(
                uptime=now - self._start,
                window=span,
                input_rate=len(self._received) / span,
                camera_rate=(len(self._received) + len(self._dropped)) / span,
                expected_rate=(self.expected_rate or
                               (1.0 / min(self._gaps) if self._gaps else 0.0)),
                processing_fps=len(self._processed) / span,
                latency_ms=lat,
                processing_ms=float(np.mean(processing)) * 1e3 if processing else None,
                received=self.totals["received"],
                processed=self.totals["processed"],
                dropped=self.totals["dropped"],
                rejected=self.totals["rejected"],
                dropped_recent=len(self._dropped),
                rejected_recent=len(self._rejected),
                last_rejection=self._last_rejection,
                since_last_image=(now - self._received[-1]) if self._received else None,
                requests_rejected=self.totals["requests_rejected"],
                last_request_error=self._last_request_error,
                targets=self._targets[0],
                tracked=self._targets[1],
                lost=self._targets[2],
                reacquisitions=self._reacquisitions,
            )


@dataclass(frozen=True)
class ModelStatus:
    model: str  # the model running (or being loaded at start)
    backend: str
    device: str
    loaded: bool
    error: str = ""  # the last failed load: what and why ("" after a successful one)
    failures: int = 0


def statuses(prefix: str, image_topic: str, snap: Snapshot, model: ModelStatus,
             limits: Limits) -> list[Status]:
    """The node's diagnostic statuses: model, input (frequency) and tracking."""
    return [_model_status(prefix, model), _input_status(prefix, image_topic, snap, limits),
            _tracking_status(prefix, snap, model, limits)]


def _model_status(prefix: str, m: ModelStatus) -> Status:
    values = {"model": m.model, "backend": m.backend, "device": m.device,
              "load_failures": str(m.failures)}
    name = f"{prefix}: model"
    if not m.loaded:
        if m.error:
            return Status(ERROR, name, f"no model loaded, tracking is off: {m.error}; set the "
                          "model parameter to retry", values)
        return Status(WARN, name, f"loading model {m.model!r}", values)
    running = f"model {m.model!r} on {m.backend}/{m.device}"
    if m.error:
        return Status(WARN, name, f"{running}; a change was refused: {m.error}", values)
    return Status(OK, name, running, values)


def _input_status(prefix: str, topic: str, s: Snapshot, limits: Limits) -> Status:
    values = {
        "topic": topic,
        "input_rate_hz": f"{s.input_rate:.2f}",
        "camera_rate_hz": f"{s.camera_rate:.2f}",
        "expected_rate_hz": f"{s.expected_rate:g}",
        "expected_min_rate_hz": f"{limits.expected_min_rate:g}",
        "expected_max_rate_hz": f"{limits.expected_max_rate:g}",
        "frames_received": str(s.received),
        "frames_rejected": str(s.rejected),
        "last_rejection": s.last_rejection,
    }
    problems = []
    if s.since_last_image is None:
        if s.uptime > limits.stale_timeout:
            problems.append(f"no image received on {topic} yet")
    elif s.since_last_image > limits.stale_timeout:
        problems.append(f"no image on {topic} for {s.since_last_image:.1f} s")
    elif limits.expected_min_rate and s.camera_rate < limits.expected_min_rate:
        problems.append(f"input rate {s.camera_rate:.1f} Hz below the expected "
                        f"{limits.expected_min_rate:g} Hz")
    if limits.expected_max_rate and s.camera_rate > limits.expected_max_rate:
        problems.append(f"input rate {s.camera_rate:.1f} Hz above the expected "
                        f"{limits.expected_max_rate:g} Hz")
    if s.rejected_recent:
        problems.append(f"{s.rejected_recent} image(s) rejected in the last "
                        f"{s.window:.0f} s: {s.last_rejection}")
    if problems:
        return Status(WARN, f"{prefix}: input", "; ".join(problems), values)
    return Status(OK, f"{prefix}: input", f"{s.camera_rate:.1f} Hz on {topic}", values)


def _tracking_status(prefix: str, s: Snapshot, m: ModelStatus, limits: Limits) -> Status:
    values = {
        "processing_fps": f"{s.processing_fps:.2f}",
        "input_rate_hz": f"{s.input_rate:.2f}",
        "latency_ms_p50": _fmt(s.latency_ms and s.latency_ms[0]),
        "latency_ms_p99": _fmt(s.latency_ms and s.latency_ms[1]),
        "latency_ms_max": _fmt(s.latency_ms and s.latency_ms[2]),
        "processing_ms_mean": _fmt(s.processing_ms),
        "frames_processed": str(s.processed),
        "frames_dropped": str(s.dropped),
        "frames_rejected": str(s.rejected),
        "requests_rejected": str(s.requests_rejected),
        "last_request_error": s.last_request_error,
        "targets": str(s.targets),
        "targets_tracked": str(s.tracked),
        "targets_lost": str(s.lost),
        "reacquisitions": str(s.reacquisitions),
        "backend": m.backend,
        "device": m.device,
    }
    name = f"{prefix}: tracking"
    if not m.loaded:
        return Status(ERROR, name, "no model loaded: tracking is off (see the model status)",
                      values)
    problems = []
    if s.dropped_recent:
        problems.append(f"dropping frames: {s.dropped_recent} missed in the last "
                        f"{s.window:.0f} s (gaps in image stamps at {s.expected_rate:g} Hz; "
                        f"processing {s.processing_fps:.1f} FPS, camera {s.camera_rate:.1f} Hz)")
    if limits.max_latency_ms and s.latency_ms and s.latency_ms[0] > limits.max_latency_ms:
        problems.append(f"latency p50 {s.latency_ms[0]:.0f} ms above "
                        f"{limits.max_latency_ms:g} ms")
    summary = (f"{s.processing_fps:.1f} FPS, {s.targets} target(s) "
               f"({s.tracked} tracked, {s.lost} lost), {s.reacquisitions} re-acquired")
    if problems:
        return Status(WARN, name, "; ".join(problems) + f"; {summary}", values)
    return Status(OK, name, summary, values)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"
