"""Multi-target Siamese tracking runtime.

One batched backbone + head pass per frame covers every target. The tracker owns all state
(template features, target boxes, miss counters); the network and the backend hold none.
Post-processing follows the standard Siamese recipe (NanoTrack / pysot): cosine window,
scale- and aspect-change penalty, box smoothing with a score-scaled learning rate, and
clipping to the image.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..backends.base import Backend
from ..config import FrameConfig, ModelConfig, TrackerConfig
from ..errors import InvalidBoxError, InvalidFrameError, TrackerInputError, UnknownTargetError
from ..frames import to_bgr8
from .types import Box, Track, TrackState

log = logging.getLogger(__name__)


@dataclass
class _Target:
    id: int
    center: np.ndarray  # (2,) float64 cx, cy
    size: np.ndarray  # (2,) float64 w, h
    feat: Any
    avg: tuple[float, float, float]
    score: float = 1.0
    misses: int = 0
    age: int = 0
    state: TrackState = TrackState.TRACKED


@dataclass
class Timing:
    """Wall-clock split of the last ``update`` call, in milliseconds."""

    preprocess_ms: float = 0.0
    network_ms: float = 0.0
    postprocess_ms: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.network_ms + self.postprocess_ms


def crop_batch(img: np.ndarray, centers: np.ndarray, sizes: np.ndarray, out: int,
               avgs: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """Square crops of side ``sizes[i]`` centred on ``centers[i]``, resized to ``out``.

    Pixels outside the image take the target's mean colour. Same geometry as pysot's
    ``get_subwindow`` (integer-aligned window, bilinear resize), done as one affine warp.
    Returns (N, C, out, out) float32 for an HxWxC image.
    """
    n = len(centers)
    batch = np.empty((n, img.shape[2], out, out), np.float32)
    for i in range(n):
        sz = float(sizes[i])
        c = (sz + 1) / 2
        xmin = math.floor(centers[i][0] - c + 0.5)
        ymin = math.floor(centers[i][1] - c + 0.5)
        s = out / sz
        m = np.array([[s, 0, s * (0.5 - xmin) - 0.5], [0, s, s * (0.5 - ymin) - 0.5]], np.float64)
        crop = cv2.warpAffine(img, m, (out, out), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=avgs[i])
        batch[i] = crop.reshape(out, out, -1).transpose(2, 0, 1)
    return batch


@dataclass
class _Canvas:
    """Targets sharing one backbone pass: their search windows at one zoom ``scale``."""

    scale: float
    members: list[int]
    x0: float = 0.0  # image coordinates of canvas pixel (0, 0)'s reference point
    y0: float = 0.0
    cells: list[tuple[int, int]] = field(default_factory=list)  # window start, feature cells


def plan_canvases(centers: np.ndarray, scales: np.ndarray, instance: int, stride: int,
                  tolerance: float) -> list[_Canvas]:
    """Greedily group targets whose search windows overlap at similar zoom, when one canvas
    over their union costs no more pixels than their separate crops."""
    canvases: list[_Canvas] = []
    rects: list[np.ndarray] = []  # union rectangle (x1, y1, x2, y2) in image px per canvas
    for i in np.argsort(-scales):
        half = instance / 2 / scales[i]
        r = np.array([centers[i][0] - half, centers[i][1] - half,
                      centers[i][0] + half, centers[i][1] + half])
        for c, u in zip(canvases, rects):
            if abs(math.log(scales[i] / c.scale)) > math.log1p(tolerance):
                continue
            union = np.array([min(u[0], r[0]), min(u[1], r[1]), max(u[2], r[2]), max(u[3], r[3])])
            area = (union[2] - union[0]) * (union[3] - union[1]) * c.scale ** 2
            if area <= (len(c.members) + 1) * instance ** 2:
                c.members.append(int(i))
                u[:] = union
                break
        else:
            canvases.append(_Canvas(float(scales[i]), [int(i)]))
            rects.append(r)
    for c in canvases:
        # window of member m starts at canvas pixel 16 * cell, so its features are an exact
        # slice of the canvas features; its centre pixel maps back to ``centre_of``
        pts = centers[c.members]
        c.x0 = float(pts[:, 0].min()) + 0.5 - (instance / 2) / c.scale
        c.y0 = float(pts[:, 1].min()) + 0.5 - (instance / 2) / c.scale
        for cx, cy in pts:
            dx = (cx - c.x0 + 0.5) * c.scale - 0.5 - (instance - 1) / 2
            dy = (cy - c.y0 + 0.5) * c.scale - 0.5 - (instance - 1) / 2
            c.cells.append((int(round(dx / stride)), int(round(dy / stride))))
    return canvases


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every ``(x1, y1, x2, y2)`` box in ``a`` (M, 4) with every one in ``b`` (K, 4)."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def box_center(box: Sequence[float]) -> np.ndarray:
    """Centre ``(cx, cy)`` of an ``(x, y, w, h)`` box, pysot's pixel convention."""
    return np.array([box[0] + (box[2] - 1) / 2, box[1] + (box[3] - 1) / 2])


def peak_to_sidelobe(score: np.ndarray, size: int, exclude: int = 2,
                     ignore: np.ndarray | None = None) -> np.ndarray:
    """Peak-to-sidelobe ratio of each (size*size) score map: (peak - mean of the cells more
    than ``exclude`` cells from the peak) / their std.

    ``ignore`` (N, size*size), optional: cells left out of both the peak and the sidelobe
    (other targets' boxes in a multi-target search region); a map with every cell ignored is
    taken whole.
    """
    n = len(score)
    flat = score.reshape(n, size * size)
    valid = np.ones_like(flat, dtype=bool) if ignore is None else ~ignore
    valid[~valid.any(1)] = True
    peak = np.where(valid, flat, -np.inf).argmax(1)
    pi, pj = np.divmod(peak, size)
    ii, jj = np.mgrid[0:size, 0:size]
    side = (np.abs(ii[None] - pi[:, None, None]) > exclude) | \
        (np.abs(jj[None] - pj[:, None, None]) > exclude)
    side = side.reshape(n, -1) & valid
    cnt = np.maximum(side.sum(1), 1)
    mean = (flat * side).sum(1) / cnt
    var = (((flat - mean[:, None]) ** 2) * side).sum(1) / cnt
    return (flat[np.arange(n), peak] - mean) / (np.sqrt(var) + 1e-6)


def validate_box(box: Sequence[float], width: int, height: int) -> np.ndarray:
    """Check one (x, y, w, h) box against an image; returns it clipped to the image."""
    try:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidBoxError(f"box {box!r} is not 4 numbers (x, y, w, h)") from None
    if b.size != 4:
        raise InvalidBoxError(f"box {box!r} has {b.size} values; give 4 values (x, y, w, h)")
    if not np.all(np.isfinite(b)):
        raise InvalidBoxError(f"box {tuple(b)} contains NaN or inf; give finite pixel values")
    x, y, w, h = b
    if w <= 0 or h <= 0:
        raise InvalidBoxError(f"box {tuple(b)} has zero or negative size; w and h must be > 0")
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, float(width)), min(y + h, float(height))
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise InvalidBoxError(f"box {tuple(b)} lies outside the {width}x{height} image; give a "
                              "box that overlaps the image by at least one pixel")
    return np.array([x1, y1, x2 - x1, y2 - y1])


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
        s = model_cfg.score_size
        hann = np.hanning(s)
        self._window = np.outer(hann, hann).reshape(-1)
        ori = -(s // 2) * model_cfg.stride
        grid = ori + model_cfg.stride * np.arange(s, dtype=np.float64)
        self._grid = grid  # cell offsets from the search centre along one axis, crop pixels
        gx, gy = np.meshgrid(grid, grid)
        self._points = np.stack([gx.reshape(-1), gy.reshape(-1)], axis=1)  # (S*S, 2)
        self._targets: dict[int, _Target] = {}
        self._next_id = 1
        self._frame_sig: tuple[tuple[int, ...], np.dtype] | None = None
        # single-channel frames stay single-channel when the backend takes grey crops
        self._grey = bool(getattr(backend, "accepts_mono", False))
        self.timing = Timing()

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
    def _context(self, size: np.ndarray) -> float:
        ctx = self.cfg.context_amount * float(size.sum())
        return math.sqrt((size[0] + ctx) * (size[1] + ctx))

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
        avg = tuple(float(v) for v in img.reshape(-1, img.shape[2]).mean(0))
        avgs = [avg] * len(valid)
        s_z = np.array([round(self._context(s)) for s in sizes], np.float64)
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

    def reset(self) -> None:
        """Drop every target and forget the frame format."""
        self._targets.clear()
        self._frame_sig = None

    # ------------------------------------------------------------------ tracking
    def update(self, frame: np.ndarray) -> tuple[Track, ...]:
        """Track every target into ``frame``; returns one ``Track`` per target."""
        t0 = time.perf_counter()
        img = self._prepare(frame)
        targets = list(self._targets.values())
        if not targets:
            self.timing = Timing(preprocess_ms=(time.perf_counter() - t0) * 1e3)
            return ()
        mc = self.model_cfg
        sizes = np.stack([t.size for t in targets])
        s_z = np.sqrt(np.prod(sizes + self.cfg.context_amount * sizes.sum(1, keepdims=True), 1))
        scale_z = mc.exemplar_size / s_z
        s_x = np.round(s_z * (mc.instance_size / mc.exemplar_size))
        centers = np.stack([t.center for t in targets])
        canvases = self._plan(centers, scale_z)
        if canvases is None:  # every target alone: one crop each, fused backbone + head
            crops = crop_batch(img, centers, s_x, mc.instance_size, [t.avg for t in targets])
            t1 = time.perf_counter()
            cls, loc = self.backend.track([t.feat for t in targets], crops)
        else:
            xf, centers, scale_z, t1 = self._shared_features(img, targets, canvases, s_x, scale_z)
            cls, loc = self.backend.head([t.feat for t in targets], xf)
        t2 = time.perf_counter()
        tracks = self._postprocess(targets, cls, loc, scale_z, img.shape[1], img.shape[0],
                                   centers)
        t3 = time.perf_counter()
        self.timing = Timing((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return tracks

    def _plan(self, centers: np.ndarray, scale_z: np.ndarray) -> list[_Canvas] | None:
        """Canvases for shared search, or None when no two targets would share one."""
        if (not self.cfg.share_search or len(centers) < 2
                or not hasattr(self.backend, "features") or not hasattr(self.backend, "head")):
            return None
        mc = self.model_cfg
        canvases = plan_canvases(centers, scale_z, mc.instance_size, mc.stride,
                                 self.cfg.share_scale_tolerance)
        return None if all(len(c.members) == 1 for c in canvases) else canvases

    def _shared_features(self, img: np.ndarray, targets: list[_Target], canvases: list[_Canvas],
                         s_x: np.ndarray, scale_z: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Search features of every target, one backbone pass per canvas.

        Returns the features (N, C, s, s), the image point each target's window is centred on,
        the zoom each target was searched at, and the time the network started.
        """
        mc = self.model_cfg
        inst, stride = mc.instance_size, mc.stride
        n = len(targets)
        centers = np.zeros((n, 2))
        scales = np.zeros(n)
        singles = [c.members[0] for c in canvases if len(c.members) == 1]
        shared = [c for c in canvases if len(c.members) > 1]
        images: list[np.ndarray] = []
        for c in shared:
            w = max(cx for cx, _ in c.cells) * stride + inst
            h = max(cy for _, cy in c.cells) * stride + inst
            m = np.array([[c.scale, 0, c.scale * (0.5 - c.x0) - 0.5],
                          [0, c.scale, c.scale * (0.5 - c.y0) - 0.5]], np.float64)
            canvas = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=targets[c.members[0]].avg)
            images.append(canvas.reshape(h, w, -1).transpose(2, 0, 1)[None].astype(np.float32))
            for k, (cx, cy) in zip(c.members, c.cells):
                scales[k] = c.scale
                centers[k] = (c.x0 + (cx * stride + (inst - 1) / 2 + 0.5) / c.scale - 0.5,
                              c.y0 + (cy * stride + (inst - 1) / 2 + 0.5) / c.scale - 0.5)
        crops = None
        if singles:
            crops = crop_batch(img, np.stack([targets[k].center for k in singles]), s_x[singles],
                               inst, [targets[k].avg for k in singles])
        t1 = time.perf_counter()
        xf: list[np.ndarray | None] = [None] * n
        if crops is not None:
            for k, f in zip(singles, self.backend.features(crops)):
                xf[k] = f
                centers[k] = targets[k].center
                scales[k] = scale_z[k]
        for c, image in zip(shared, images):
            fmap = self.backend.features(image)[0]
            size = fmap.shape[-1] - (image.shape[-1] - inst) // stride  # window, in cells
            for k, (cx, cy) in zip(c.members, c.cells):
                xf[k] = fmap[:, cy:cy + size, cx:cx + size]
        return np.ascontiguousarray(np.stack(xf)), centers, scales, t1

    def _windows(self, offsets: np.ndarray, scale_z: np.ndarray) -> np.ndarray:
        """Cosine windows centred on each target's previous position.

        ``offsets`` (N, 2): previous centre minus the search window's centre, in image pixels
        (zero unless the window was snapped to a shared canvas's feature grid).
        """
        if not np.any(offsets):
            return self._window[None]
        s = self.model_cfg.score_size
        stride = self.model_cfg.stride
        ori = -(s // 2) * stride
        o = offsets * scale_z[:, None]  # crop pixels
        kx = (self._points[None, :, 0] - o[:, 0:1] - ori) / stride
        ky = (self._points[None, :, 1] - o[:, 1:2] - ori) / stride

        def hann(k: np.ndarray) -> np.ndarray:
            w = 0.5 - 0.5 * np.cos(2 * np.pi * k / (s - 1))
            return np.where((k >= 0) & (k <= s - 1), w, 0.0)

        return hann(kx) * hann(ky)

    def _postprocess(self, targets: list[_Target], cls: np.ndarray, loc: np.ndarray,
                     scale_z: np.ndarray, width: int, height: int,
                     centers: np.ndarray) -> tuple[Track, ...]:
        cfg = self.cfg
        n = len(targets)
        logits = cls.reshape(n, 2, -1)
        score = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))  # softmax, foreground
        d = loc.reshape(n, 4, -1).astype(np.float64)
        px, py = self._points[:, 0], self._points[:, 1]
        x1, y1, x2, y2 = px - d[:, 0], py - d[:, 1], px + d[:, 2], py + d[:, 3]
        pcx, pcy, pw, ph = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1

        size = np.stack([t.size for t in targets])  # (n, 2)
        def sz(w: np.ndarray, h: np.ndarray) -> np.ndarray:
            pad = (w + h) * 0.5
            return np.sqrt(np.maximum((w + pad) * (h + pad), 1e-12))

        def change(r: np.ndarray) -> np.ndarray:
            return np.maximum(r, 1.0 / r)

        tw, th = size[:, 0:1] * scale_z[:, None], size[:, 1:2] * scale_z[:, None]
        s_c = change(sz(pw, ph) / sz(tw, th))
        r_c = change((tw / th) / np.maximum(pw / np.maximum(ph, 1e-6), 1e-6))
        penalty = np.exp(-(r_c * s_c - 1) * cfg.penalty_k)
        prev = np.stack([t.center for t in targets])  # (n, 2) centres before this frame
        window = self._windows(prev - centers, scale_z)
        pscore = penalty * score * (1 - cfg.window_influence) + window * cfg.window_influence
        best = np.argmax(pscore, axis=1)
        exclusive = n > 1 and cfg.exclusion_iou < 1.0
        others = None
        if exclusive:
            # score cells inside another target's (previous) box: that target explains them,
            # so they count neither as this target's peak nor as its clutter in the PSR
            # per axis: is cell c of target i's map inside target k's box? (i, k, c)
            g = self._grid[None] / scale_z[:, None]  # (n, S) cell offsets in image pixels
            xm = (np.abs(centers[:, None, 0:1] + g[:, None] - prev[None, :, 0:1])
                  <= size[None, :, 0:1] / 2)
            ym = (np.abs(centers[:, None, 1:2] + g[:, None] - prev[None, :, 1:2])
                  <= size[None, :, 1:2] / 2)
            xm[np.arange(n), np.arange(n)] = False
            # cell (y, x) is inside some other box: any_k ym[i, k, y] & xm[i, k, x]
            others = (np.matmul(ym.transpose(0, 2, 1).astype(np.float32),
                                xm.astype(np.float32)) > 0).reshape(n, -1)
        psr = peak_to_sidelobe(score, self.model_cfg.score_size, ignore=others)
        rows = np.arange(n)
        best_score = score[rows, best]
        lr = penalty[rows, best] * best_score * cfg.lr
        # where each target goes if placed: centre at the peak, size smoothed towards the
        # peak's box with a score-scaled learning rate, clipped to the image
        cx = centers[:, 0] + pcx[rows, best] / scale_z
        cy = centers[:, 1] + pcy[rows, best] / scale_z
        w = size[:, 0] * (1 - lr) + pw[rows, best] / scale_z * lr
        h = size[:, 1] * (1 - lr) + ph[rows, best] / scale_z * lr
        frame_wh = np.array([width, height], np.float64)
        new_center = np.minimum(np.maximum(np.stack([cx, cy], 1), 0.0), frame_wh)
        new_size = np.minimum(np.maximum(np.stack([w, h], 1), cfg.min_size), frame_wh)
        miss = ((best_score < cfg.lost_threshold) | (psr < cfg.lost_psr)).tolist()
        held = [False] * n  # excluded this frame: not moved
        if exclusive:
            # Exclusive assignment: targets are placed in order of their best penalised score.
            # A target whose peak (at its current size) overlaps a box already placed this
            # frame by IoU >= exclusion_iou is not moved and counts the frame as a miss; one
            # that overlaps by half that is moved but still counts a miss (contested: it may
            # be shadowing the neighbour). Without this, a target that loses its object
            # (crossing, occlusion) jumps onto a neighbour and two tracks report one object
            # (docs/architecture.md).
            peak = np.stack([cx, cy], 1)
            cand = np.concatenate([peak - size / 2, peak + size / 2], 1)
            placed_box = np.concatenate([new_center - new_size / 2, new_center + new_size / 2], 1)
            overlap = box_iou(cand, placed_box)
            clash = (overlap >= cfg.exclusion_iou).tolist()
            contested = (overlap >= cfg.exclusion_iou / 2).tolist()
            placed = [False] * n
            for i in np.argsort(-pscore[rows, best], kind="stable").tolist():
                if any(c and p for c, p in zip(clash[i], placed)):
                    miss[i] = held[i] = True
                    best_score[i] = 0.0
                    continue
                if any(c and p for c, p in zip(contested[i], placed)):
                    miss[i] = True
                misses = targets[i].misses + 1 if miss[i] else 0
                placed[i] = misses < cfg.lost_patience
        out = []
        for i, t in enumerate(targets):
            t.age += 1
            t.score = float(best_score[i])
            t.misses = t.misses + 1 if miss[i] else 0
            t.state = TrackState.LOST if t.misses >= cfg.lost_patience else TrackState.TRACKED
            if t.state is TrackState.TRACKED and not held[i]:
                t.center, t.size = new_center[i], new_size[i]
            box = (float(t.center[0] - (t.size[0] - 1) / 2), float(t.center[1] - (t.size[1] - 1) / 2),
                   float(t.size[0]), float(t.size[1]))
            out.append(Track(id=t.id, box=box, score=t.score, state=t.state, age=t.age))
        return tuple(out)
