"""Training data: clips from every source, and the template/search pair sampler.

A :class:`Clip` is one target in one sequence (or in one still image pair): per-frame boxes and
loaders for its thermal and / or visible frames. :class:`PairSampler` cuts a template crop and a
search crop from two frames of a clip with pysot-style augmentation. Every sample is a pure
function of ``(seed, step, index)``, so a resumed or multi-process run sees exactly the samples
of an uninterrupted single-process run.

Crops are cut by ``geometry.crop``, the runtime's own crop (pysot's integer-aligned window), so
a training crop and a runtime crop of the same box are the same pixels: template side
``geometry.context_side`` (``sqrt((w + p)(h + p))``, ``p = context_amount * (w + h)``) resized
to the exemplar size, search side that times ``instance / exemplar``, pixels outside the image
in the frame's mean colour; thermal frames are converted to 8-bit BGR by the runtime's
``to_bgr8`` with the default ``FrameConfig``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..config import FrameConfig, ModelConfig, from_dict
from ..errors import ConfigError
from ..frames import to_bgr8
from ..geometry import box_center, box_in_crop, context_side, crop, mean_colour
from .config import DataSource, SamplerConfig, source_sampler

log = logging.getLogger(__name__)

FrameLoader = Callable[[int], np.ndarray]

# sample kinds
POSITIVE, NEGATIVE, UNLABELLED = 1, 0, -1


@dataclass(frozen=True, eq=False)
class Clip:
    """One target of one sequence (or one still image pair).

    ``boxes``: ``(T, 4)`` float64 ``x, y, w, h`` (the thermal image's), or ``None`` when the
    data is not annotated (distillation cuts crops around random pseudo-boxes there).
    ``valid``: ``(T,)`` frames usable as template or search (target visible, box large enough).
    ``tir`` / ``rgb``: frame loaders (``None`` where the modality does not exist).
    """

    name: str
    num_frames: int
    boxes: np.ndarray | None
    valid: np.ndarray
    tir: FrameLoader | None
    rgb: FrameLoader | None

    @property
    def annotated(self) -> bool:
        return self.boxes is not None


def _valid(boxes: np.ndarray, min_size: float, visible: np.ndarray | None = None) -> np.ndarray:
    ok = np.all(np.isfinite(boxes), axis=1) & (boxes[:, 2] >= min_size) & (boxes[:, 3] >= min_size)
    return ok if visible is None else ok & np.asarray(visible, bool)


_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


class _ImageLoader:
    """Loader of a still image (frame index ignored); picklable for data-loading workers.

    ``downscale`` 2 / 4 / 8 reads the image at that fraction of its size: JPEGs by reduced
    decoding (several times faster than a full decode), other formats (e.g. 16-bit PNG, depth
    kept) by area resizing."""

    def __init__(self, path: Path, downscale: int = 1) -> None:
        self.path = path
        self.downscale = downscale

    def __call__(self, index: int) -> np.ndarray:
        from ..data.io import read_image

        d = self.downscale
        if d > 1 and self.path.suffix.lower() in (".jpg", ".jpeg"):
            img = cv2.imread(str(self.path), _REDUCED[d])
            if img is not None:
                return img
        img = read_image(self.path)
        if d > 1:
            h, w = img.shape[:2]
            img = cv2.resize(img, (max(w // d, 1), max(h // d, 1)), interpolation=cv2.INTER_AREA)
        return img


def synthetic_clips(src: DataSource, min_size: float) -> list[Clip]:
    from ..data.synthetic import SyntheticConfig, generate_sequence

    clips = []
    for k in range(src.count):
        fields = {"seed": src.seed + k, "num_frames": src.frames, "width": src.width,
                  "height": src.height, "num_targets": src.targets, **src.options}
        seq = generate_sequence(from_dict(SyntheticConfig, fields, "DataSource.options"))
        for n in range(src.targets):
            boxes = np.asarray(seq.boxes[n], np.float64)
            clips.append(Clip(f"synthetic_s{src.seed + k}_t{n}", len(seq), boxes,
                              _valid(boxes, min_size, seq.visible[n]), seq.tir_frame,
                              seq.rgb_frame))
    return clips


def _path_clips(src: DataSource, min_size: float) -> list[Clip]:
    from ..data import PairedImage, PairedSequence, load_paired, load_sequences

    path = Path(src.path)
    clips: list[Clip] = []
    if src.kind == "sequences":
        for seq in load_sequences(path):
            boxes = np.asarray(seq.gt, np.float64)
            loader = seq.frame
            clips.append(Clip(seq.name, len(seq), boxes, _valid(boxes, min_size),
                              loader if src.modality == "tir" else None,
                              loader if src.modality == "rgb" else None))
        return clips
    for item in load_paired(path):
        if isinstance(item, PairedSequence):
            boxes = None if item.gt is None else np.asarray(item.gt, np.float64)
            valid = (np.ones(len(item), bool) if boxes is None else _valid(boxes, min_size))
            clips.append(Clip(item.name, len(item), boxes, valid, item.tir_frame, item.rgb_frame))
        elif isinstance(item, PairedImage):
            d = src.downscale
            rgb = _ImageLoader(item.rgb_path, d) if item.rgb_path is not None else None
            tir = _ImageLoader(item.tir_path, d)
            if not item.annotated or len(item.boxes) == 0:
                if not item.annotated:
                    clips.append(Clip(item.name, 1, None, np.ones(1, bool), tir, rgb))
                continue
            for j, box in enumerate(item.boxes):
                boxes = np.asarray(box, np.float64).reshape(1, 4) / d
                clips.append(Clip(f"{item.name}#{j}", 1, boxes, _valid(boxes, min_size), tir, rgb))
    return clips


def detection_clips(src: DataSource, min_size: float) -> list[Clip]:
    """One one-frame clip per usable box of a detection dataset (``data.stills.load_detections``).

    Skipped: boxes with a side under ``min_size`` (after ``downscale``) or not finite, boxes
    whose class is in ``data.stills.IGNORED_CLASSES`` (DontCare...) or ``src.classes_ignored``,
    and, when ``src.classes`` is given, boxes of other classes (names compared in lower case).
    The boxes of one image share one loader. ``max_items`` counts images, not boxes.
    """
    from ..data.stills import IGNORED_CLASSES, load_detections

    records = load_detections(src.path)
    if src.max_items > 0:
        records = records[: src.max_items]
    keep = {c.lower() for c in src.classes}
    drop = set(IGNORED_CLASSES) | {c.lower() for c in src.classes_ignored}
    d = src.downscale
    clips: list[Clip] = []
    for rec in records:
        labels = rec.labels or ("",) * len(rec.boxes)
        loader = None
        for j, (box, label) in enumerate(zip(rec.boxes, labels)):
            name = label.strip().lower()
            if name in drop or (keep and name not in keep):
                continue
            boxes = np.asarray(box, np.float64).reshape(1, 4) / d
            valid = _valid(boxes, min_size)
            if not valid.any():
                continue
            loader = loader or _ImageLoader(rec.path, d)
            clips.append(Clip(f"{rec.name}#{j}", 1, boxes, valid, loader, None))
    return clips


def load_clips(src: DataSource, min_size: float = 4.0) -> list[Clip]:
    """All clips of one configured source (``max_items`` applied), none without a valid frame."""
    if src.kind == "synthetic":
        clips = synthetic_clips(src, min_size)
    elif src.kind == "detections":
        clips = detection_clips(src, min_size)
    else:
        clips = _path_clips(src, min_size)
    clips = [c for c in clips if c.valid.any()]
    if src.max_items > 0 and src.kind != "detections":  # detections: max_items counts images
        clips = clips[: src.max_items]
    if not clips:
        where = src.path or f"synthetic seeds {src.seed}..{src.seed + src.count - 1}"
        raise ConfigError(f"data source {src.kind} {where} yields no usable clip (no frame with a "
                          f"visible box of at least {min_size} px)")
    log.info("data source %s %s: %d clips (%d annotated)", src.kind, src.path or src.seed,
             len(clips), sum(c.annotated for c in clips))
    return clips


# --------------------------------------------------------------------------- sampler


@dataclass(frozen=True)
class _View:
    """Where one crop is cut and how it is augmented (shared by both modalities of a pair)."""

    cx: float
    cy: float
    side: float
    out: int
    stretch: float
    flip: bool
    blur: float  # sigma, 0 = none
    gain: float
    bias: float
    grey: bool


@dataclass(frozen=True)
class _Pair:
    """The two frames of one sample: template ``clip`` / ``tz``, search ``sclip`` / ``tx``."""

    clip: Clip
    tz: int
    sclip: Clip
    tx: int
    negative: bool


def _grey3(img: np.ndarray) -> np.ndarray:
    """A BGR image as its luminance in three equal channels (what a thermal frame looks like
    to the network)."""
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


class _FrameCache:
    """Frames of one sample, each loaded and converted once."""

    def __init__(self, load: Callable[[Clip, int, str], np.ndarray]) -> None:
        self.load = load
        self.frames: dict[tuple[int, int, str], np.ndarray] = {}

    def __call__(self, clip: Clip, index: int, modality: str) -> np.ndarray:
        key = (id(clip), index, modality)
        if key not in self.frames:
            self.frames[key] = self.load(clip, index, modality)
        return self.frames[key]


class ClipSet:
    """The clips of several sources, built on first use in each process.

    Pickling drops the built clips, so data-loading worker processes (started with ``spawn``)
    receive only the source configs and build their own. ``single_modality``: a source with
    ``modality: rgb`` gives its visible images to a thermal trainer (greyed).
    """

    def __init__(self, sources: Sequence[DataSource], min_size: float = 4.0,
                 single_modality: bool = False) -> None:
        self.sources = tuple(sources)
        self.min_size = min_size
        self.single_modality = single_modality
        self._groups: list[list[Clip]] | None = None

    def groups(self) -> list[list[Clip]]:
        if self._groups is None:
            groups = []
            for src in self.sources:
                clips = load_clips(src, self.min_size)
                if self.single_modality and src.modality == "rgb":
                    clips = [dataclasses.replace(c, tir=None) for c in clips if c.rgb is not None]
                groups.append(clips)
            self._groups = groups
        return self._groups

    def release(self) -> None:
        self._groups = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_groups": None}


class PairSampler:
    """Template / search pairs from the clips of ``clips``; ``modalities`` picks the images cut.

    ``sample(step, index)`` returns a dict of numpy arrays: for each modality ``m`` in
    ``modalities``, ``z_m`` (3, E, E) and ``x_m`` (3, I, I) float32 BGR 0..255 crops; ``box``
    (4,) float32 ``x1, y1, x2, y2`` of the target in the search crop (NaN when there is none);
    ``kind`` (int64): 1 positive pair, 0 negative pair, -1 unlabelled (pseudo-box crops).

    ``thermal_teacher`` (distillation): clips without visible images are used too, their
    thermal frames standing in for the visible ones in the ``rgb`` crops (same-modality
    distillation: the teacher sees the thermal crop before the thermal-only augmentations of
    the student's, tone curves, inversion and crossover).

    ``template_context`` > 1 (a lower-resolution distillation student, ``distill.views``):
    the template crops show that many times the side of ``model``'s, at about its resolution,
    in ``template_size(model, template_context)`` pixels (E above); ``model``'s own template is
    their central ``exemplar_size`` pixels.
    """

    def __init__(self, clips: ClipSet, cfg: SamplerConfig, model: ModelConfig,
                 modalities: tuple[str, ...] = ("tir",), seed: int = 0,
                 allow_unlabelled: bool = False, template_context: float = 1.0,
                 thermal_teacher: bool = False) -> None:
        self.clips = clips
        self.cfg = cfg
        self.exemplar = model.exemplar_size
        self.instance = model.instance_size
        self.zoom = model.zoom
        if template_context < 1.0:
            raise ConfigError(f"template_context must be >= 1, got {template_context}")
        self.template_context = template_context
        self.template_out = template_size(model, template_context)
        for name in ("visible_as_thermal", "cross_modal"):
            if getattr(cfg, name) > 0 and not {"tir", "rgb"} <= set(modalities):
                raise ConfigError(f"sampler.{name} needs paired thermal and visible crops "
                                  "(distillation); set it to 0 for training")
        self.modalities = modalities
        self.seed = seed
        self.allow_unlabelled = allow_unlabelled
        self.thermal_teacher = thermal_teacher
        self.frame_cfg = FrameConfig()
        self._ready = False

    def check(self) -> dict[str, int]:
        """Build the clips now (errors early); returns counts of usable clips."""
        self._prepare()
        return {"clips": sum(len(g) for g in self.groups), "annotated": len(self.annotated)}

    def release(self) -> None:
        """Drop the built clips (the process that only drives workers does not need them)."""
        self.clips.release()
        self._ready = False

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("groups", "weights", "annotated", "clip_cfg")}
        state["_ready"] = False
        return state

    def _prepare(self) -> None:
        if self._ready:
            return
        weights = [s.weight for s in self.clips.sources]
        groups = []
        for group in self.clips.groups():
            usable = [c for c in group if all(self._has(c, m) for m in self.modalities)
                      and (self.allow_unlabelled or c.annotated)]
            groups.append(usable)
        pairs = [(g, w) for g, w in zip(groups, weights) if g]
        if not pairs:
            raise ConfigError(f"no data source has clips with {' and '.join(self.modalities)} "
                              "images" + ("" if self.allow_unlabelled else " and boxes"))
        self.groups = [g for g, _ in pairs]
        # the sampler settings of each clip's source (its ``augment`` overrides applied)
        cfgs = [source_sampler(self.cfg, src) for src in self.clips.sources]
        self.clip_cfg = {id(c): cfgs[k] for k, g in enumerate(groups) for c in g}
        w = np.array([w for _, w in pairs], np.float64)
        self.weights = w / w.sum()
        self.annotated = [c for g in self.groups for c in g if c.annotated]
        self._ready = True

    def _has(self, clip: Clip, modality: str) -> bool:
        if modality == "tir":
            return clip.tir is not None or clip.rgb is not None  # rgb-only data is greyed
        return clip.rgb is not None or (self.thermal_teacher and clip.tir is not None)

    # ------------------------------------------------------------------ frames
    def _frame(self, clip: Clip, index: int, modality: str) -> np.ndarray:
        if modality == "grey":  # the visible image greyed (cross-modal pairs)
            return _grey3(clip.rgb(index))  # type: ignore[misc]
        if modality == "tir":
            if clip.tir is not None:
                return to_bgr8(clip.tir(index), self.frame_cfg)
            return _grey3(clip.rgb(index))  # type: ignore[misc]
        if clip.rgb is None:  # thermal_teacher: the thermal frame stands in
            return to_bgr8(clip.tir(index), self.frame_cfg)  # type: ignore[misc]
        return to_bgr8(clip.rgb(index), self.frame_cfg)

    def _render(self, img: np.ndarray, v: _View, pad: tuple[float, ...]) -> np.ndarray:
        out = crop(img, v.cx, v.cy, v.side, v.out, pad, v.stretch)
        if v.grey:
            out = _grey3(out)
        if v.blur > 0:
            out = cv2.GaussianBlur(out, (0, 0), v.blur)
        out = out.astype(np.float32)
        if v.gain != 1.0 or v.bias != 0.0:
            out = np.clip(out * v.gain + v.bias, 0.0, 255.0)
        if v.flip:
            out = out[:, ::-1]
        return np.ascontiguousarray(out.transpose(2, 0, 1))

    # ------------------------------------------------------------------ geometry
    def _view(self, rng: np.random.Generator, box: np.ndarray, out: int, shift: float,
              scale: float, flip: bool, grey: bool, stretch: float,
              cfg: SamplerConfig | None = None, area: float | None = None) -> _View:
        """A crop of ``out`` px showing ``area`` (default ``out / exemplar``) template sides."""
        cfg = cfg or self.cfg
        w, h = box[2] * stretch, box[3] / stretch  # the target as the crop shows it
        # at least one pixel for degenerate boxes (geometry.context_side does not clamp)
        base = max(context_side(w, h, cfg.context_amount, self.zoom), 1.0)
        side = base * (out / self.exemplar if area is None else area)
        side *= math.exp(rng.uniform(-scale, scale))
        cx, cy = box_center(box)
        # shifts are in pixels of zoom-1 crops, so a lower-resolution network sees the same
        # image-space jitter
        dx, dy = rng.uniform(-shift, shift, 2) * self.zoom * side / out
        dx, dy = dx / stretch, dy * stretch
        blur = float(rng.uniform(0.5, 1.5)) if rng.random() < cfg.blur else 0.0
        gain = 1.0 + float(rng.uniform(-cfg.color, cfg.color))
        bias = float(rng.uniform(-cfg.color, cfg.color)) * 64.0
        return _View(cx + dx, cy + dy, side, out, stretch, flip, blur, gain, bias, grey)

    @staticmethod
    def _pseudo_box(rng: np.random.Generator, img_shape: tuple[int, ...]) -> np.ndarray:
        h, w = img_shape[:2]
        side = min(h, w) * rng.uniform(0.06, 0.3)
        ar = math.exp(rng.uniform(-0.7, 0.7))
        bw, bh = side * math.sqrt(ar), side / math.sqrt(ar)
        x = rng.uniform(0, max(w - bw, 1.0))
        y = rng.uniform(0, max(h - bh, 1.0))
        return np.array([x, y, bw, bh])

    def _pick_clip(self, rng: np.random.Generator, annotated_only: bool = False) -> Clip:
        if annotated_only:
            return self.annotated[int(rng.integers(len(self.annotated)))]
        g = self.groups[int(rng.choice(len(self.groups), p=self.weights))]
        return g[int(rng.integers(len(g)))]

    @staticmethod
    def _pick_frame(rng: np.random.Generator, clip: Clip, near: int | None = None,
                    gap: int = 0) -> int:
        idx = np.flatnonzero(clip.valid)
        if near is not None:
            close = idx[np.abs(idx - near) <= gap]
            idx = close if len(close) else idx
        return int(idx[rng.integers(len(idx))])

    # ------------------------------------------------------------------ samples
    def _pick_pair(self, rng: np.random.Generator) -> _Pair:
        """The template clip and frame, and the search clip and frame (another target's for a
        negative pair, else a frame of the same clip at most ``frame_gap`` away)."""
        clip = self._pick_clip(rng)
        cfg = self.clip_cfg[id(clip)]
        negative = (clip.annotated and bool(rng.random() < cfg.negative)
                    and len(self.annotated) > 1)
        tz = self._pick_frame(rng, clip)
        if not negative:
            return _Pair(clip, tz, clip, self._pick_frame(rng, clip, tz, cfg.frame_gap),
                         False)
        other = clip
        while other is clip:
            other = self._pick_clip(rng, annotated_only=True)
        return _Pair(clip, tz, other, self._pick_frame(rng, other), True)

    def _tone(self, rng: np.random.Generator,
              cfg: SamplerConfig) -> tuple[float, float, float] | None:
        """The pair's thermal tone curve ``(gamma, contrast, level)``, or None."""
        if cfg.thermal_agc > 0 and rng.random() < cfg.thermal_agc:
            return (math.exp(rng.uniform(-0.5, 0.5)), rng.uniform(0.3, 1.0),
                    rng.uniform(0.2, 0.8))
        return None

    def _visible_as_thermal(self, step: int, index: int, cfg: SamplerConfig) -> bool:
        # its own stream, so that the other draws (and old runs' samples) stay as they were
        p = cfg.visible_as_thermal
        return bool(p > 0 and np.random.default_rng([self.seed, step, index, 1]).random() < p)

    def _cross_modal(self, step: int, index: int, cfg: SamplerConfig, pair: _Pair) -> str:
        """Which thermal crop of the pair comes from the greyed visible image: "z", "x" or ""
        (none; always "" unless both frames of the pair have both modalities)."""
        p = cfg.cross_modal
        if p <= 0 or any(c.rgb is None or c.tir is None for c in (pair.clip, pair.sclip)):
            return ""
        rng = np.random.default_rng([self.seed, step, index, 3])  # its own stream, as above
        if rng.random() >= p:
            return ""
        return "z" if rng.random() < 0.5 else "x"

    def _polarity(self, out: dict[str, Any], box: np.ndarray, step: int, index: int,
                  cfg: SamplerConfig, negative: bool) -> None:
        """Polarity inversion of both thermal crops (``invert``) and thermal crossover of the
        target in the search crop (``crossover``), in place; a random stream of their own."""
        if (cfg.invert <= 0 and cfg.crossover <= 0) or "x_tir" not in out:
            return
        rng = np.random.default_rng([self.seed, step, index, 2])
        if rng.random() < cfg.invert:
            out["z_tir"] = 255.0 - out["z_tir"]
            out["x_tir"] = 255.0 - out["x_tir"]
        if rng.random() < cfg.crossover and not negative:
            out["x_tir"] = _crossover(out["x_tir"], box, float(rng.uniform(-1.0, 0.3)))

    def _crops(self, frames: _FrameCache, pair: _Pair, vz: _View, vx: _View,
               curve: tuple[float, float, float] | None, visible: bool,
               cross: str = "") -> dict[str, Any]:
        """``z_m`` / ``x_m`` crops of every modality (the visible images stand in for the
        thermal ones when ``visible``; the greyed visible image for the thermal template
        (``cross`` "z") or search crop ("x"))."""
        out: dict[str, Any] = {}
        for m in self.modalities:
            src = "rgb" if visible and m == "tir" else m
            zsrc = "grey" if m == "tir" and cross == "z" else src
            xsrc = "grey" if m == "tir" and cross == "x" else src
            zimg, ximg = frames(pair.clip, pair.tz, zsrc), frames(pair.sclip, pair.tx, xsrc)
            z = self._render(zimg, vz, mean_colour(zimg))
            x = self._render(ximg, vx, mean_colour(ximg))
            if curve is not None:
                z = _tone_curve(z, *curve) if zsrc == "tir" else z
                x = _tone_curve(x, *curve) if xsrc == "tir" else x
            out[f"z_{m}"], out[f"x_{m}"] = z, x
        return out

    def _label(self, pair: _Pair, bx: np.ndarray, vx: _View) -> tuple[np.ndarray, np.int64]:
        """The target's ``x1, y1, x2, y2`` in the (flipped) search crop and the sample kind."""
        if pair.negative:
            return np.full(4, np.nan, np.float32), np.int64(NEGATIVE)
        box = box_in_crop(bx, vx.cx, vx.cy, vx.side, vx.out, vx.stretch)
        if vx.flip:
            box = np.array([self.instance - 1 - box[2], box[1], self.instance - 1 - box[0],
                            box[3]], np.float32)
        return box.astype(np.float32), np.int64(POSITIVE if pair.clip.annotated else UNLABELLED)

    def sample(self, step: int, index: int) -> dict[str, Any]:
        self._prepare()
        rng = np.random.default_rng([self.seed, step, index])
        pair = self._pick_pair(rng)
        cfg = self.clip_cfg[id(pair.clip)]  # the template's source's settings
        flip = bool(rng.random() < cfg.flip)
        grey = bool(rng.random() < cfg.grey)
        stretch = math.exp(rng.uniform(-cfg.aspect, cfg.aspect)) if cfg.aspect > 0 else 1.0
        frames = _FrameCache(self._frame)
        if pair.clip.annotated:
            bz = pair.clip.boxes[pair.tz]  # type: ignore[index]
        else:  # unlabelled data: crops around a random pseudo-box
            bz = self._pseudo_box(rng, frames(pair.clip, pair.tz, self.modalities[0]).shape)
        bx = pair.sclip.boxes[pair.tx] if pair.sclip.annotated else bz  # type: ignore[index]
        vz = self._view(rng, bz, self.template_out, cfg.template_shift, cfg.template_scale,
                        flip, grey, stretch, cfg, area=self.template_context)
        vx = self._view(rng, bx, self.instance, cfg.search_shift, cfg.search_scale,
                        flip, grey, stretch, cfg)
        visible = self._visible_as_thermal(step, index, cfg)
        cross = "" if visible else self._cross_modal(step, index, cfg, pair)
        out = self._crops(frames, pair, vz, vx, self._tone(rng, cfg), visible, cross)
        out["box"], out["kind"] = self._label(pair, bx, vx)
        if not visible and not cross:
            self._polarity(out, out["box"], step, index, cfg, pair.negative)
        return out


def template_size(model: ModelConfig, context: float) -> int:
    """Pixels of a template crop showing ``context`` times ``model``'s template side at about
    its resolution: the odd (or even, as ``exemplar_size``) size nearest ``exemplar_size *
    context``, so that ``model``'s template is its exact central ``exemplar_size`` pixels."""
    e = model.exemplar_size
    return e + 2 * round(e * (context - 1.0) / 2)


def _tone_curve(crop: np.ndarray, gamma: float, contrast: float, level: float) -> np.ndarray:
    """A thermal camera's gain control: ``255 * (c * v**g + (1 - c) * level)``, v = crop / 255."""
    v = np.power(crop / 255.0, gamma, dtype=np.float32)
    return (255.0 * (contrast * v + (1.0 - contrast) * level)).astype(np.float32)


def _crossover(crop: np.ndarray, box: np.ndarray, factor: float) -> np.ndarray:
    """Thermal crossover: inside a soft ellipse over ``box`` (``x1, y1, x2, y2`` in the crop),
    the contrast of ``crop`` (3, H, W) against its mean is multiplied by ``factor`` (0: the
    target takes the background's level, < 0: it turns the other polarity)."""
    _, h, w = crop.shape
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx, ry = max((x2 - x1) / 2, 1.0), max((y2 - y1) / 2, 1.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    mask = np.clip(1.6 - r, 0.0, 1.0)  # 1 inside 0.6 of the ellipse, fading out by 1.6
    level = crop.mean(axis=(1, 2), keepdims=True)
    scale = 1.0 + (factor - 1.0) * mask
    return np.clip(level + (crop - level) * scale, 0.0, 255.0).astype(np.float32)


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    return {k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in samples[0]}


class StepBatches:
    """``batch(step)`` -> this process's share of the global batch of ``step``.

    Global sample ``i`` of a step goes to rank ``i % world``, so the union over ranks is the
    single-process batch whatever the number of processes.
    """

    def __init__(self, sampler: PairSampler, batch_size: int, rank: int = 0,
                 world: int = 1) -> None:
        if batch_size % world:
            raise ConfigError(f"batch size {batch_size} must be divisible by the number of "
                              f"processes ({world})")
        self.sampler = sampler
        self.indices = list(range(rank, batch_size, world))

    def __call__(self, step: int) -> dict[str, Any]:
        return collate([self.sampler.sample(step, i) for i in self.indices])


class StepDataset:
    """Map-style dataset over step numbers, for a ``DataLoader`` with ``batch_size=None``."""

    def __init__(self, batches: StepBatches) -> None:
        self.batches = batches

    def __getitem__(self, step: int) -> dict[str, Any]:
        return self.batches(step)
