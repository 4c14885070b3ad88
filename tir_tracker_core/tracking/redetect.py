"""Re-detection of lost targets: where to search and what counts as a candidate.

A lost target is searched, besides its usual window at its last box, in *tiles*: search
windows at the target's own zoom (the template's scale, so every model's score maps mean the
same thing) on a grid around the point where it was lost. ``scan_tiles`` orders the grid ring
by ring outwards (a growing region) until the whole frame is covered, and the scan then starts
over; ``share_budget`` spreads a fixed number of extra crops per frame over the lost targets,
so a lost target's search costs at most that many crops, however large the frame.

A tile's best cell is a candidate when it passes the same lost test that declared the target
lost (peak score and peak-to-sidelobe ratio), with cells inside a tracked target's box and
outside the image left out (``ignored_cells``). ``Tracker`` then follows a candidate with the
target's usual search and re-acquires it after ``TrackerConfig.redetect_confirm`` consecutive
frames that pass the test (hysteresis).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TILE_STEP", "ignored_cells", "scan_tiles", "share_budget"]

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
