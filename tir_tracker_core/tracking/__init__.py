"""Tracking runtime."""

from ..frames import to_bgr8
from .tracker import Timing, Tracker, validate_box
from .types import Box, Track, TrackState

__all__ = ["Box", "Timing", "Track", "TrackState", "Tracker", "to_bgr8", "validate_box"]
