"""Multi-target Siamese tracking runtime: target state and the per-frame sequence of steps.

One batched backbone + head pass per frame covers every target. The tracker owns all state
(template features, target boxes, miss counters); the network and the backend hold none.
Crops come from ``geometry`` (the one crop rule of runtime, training and calibration), shared
search canvases from ``canvas``, and the post-processing steps (standard Siamese recipe:
cosine window, scale- and aspect-change penalty, box smoothing with a score-scaled learning
rate, clipping to the image) from ``postprocess``, and the re-detection of lost targets
from ``redetect``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backends.base import Backend
from ..config import FrameConfig, ModelConfig, TrackerConfig
from ..errors import InvalidFrameError, TrackerInputError, UnknownTargetError
from ..frames import to_bgr8
from ..geometry import (box_center, box_from_center, context_side, context_sides, crop_batch,
                        mean_colour, pysot_box, validate_box, window_centers)
from .canvas import Canvas, SplitBackbone, plan_canvases, search_features
from .postprocess import ScoreGrid, frame_step
from .redetect import LostSearch, advance_lost, psr_bar, tile_candidates, tile_crops
from .types import Box, Track, TrackState

log = logging.getLogger(__name__)


@dataclass
class _Target:
    id: int
    center: np.ndarray  # (2,) float64 cx, cy
    size: np.ndarray  # (2,) float64 w, h
    feat: Any
    avg: tuple[float, ...]  # crop padding colour: the mean colour of the frame it was added on
    score: float = 1.0
    misses: int = 0
    age: int = 0
    state: TrackState = TrackState.TRACKED
    reacquisitions: int = 0  # times it came back from lost
    search: LostSearch = field(default_factory=LostSearch)  # re-detection (cfg.redetect)

    def search_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Centre and size searched this frame: the box being confirmed, else the target's."""
        probe = self.search.probe
        return probe if probe is not None else (self.center, self.size)


class Tracker:
    """Track several targets in a video with one batched network pass per frame.

    Boxes are ``(x, y, w, h)`` in pixels with ``(x, y)`` the top-left corner. Bad input raises
    a ``TrackerInputError`` subclass and leaves the tracker state unchanged.
    """

    def __init__(self, backend: Backend, model_cfg: ModelConfig,
                 cfg: TrackerConfig | None = None, frame_cfg: FrameConfig | None = None) -> None:
        self.backend = backend
        self.model_cfg = model_cfg
        self.cfg = cfg or TrackerConfig()
        self.frame_cfg = frame_cfg or FrameConfig()
        self._grid = ScoreGrid.build(model_cfg.score_size, model_cfg.stride)
        self._targets: dict[int, _Target] = {}
        self._next_id = 1
        self._frame_sig: tuple[tuple[int, ...], np.dtype] | None = None
        self._reacquisitions = 0
        self._turn = 0  # frames with lost targets: whose turn it is for the remainder crop
        # single-channel frames stay single-channel when the backend takes grey crops
        self._grey = bool(backend.accepts_mono)

    # ------------------------------------------------------------------ properties
    @property
    def num_targets(self) -> int:
        return len(self._targets)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def device(self) -> str:
        return self.backend.device

    @property
    def ids(self) -> list[int]:
        return list(self._targets)

    @property
    def next_id(self) -> int:
        """The id the next target added gets: ids count up and are never reused."""
        return self._next_id

    def continue_ids(self, next_id: int) -> None:
        """Give targets added from now on ids from ``next_id`` up (never lower than the ids
        already given): a tracker that replaces another keeps ids unique across both."""
        self._next_id = max(self._next_id, int(next_id))

    @property
    def reacquisitions(self) -> int:
        """Times a lost target has been tracked again (same id), over this tracker's life
        (``init`` / ``reset`` do not clear it; ``Track.reacquisitions`` counts per target)."""
        return self._reacquisitions

    # ------------------------------------------------------------------ frames
    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        if not isinstance(frame, np.ndarray):
            raise InvalidFrameError(f"frame must be a numpy array, got {type(frame).__name__}")
        sig = (frame.shape, frame.dtype)
        if self._frame_sig is not None and sig != self._frame_sig:
            raise InvalidFrameError(
                f"frame changed from {self._frame_sig[0]} {self._frame_sig[1]} to {frame.shape} "
                f"{frame.dtype} mid-sequence; call reset() (or init()) to start at the new format")
        if self._grey and (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1)):
            # thermal: one 8-bit channel; backends treat it as three equal channels
            return to_bgr8(frame[..., None] if frame.ndim == 2 else frame, self.frame_cfg,
                           grey=True)
        return to_bgr8(frame, self.frame_cfg)

    # ------------------------------------------------------------------ targets
    def _make_targets(self, img: np.ndarray, boxes: Sequence[Box]) -> list[_Target]:
        h, w = img.shape[:2]
        valid = [validate_box(b, w, h) for b in boxes]
        if not valid:
            return []
        if self.num_targets + len(valid) > self.cfg.max_targets:
            raise TrackerInputError(
                f"{self.num_targets} targets held, {len(valid)} more asked, max_targets is "
                f"{self.cfg.max_targets}; remove targets or raise max_targets")
        centers = np.array([box_center(b) for b in valid])
        sizes = np.array([[b[2], b[3]] for b in valid])
        # pysot convention: pad crops with the mean colour of the whole frame
        avgs = [mean_colour(img)] * len(valid)
        ca = self.cfg.context_amount
        zoom = self.model_cfg.zoom
        s_z = np.array([round(context_side(s[0], s[1], ca, zoom)) for s in sizes], np.float64)
        crops = crop_batch(img, centers, s_z, self.model_cfg.exemplar_size, avgs)
        feats = self.backend.template(crops)
        out = []
        for c, s, f, a in zip(centers, sizes, feats, avgs):
            out.append(_Target(id=self._next_id, center=c, size=s, feat=f, avg=a))
            self._next_id += 1
        return out

    def init(self, frame: np.ndarray, boxes: Sequence[Box]) -> list[int]:
        """Start over on ``frame`` with ``boxes``; returns the new target ids.

        On bad input the previous targets and frame format are kept.
        """
        saved = self._frame_sig, self._targets
        self._frame_sig, self._targets = None, {}
        try:
            img = self._prepare(frame)
            new = self._make_targets(img, list(boxes))
        except TrackerInputError:
            self._frame_sig, self._targets = saved
            raise
        self._targets = {t.id: t for t in new}
        self._frame_sig = (frame.shape, frame.dtype)
        return [t.id for t in new]

    def add(self, frame: np.ndarray, boxes: Sequence[Box]) -> list[int]:
        """Add targets given on ``frame`` (same format as the running sequence)."""
        img = self._prepare(frame)
        new = self._make_targets(img, list(boxes))
        self._targets.update({t.id: t for t in new})
        if self._frame_sig is None:
            self._frame_sig = (frame.shape, frame.dtype)
        return [t.id for t in new]

    def remove(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        unknown = [i for i in ids if i not in self._targets]
        if unknown:
            raise UnknownTargetError(f"unknown target id(s) {unknown}; held ids: {self.ids}")
        for i in ids:
            del self._targets[i]

    def relocate(self, track_id: int, box: Box) -> None:
        """Move target ``track_id`` to ``box`` (x, y, w, h on the running frames) and mark it
        tracked, keeping its template: for an external detector that re-finds a target.

        Raises ``UnknownTargetError`` for an id not held and ``InvalidBoxError`` for a bad box
        (the target is then left as it was).
        """
        if track_id not in self._targets:
            raise UnknownTargetError(f"unknown target id {track_id}; held ids: {self.ids}")
        assert self._frame_sig is not None  # set whenever a target exists
        h, w = self._frame_sig[0][:2]
        b = validate_box(box, w, h)
        t = self._targets[track_id]
        t.center = box_center(b)
        t.size = np.array([b[2], b[3]])
        t.misses, t.state = 0, TrackState.TRACKED
        t.search.forget()

    def reset(self) -> None:
        """Drop every target and forget the frame format."""
        self._targets.clear()
        self._frame_sig = None

    # ------------------------------------------------------------------ tracking
    def update(self, frame: np.ndarray) -> tuple[Track, ...]:
        """Track every target into ``frame``; returns one ``Track`` per target."""
        img = self._prepare(frame)
        targets = list(self._targets.values())
        if not targets:
            return ()
        mc, n = self.model_cfg, len(targets)
        height, width = img.shape[:2]
        boxes = [t.search_box() for t in targets]
        prev = np.stack([c for c, _ in boxes])  # (n, 2) centres searched around
        size = np.stack([s for _, s in boxes])  # (n, 2) sizes before this frame
        s_z = context_sides(size, self.cfg.context_amount, mc.zoom)
        scale_z = mc.exemplar_size / s_z
        s_x = np.round(s_z * (mc.instance_size / mc.exemplar_size))
        feats, pads = [t.feat for t in targets], [t.avg for t in targets]
        # lost targets' extra crops (those being confirmed at a box get none)
        lost = [(i, t.search, t.center) for i, t in enumerate(targets) if self.cfg.redetect
                and t.state is TrackState.LOST and t.search.hits == 0]
        owner, tiles = tile_crops(lost, s_x, width, height, self.cfg.redetect_crops, self._turn)
        self._turn += bool(lost)
        centers = np.concatenate([prev, tiles]) if len(owner) else prev
        if len(owner):
            s_x, scale_z = np.concatenate([s_x, s_x[owner]]), np.concatenate([scale_z,
                                                                               scale_z[owner]])
            feats, pads = feats + [feats[k] for k in owner], pads + [pads[k] for k in owner]
        canvases = self._plan(prev, scale_z[:n])
        if canvases is None:  # every target alone: one crop each, fused backbone + head
            crops = crop_batch(img, centers, s_x, mc.instance_size, pads)
            cls, loc = self.backend.track(feats, crops)
            # offsets are measured from each window's true middle, at its true zoom
            centers, scale_z = window_centers(centers, s_x), mc.instance_size / s_x
        else:
            assert isinstance(self.backend, SplitBackbone)  # checked by _plan
            canvases += [Canvas(float(scale_z[j]), [j]) for j in range(n, len(centers))]
            xf, centers, scale_z = search_features(self.backend, img, centers, pads, canvases,
                                                   s_x, scale_z, mc.instance_size, mc.stride)
            cls, loc = self.backend.head(feats, xf)
        step = frame_step(self.cfg, self._grid, cls[:n], loc[:n], scale_z[:n], (width, height),
                          centers[:n], prev, size, [t.misses for t in targets],
                          np.array([t.state is TrackState.LOST for t in targets]))
        found = (self._redetections(targets, owner, cls[n:], loc[n:], scale_z[n:], centers[n:],
                                    prev, size, width, height) if len(owner) else {})
        return tuple(self._advance(t, float(step.score[i]), step.miss[i], step.held[i],
                                   step.center[i], step.size[i], float(step.psr[i]),
                                   found.get(i))
                     for i, t in enumerate(targets))

    def _plan(self, centers: np.ndarray, scale_z: np.ndarray) -> list[Canvas] | None:
        """Canvases for shared search, or None when no two targets would share one."""
        if (not self.cfg.share_search or len(centers) < 2
                or not isinstance(self.backend, SplitBackbone)):
            return None
        mc = self.model_cfg
        canvases = plan_canvases(centers, scale_z, mc.instance_size, mc.stride,
                                 self.cfg.share_scale_tolerance)
        return None if all(len(c.members) == 1 for c in canvases) else canvases

    def _redetections(self, targets: list[_Target], owner: list[int], cls: np.ndarray,
                      loc: np.ndarray, scale_z: np.ndarray, centers: np.ndarray,
                      prev: np.ndarray, size: np.ndarray, width: int,
                      height: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``redetect.tile_candidates`` of the tiles (``owner``: index in ``targets``)."""
        tracked = [k for k, t in enumerate(targets) if t.state is TrackState.TRACKED]
        bars = np.array([psr_bar(targets[i].search.psrs, self.cfg) for i in owner])
        return tile_candidates(self.cfg, self._grid, owner, cls, loc, scale_z, centers,
                               size[owner], bars, (prev[tracked], size[tracked]), width, height)

    # ------------------------------------------------------------------ target state
    def _advance(self, t: _Target, score: float, miss: bool, held: bool, center: np.ndarray,
                 size: np.ndarray, psr: float,
                 found: tuple[np.ndarray, np.ndarray] | None = None) -> Track:
        """One frame of target ``t``'s state: age, score, misses, lost or tracked, and its box
        moved to ``center`` / ``size`` unless it is lost or ``held``. ``psr``: its score map's
        peak-to-sidelobe ratio; ``found``: a candidate box of a lost target from its tiles
        (a lost target with re-detection on: ``redetect.advance_lost``)."""
        t.age += 1
        t.score = score
        was_lost = t.state is TrackState.LOST
        if self.cfg.redetect and was_lost:
            miss = miss or psr < psr_bar(t.search.psrs, self.cfg)
            box = advance_lost(t.search, miss, center, size, found, self.cfg.redetect_confirm)
            t.misses += int(miss)
            if box is not None:
                t.center, t.size = box
                t.misses, t.state = 0, TrackState.TRACKED
        else:
            t.misses = t.misses + 1 if miss else 0
            t.state = (TrackState.LOST if t.misses >= self.cfg.lost_patience
                       else TrackState.TRACKED)
            if t.state is TrackState.TRACKED and not held:
                t.center, t.size = center, size
            if self.cfg.redetect and not miss and t.state is TrackState.TRACKED:
                t.search.psrs.append(psr)
        if was_lost and t.state is TrackState.TRACKED:
            t.reacquisitions += 1
            self._reacquisitions += 1
            log.debug("target %d re-acquired at frame age %d", t.id, t.age)
        report = pysot_box if self.cfg.pysot_report else box_from_center
        return Track(id=t.id, box=report(t.center, t.size), score=t.score,
                     state=t.state, age=t.age, reacquisitions=t.reacquisitions)

