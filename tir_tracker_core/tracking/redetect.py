"""Re-detection of lost targets: where to search and what counts as a candidate.

A lost target is searched, besides its usual window at its last box, in *tiles*: search
windows at the target's own zoom (the template's scale, so every model's score maps mean the
same thing) on a grid around the point where it was lost. ``scan_tiles`` orders the grid ring
by ring outwards (a growing region) until the whole frame is covered, and the scan then starts
over; ``share_budget`` spreads a fixed number of extra crops per frame over the lost targets,
so a lost target's search costs at most that many crops, however large the frame.

A tile's best cell is a candidate when it passes the same lost test that declared the target
lost (peak score and peak-to-sidelobe ratio), with cells inside a tracked target's box and
outside the image left out (``ignored_cells``; ``tile_candidates`` picks them). ``Tracker``
then follows a candidate with the target's usual search and re-acquires it after
``TrackerConfig.redetect_confirm`` consecutive frames that pass the test (hysteresis;
``advance_lost``). ``LostSearch`` holds one target's re-detection state.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..config import TrackerConfig
from .postprocess import ScoreGrid, change_penalty, decode, peak_to_sidelobe, place

__all__ = ["PSR_MEMORY", "TILE_STEP", "LostSearch", "advance_lost", "ignored_cells", "psr_bar",
           "scan_tiles", "share_budget", "tile_candidates", "tile_crops"]

PSR_MEMORY = 30  # tracked frames whose peak-to-sidelobe ratios set a target's re-acquisition bar

TILE_STEP = 0.6
"""Tile spacing as a fraction of the search window side: a target this far from a tile's
centre still lies wholly inside that tile's window (template-sized targets fill about a third
of the window), so neighbouring tiles overlap and no position falls between them."""


def scan_tiles(center: np.ndarray, step: float, width: int, height: int,
               window: float = 0.0) -> np.ndarray:
    """Tile centres (M, 2) on a grid ``step`` pixels apart around ``center``, in scan order.

    Ring r (the tiles r steps away, Chebyshev distance) comes before ring r + 1, and inside a
    ring the tiles nearest to ``center`` come first. Ring 0 (the target's own window, searched
    anyway) is left out, and so is every tile whose half-step square around its centre misses
    the ``width`` x ``height`` frame; the squares of the tiles kept cover the whole frame.
    Tiles are then moved inwards so that their ``window``-pixel search windows stay inside
    the frame where it is large enough (a window mostly over crop padding gives a
    meaningless peak-to-sidelobe ratio); tiles that land on one point are kept once.
    """
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    cx, cy = float(center[0]), float(center[1])
    half = step / 2
    # grid indices whose squares [c + i*step - half, c + i*step + half] meet [0, size]
    i0, i1 = math.floor((-half - cx) / step) + 1, math.ceil((width + half - cx) / step) - 1
    j0, j1 = math.floor((-half - cy) / step) + 1, math.ceil((height + half - cy) / step) - 1
    ii, jj = np.meshgrid(np.arange(i0, i1 + 1), np.arange(j0, j1 + 1))
    ii, jj = ii.ravel(), jj.ravel()
    ring = np.maximum(np.abs(ii), np.abs(jj))
    keep = ring > 0
    ii, jj, ring = ii[keep], jj[keep], ring[keep]
    order = np.lexsort((np.arctan2(jj, ii), ii ** 2 + jj ** 2, ring))
    tiles = np.stack([cx + ii[order] * step, cy + jj[order] * step], 1).astype(np.float64)
    for axis, size in ((0, width), (1, height)):
        if size > window:
            tiles[:, axis] = np.clip(tiles[:, axis], window / 2, size - window / 2)
    _, first = np.unique(np.round(tiles, 6), axis=0, return_index=True)
    return tiles[np.sort(first)]


def share_budget(num_lost: int, budget: int, turn: int) -> list[int]:
    """Extra crops for each of ``num_lost`` lost targets this frame: ``budget`` split evenly,
    the remainder going to the targets whose turn it is (``turn`` counts frames), so that over
    ``num_lost`` frames every target gets the same number."""
    if num_lost <= 0:
        return []
    base, rest = divmod(budget, num_lost)
    start = turn % num_lost
    return [base + int((k - start) % num_lost < rest) for k in range(num_lost)]


def ignored_cells(win_centers: np.ndarray, scale_z: np.ndarray, offsets: np.ndarray,
                  box_centers: np.ndarray, box_sizes: np.ndarray, width: int,
                  height: int) -> np.ndarray:
    """(M, S*S): cells of M search windows that may not hold a candidate.

    A cell is ignored when its image point lies inside one of the boxes (``box_centers``,
    ``box_sizes`` (K, 2): the tracked targets; a lost target must not be re-found on a
    neighbour) or outside the ``width`` x ``height`` image (crop padding).
    ``win_centers`` (M, 2) and ``scale_z`` (M,): the windows; ``offsets``:
    ``ScoreGrid.offsets``.
    """
    g = offsets[None] / scale_z[:, None]  # (M, S) cell offsets in image pixels
    gx = win_centers[:, 0:1] + g  # (M, S) image x of each column
    gy = win_centers[:, 1:2] + g  # (M, S) image y of each row
    outside = (((gy < 0) | (gy > height))[:, :, None]
               | ((gx < 0) | (gx > width))[:, None, :])  # (M, S rows, S cols)
    if len(box_centers):
        xm = np.abs(gx[:, None, :] - box_centers[None, :, 0:1]) <= box_sizes[None, :, 0:1] / 2
        ym = np.abs(gy[:, None, :] - box_centers[None, :, 1:2]) <= box_sizes[None, :, 1:2] / 2
        # (M, K, S) per axis -> (M, S rows, S cols): inside some box k
        inside = np.matmul(ym.transpose(0, 2, 1).astype(np.float32),
                           xm.astype(np.float32)) > 0
        outside |= inside
    return outside.reshape(len(win_centers), -1)


Pair = tuple[np.ndarray, np.ndarray]  # a box as (centre, size), each (2,)


@dataclass
class LostSearch:
    """One target's re-detection state (``TrackerConfig.redetect``)."""

    # while lost: the box being confirmed and for how many consecutive frames it has passed
    # the lost test; the tile scan and its position
    probe: Pair | None = None
    hits: int = 0
    tiles: np.ndarray | None = None
    scan: int = 0
    # peak-to-sidelobe ratios of the last frames tracked without a miss: what the template's
    # response on the target looks like (the re-acquisition bar is a share of their median)
    psrs: deque[float] = field(default_factory=lambda: deque(maxlen=PSR_MEMORY))

    def forget(self) -> None:
        """Drop the search state (the target is tracked again or was moved)."""
        self.probe, self.hits, self.tiles, self.scan = None, 0, None, 0


def tile_crops(lost: Sequence[tuple[int, LostSearch, np.ndarray]], s_x: np.ndarray, width: int,
               height: int, budget: int, turn: int) -> tuple[list[int], np.ndarray]:
    """This frame's extra crops for lost targets (``scan_tiles`` order, at most ``budget`` over
    all of them, shared by ``share_budget`` at ``turn``): the owner and the centre (M, 2) of
    each. ``lost``: (index, search state, centre) of each lost target not being confirmed;
    ``s_x``: search window sides by index."""
    if not lost:
        return [], np.zeros((0, 2))
    owner, centers = [], []
    for (i, s, center), count in zip(lost, share_budget(len(lost), budget, turn)):
        if s.tiles is None:
            s.tiles = scan_tiles(center, TILE_STEP * s_x[i], width, height, s_x[i])
            s.scan = 0
        for _ in range(min(count, len(s.tiles))):
            owner.append(i)
            centers.append(s.tiles[s.scan % len(s.tiles)])
            s.scan += 1
    return owner, np.array(centers, np.float64).reshape(-1, 2)


def tile_candidates(cfg: TrackerConfig, grid: ScoreGrid, owner: list[int], cls: np.ndarray,
                    loc: np.ndarray, scale_z: np.ndarray, centers: np.ndarray,
                    own_size: np.ndarray, bars: np.ndarray, tracked: Pair, width: int,
                    height: int) -> dict[int, Pair]:
    """The best candidate box (centre, size) of each lost target in its tiles, keyed by its
    owner; only tiles whose best cell passes the lost test (peak-to-sidelobe ratio against
    the owner's ``bars``) count. ``own_size``: the owner's size per tile; ``tracked``: the
    centres and sizes (K, 2) of the tracked targets."""
    rows = np.arange(len(owner))
    score, cand = decode(cls, loc, grid.points)
    ignore = ignored_cells(centers, scale_z, grid.offsets, tracked[0], tracked[1], width,
                           height)
    penalty = change_penalty(cand, own_size, scale_z, cfg.penalty_k)
    best = np.argmax(np.where(ignore, -1.0, penalty * score), axis=1)
    best_score = np.where(ignore[rows, best], 0.0, score[rows, best])
    psr = peak_to_sidelobe(score, grid.size, ignore=ignore)
    ok = (best_score >= cfg.lost_threshold) & (psr >= bars)
    lr = penalty[rows, best] * best_score * cfg.lr
    _, new_center, new_size = place(cand, best, centers, own_size, scale_z, lr, width, height,
                                    cfg.min_size)
    found: dict[int, Pair] = {}
    top: dict[int, float] = {}
    for r in np.flatnonzero(ok).tolist():
        i = owner[r]
        if best_score[r] > top.get(i, -1.0):
            top[i] = float(best_score[r])
            found[i] = (new_center[r], new_size[r])
    return found


def psr_bar(psrs: Sequence[float], cfg: TrackerConfig) -> float:
    """Peak-to-sidelobe ratio a lost target's response must reach to count towards its
    re-acquisition: ``lost_psr`` raised towards the median of ``psrs`` (the target's last
    tracked frames), by ``redetect_psr_share`` of the way on a log scale (the ratio spans
    orders of magnitude: clutter that passes the lost test stays near its low end)."""
    low = max(cfg.lost_psr, 1.0)
    if not psrs:
        return cfg.lost_psr
    high = max(float(np.median(psrs)), low)
    return float(low * (high / low) ** cfg.redetect_psr_share)


def advance_lost(s: LostSearch, miss: bool, center: np.ndarray, size: np.ndarray,
                 found: Pair | None, confirm: int) -> Pair | None:
    """A lost target's frame with re-detection on. A frame whose search at the box searched
    (held or being confirmed) passes the lost test and the re-acquisition bar (``miss``
    False) confirms the box found (``center``, ``size``); else a tile candidate ``found``
    starts a new confirmation. After ``confirm`` consecutive such frames this returns the
    box to track the target at (and forgets the search); else None."""
    if not miss:
        s.hits, s.probe = s.hits + 1, (center, size)
    elif found is not None:
        s.hits, s.probe = 1, found
    else:
        s.hits, s.probe = 0, None
    if s.probe is not None and s.hits >= confirm:
        box = s.probe
        s.forget()
        return box
    return None
