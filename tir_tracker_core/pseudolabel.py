"""Pseudo-labels from tracking: boxes for unlabelled video, kept where forward and backward
tracking agree.

Two uses (issue 15 / 16), one mechanism:

- **Cross-modal** (``modality="rgb"``): on registered visible + thermal video, an RGB tracker
  (the teacher) follows objects through the *visible* frames, where it is in its own domain;
  its boxes label the registered *thermal* frames.
- **Self-training** (``modality="tir"``): on thermal-only video, the current model's own
  tracks label the frames.

Per clip, in windows of ``window`` frames:

1. **Proposals** on the window's first thermal frame (:func:`thermal_proposals`): blobs that
   stand out from their local background (warm people and vehicles, or cold ones), by
   contrast against a blurred background measured in robust standard deviations, filtered by
   size, fill and aspect, strongest first, no two overlapping.
2. **Forward** tracking of every proposal to the window's last frame, then **backward**
   tracking from the forward end boxes to the first frame, on the chosen modality.
3. A track is kept when the backward pass comes home (IoU of the backward box and the
   proposal on the first frame >= ``fb_iou``); of a kept track, the frames where the forward
   and backward boxes agree (IoU >= ``fb_iou``) are labelled with the forward box, the others
   are left unlabelled (``NaN``), and the track is dropped if fewer than ``min_frames`` frames
   stay labelled.

The result is a tracks folder (:mod:`tir_tracker_core.data.tracks`) that ``train`` /
``distill`` read as ``kind: sequences`` (thermal) or ``kind: paired`` (visible + thermal).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from .data.sequence import FrameLoader
from .data.tracks import TrackLabel, TracksClip, thermal_loader
from .data.video import VideoFrameLoader
from .errors import ConfigError
from .geometry import box_iou_xywh
from .progress import bar
from .tracking.types import Box, Track

log = logging.getLogger(__name__)

__all__ = [
    "ClipFrames",
    "PseudoLabelConfig",
    "PseudoLabelStats",
    "pseudo_label_clip",
    "pseudo_label_videos",
    "thermal_proposals",
]


class MultiTracker(Protocol):
    """What the labeller needs of a tracker: ours (``Tracker``) or ``MultiFromSingle``."""

    def init(self, frame: np.ndarray, boxes: list[Box]) -> Iterable[int]: ...

    def update(self, frame: np.ndarray) -> Iterable[Track]: ...


@dataclass(frozen=True)
class PseudoLabelConfig:
    """Settings of :func:`pseudo_label_clip` (defaults: the measured recipe, RESULTS.md).

    ``modality``: the frames the tracker follows (``rgb``: cross-modal labels from the visible
    half of paired video; ``tir``: self-training on thermal video).
    ``window``: frames per forward / backward pass (a track is at most this long + 1).
    ``proposals``: at most this many objects started per window.
    ``contrast``: a proposal pixel differs from its background by at least this many robust
    standard deviations of that difference (1.4826 x median absolute deviation).
    ``background_frames``: the background is the per-pixel median of this many thermal frames
    spread over the window (the window's first included): moving objects stand out; ``1``:
    the first frame blurred (Gaussian, sigma ``background_sigma`` x the shorter image side):
    warm or cold blobs stand out, moving or not.
    ``min_size`` / ``max_size``: proposal box sides in pixels / as a fraction of the shorter
    image side. ``min_fill``: blob pixels over box area. ``max_aspect``: longer over shorter
    side.
    ``fb_iou``: forward / backward agreement, per frame and to close the loop.
    ``min_frames``: a kept track labels at least this many frames.
    """

    modality: Literal["rgb", "tir"] = "rgb"
    window: int = 50
    proposals: int = 4
    contrast: float = 4.0
    background_frames: int = 7
    background_sigma: float = 0.05
    min_size: float = 8.0
    max_size: float = 0.4
    min_fill: float = 0.3
    max_aspect: float = 4.0
    fb_iou: float = 0.6
    min_frames: int = 10

    def __post_init__(self) -> None:
        if self.modality not in ("rgb", "tir"):
            raise ConfigError(f"modality must be 'rgb' or 'tir', got {self.modality!r}")
        if self.window < 2:
            raise ConfigError(f"window must be >= 2 frames, got {self.window}")
        if self.proposals < 1:
            raise ConfigError(f"proposals must be >= 1, got {self.proposals}")
        if not 0.0 < self.fb_iou <= 1.0:
            raise ConfigError(f"fb_iou must be in (0, 1], got {self.fb_iou}")
        if not 0.0 < self.max_size <= 1.0 or self.min_size < 1.0:
            raise ConfigError("min_size must be >= 1 px and max_size in (0, 1] of the shorter "
                              f"side, got {self.min_size} / {self.max_size}")
        if self.background_frames < 1:
            raise ConfigError("background_frames must be >= 1 (1: the first frame blurred), "
                              f"got {self.background_frames}")
        if self.min_frames < 2:
            raise ConfigError(f"min_frames must be >= 2 (a training pair), got {self.min_frames}")


@dataclass
class PseudoLabelStats:
    """Counts of one labelling run (and, where the clips carry ground truth, label quality)."""

    windows: int = 0
    proposed: int = 0
    kept: int = 0
    frames_labelled: int = 0
    frames_rejected: int = 0
    unchecked: int = 0  # kept tracks that started on no annotated target
    label_iou: list[float] = field(default_factory=list)  # kept labels vs ground truth
    rejected_iou: list[float] = field(default_factory=list)  # rejected forward boxes vs gt

    COUNTS = ("windows", "proposed", "kept", "frames_labelled", "frames_rejected", "unchecked")

    def add(self, other: PseudoLabelStats) -> None:
        for key in self.COUNTS:
            setattr(self, key, getattr(self, key) + getattr(other, key))
        self.label_iou += other.label_iou
        self.rejected_iou += other.rejected_iou

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self.COUNTS}
        for key in ("label_iou", "rejected_iou"):
            values = getattr(self, key)
            if values:
                arr = np.asarray(values)
                out[key] = {"n": len(arr), "mean": round(float(arr.mean()), 4),
                            "above_0.5": round(float((arr >= 0.5).mean()), 4)}
        return out


@dataclass(frozen=True)
class ClipFrames:
    """One clip to label: its thermal frames, its visible frames (paired video) and, for
    measuring label quality only, ground-truth boxes per target (``(T, N, 4)``, ``NaN`` where
    absent)."""

    name: str
    num_frames: int
    tir: FrameLoader
    rgb: FrameLoader | None = None
    gt: np.ndarray | None = None


def _grey(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return frame.astype(np.float32)


def thermal_proposals(frame: np.ndarray, cfg: PseudoLabelConfig,
                      exclude: np.ndarray | None = None,
                      others: list[np.ndarray] | None = None) -> np.ndarray:
    """``(K, 4)`` ``x, y, w, h`` boxes of blobs that stand out from their background,
    strongest first (contrast x sqrt(area)), none overlapping another or ``exclude``.

    The background is the per-pixel median of ``others`` (other frames of the same shot: what
    moves stands out, a static scene does not) when given, else ``frame`` blurred (what is
    warmer or colder than its surroundings stands out)."""
    img = _grey(frame)
    h, w = img.shape
    short = min(h, w)
    if others:
        background = np.median(np.stack([img] + [_grey(f) for f in others]), axis=0)
    else:
        background = cv2.GaussianBlur(img, (0, 0), max(1.0, cfg.background_sigma * short))
    diff = img - background
    spread = 1.4826 * float(np.median(np.abs(diff - np.median(diff)))) + 1e-3
    kernel = np.ones((3, 3), np.uint8)
    found: list[tuple[float, tuple[float, float, float, float]]] = []
    for mask in (diff > cfg.contrast * spread, diff < -cfg.contrast * spread):
        mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for k in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[k])
            if min(bw, bh) < cfg.min_size or max(bw, bh) > cfg.max_size * short:
                continue
            if area < cfg.min_fill * bw * bh or max(bw, bh) > cfg.max_aspect * min(bw, bh):
                continue
            strength = float(np.abs(diff[labels == k]).mean()) / spread
            found.append((strength * np.sqrt(area), (x, y, bw, bh)))
    found.sort(key=lambda f: -f[0])
    kept: list[tuple[float, float, float, float]] = []
    taken = (np.zeros((0, 4)) if exclude is None
             else np.asarray(exclude, np.float64).reshape(-1, 4))
    for _, box in found:
        if len(kept) >= cfg.proposals:
            break
        occupied = np.concatenate([taken, np.asarray(kept, np.float64).reshape(-1, 4)])
        if len(occupied) and box_iou_xywh(np.asarray(box, np.float64), occupied).max() > 0.1:
            continue
        kept.append(box)
    return np.asarray(kept, np.float64).reshape(-1, 4)


def _run(tracker: MultiTracker, frames: list[np.ndarray], boxes: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    """Track ``boxes`` from ``frames[0]`` through the rest: ``(len(frames), N, 4)`` boxes and
    ``(len(frames), N)`` lost flags (row 0: the given boxes)."""
    ids = list(tracker.init(frames[0], [tuple(float(v) for v in b) for b in boxes]))
    out = np.full((len(frames), len(ids), 4), np.nan)
    lost = np.zeros((len(frames), len(ids)), bool)
    out[0] = boxes
    column = {tid: j for j, tid in enumerate(ids)}
    for i, frame in enumerate(frames[1:], start=1):
        for t in tracker.update(frame):
            j = column.get(t.id)
            if j is not None:
                out[i, j] = t.box
                lost[i, j] = t.lost
    lost |= np.isnan(out).any(axis=2)
    return out, np.maximum.accumulate(lost, axis=0)  # once lost, the rest is unlabelled


def pseudo_label_clip(make_tracker: Callable[[], MultiTracker], clip: ClipFrames,
                      cfg: PseudoLabelConfig, *, progress: bool = False
                      ) -> tuple[list[TrackLabel], PseudoLabelStats]:
    """Pseudo-labelled tracks of one clip (see the module docstring) and their counts."""
    if cfg.modality == "rgb" and clip.rgb is None:
        raise ValueError(f"clip {clip.name!r} has no visible frames; cross-modal labels need "
                         "paired video (or label with modality='tir')")
    follow = clip.rgb if cfg.modality == "rgb" else clip.tir
    assert follow is not None
    stats = PseudoLabelStats()
    tracks: list[TrackLabel] = []
    starts = range(0, max(clip.num_frames - cfg.min_frames, 0) + 1, cfg.window)
    for s in bar(starts, desc=clip.name, unit="window", enabled=progress):
        e = min(s + cfg.window, clip.num_frames - 1)
        if e - s + 1 < cfg.min_frames:
            break
        stats.windows += 1
        # the window's thermal frames the proposals need, each decoded once
        picked = [s] + [int(i) for i in np.linspace(s, e, cfg.background_frames)[1:]]
        thermal = {i: clip.tir(i) for i in picked}
        props = thermal_proposals(thermal[s], cfg,
                                  others=[thermal[i] for i in picked[1:]] or None)
        stats.proposed += len(props)
        if not len(props):
            continue
        reuse = thermal if cfg.modality == "tir" else {}
        frames = [reuse[i] if i in reuse else follow(i) for i in range(s, e + 1)]
        fwd, fwd_lost = _run(make_tracker(), frames, props)
        alive = ~fwd_lost[-1]
        if not alive.any():
            continue
        bwd_rev, bwd_lost_rev = _run(make_tracker(), frames[::-1], fwd[-1, alive])
        bwd, bwd_lost = bwd_rev[::-1], bwd_lost_rev[::-1]
        for j_b, j in enumerate(np.flatnonzero(alive)):
            agree = box_iou_xywh(fwd[:, j], bwd[:, j_b]) >= cfg.fb_iou
            agree &= ~fwd_lost[:, j] & ~bwd_lost[:, j_b]
            if not agree[0] or agree.sum() < cfg.min_frames:
                continue
            boxes = fwd[:, j].copy()
            boxes[~agree] = np.nan
            boxes[0] = props[j]
            tracks.append(TrackLabel(f"{clip.name}#{len(tracks):03d}", clip.name, s, boxes))
            stats.kept += 1
            stats.frames_labelled += int(agree.sum())
            stats.frames_rejected += int((~agree).sum())
            if clip.gt is not None:
                _score(stats, clip.gt[s:e + 1], fwd[:, j], agree)
    return tracks, stats


def _score(stats: PseudoLabelStats, gt: np.ndarray, boxes: np.ndarray,
           agree: np.ndarray) -> None:
    """Label quality against the annotated target the track started on; a track that started
    on no annotated target (a distractor, or background) is only counted: its labels cannot
    be checked."""
    gt = np.asarray(gt, np.float64)
    best = box_iou_xywh(boxes[None], np.moveaxis(gt, 1, 0))  # (targets, frames)
    target = int(np.argmax(best[:, 0]))
    if best[target, 0] < 0.3:
        stats.unchecked += 1
        return
    stats.label_iou += best[target][agree][1:].tolist()
    stats.rejected_iou += best[target][~agree].tolist()


def pseudo_label_videos(make_tracker: Callable[[], MultiTracker], clips: Iterable[TracksClip],
                        cfg: PseudoLabelConfig, *, progress: bool = False
                        ) -> tuple[list[TrackLabel], PseudoLabelStats]:
    """Pseudo-labelled tracks of every video clip (``data.paired.find_video_clips``); track
    names are unique across clips."""
    tracks: list[TrackLabel] = []
    stats = PseudoLabelStats()
    for c in clips:
        frames = ClipFrames(c.name, c.frames, thermal_loader(c.tir, c.frames),
                            None if c.rgb is None else VideoFrameLoader(c.rgb, grey=False,
                                                                        num_frames=c.frames))
        found, clip_stats = pseudo_label_clip(make_tracker, frames, cfg, progress=progress)
        log.info("clip %s: %d windows, %d proposals, %d tracks kept (%d frames labelled)",
                 c.name, clip_stats.windows, clip_stats.proposed, clip_stats.kept,
                 clip_stats.frames_labelled)
        tracks += found
        stats.add(clip_stats)
    return tracks, stats
