"""The two tracker protocols of evaluation, and the adapters between them.

- single-target (``eval.runner``'s one-pass evaluation, OpenCV peers): ``init(frame, box)``,
  ``track(frame) -> (box, score)``.
- multi-target (``eval.bench``, ``eval.probe``; ``tracking.Tracker`` follows it):
  ``init(frame, boxes) -> ids``, ``update(frame) -> tracks``.

:class:`OursSingle` shows one of our multi-target trackers through the single-target protocol;
:class:`MultiFromSingle` runs one single-target tracker per target behind the multi-target one.
Boxes are ``(x, y, w, h)`` in pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence as SequenceABC
from typing import Any, Protocol

import numpy as np

from ..tracking import Tracker
from ..tracking.types import Track, TrackState

__all__ = [
    "Box",
    "MultiFromSingle",
    "MultiTargetTracker",
    "MultiTrackerFactory",
    "OursSingle",
    "SingleTargetTracker",
    "TrackerFactory",
]

Box = tuple[float, float, float, float]


class SingleTargetTracker(Protocol):
    """The protocol every tracker evaluated by ``eval.runner`` follows."""

    name: str

    def init(self, frame: np.ndarray, box: Box) -> None:
        """Start tracking the object in ``box`` (x, y, w, h) of ``frame``."""
        ...

    def track(self, frame: np.ndarray) -> tuple[Box, float]:
        """Return ``(box, score)`` for the next frame."""
        ...


TrackerFactory = Callable[[], SingleTargetTracker]
"""Builds a fresh single-target tracker (one per sequence)."""


class MultiTargetTracker(Protocol):
    """The multi-target API the benchmark drives (``tracking.Tracker`` follows it)."""

    def init(self, frame: np.ndarray, boxes: SequenceABC[Box]) -> SequenceABC[int]:
        """Start tracking ``boxes``; returns one id per box."""
        ...

    def update(self, frame: np.ndarray) -> SequenceABC[Any]:
        """Track every target in ``frame``; returns one track per target."""
        ...


MultiTrackerFactory = Callable[[], MultiTargetTracker]
"""Builds a fresh multi-target tracker (one per run)."""


class OursSingle:
    """Our multi-target ``Tracker`` seen through the single-target protocol (one target)."""

    def __init__(self, tracker: Tracker, name: str) -> None:
        self.tracker = tracker
        self.name = name

    def init(self, frame: np.ndarray, box: Box) -> None:
        self.tracker.init(frame, [box])

    def track(self, frame: np.ndarray) -> tuple[Box, float]:
        (t,) = self.tracker.update(frame)
        return t.box, t.score


class MultiFromSingle:
    """N independent single-target trackers behind the multi-target API.

    Each target gets its own instance from ``factory``; ``update`` runs them one after the
    other. A target whose tracker reports a score <= ``lost_score`` (OpenCV's ``ok=False``
    gives 0) is reported :attr:`TrackState.LOST` for that frame.
    """

    def __init__(self, factory: TrackerFactory, lost_score: float = 0.0) -> None:
        self._factory = factory
        self._lost_score = lost_score
        self._trackers: list[Any] = []
        self._ages: list[int] = []

    def init(self, frame: np.ndarray, boxes: SequenceABC[Box]) -> tuple[int, ...]:
        """Build and initialise one tracker per box (replacing any previous targets)."""
        if len(boxes) == 0:
            raise ValueError("init() needs at least one box")
        trackers = []
        for box in boxes:
            tracker = self._factory()
            tracker.init(frame, tuple(float(v) for v in box))
            trackers.append(tracker)
        self._trackers = trackers
        self._ages = [0] * len(trackers)
        return tuple(range(len(trackers)))

    def update(self, frame: np.ndarray) -> tuple[Track, ...]:
        """Advance every target by one frame."""
        if not self._trackers:
            raise RuntimeError("call init() before update()")
        tracks = []
        for target_id, tracker in enumerate(self._trackers):
            box, score = tracker.track(frame)
            self._ages[target_id] += 1
            state = TrackState.LOST if score <= self._lost_score else TrackState.TRACKED
            x, y, w, h = (float(v) for v in box)
            age = self._ages[target_id]
            tracks.append(Track(target_id, (x, y, w, h), float(score), state, age))
        return tuple(tracks)
