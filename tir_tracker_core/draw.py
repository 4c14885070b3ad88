"""Pictures of tracks: the one look of ``tir-tracker demo`` / ``track`` videos and of the ROS
node's debug image.

A frame is shown as the network sees it (``frames.to_bgr8`` with the tracker's
``FrameConfig``: 16-bit thermal through the same stretch), each target in its own colour with
its id and score, a lost target in red with the word ``lost`` (a lost target's score does not
say how sure the tracker is), ground truth in thin white, and a legend in the top-left corner.
OpenCV is imported only when something is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import FrameConfig
from .frames import to_bgr8
from .tracking.types import Track, TrackState

__all__ = ["COLORS", "GT_COLOR", "LOST_COLOR", "VideoSink", "annotate", "draw_tracks",
           "given_tracks", "label"]

# BGR colours: one per target id (red is kept for lost targets)
COLORS = [(0, 255, 0), (255, 160, 0), (255, 0, 255), (0, 255, 255), (255, 255, 0), (0, 128, 255)]
LOST_COLOR = (0, 0, 255)
GT_COLOR = (255, 255, 255)


def label(track: Any) -> str:
    """``#1 given`` (the box the user gave: age 0), ``#1 0.87`` (tracked, with its score) or
    ``#1 lost``."""
    if track.age == 0:
        return f"#{track.id} given"
    return f"#{track.id} lost" if track.lost else f"#{track.id} {track.score:.2f}"


def given_tracks(ids: Iterable[int], boxes: Iterable[Sequence[float]]) -> list[Track]:
    """The boxes the user gave on the first frame, as tracks of age 0 (drawn ``given``)."""
    return [Track(int(i), tuple(float(v) for v in b), 1.0, TrackState.TRACKED, 0)
            for i, b in zip(ids, boxes)]


def _pixels(box: Sequence[float]) -> tuple[int, int, int, int] | None:
    """Whole-pixel corners ``x0, y0, x1, y1`` of an ``x, y, w, h`` box; None if not finite."""
    if not all(math.isfinite(float(v)) for v in box):
        return None
    x, y, w, h = (float(v) for v in box)
    return int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h))


def _legend(img: np.ndarray, entries: list[tuple[str, tuple[int, int, int]]]) -> None:
    """Coloured legend lines in the top-left corner, on a darkened box."""
    import cv2

    font, scale, line = cv2.FONT_HERSHEY_SIMPLEX, 0.35, 12
    width = max(cv2.getTextSize(text, font, scale, 1)[0][0] for text, _ in entries) + 8
    box = img[:line * len(entries) + 4, :width]
    box[:] = (box * 0.4).astype(img.dtype)  # darken, keep the picture visible
    for k, (text, colour) in enumerate(entries):
        cv2.putText(img, text, (4, line * (k + 1)), font, scale, colour, 1, cv2.LINE_AA)


def draw_tracks(img: np.ndarray, tracks: Iterable[Any],
                gts: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``img`` (HxWx3 uint8 BGR) with the tracks' boxes and labels (:func:`label`),
    the ground truth boxes ``gts`` (K, 4) when given, and a legend. Boxes that are not finite
    are left out."""
    import cv2

    out = np.array(img, dtype=np.uint8, copy=True, order="C")
    for g in [] if gts is None else gts:
        corners = _pixels(g)
        if corners is not None:
            cv2.rectangle(out, corners[:2], corners[2:], GT_COLOR, 1)
    for t in tracks:
        corners = _pixels(t.box)
        if corners is None:
            continue
        x0, y0, x1, y1 = corners
        color = LOST_COLOR if t.lost else COLORS[(t.id - 1) % len(COLORS)]
        cv2.rectangle(out, (x0, y0), (x1, y1), color, 2)
        # a lost target's label goes under its box: where targets cross, labels stay apart
        at = (x0, y1 + 12) if t.lost else (x0, max(y0 - 4, 10))
        cv2.putText(out, label(t), at, cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    entries = [("tracked: #id score", COLORS[0]), ("lost: #id lost", LOST_COLOR)]
    if gts is not None:
        entries.append(("ground truth (thin)", GT_COLOR))
    _legend(out, entries)
    return out


def annotate(frame: np.ndarray, tracks: Iterable[Any], gts: np.ndarray | None = None,
             cfg: FrameConfig | None = None) -> np.ndarray:
    """:func:`draw_tracks` on ``frame`` as the network sees it (``frames.to_bgr8`` with
    ``cfg``, default ``FrameConfig()``)."""
    return draw_tracks(to_bgr8(frame, cfg or FrameConfig()), tracks, gts)


class VideoSink:
    """Annotated pictures to ``out_dir/tracked.mp4`` when OpenCV can encode MP4, else to
    ``out_dir/frames/NNNNNN.png``; ``path`` says which once the first picture is written."""

    def __init__(self, out_dir: Path, fps: float = 30.0) -> None:
        self.out_dir = Path(out_dir)
        self.fps = fps
        self.writer: Any = None
        self.path: Path | None = None
        self.frames_dir: Path | None = None

    def write(self, img: np.ndarray, index: int) -> None:
        import cv2

        if self.writer is None and self.frames_dir is None:
            path = self.out_dir / "tracked.mp4"
            w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps,
                                (img.shape[1], img.shape[0]))
            if w.isOpened():
                self.writer, self.path = w, path
            else:
                self.frames_dir = self.out_dir / "frames"
                self.frames_dir.mkdir(parents=True, exist_ok=True)
                self.path = self.frames_dir
        if self.writer is not None:
            self.writer.write(img)
        else:
            cv2.imwrite(str(self.frames_dir / f"{index:06d}.png"), img)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
