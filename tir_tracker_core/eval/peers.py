"""OpenCV trackers wrapped to the evaluation runner's single-target protocol.

Peer names:

- ``opencv:csrt``, ``opencv:kcf``, ``opencv:mil``: OpenCV's classic trackers.
- ``opencv:nano:DIR``: ``cv2.TrackerNano`` with the NanoTrack backbone and head ONNX files found
  in ``DIR`` (``*backbone*.onnx`` and ``*head*.onnx``).

OpenCV trackers take 8-bit 3-channel images, so each frame is converted first with the
project's ``frames.to_bgr8`` (:data:`PEER_FRAME_CONFIG`): mono8 is replicated to three
channels and 16-bit / float frames get a robust 0.5-99.5 percentile stretch. The conversion is
part of the tracker's measured time, as it would be on a robot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import FrameConfig
from ..errors import (
    ConfigError,
    InvalidBoxError,
    InvalidFrameError,
    ModelLoadError,
)
from ..frames import to_bgr8
from ..specs import OPENCV_CLASSIC, OPENCV_NANO_PREFIX, OPENCV_PREFIX, PEER_SPECS, parse_spec
from .adapters import Box, TrackerFactory

logger = logging.getLogger(__name__)

__all__ = [
    "PEER_FRAME_CONFIG",
    "PEER_NAMES",
    "NanoTrackFiles",
    "OpenCVTracker",
    "build_peer",
    "find_nanotrack_files",
]

PEER_NAMES: tuple[str, ...] = PEER_SPECS
"""Valid peer specifications (``DIR`` is a folder holding the NanoTrack ONNX files)."""

PEER_FRAME_CONFIG = FrameConfig(percentile_low=0.5, percentile_high=99.5)
"""Frame conversion for the peers: 16-bit / float frames get a 0.5-99.5 percentile stretch."""


def _to_cv_rect(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Round each of ``x, y, w, h`` to an integer and clip the rect to the image.

    OpenCV's trackers need an integer rect inside the image. Rounding the four values
    separately is the usual convention; it matters: moving the initial rect by one pixel changes
    MIL's success on ``vottir_horse`` by about 0.1.
    """
    x, y, w, h = (float(v) for v in box)
    shown = f"({x:g}, {y:g}, {w:g}, {h:g})"  # plain numbers, not numpy reprs
    if not np.all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        raise InvalidBoxError(f"box {shown} must be finite with w > 0 and h > 0")
    rx, ry, rw, rh = (int(round(v)) for v in (x, y, w, h))
    x0, y0 = max(0, rx), max(0, ry)
    x1, y1 = min(width, rx + rw), min(height, ry + rh)
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise InvalidBoxError(
            f"box {shown} lies outside the {width}x{height} image or is under one pixel; give a "
            "box inside the frame"
        )
    return (x0, y0, x1 - x0, y1 - y0)


@dataclass(frozen=True)
class NanoTrackFiles:
    """The two ONNX graphs ``cv2.TrackerNano`` needs."""

    backbone: Path
    head: Path


def find_nanotrack_files(directory: Path) -> NanoTrackFiles:
    """Find ``*backbone*.onnx`` and ``*head*.onnx`` in ``directory``.

    Raises:
        ModelLoadError: the folder is missing, or holds none or several of either file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(
            f"NanoTrack folder {directory} does not exist; give the folder holding the backbone "
            "and head ONNX files (opencv:nano:DIR)"
        )
    found: dict[str, Path] = {}
    for role in ("backbone", "head"):
        matches = sorted(directory.glob(f"*{role}*.onnx"))
        if len(matches) != 1:
            listing = ", ".join(p.name for p in sorted(directory.glob("*.onnx"))) or "none"
            raise ModelLoadError(
                f"NanoTrack folder {directory} must hold exactly one *{role}*.onnx file, found "
                f"{len(matches)} (ONNX files there: {listing})"
            )
        found[role] = matches[0]
    return NanoTrackFiles(found["backbone"], found["head"])


class OpenCVTracker:
    """An OpenCV tracker behind the single-target protocol.

    ``track`` returns the previous box with score 0 when OpenCV reports a failure
    (``ok=False``). CSRT, KCF and MIL have no confidence output: their score is 1.0 on success;
    TrackerNano reports its own tracking score.

    Args:
        name: peer name reported in results.
        create: builds a fresh OpenCV tracker object.
        has_score: the OpenCV tracker has ``getTrackingScore()``.
        model_hint: added to the error when OpenCV fails on the first update (a model that
            loads but cannot run, e.g. an unsupported NanoTrack export).
    """

    def __init__(
        self,
        name: str,
        create: Callable[[], Any],
        has_score: bool = False,
        model_hint: str = "",
    ) -> None:
        self.name = name
        self._create = create
        self._has_score = has_score
        self._model_hint = model_hint
        self._updates = 0
        self._tracker: Any = None
        self._box: Box | None = None
        self._size: tuple[int, int] | None = None

    def init(self, frame: np.ndarray, box: Box) -> None:
        """Create a fresh OpenCV tracker and initialise it on ``box`` (x, y, w, h)."""
        image = to_bgr8(frame, PEER_FRAME_CONFIG)
        height, width = image.shape[:2]
        rect = _to_cv_rect(box, width, height)
        self._tracker = self._create()
        try:
            self._tracker.init(image, rect)
        except cv2.error as exc:
            raise ModelLoadError(
                f"{self.name}: OpenCV could not initialise the tracker: {exc}"
            ) from exc
        self._box = tuple(float(v) for v in box)  # type: ignore[assignment]
        self._size = (height, width)
        self._updates = 0

    def track(self, frame: np.ndarray) -> tuple[Box, float]:
        """Track in ``frame``; returns ``(box, score)``."""
        if self._tracker is None or self._box is None:
            raise RuntimeError(f"{self.name}: call init() before track()")
        image = to_bgr8(frame, PEER_FRAME_CONFIG)
        if image.shape[:2] != self._size:
            raise InvalidFrameError(
                f"{self.name}: frame size changed from {self._size} to {image.shape[:2]} "
                "mid-sequence; re-initialise the tracker"
            )
        try:
            ok, rect = self._tracker.update(image)
        except cv2.error as exc:
            if self._updates == 0 and self._model_hint:
                raise ModelLoadError(
                    f"{self.name}: OpenCV failed on the first update: {exc}; {self._model_hint}"
                ) from exc
            raise
        self._updates += 1
        if not ok:
            return self._box, 0.0
        self._box = tuple(float(v) for v in rect)  # type: ignore[assignment]
        score = float(self._tracker.getTrackingScore()) if self._has_score else 1.0
        return self._box, score


_NANO_HINT = (
    "cv2.TrackerNano runs the NanoTrack v1/v2 ONNX exports only (the v3 head does not run "
    "there); point opencv:nano:DIR at a v1 or v2 folder"
)


def _nano_factory(directory: Path) -> Callable[[], Any]:
    files = find_nanotrack_files(directory)
    logger.debug("TrackerNano uses %s and %s", files.backbone, files.head)

    def create() -> Any:
        params = cv2.TrackerNano_Params()
        params.backbone = str(files.backbone)
        params.neckhead = str(files.head)
        # OpenCV 5's DNN engine warns on stderr, twice per tracker created, that it ignores the
        # target TrackerNano sets (the CPU, which it runs on anyway): quiet while creating,
        # OpenCV's log level restored after; real failures still raise
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(min(level, cv2.utils.logging.LOG_LEVEL_ERROR))
        try:
            return cv2.TrackerNano.create(params)
        except cv2.error as exc:
            raise ModelLoadError(
                f"cv2.TrackerNano cannot load {files.backbone.name} / {files.head.name} from "
                f"{directory}: {exc}; {_NANO_HINT}"
            ) from exc
        finally:
            cv2.utils.logging.setLogLevel(level)

    return create


# cv2.TrackerCSRT, cv2.TrackerKCF, cv2.TrackerMIL: the names come from the SPEC grammar
_CLASSIC: dict[str, Callable[[], Any]] = {
    name: getattr(cv2, f"Tracker{name.upper()}").create for name in OPENCV_CLASSIC
}


def build_peer(spec: str, threads: int | None = None) -> TrackerFactory:
    """Factory of fresh trackers for a peer name (see :data:`PEER_NAMES`).

    The NanoTrack folder is checked here, so a bad path fails before any sequence runs.
    ``threads``: OpenCV's thread count (``cv2.setNumThreads``, for the whole process) set
    whenever the factory makes a tracker, so a peer can be timed on as many threads as our
    models; None leaves OpenCV's default (one per core).

    Raises:
        ConfigError: unknown peer name.
        ModelLoadError: ``opencv:nano:DIR`` without the two ONNX files.
    """
    if not spec.startswith(OPENCV_PREFIX):
        raise ConfigError(f"unknown peer tracker {spec!r}; valid choices: {', '.join(PEER_NAMES)}")
    peer = parse_spec(spec)  # ConfigError naming the valid specs
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ConfigError(f"threads must be a positive integer or None, got {threads!r}")
    extra: dict[str, Any] = {}
    if peer.target in _CLASSIC:
        create = _CLASSIC[peer.target]
    else:
        create = _nano_factory(Path(peer.target.removeprefix(OPENCV_NANO_PREFIX)))
        extra = {"has_score": True, "model_hint": _NANO_HINT}

    def factory() -> OpenCVTracker:
        if threads is not None:
            cv2.setNumThreads(threads)
        return OpenCVTracker(spec, create, **extra)

    return factory
