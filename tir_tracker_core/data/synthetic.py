"""Deterministic synthetic paired thermal (mono16) + visible (BGR) sequences.

A scene is built once from ``SyntheticConfig.seed``: a cluttered background (sky, buildings,
trees, road, warm and cold blobs, hot spots), static occluders (poles / trunks), warm targets
(person-like head/torso/legs shapes and vehicle-like bodies with hot engine and wheels) and
distractors of the same kinds, all moving smoothly with velocity changes. Frames are rendered on
demand: frame ``i`` depends only on the seed and ``i``, so any frame can be read in any order,
and only the background, the fixed-pattern maps and two small noise banks are held in memory
(about 14 MB at 640x512), never the frames.

Thermal frames are 14-bit-like radiometric counts (``uint16``, background around
``background_level``, targets a few hundred counts hotter) with per-pixel gain / column offset
non-uniformity, optical blur and temporal noise. The visible frames show the same geometry with a
different appearance: textured colours at night-time brightness, lit windows and lamps that are
not warm, clothing colours instead of temperatures, and no thermal crossover.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from ..errors import ConfigError
from .sequence import PairedSequence, Sequence

logger = logging.getLogger(__name__)

__all__ = [
    "TARGET_KINDS",
    "TIR_MAX_COUNT",
    "SyntheticConfig",
    "SyntheticSequence",
    "generate_sequence",
    "write_sequence",
]

TIR_MAX_COUNT = 16383
"""Largest thermal count (14-bit radiometric range)."""

TARGET_KINDS: tuple[str, ...] = ("person", "vehicle")

Modality = Literal["tir", "rgb"]

_NOISE_PAD = 32  # noise banks are this much larger than a frame; frames read shifted views
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_SCALE = float(1 << _SHIFT)
_VISIBLE_FRACTION = 0.5  # a target is "visible" when at least this much of its box is seen
_OCCLUDED_FRACTION = 0.25  # per-frame "occlusion" flag above this hidden fraction
_CROSSOVER_FACTOR = 0.3  # per-frame "thermal_crossover" flag below this contrast factor


@dataclass(frozen=True)
class SyntheticConfig:
    """Scene and sensor parameters of a synthetic sequence.

    Attributes:
        seed: everything (scene, motion, noise) is a function of the seed and the frame index.
        num_frames: sequence length.
        height: frame height in pixels.
        width: frame width in pixels.
        num_targets: annotated targets (``boxes`` has this many rows).
        target_kinds: kinds targets and distractors are drawn from (``person``, ``vehicle``).
        background_level: mean thermal count of the ground.
        target_contrast: (min, max) counts a target's torso / body is above ``background_level``.
        noise_std: temporal thermal noise, counts (standard deviation).
        fpn_gain_std: fixed-pattern per-pixel gain non-uniformity (relative std, e.g. 0.01).
        fpn_offset_std: fixed-pattern offset, counts (column stripes + per-pixel).
        blur_sigma: optical blur (Gaussian sigma in pixels, 0 = none), both modalities.
        num_occluders: static poles / trunks that hide what passes behind them.
        scale_change: relative amplitude of each object's smooth size change (0 = constant).
        thermal_crossover: probability that a target's contrast fades to about zero for a while.
        num_distractors: unannotated moving objects of the same kinds as the targets.
        clutter: background clutter strength (0 = flat ground and sky, 1 = default, 2 = busy).
        max_speed: largest object speed in pixels per frame.
        rgb_brightness: visible-image brightness factor (night scenes: 0.2 - 0.5).
        rgb_noise_std: visible-image temporal noise (8-bit levels, standard deviation).
        dropouts: times each target vanishes completely and shows again elsewhere (long-term
            tracking: a lost target must be found again); 0 = never.
        dropout_frames: (min, max) frames a dropout lasts.
        dropout_kind: ``occlusion`` (hidden where it is, it moves on unseen and shows again
            at least a quarter of the frame away), ``out_of_view`` (it leaves the image and
            comes back in near a side edge) or ``mixed`` (either, at random).
    """

    seed: int = 0
    num_frames: int = 300
    height: int = 512
    width: int = 640
    num_targets: int = 1
    target_kinds: tuple[str, ...] = TARGET_KINDS
    background_level: float = 7500.0
    target_contrast: tuple[float, float] = (250.0, 600.0)
    noise_std: float = 10.0
    fpn_gain_std: float = 0.01
    fpn_offset_std: float = 15.0
    blur_sigma: float = 0.8
    num_occluders: int = 2
    scale_change: float = 0.25
    thermal_crossover: float = 0.0
    num_distractors: int = 2
    clutter: float = 1.0
    max_speed: float = 3.0
    rgb_brightness: float = 0.4
    rgb_noise_std: float = 4.0
    dropouts: int = 0
    dropout_frames: tuple[int, int] = (10, 40)
    dropout_kind: Literal["occlusion", "out_of_view", "mixed"] = "mixed"

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> ConfigError:
            return ConfigError(
                f"SyntheticConfig.{name} = {getattr(self, name)!r} is invalid: it must be {rule}"
            )

        for name, low in (("num_frames", 1), ("height", 32), ("width", 32), ("num_targets", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise bad(name, f"an integer >= {low}")
        for name in ("num_occluders", "num_distractors", "seed", "dropouts"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise bad(name, "an integer >= 0")
        for name in (
            "noise_std",
            "fpn_gain_std",
            "fpn_offset_std",
            "blur_sigma",
            "scale_change",
            "clutter",
            "max_speed",
            "rgb_noise_std",
        ):
            if not float(getattr(self, name)) >= 0.0:
                raise bad(name, "a number >= 0")
        if not 0.0 <= self.thermal_crossover <= 1.0:
            raise bad("thermal_crossover", "a probability in [0, 1]")
        if not 0.0 < self.rgb_brightness <= 1.0:
            raise bad("rgb_brightness", "in (0, 1]")
        if self.scale_change >= 0.9:
            raise bad("scale_change", "below 0.9 (sizes would shrink to nothing)")
        if not 0.0 < self.background_level < TIR_MAX_COUNT:
            raise bad("background_level", f"in (0, {TIR_MAX_COUNT})")
        low, high = self.target_contrast
        if not 0.0 <= low <= high:
            raise bad("target_contrast", "(min, max) with 0 <= min <= max")
        short, long = self.dropout_frames
        if not 1 <= short <= long:
            raise bad("dropout_frames", "(min, max) with 1 <= min <= max")
        if self.dropout_kind not in ("occlusion", "out_of_view", "mixed"):
            raise bad("dropout_kind", "one of 'occlusion', 'out_of_view', 'mixed'")
        if not self.target_kinds or not set(self.target_kinds) <= set(TARGET_KINDS):
            raise bad("target_kinds", f"a non-empty tuple of {TARGET_KINDS}")


@dataclass(frozen=True)
class _Layout:
    """Static scene geometry shared by both modalities."""

    horizon: int
    occluders: np.ndarray  # (K, 4) int x0, y0, x1, y1 (exclusive)


@dataclass(frozen=True)
class _Motion:
    """Per-object kinematics over the whole sequence (M objects, T frames)."""

    kinds: tuple[str, ...]
    boxes: np.ndarray  # (M, T, 4) x, y, w, h
    gait: np.ndarray  # (M, T) walking phase (radians)
    heading: np.ndarray  # (M, T) +1 moving right, -1 moving left
    contrast: np.ndarray  # (M, T) counts above background_level (crossover applied)
    crossover: np.ndarray  # (M, T) contrast factor in [0, 1]
    tir_parts: tuple[dict[str, float], ...]  # part -> counts relative to torso contrast
    rgb_parts: tuple[dict[str, np.ndarray], ...]  # part -> BGR colour (0..255 floats)
    hidden: np.ndarray | None = None  # (M, T) bool: not drawn (a dropout); None = never


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def _smooth_field(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Multi-octave smooth noise in roughly [-1, 1], ``float32`` ``HxW``."""
    field = np.zeros((height, width), np.float32)
    amplitude = 1.0
    for cells in (3, 6, 12, 24, 48):
        small = rng.standard_normal((cells, max(2, cells * width // height))).astype(np.float32)
        field += amplitude * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        amplitude *= 0.5
    return field / 1.5


def _build_layout(cfg: SyntheticConfig, rng: np.random.Generator) -> _Layout:
    h, w = cfg.height, cfg.width
    horizon = int(h * rng.uniform(0.22, 0.38))
    occluders = []
    for _ in range(cfg.num_occluders):
        width = max(3, int(w * rng.uniform(0.012, 0.04)))
        x0 = int(rng.uniform(0.05, 0.95) * w - width / 2)
        y0 = int(rng.uniform(0.0, 0.6) * horizon)
        occluders.append([max(0, x0), y0, min(w, x0 + width), h])
    return _Layout(horizon, np.asarray(occluders, dtype=np.int64).reshape(-1, 4))


def _build_backgrounds(
    cfg: SyntheticConfig, layout: _Layout, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Thermal (counts, ``float32 HxW``) and visible (``float32 HxWx3`` BGR) backgrounds."""
    h, w = cfg.height, cfg.width
    tir = np.full((h, w), cfg.background_level, np.float32)
    rgb = np.empty((h, w, 3), np.float32)
    # each step draws from ``rng`` in turn: their order fixes every sequence's pixels
    for step in (_sky_and_ground, _road, _buildings, _trees, _ground_blobs, _hot_spots):
        step(tir, rgb, cfg, layout.horizon, rng)
    for x0, y0, x1, y1 in layout.occluders:  # poles / trunks: slightly cool, brown-grey
        tir[y0:y1, x0:x1] = cfg.background_level - 120.0 + 30.0 * rng.standard_normal((1, x1 - x0))
        rgb[y0:y1, x0:x1] = rng.uniform([30, 45, 55], [60, 80, 95])
    # Fine static texture so that no region is perfectly flat.
    tir += (5.0 + 10.0 * cfg.clutter) * rng.standard_normal((h, w)).astype(np.float32)
    rgb += (4.0 + 6.0 * cfg.clutter) * rng.standard_normal((h, w, 3)).astype(np.float32)
    rgb *= cfg.rgb_brightness
    return tir, rgb


def _sky_and_ground(tir: np.ndarray, rgb: np.ndarray, cfg: SyntheticConfig, hz: int,
                    rng: np.random.Generator) -> None:
    """Sky: cold in TIR (colder higher up), dark blue; ground with low-frequency variation."""
    h, w, level, clutter = cfg.height, cfg.width, cfg.background_level, cfg.clutter
    rows = np.arange(h, dtype=np.float32)[:, None]
    sky_t = np.clip(rows / max(hz, 1), 0.0, 1.0)
    tir[:hz] = level - 900.0 + 300.0 * sky_t[:hz]
    rgb[:hz] = np.array([70.0, 35.0, 20.0], np.float32) + 40.0 * sky_t[:hz, :, None]
    ground_colour = rng.uniform([40, 55, 45], [70, 90, 80]).astype(np.float32)
    rgb[hz:] = ground_colour
    tir[hz:] += (120.0 * clutter) * _smooth_field(rng, h - hz, w)
    rgb[hz:] += (25.0 * clutter) * _smooth_field(rng, h - hz, w)[:, :, None]


def _road(tir: np.ndarray, rgb: np.ndarray, cfg: SyntheticConfig, hz: int,
          rng: np.random.Generator) -> None:
    """Road band: warm asphalt, dark grey."""
    h = cfg.height
    road_y = int(hz + rng.uniform(0.35, 0.6) * (h - hz))
    road_h = int(rng.uniform(0.08, 0.16) * h)
    tir[road_y : road_y + road_h] += 150.0
    rgb[road_y : road_y + road_h] = np.array([55.0, 55.0, 58.0], np.float32)


def _buildings(tir: np.ndarray, rgb: np.ndarray, cfg: SyntheticConfig, hz: int,
               rng: np.random.Generator) -> None:
    """Buildings with windows: warm in TIR where heated; lit (bright yellow) in the visible
    image at random, independently of their temperature."""
    h, w, level = cfg.height, cfg.width, cfg.background_level
    for _ in range(int(round(6 * cfg.clutter))):
        bw = int(rng.uniform(0.06, 0.18) * w)
        bh = int(rng.uniform(0.3, 1.0) * hz)
        x0 = int(rng.uniform(-0.05, 0.95) * w)
        y1 = hz + int(rng.uniform(0.0, 0.05) * h)
        y0 = max(0, y1 - bh)
        x0c, x1c = max(0, x0), min(w, x0 + bw)
        if x1c <= x0c:
            continue
        tir[y0:y1, x0c:x1c] = level + rng.uniform(-250.0, 200.0)
        rgb[y0:y1, x0c:x1c] = rng.uniform(25.0, 120.0, 3)
        step = max(6, bw // 5)
        for wy in range(y0 + step // 2, y1 - step // 2, step):
            for wx in range(x0c + step // 3, x1c - step // 3, step):
                sl = (slice(wy, wy + step // 2), slice(wx, wx + step // 3))
                tir[sl] += rng.choice([0.0, 150.0])
                if rng.random() < 0.35:
                    rgb[sl] = (90.0, 210.0, 245.0)


def _trees(tir: np.ndarray, rgb: np.ndarray, cfg: SyntheticConfig, hz: int,
           rng: np.random.Generator) -> None:
    """Trees: cool in TIR, dark green."""
    h, w = cfg.height, cfg.width
    for _ in range(int(round(5 * cfg.clutter))):
        centre = (int(rng.uniform(0, w) * _SCALE), int((hz + rng.uniform(-0.1, 0.05) * h) * _SCALE))
        axes = (
            int(rng.uniform(0.03, 0.08) * w * _SCALE),
            int(rng.uniform(0.05, 0.12) * h * _SCALE),
        )
        cv2.ellipse(tir, centre, axes, 0, 0, 360, cfg.background_level - 180.0, -1, cv2.LINE_8,
                    _SHIFT)
        cv2.ellipse(rgb, centre, axes, 0, 0, 360, (30.0, 60.0, 25.0), -1, cv2.LINE_8, _SHIFT)


def _ground_blobs(tir: np.ndarray, rgb: np.ndarray, cfg: SyntheticConfig, hz: int,
                  rng: np.random.Generator) -> None:
    """Ground blobs: warm stones, cold puddles."""
    h, w = cfg.height, cfg.width
    for _ in range(int(round(25 * cfg.clutter))):
        centre = (int(rng.uniform(0, w) * _SCALE), int(rng.uniform(hz, h) * _SCALE))
        axes = (int(rng.uniform(3, 30) * _SCALE), int(rng.uniform(2, 12) * _SCALE))
        angle = float(rng.uniform(0, 180))
        tir_value = cfg.background_level + rng.choice([-1.0, 1.0]) * rng.uniform(50.0, 300.0)
        cv2.ellipse(tir, centre, axes, angle, 0, 360, tir_value, -1, cv2.LINE_8, _SHIFT)
        cv2.ellipse(rgb, centre, axes, angle, 0, 360, rng.uniform(20, 110, 3).tolist(), -1,
                    cv2.LINE_8, _SHIFT)


def _hot_spots(tir: np.ndarray, rgb: np.ndarray, cfg: SyntheticConfig, hz: int,
               rng: np.random.Generator) -> None:
    """Hot spots (vents, lamps): hot and bright."""
    h, w = cfg.height, cfg.width
    for _ in range(int(round(4 * cfg.clutter))):
        centre = (int(rng.uniform(0, w) * _SCALE), int(rng.uniform(0.5 * hz, h) * _SCALE))
        radius = int(rng.uniform(2, 6) * _SCALE)
        cv2.circle(tir, centre, radius, cfg.background_level + rng.uniform(400.0, 900.0), -1,
                   cv2.LINE_8, _SHIFT)
        cv2.circle(rgb, centre, radius, (150.0, 230.0, 250.0), -1, cv2.LINE_8, _SHIFT)


def _base_sizes(kinds: tuple[str, ...], cfg: SyntheticConfig,
                rng: np.random.Generator) -> np.ndarray:
    """(M, 2) ``w, h`` of each object at scale 1: people tall and narrow, vehicles wide."""
    base = np.empty((len(kinds), 2))
    for k, kind in enumerate(kinds):
        if kind == "person":
            ph = max(12.0, rng.uniform(0.10, 0.22) * cfg.height)
            base[k] = (max(5.0, 0.38 * ph), ph)
        else:
            vw = max(14.0, rng.uniform(0.12, 0.25) * cfg.width)
            base[k] = (vw, max(7.0, 0.45 * vw))
    return base


def _walk(cfg: SyntheticConfig, lo: np.ndarray, hi: np.ndarray, is_vehicle: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """(M, T, 2) centres: velocity relaxes towards targets that change at random times;
    objects bounce off ``lo`` / ``hi`` (the image borders, below the horizon)."""
    m, t_len = len(lo), cfg.num_frames
    pos = np.empty((m, t_len, 2))
    pos[:, 0] = lo + rng.uniform(0.15, 0.85, (m, 2)) * (hi - lo)
    heading_angle = np.where(is_vehicle, rng.choice([0.0, np.pi], m), rng.uniform(0, 2 * np.pi, m))
    speed = rng.uniform(0.3, 1.0, m) * cfg.max_speed
    vel = np.stack([np.cos(heading_angle), np.sin(heading_angle)], axis=1) * speed[:, None]
    vel[:, 1] *= np.where(is_vehicle, 0.2, 0.6)
    target_vel = vel.copy()
    next_change = rng.integers(15, 60, m)
    for i in range(1, t_len):
        change = next_change <= i
        if change.any():
            n_change = int(change.sum())
            turn = rng.normal(0.0, np.where(is_vehicle[change], 0.3, 1.0))
            angle = np.arctan2(target_vel[change, 1], target_vel[change, 0]) + turn
            new_speed = rng.uniform(0.1, 1.0, n_change) * cfg.max_speed
            new_vel = np.stack([np.cos(angle), np.sin(angle)], axis=1) * new_speed[:, None]
            new_vel[:, 1] *= np.where(is_vehicle[change], 0.2, 0.6)
            target_vel[change] = new_vel
            next_change[change] = i + rng.integers(15, 60, n_change)
        vel += 0.08 * (target_vel - vel)
        p = pos[:, i - 1] + vel
        for axis in (0, 1):
            below, above = p[:, axis] < lo[:, axis], p[:, axis] > hi[:, axis]
            p[below, axis] = 2 * lo[below, axis] - p[below, axis]
            p[above, axis] = 2 * hi[above, axis] - p[above, axis]
            flip = below | above
            vel[flip, axis] *= -1
            target_vel[flip, axis] *= -1
        pos[:, i] = p
    return pos


def _build_motion(cfg: SyntheticConfig, layout: _Layout, rng: np.random.Generator) -> _Motion:
    h, w, t_len = cfg.height, cfg.width, cfg.num_frames
    m = cfg.num_targets + cfg.num_distractors
    kinds = tuple(str(rng.choice(cfg.target_kinds)) for _ in range(m))
    base = _base_sizes(kinds, cfg, rng)
    # Smooth sizes: 1 + scale_change * sin(2 pi t / period + phase).
    t = np.arange(t_len, dtype=np.float64)
    period = rng.uniform(0.5, 2.0, (m, 1)) * max(t_len, 60)
    phase = rng.uniform(0, 2 * np.pi, (m, 1))
    scale = 1.0 + cfg.scale_change * np.sin(2 * np.pi * t[None] / period + phase)
    sizes = base[:, None, :] * scale[:, :, None]  # (M, T, 2)
    lo = np.stack([np.zeros(m), np.full(m, layout.horizon) + 0.3 * base[:, 1]], axis=1)
    hi = np.stack([np.full(m, w), np.full(m, h)], axis=1)
    pos = _walk(cfg, lo, hi, np.array([k == "vehicle" for k in kinds]), rng)
    # Anchor: centre x, bottom y (feet / wheels on the ground).
    boxes = np.empty((m, t_len, 4))
    boxes[..., 0] = pos[..., 0] - sizes[..., 0] / 2
    boxes[..., 1] = pos[..., 1] - sizes[..., 1]
    boxes[..., 2:] = sizes
    steps = np.linalg.norm(np.diff(pos, axis=1, prepend=pos[:, :1]), axis=2)
    gait = np.cumsum(steps / np.maximum(base[:, 1:2] * 0.25, 1.0), axis=1)
    heading = np.where(np.diff(pos[..., 0], axis=1, prepend=pos[:, :1, 0]) >= 0, 1.0, -1.0)
    low, high = cfg.target_contrast
    contrast0 = rng.uniform(low, high, m)
    crossover = _crossover_factors(rng, m, t_len, cfg.thermal_crossover)
    appearance = [_object_appearance(kind, rng) for kind in kinds]
    return _Motion(kinds, boxes, gait, heading, contrast0[:, None] * crossover, crossover,
                   tuple(tir for tir, _ in appearance), tuple(rgb for _, rgb in appearance))


def _dropout_events(
    cfg: SyntheticConfig, rng: np.random.Generator
) -> list[tuple[int, int, int, str]]:
    """``(target, first hidden frame, frames hidden, kind)`` of every dropout: each target's
    frames after the first 20 are cut into ``dropouts`` equal parts, one dropout in each,
    followed by at least 25 visible frames; parts too short hold none."""
    events = []
    short, long = cfg.dropout_frames
    for k in range(cfg.num_targets):
        part = (cfg.num_frames - 20) // max(cfg.dropouts, 1)
        for e in range(cfg.dropouts):
            length = int(rng.integers(short, long + 1))
            first = 20 + e * part
            last = first + part - length - 25  # latest start
            kind = (cfg.dropout_kind if cfg.dropout_kind != "mixed"
                    else str(rng.choice(["occlusion", "out_of_view"])))
            if last < first:
                continue
            events.append((k, int(rng.integers(first, last + 1)), length, kind))
    return events


def _reflect(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Values folded into [lo, hi] as by bouncing off both ends."""
    span = max(hi - lo, 1e-9)
    u = np.mod(v - lo, 2 * span)
    return lo + np.where(u > span, 2 * span - u, u)


def _add_dropouts(
    cfg: SyntheticConfig, layout: _Layout, motion: _Motion, rng: np.random.Generator
) -> _Motion:
    """``motion`` with the dropouts of ``cfg``: the target is hidden for a while and its
    path after the dropout is moved (and folded back into the image) so that it shows again
    elsewhere; hidden boxes move straight from where it vanished to where it shows again
    (``occlusion``) or lie outside the image (``out_of_view``)."""
    boxes = motion.boxes.copy()
    m, t_len = boxes.shape[:2]
    hidden = np.zeros((m, t_len), bool)
    w, h = cfg.width, cfg.height
    for k, start, length, kind in _dropout_events(cfg, rng):
        end = min(start + length, t_len)  # first frame shown again
        if end >= t_len:
            continue
        size = boxes[k, end, 2:]
        gone = boxes[k, start - 1, :2] + boxes[k, start - 1, 2:] / 2  # centre where it vanished
        lo = np.array([size[0] / 2, layout.horizon + 0.3 * size[1] - size[1] / 2])
        hi = np.array([w - size[0] / 2, h - size[1] / 2])
        for _ in range(20):
            if kind == "out_of_view":
                side = rng.integers(2)
                x = rng.uniform(0.0, 0.15) * w
                shown = np.array([x if side == 0 else w - x, rng.uniform(lo[1], hi[1])])
            else:
                shown = rng.uniform(lo, hi)
            if np.hypot(*(shown - gone)) >= 0.25 * min(w, h):
                break
        shown = np.clip(shown, lo, hi)
        centres = boxes[k, end:, :2] + boxes[k, end:, 2:] / 2 + (shown - (boxes[k, end, :2]
                                                                            + size / 2))
        centres[:, 0] = _reflect(centres[:, 0], lo[0], hi[0])
        centres[:, 1] = _reflect(centres[:, 1], lo[1], hi[1])
        boxes[k, end:, :2] = centres - boxes[k, end:, 2:] / 2
        gap = np.arange(start, end)
        if kind == "out_of_view":  # beyond the side edge nearest to where it vanished
            right = gone[0] > w / 2
            boxes[k, gap, 0] = w + 1.0 if right else -boxes[k, gap, 2] - 1.0
        else:
            a = ((gap - start + 1) / (end - start + 1))[:, None]
            centre = (1 - a) * gone + a * shown
            boxes[k, gap, :2] = centre - boxes[k, gap, 2:] / 2
        hidden[k, gap] = True
    return replace(motion, boxes=boxes, hidden=hidden)


def _crossover_factors(
    rng: np.random.Generator, m: int, t_len: int, probability: float
) -> np.ndarray:
    """``(M, T)`` contrast factors: 1, except a raised-cosine dip to ~0 for some objects."""
    factors = np.ones((m, t_len))
    for k in range(m):
        if rng.random() < probability:
            length = max(10, int(rng.uniform(0.15, 0.35) * t_len))
            start = int(rng.uniform(0.1, 0.9) * max(t_len - length, 1))
            window = np.arange(length)
            dip = 0.5 * (1 + np.cos(2 * np.pi * window / max(length - 1, 1)))  # 1 -> 0 -> 1
            seg = slice(start, min(start + length, t_len))
            factors[k, seg] = 0.02 + 0.98 * dip[: seg.stop - start]
    return factors


def _object_appearance(
    kind: str, rng: np.random.Generator
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Per-part thermal contrast factors and visible BGR colours of one object."""
    if kind == "person":
        # Head (skin) warmest, clothing insulates the torso less than the legs.
        tir = {"legs": 0.75, "torso": 1.0, "head": 1.3}
        rgb = {
            "legs": rng.uniform(10, 120, 3),
            "torso": rng.uniform(10, 230, 3),
            "head": rng.uniform([60, 90, 130], [140, 170, 220]),  # skin tones
        }
        return tir, rgb
    # Vehicle: hot engine and tyres, glass reflects the cold sky; headlights in the visible.
    tir = {"body": 0.45, "window": 0.05, "engine": 1.3, "wheel_a": 1.1, "wheel_b": 1.1}
    tyre = np.array([15.0, 15.0, 15.0])
    rgb = {
        "body": rng.uniform(20, 220, 3),
        "window": np.array([40.0, 30.0, 25.0]),
        "engine": np.array([200.0, 240.0, 250.0]),
        "wheel_a": tyre,
        "wheel_b": tyre,
    }
    return tir, rgb


def _part_shapes(
    kind: str, box: np.ndarray, gait: float, heading: float
) -> list[tuple[str, tuple]]:
    """Drawing primitives ``(part, (shape, args))`` filling ``box`` tightly, farthest first."""
    x, y, w, h = (float(v) for v in box)
    cx = x + w / 2
    shapes: list[tuple[str, tuple]] = []
    if kind == "person":
        head_r = min(0.13 * h, 0.5 * w)
        leg_w = 0.22 * w
        swing = 0.25 * w * math.sin(gait)
        for sign in (-1.0, 1.0):
            lx = cx + sign * (0.15 * w) + sign * swing
            lx = min(max(lx, x + leg_w), x + w - leg_w)
            shapes.append(("legs", ("ellipse", (lx, y + 0.77 * h), (leg_w, 0.23 * h))))
        shapes.append(("torso", ("ellipse", (cx, y + 0.42 * h), (w / 2, 0.24 * h))))
        shapes.append(("head", ("ellipse", (cx, y + head_r), (head_r * 0.85, head_r))))
    else:
        wheel_r = 0.18 * h
        shapes.append(("body", ("rect", (x, y + 0.3 * h), (x + w, y + h - 0.5 * wheel_r))))
        shapes.append(("body", ("rect", (x + 0.2 * w, y), (x + 0.8 * w, y + 0.35 * h))))
        window = ((x + 0.27 * w, y + 0.06 * h), (x + 0.73 * w, y + 0.3 * h))
        shapes.append(("window", ("rect", *window)))
        front = x + w - 0.14 * w if heading > 0 else x
        shapes.append(("engine", ("rect", (front, y + 0.4 * h), (front + 0.14 * w, y + 0.7 * h))))
        for part, wx in (("wheel_a", x + 0.22 * w), ("wheel_b", x + 0.78 * w)):
            shapes.append((part, ("ellipse", (wx, y + h - wheel_r), (wheel_r, wheel_r))))
    return shapes


def _fixed(value: float) -> int:
    return int(round(value * _SCALE))


def _draw_object(
    canvas: np.ndarray,
    kind: str,
    box: np.ndarray,
    gait: float,
    heading: float,
    values: dict[str, float] | dict[str, np.ndarray],
) -> None:
    """Composite one object into ``canvas`` (``HxW`` or ``HxWx3`` float32) in place.

    Each part is rasterised anti-aliased into a small 8-bit mask covering that part only, then
    alpha-blended, so the cost depends on the object size, not the frame size.
    """
    height, width = canvas.shape[:2]
    for part, (shape, a, b) in _part_shapes(kind, box, gait, heading):
        if shape == "ellipse":
            lo_x, lo_y, hi_x, hi_y = a[0] - b[0], a[1] - b[1], a[0] + b[0], a[1] + b[1]
        else:
            lo_x, lo_y, hi_x, hi_y = a[0], a[1], b[0], b[1]
        x0, y0 = max(0, int(math.floor(lo_x)) - 1), max(0, int(math.floor(lo_y)) - 1)
        x1, y1 = min(width, int(math.ceil(hi_x)) + 2), min(height, int(math.ceil(hi_y)) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        if shape == "ellipse":
            centre = (_fixed(a[0] - x0), _fixed(a[1] - y0))
            axes = (max(1, _fixed(b[0])), max(1, _fixed(b[1])))
            cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
        else:
            pts = np.array([[lo_x, lo_y], [hi_x, lo_y], [hi_x, hi_y], [lo_x, hi_y]]) - (x0, y0)
            cv2.fillPoly(mask, [np.round(pts * _SCALE).astype(np.int32)], 255, cv2.LINE_AA, _SHIFT)
        alpha = mask.astype(np.float32) * np.float32(1.0 / 255.0)
        roi = canvas[y0:y1, x0:x1]
        value = np.asarray(values[part], np.float32)
        if roi.ndim == 3:
            alpha = alpha[:, :, None]
        roi += alpha * (value - roi)


def _occluded_area(box: np.ndarray, rects: np.ndarray) -> float:
    """Area of ``box`` (x, y, w, h) covered by axis-aligned ``rects`` (x0, y0, x1, y1).

    Overlaps between the rectangles are counted once per rectangle (an upper bound); the
    caller clips the result to the box area.
    """
    if len(rects) == 0:
        return 0.0
    bx0, by0 = box[0], box[1]
    bx1, by1 = box[0] + box[2], box[1] + box[3]
    iw = np.clip(np.minimum(bx1, rects[:, 2]) - np.maximum(bx0, rects[:, 0]), 0, None)
    ih = np.clip(np.minimum(by1, rects[:, 3]) - np.maximum(by0, rects[:, 1]), 0, None)
    return float(np.sum(iw * ih))


class SyntheticSequence:
    """A lazily rendered synthetic paired thermal + visible sequence (see module docstring).

    Build it with :func:`generate_sequence`. ``boxes[n, t]`` is target ``n``'s full (amodal)
    box in frame ``t`` in both modalities; ``visible[n, t]`` is False when less than half of the
    box is seen (hidden by occluders or objects in front, or outside the image).
    """

    def __init__(self, config: SyntheticConfig) -> None:
        self._cfg = config
        self._layout = _build_layout(config, _rng(config.seed, 0))
        self._motion = _build_motion(config, self._layout, _rng(config.seed, 1))
        if config.dropouts:
            self._motion = _add_dropouts(config, self._layout, self._motion,
                                         _rng(config.seed, 6))
        self._bg_tir, self._bg_rgb = _build_backgrounds(config, self._layout, _rng(config.seed, 2))
        h, w = config.height, config.width
        fpn = _rng(config.seed, 3)
        self._gain = (1.0 + config.fpn_gain_std * fpn.standard_normal((h, w))).astype(np.float32)
        columns = fpn.standard_normal((1, w))
        pixels = fpn.standard_normal((h, w))
        self._offset = (config.fpn_offset_std * (0.8 * columns + 0.6 * pixels)).astype(np.float32)
        noise = _rng(config.seed, 4)
        pad = (h + _NOISE_PAD, w + _NOISE_PAD)
        self._noise_tir = noise.standard_normal(pad, dtype=np.float32)
        self._noise_tir *= np.float32(config.noise_std)
        self._noise_rgb = noise.standard_normal((*pad, 3), dtype=np.float32)
        self._noise_rgb *= np.float32(config.rgb_noise_std)
        # Objects are painted far (small bottom y) to near (large bottom y).
        bottoms = self._motion.boxes[..., 1] + self._motion.boxes[..., 3]
        self._order = np.argsort(bottoms, axis=0, kind="stable")  # (M, T)
        self._visible_fraction = self._compute_visibility(bottoms)
        for arr in (
            self._motion.boxes,
            *(() if self._motion.hidden is None else (self._motion.hidden,)),
            self._visible_fraction,
            self._motion.crossover,
            self._layout.occluders,
        ):
            arr.setflags(write=False)
        logger.debug(
            "synthetic sequence seed=%d: %d targets (%s), %d distractors, %d frames %dx%d",
            config.seed,
            config.num_targets,
            ", ".join(self._motion.kinds[: config.num_targets]),
            config.num_distractors,
            config.num_frames,
            w,
            h,
        )

    # ---------------------------------------------------------------- public properties --
    @property
    def config(self) -> SyntheticConfig:
        """The configuration the sequence was generated from."""
        return self._cfg

    @property
    def boxes(self) -> np.ndarray:
        """``(num_targets, num_frames, 4)`` float64 ground-truth ``x, y, w, h`` (read-only)."""
        return self._motion.boxes[: self._cfg.num_targets]

    @property
    def visible(self) -> np.ndarray:
        """``(num_targets, num_frames)`` bool: at least half of the target box is seen."""
        return self._visible_fraction[: self._cfg.num_targets] >= _VISIBLE_FRACTION

    @property
    def hidden(self) -> np.ndarray:
        """``(num_targets, num_frames)`` bool: the target is not drawn (a dropout,
        ``SyntheticConfig.dropouts``)."""
        if self._motion.hidden is None:
            return np.zeros((self._cfg.num_targets, self._cfg.num_frames), bool)
        return self._motion.hidden[: self._cfg.num_targets]

    @property
    def occluders(self) -> np.ndarray:
        """``(K, 4)`` static occluder rectangles ``x0, y0, x1, y1`` (end exclusive), in front."""
        return self._layout.occluders

    @property
    def target_kinds(self) -> tuple[str, ...]:
        """Kind of each target (``person`` or ``vehicle``)."""
        return self._motion.kinds[: self._cfg.num_targets]

    def __len__(self) -> int:
        return self._cfg.num_frames

    def __repr__(self) -> str:
        c = self._cfg
        return (
            f"SyntheticSequence(seed={c.seed}, frames={c.num_frames}, size={c.width}x{c.height}, "
            f"targets={list(self.target_kinds)})"
        )

    # --------------------------------------------------------------------- rendering ----
    def _check_index(self, index: int) -> None:
        if not 0 <= index < self._cfg.num_frames:
            raise IndexError(f"frame index {index} out of range for {self._cfg.num_frames} frames")

    def _noise_view(self, bank: np.ndarray, index: int, stream: int) -> np.ndarray:
        dy, dx = _rng(self._cfg.seed, 5, stream, index).integers(0, _NOISE_PAD + 1, 2)
        return bank[dy : dy + self._cfg.height, dx : dx + self._cfg.width]

    def _render(self, canvas: np.ndarray, index: int, modality: Modality) -> None:
        motion, level = self._motion, np.float32(self._cfg.background_level)
        for k in self._order[:, index]:
            if motion.hidden is not None and motion.hidden[k, index]:
                continue
            if modality == "tir":
                contrast = motion.contrast[k, index]
                values = {p: level + contrast * f for p, f in motion.tir_parts[k].items()}
            else:
                values = {
                    p: c * self._cfg.rgb_brightness for p, c in motion.rgb_parts[k].items()
                }
            _draw_object(
                canvas,
                motion.kinds[k],
                motion.boxes[k, index],
                float(motion.gait[k, index]),
                float(motion.heading[k, index]),
                values,
            )
        background = self._bg_tir if modality == "tir" else self._bg_rgb
        for x0, y0, x1, y1 in self._layout.occluders:  # static occluders stay in front
            canvas[y0:y1, x0:x1] = background[y0:y1, x0:x1]
        if self._cfg.blur_sigma > 0:
            cv2.GaussianBlur(canvas, (0, 0), self._cfg.blur_sigma, dst=canvas)

    def tir_frame(self, index: int) -> np.ndarray:
        """Thermal frame ``index``: ``uint16`` ``HxW`` radiometric counts (0..16383)."""
        self._check_index(index)
        scene = self._bg_tir.copy()
        self._render(scene, index, "tir")
        cv2.multiply(scene, self._gain, dst=scene)
        cv2.add(scene, self._offset, dst=scene)
        cv2.add(scene, self._noise_view(self._noise_tir, index, 0), dst=scene)
        np.clip(scene, 0, TIR_MAX_COUNT, out=scene)
        return np.rint(scene, out=scene).astype(np.uint16)

    def rgb_frame(self, index: int) -> np.ndarray:
        """Visible frame ``index``: ``uint8`` ``HxWx3`` BGR, same geometry as the thermal one."""
        self._check_index(index)
        scene = self._bg_rgb.copy()
        self._render(scene, index, "rgb")
        cv2.add(scene, self._noise_view(self._noise_rgb, index, 1), dst=scene)
        np.clip(scene, 0, 255, out=scene)
        return np.rint(scene, out=scene).astype(np.uint8)

    def frame(self, index: int, modality: Modality = "tir") -> np.ndarray:
        """Frame ``index`` of ``modality`` (``tir`` or ``rgb``)."""
        _check_modality(modality)
        return self.tir_frame(index) if modality == "tir" else self.rgb_frame(index)

    # -------------------------------------------------------------- annotations / views --
    def _compute_visibility(self, bottoms: np.ndarray) -> np.ndarray:
        motion, cfg = self._motion, self._cfg
        m, t_len = bottoms.shape
        occ = self._layout.occluders.astype(np.float64)
        fractions = np.zeros((cfg.num_targets, t_len))
        for n in range(cfg.num_targets):
            for t in range(t_len):
                box = motion.boxes[n, t]
                area = box[2] * box[3]
                inside = np.array(
                    [
                        max(box[0], 0.0),
                        max(box[1], 0.0),
                        min(box[0] + box[2], cfg.width),
                        min(box[1] + box[3], cfg.height),
                    ]
                )
                inside_w, inside_h = inside[2] - inside[0], inside[3] - inside[1]
                if inside_w <= 0 or inside_h <= 0:
                    continue
                if motion.hidden is not None and motion.hidden[n, t]:
                    continue
                inside_box = np.array([inside[0], inside[1], inside_w, inside_h])
                front = [j for j in range(m) if j != n and bottoms[j, t] > bottoms[n, t]
                         and (motion.hidden is None or not motion.hidden[j, t])]
                front_rects = motion.boxes[front, t].copy()
                front_rects[:, 2:] += front_rects[:, :2]
                hidden = _occluded_area(inside_box, np.concatenate([occ, front_rects]))
                seen = inside_w * inside_h - min(hidden, inside_w * inside_h)
                fractions[n, t] = seen / area
        return fractions

    def frame_attributes(self, target: int = 0) -> dict[str, np.ndarray]:
        """Per-frame flags of ``target``: ``occlusion``, ``out_of_view``, ``thermal_crossover``."""
        self._check_target(target)
        box = self._motion.boxes[target]
        cfg = self._cfg
        x1 = np.minimum(box[:, 0] + box[:, 2], cfg.width)
        y1 = np.minimum(box[:, 1] + box[:, 3], cfg.height)
        inside_w = np.clip(x1 - np.maximum(box[:, 0], 0), 0, None)
        inside_h = np.clip(y1 - np.maximum(box[:, 1], 0), 0, None)
        inside = inside_w * inside_h / (box[:, 2] * box[:, 3])
        hidden = 1.0 - self._visible_fraction[target] / np.maximum(inside, 1e-9)
        return {
            "occlusion": (inside > 0) & (hidden > _OCCLUDED_FRACTION),
            "out_of_view": inside < _VISIBLE_FRACTION,
            "thermal_crossover": self._motion.crossover[target] < _CROSSOVER_FACTOR,
        }

    def _check_target(self, target: int) -> None:
        if not 0 <= target < self._cfg.num_targets:
            raise IndexError(f"target {target} out of range for {self._cfg.num_targets} targets")

    def as_sequence(self, modality: Modality = "tir", target: int = 0) -> Sequence:
        """One modality and one target as an in-memory :class:`Sequence` (lazy frames)."""
        _check_modality(modality)
        self._check_target(target)
        loader = self.tir_frame if modality == "tir" else self.rgb_frame
        return Sequence(
            name=f"synthetic_s{self._cfg.seed}_t{target}",
            layout="synthetic",
            gt=self._motion.boxes[target],
            attributes=self.frame_attributes(target),
            frame_loader=loader,
        )

    def as_paired(self, target: int = 0) -> PairedSequence:
        """Both modalities of ``target`` as a :class:`PairedSequence` (shared boxes)."""
        self._check_target(target)
        return PairedSequence(
            name=f"synthetic_s{self._cfg.seed}_t{target}",
            layout="synthetic",
            num_frames=self._cfg.num_frames,
            rgb_loader=self.rgb_frame,
            tir_loader=self.tir_frame,
            gt=self._motion.boxes[target],
        )


def _check_modality(modality: str) -> None:
    if modality not in ("tir", "rgb"):
        raise ValueError(f"modality must be 'tir' or 'rgb', got {modality!r}")


def generate_sequence(cfg: SyntheticConfig) -> SyntheticSequence:
    """Build the synthetic scene of ``cfg`` (frames are rendered when read)."""
    return SyntheticSequence(cfg)


_WRITE_LAYOUTS = ("otb", "vot")


def write_sequence(
    seq: SyntheticSequence,
    out_dir: Path,
    layout: Literal["otb", "vot"] = "otb",
    modality: Modality = "tir",
) -> Path:
    """Write ``seq`` to disk in a benchmark layout readable by ``load_sequences``.

    ``otb``: ``img/00000001.png`` + ``groundtruth_rect.txt`` (one target) or
    ``groundtruth_rect.<k>.txt`` for k = 1..N (several targets, OTB's convention), plus per-frame
    ``occlusion.label`` / ``out_of_view.label`` / ``thermal_crossover.label`` for one target.
    ``vot``: frames ``00000001.png`` in the folder + ``groundtruth.txt`` (target 0 only, 4-value
    rectangles). Thermal frames are 16-bit PNG, visible frames 8-bit BGR PNG.

    Returns:
        ``out_dir``.
    """
    if layout not in _WRITE_LAYOUTS:
        raise ValueError(f"layout must be one of {_WRITE_LAYOUTS}, got {layout!r}")
    _check_modality(modality)
    out_dir = Path(out_dir)
    img_dir = out_dir / "img" if layout == "otb" else out_dir
    img_dir.mkdir(parents=True, exist_ok=True)
    for i in range(len(seq)):
        path = img_dir / f"{i + 1:08d}.png"
        if not cv2.imwrite(str(path), seq.frame(i, modality), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OSError(f"OpenCV could not write {path}; check that the folder is writable")

    def write_boxes(path: Path, boxes: np.ndarray) -> None:
        path.write_text("".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in boxes))

    boxes = seq.boxes
    if layout == "vot":
        write_boxes(out_dir / "groundtruth.txt", boxes[0])
        if len(boxes) > 1:
            logger.warning("VOT layout holds one target; wrote target 0 of %d", len(boxes))
    elif len(boxes) == 1:
        write_boxes(out_dir / "groundtruth_rect.txt", boxes[0])
        for name, flags in seq.frame_attributes(0).items():
            (out_dir / f"{name}.label").write_text("".join(f"{int(v)}\n" for v in flags))
    else:
        for k, target_boxes in enumerate(boxes, start=1):
            write_boxes(out_dir / f"groundtruth_rect.{k}.txt", target_boxes)
    logger.info("wrote %d %s frames (%s layout) to %s", len(seq), modality, layout, out_dir)
    return out_dir
