"""Post-processing of the network's score and box maps: small pure functions, one step each.

The standard Siamese recipe (NanoTrack / pysot), in the order ``Tracker`` applies it:

1. ``decode``: softmax foreground score and the box regressed at every score-map cell.
2. ``change_penalty``: penalise boxes whose scale or aspect ratio differs from the target's.
3. ``cosine_windows``: prefer cells near the target's previous position.
4. ``neighbour_mask``: (several targets) cells inside another target's box.
5. ``peak_to_sidelobe``: how peaked the score map is (a lost target's response spreads out).
6. ``place``: centre at the chosen cell, size smoothed with a score-scaled learning rate,
   clipped to the image.
7. ``exclusive_assignment``: (several targets) two targets never take one object.

Maps are ``(N, S*S)`` (one row per target, cells in row-major order); boxes on the score map
are in search-crop pixels relative to the crop centre, ``scale_z`` (N,) is crop pixels per
image pixel.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..config import TrackerConfig
from ..geometry import box_iou

__all__ = ["Candidates", "ScoreGrid", "Step", "change_penalty", "cosine_windows", "decode",
           "exclusive_assignment", "frame_step", "neighbour_mask", "peak_to_sidelobe",
           "penalised_score", "place"]


@dataclass(frozen=True, eq=False)
class ScoreGrid:
    """Geometry of an ``size x size`` score map with cells ``stride`` crop pixels apart."""

    size: int
    stride: int
    offsets: np.ndarray  # (S,) cell offsets from the search centre along one axis, crop px
    points: np.ndarray  # (S*S, 2) x, y offset of every cell
    window: np.ndarray  # (S*S,) cosine window centred on the map

    @classmethod
    def build(cls, size: int, stride: int) -> ScoreGrid:
        hann = np.hanning(size)
        offsets = -(size // 2) * stride + stride * np.arange(size, dtype=np.float64)
        gx, gy = np.meshgrid(offsets, offsets)
        return cls(size, stride, offsets, np.stack([gx.reshape(-1), gy.reshape(-1)], axis=1),
                   np.outer(hann, hann).reshape(-1))


class Candidates(NamedTuple):
    """The box regressed at every cell: centre offset and size, (N, S*S) each, crop pixels."""

    cx: np.ndarray
    cy: np.ndarray
    w: np.ndarray
    h: np.ndarray


def decode(cls: np.ndarray, loc: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, Candidates]:
    """Network outputs cls (N, 2, S, S) and loc (N, 4, S, S) (distances from each cell to the
    box's left, top, right, bottom edges) -> foreground score (N, S*S) and candidate boxes."""
    n = len(cls)
    logits = cls.reshape(n, 2, -1)
    score = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))  # softmax, foreground
    d = loc.reshape(n, 4, -1).astype(np.float64)
    px, py = points[:, 0], points[:, 1]
    x1, y1, x2, y2 = px - d[:, 0], py - d[:, 1], px + d[:, 2], py + d[:, 3]
    return score, Candidates((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)


def _padded_side(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    pad = (w + h) * 0.5
    return np.sqrt(np.maximum((w + pad) * (h + pad), 1e-12))


def _change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def change_penalty(cand: Candidates, size: np.ndarray, scale_z: np.ndarray,
                   penalty_k: float) -> np.ndarray:
    """``exp(-(r_c * s_c - 1) * penalty_k)`` (N, S*S): ``s_c`` the scale change and ``r_c``
    the aspect-ratio change of each candidate against the target's size (N, 2) (image px)."""
    tw, th = size[:, 0:1] * scale_z[:, None], size[:, 1:2] * scale_z[:, None]
    s_c = _change(_padded_side(cand.w, cand.h) / _padded_side(tw, th))
    r_c = _change((tw / th) / np.maximum(cand.w / np.maximum(cand.h, 1e-6), 1e-6))
    return np.exp(-(r_c * s_c - 1) * penalty_k)


def cosine_windows(offsets: np.ndarray, scale_z: np.ndarray, grid: ScoreGrid) -> np.ndarray:
    """Cosine windows centred on each target's previous position: (1, S*S) when every window
    is the map's own, else (N, S*S).

    ``offsets`` (N, 2): previous centre minus the search window's centre, in image pixels
    (zero unless the window was snapped to a shared canvas's feature grid).
    """
    if not np.any(offsets):
        return grid.window[None]
    s, stride = grid.size, grid.stride
    ori = -(s // 2) * stride
    o = offsets * scale_z[:, None]  # crop pixels
    # separable: the window of cell (y, x) is hann(x) * hann(y); k (N, 2, S): each axis's
    # cell positions in window cells, both axes in one pass
    k = (grid.offsets[None, None] - o[:, :, None] - ori) / stride
    hann = np.where((k >= 0) & (k <= s - 1), 0.5 - 0.5 * np.cos(2 * np.pi * k / (s - 1)), 0.0)
    return (hann[:, 0, None, :] * hann[:, 1, :, None]).reshape(len(o), s * s)


def penalised_score(score: np.ndarray, penalty: np.ndarray, window: np.ndarray,
                    window_influence: float) -> np.ndarray:
    """The score a cell is chosen by: penalised score blended with the cosine window."""
    return penalty * score * (1 - window_influence) + window * window_influence


def neighbour_mask(centers: np.ndarray, prev: np.ndarray, size: np.ndarray,
                   offsets: np.ndarray, scale_z: np.ndarray) -> np.ndarray:
    """(N, S*S): is cell c of target i's map inside another target k's (previous) box?

    Such cells are explained by target k, so they count neither as target i's peak nor as
    its clutter in the PSR. ``centers`` (N, 2): search-window centres; ``prev`` (N, 2) and
    ``size`` (N, 2): the targets' boxes before this frame; ``offsets``: ``ScoreGrid.offsets``.
    """
    n = len(centers)
    g = offsets[None] / scale_z[:, None]  # (n, S) cell offsets in image pixels
    # per axis: is cell c of target i's map inside target k's box? (i, k, c)
    xm = (np.abs(centers[:, None, 0:1] + g[:, None] - prev[None, :, 0:1])
          <= size[None, :, 0:1] / 2)
    ym = (np.abs(centers[:, None, 1:2] + g[:, None] - prev[None, :, 1:2])
          <= size[None, :, 1:2] / 2)
    xm[np.arange(n), np.arange(n)] = False
    # cell (y, x) is inside some other box: any_k ym[i, k, y] & xm[i, k, x]
    return (np.matmul(ym.transpose(0, 2, 1).astype(np.float32),
                      xm.astype(np.float32)) > 0).reshape(n, -1)


@functools.lru_cache(maxsize=16)
def _sidelobes(size: int, exclude: int) -> np.ndarray:
    """(size*size, size*size) bool, read-only: row p marks the cells more than ``exclude``
    cells (along either axis) from cell p, the sidelobe of a peak at p."""
    i, j = np.divmod(np.arange(size * size), size)
    table = (np.abs(i[:, None] - i[None]) > exclude) | (np.abs(j[:, None] - j[None]) > exclude)
    table.flags.writeable = False
    return table


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
    if ignore is None:
        peak = flat.argmax(1)
        side = _sidelobes(size, exclude)[peak]
    else:
        valid = ~ignore
        valid[~valid.any(1)] = True
        peak = np.where(valid, flat, -np.inf).argmax(1)
        side = _sidelobes(size, exclude)[peak] & valid
    cnt = np.maximum(side.sum(1), 1)
    mean = (flat * side).sum(1) / cnt
    var = (((flat - mean[:, None]) ** 2) * side).sum(1) / cnt
    return (flat[np.arange(n), peak] - mean) / (np.sqrt(var) + 1e-6)


def place(cand: Candidates, best: np.ndarray, centers: np.ndarray, size: np.ndarray,
          scale_z: np.ndarray, lr: np.ndarray, width: int, height: int,
          min_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each target goes if placed at its chosen cell ``best`` (N,).

    Returns the peak (N, 2) (the cell's box centre, image px), and the new centre and size
    (N, 2): the size smoothed towards the cell's box with learning rate ``lr`` (N,), both
    clipped to the ``width x height`` image, the size to at least ``min_size``.
    """
    rows = np.arange(len(best))
    box = np.stack([cand.cx[rows, best], cand.cy[rows, best], cand.w[rows, best],
                    cand.h[rows, best]], 1) / scale_z[:, None]  # (N, 4) image px
    peak = centers + box[:, :2]
    wh = size * (1 - lr)[:, None] + box[:, 2:] * lr[:, None]
    frame_wh = np.array([width, height], np.float64)
    new_center = np.minimum(np.maximum(peak, 0.0), frame_wh)
    new_size = np.minimum(np.maximum(wh, min_size), frame_wh)
    return peak, new_center, new_size


def exclusive_assignment(peak: np.ndarray, size: np.ndarray, new_center: np.ndarray,
                         new_size: np.ndarray, priority: np.ndarray, miss: Sequence[bool],
                         misses: Sequence[int], exclusion_iou: float,
                         lost_patience: int) -> tuple[list[bool], list[bool]]:
    """Two targets never take one object; returns (miss, held) per target.

    Targets are placed in order of ``priority`` (their best penalised score). A target whose
    peak (at its current ``size``) overlaps a box already placed this frame by IoU >=
    ``exclusion_iou`` is held (not moved) and counts the frame as a miss; one that overlaps
    by half that is moved but still counts a miss (contested: it may be shadowing the
    neighbour). A target counts as placed unless this frame makes it lost (``misses``: its
    consecutive misses before this frame). Without this, a target that loses its object
    (crossing, occlusion) jumps onto a neighbour and two tracks report one object
    (docs/architecture.md).
    """
    n = len(peak)
    cand = np.concatenate([peak - size / 2, peak + size / 2], 1)
    placed_box = np.concatenate([new_center - new_size / 2, new_center + new_size / 2], 1)
    overlap = box_iou(cand, placed_box)
    clash = (overlap >= exclusion_iou).tolist()
    contested = (overlap >= exclusion_iou / 2).tolist()
    miss, held, placed = list(miss), [False] * n, [False] * n
    for i in np.argsort(-priority, kind="stable").tolist():
        if any(c and p for c, p in zip(clash[i], placed)):
            miss[i] = held[i] = True
            continue
        if any(c and p for c, p in zip(contested[i], placed)):
            miss[i] = True
        placed[i] = (misses[i] + 1 if miss[i] else 0) < lost_patience
    return miss, held


@dataclass(frozen=True)
class Step:
    """The outcome of one frame's post-processing, one entry per target."""

    score: np.ndarray  # (n,) best score (0 for a target held by exclusive assignment)
    miss: list[bool]
    held: list[bool]
    center: np.ndarray  # (n, 2) where each target goes if it moves
    size: np.ndarray  # (n, 2)
    psr: np.ndarray  # (n,) peak-to-sidelobe ratio of each score map


def frame_step(cfg: TrackerConfig, grid: ScoreGrid, cls: np.ndarray, loc: np.ndarray,
               scale_z: np.ndarray, frame_wh: tuple[int, int], centers: np.ndarray,
               prev: np.ndarray, size: np.ndarray, misses: Sequence[int],
               lost: np.ndarray) -> Step:
    """Score maps -> where each target goes: the steps above in order.

    ``centers``: the image points the search windows are centred on; ``prev`` / ``size``
    (n, 2): the boxes searched around (the targets' boxes, or the box a lost target is being
    confirmed at); ``misses``: each target's consecutive misses so far; ``lost`` (n,): which
    targets are lost (placed after every tracked one when re-detection is on)."""
    n = len(prev)
    score, cand = decode(cls, loc, grid.points)
    penalty = change_penalty(cand, size, scale_z, cfg.penalty_k)
    window = cosine_windows(prev - centers, scale_z, grid)
    pscore = penalised_score(score, penalty, window, cfg.window_influence)
    best = np.argmax(pscore, axis=1)
    exclusive = n > 1 and cfg.exclusion_iou < 1.0
    others = neighbour_mask(centers, prev, size, grid.offsets, scale_z) if exclusive else None
    psr = peak_to_sidelobe(score, grid.size, ignore=others)
    rows = np.arange(n)
    best_score = score[rows, best]
    lr = penalty[rows, best] * best_score * cfg.lr
    peak, new_center, new_size = place(cand, best, centers, size, scale_z, lr, frame_wh[0],
                                       frame_wh[1], cfg.min_size)
    miss = ((best_score < cfg.lost_threshold) | (psr < cfg.lost_psr)).tolist()
    held = [False] * n  # excluded this frame: not moved
    if exclusive:
        # placement order: best penalised score first; with re-detection on, lost targets
        # (being confirmed) after every tracked one (penalised scores lie in [0, 1])
        priority = pscore[rows, best] - (2.0 * lost if cfg.redetect else 0.0)
        miss, held = exclusive_assignment(peak, size, new_center, new_size, priority, miss,
                                          list(misses), cfg.exclusion_iou, cfg.lost_patience)
        best_score = np.where(held, 0.0, best_score)
    return Step(best_score, miss, held, new_center, new_size, psr)
