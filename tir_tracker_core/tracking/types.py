"""Tracking results: frozen dataclasses with an explicit lost state (no sentinel boxes)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

Box = tuple[float, float, float, float]  # x, y, w, h (top-left corner, pixels)


class TrackState(enum.Enum):
    TRACKED = "tracked"
    LOST = "lost"


@dataclass(frozen=True)
class Track:
    id: int
    box: Box
    score: float
    state: TrackState
    age: int  # frames processed since the target was added
    reacquisitions: int = 0  # times this target came back from LOST to TRACKED (same id)

    @property
    def lost(self) -> bool:
        return self.state is TrackState.LOST
