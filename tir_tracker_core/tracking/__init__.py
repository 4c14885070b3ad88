"""Tracking runtime."""

from ..frames import to_bgr8
from ..geometry import validate_box
from .canvas import SplitBackbone
from .tracker import Tracker
from .types import Box, Track, TrackState

__all__ = ["Box", "SplitBackbone", "Track", "TrackState", "Tracker", "to_bgr8", "validate_box"]
