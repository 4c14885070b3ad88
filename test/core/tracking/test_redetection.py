"""Re-detection of lost targets: tile scan, crop budget, re-acquisition with the same id,
bounded cost, and the old behaviour with it off."""

from __future__ import annotations

import numpy as np
import pytest

from tir_tracker_core.api import load_tracker
from tir_tracker_core.tracking import TrackState
from tir_tracker_core.tracking.redetect import ignored_cells, scan_tiles, share_budget

H, W = 240, 320
START, SHOW = (70.0, 80.0), (250.0, 170.0)  # where the target vanishes / shows again


def frame(centers, t: int) -> np.ndarray:
    """Mono16 frame: warm elliptic blobs on a noisy, slightly structured background."""
    rng = np.random.default_rng(2000 + t)
    yy, xx = np.mgrid[0:H, 0:W]
    f = 7000 + 40 * np.sin(xx / 23.0) + 30 * np.cos(yy / 17.0) + rng.normal(0, 15, (H, W))
    for cx, cy in centers:
        f += 600 * np.exp(-(((xx - cx) / 9.0) ** 2 + ((yy - cy) / 14.0) ** 2))
    return f.astype(np.uint16)


def box_at(c) -> tuple[float, float, float, float]:
    return (c[0] - 12, c[1] - 18, 24, 36)


def centre(box) -> np.ndarray:
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])


class CountingBackend:
    """Wraps a backend and records how many search crops each frame runs."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.crops: list[int] = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def track(self, feats, crops):
        self.crops.append(len(crops))
        return self._backend.track(feats, crops)


def test_scan_tiles_grow_ring_by_ring_and_cover_the_frame():
    step = 40.0
    tiles = scan_tiles(np.array([100.0, 60.0]), step, W, H)
    ring = np.max(np.abs(tiles - [100.0, 60.0]), axis=1) / step
    assert ring.min() >= 1 - 1e-9 and np.all(np.diff(np.round(ring)) >= 0)  # outwards
    assert len(np.unique(tiles, axis=0)) == len(tiles)
    yy, xx = np.mgrid[0:H:5, 0:W:5]
    pts = np.stack([xx.ravel(), yy.ravel()], 1).astype(float)
    near = np.max(np.abs(pts[:, None] - tiles[None]), axis=2).min(1)
    own = np.max(np.abs(pts - [100.0, 60.0]), axis=1)
    assert np.all(np.minimum(near, own) <= step / 2 + 1e-9)  # every point in some tile
    # windows kept inside the frame where it is large enough
    inside = scan_tiles(np.array([100.0, 60.0]), step, W, H, window=80.0)
    assert inside[:, 0].min() >= 40 and inside[:, 0].max() <= W - 40
    assert inside[:, 1].min() >= 40 and inside[:, 1].max() <= H - 40


def test_share_budget_is_fair_over_frames():
    assert share_budget(0, 2, 0) == []
    assert share_budget(1, 2, 5) == [2]
    turns = np.array([share_budget(3, 2, t) for t in range(3)])
    assert np.all(turns.sum(1) == 2) and np.all(turns.sum(0) == 2)


def test_ignored_cells_cover_tracked_boxes_and_the_outside():
    offsets = -4 * 16 + 16 * np.arange(8, dtype=float)  # 8x8 map, stride 16
    ign = ignored_cells(np.array([[60.0, 60.0]]), np.array([1.0]), offsets,
                        np.array([[60.0, 60.0]]), np.array([[20.0, 20.0]]), 100, 100)
    grid = ign.reshape(8, 8)
    assert grid[4, 4]  # the cell on the tracked box
    assert grid[0, 0]  # x = y = -4: outside the image
    assert not grid[5, 6]  # x = 92, y = 76: free


def run(redetect: bool, tracker=None, frames: int = 60):
    """One target: seen at START, hidden from frame 6 to 19, seen at SHOW from frame 20."""
    tr = tracker or load_tracker("default", tracker={"lost_patience": 3,
                                                     "redetect": redetect})
    (tid,) = tr.init(frame([START], 0), [box_at(START)])
    tracks = []
    for t in range(1, frames):
        shown = [START] if t < 6 else [] if t < 20 else [SHOW]
        (tk,) = tr.update(frame(shown, t))
        assert tk.id == tid
        tracks.append(tk)
    return tr, tracks


def test_lost_target_is_found_again_elsewhere_with_its_id():
    tr, tracks = run(redetect=True)
    states = [tk.state for tk in tracks]
    assert TrackState.LOST in states[5:19]
    back = [i + 1 for i, tk in enumerate(tracks) if i + 1 >= 20 and tk.state is TrackState.TRACKED
            and np.hypot(*(centre(tk.box) - SHOW)) < 10]
    assert back, [(tk.state.value, np.round(tk.box)) for tk in tracks[19:]]
    assert back[0] - 20 <= 25  # frames after it shows again
    assert all(tk.state is TrackState.TRACKED for tk in tracks[back[0] - 1:])
    assert np.hypot(*(centre(tracks[-1].box) - SHOW)) < 8
    assert tr.reacquisitions == 1 and tracks[-1].reacquisitions == 1
    # reported held (not on clutter) until it is confirmed
    lost = [tk for tk in tracks if tk.state is TrackState.LOST]
    assert all(np.allclose(tk.box, lost[0].box) for tk in lost)


def test_off_keeps_the_old_behaviour():
    """Re-detection off: the lost target is searched at its last box only, so one that shows
    again far away is never found (the behaviour before re-detection; on this clutter the
    one-frame rule of that search even brings it back onto the background now and then)."""
    tr, tracks = run(redetect=False)
    assert TrackState.LOST in [tk.state for tk in tracks[5:19]]
    assert all(np.hypot(*(centre(tk.box) - SHOW)) > 40 for tk in tracks)
    assert tr.reacquisitions == sum(a.lost and not b.lost for a, b in zip(tracks, tracks[1:]))


@pytest.mark.parametrize("budget", [1, 3])
def test_extra_crops_per_frame_are_capped(budget):
    """Three targets, one lost for good: each frame runs the three usual crops plus at most
    ``redetect_crops``; none while every target is tracked."""
    base = load_tracker("default", tracker={"lost_patience": 3, "redetect_crops": budget,
                                            "share_search": False})
    counting = CountingBackend(base.backend)
    base.backend = counting
    fixed = [(60.0, 60.0), (250.0, 60.0)]
    ids = base.init(frame(fixed + [START], 0), [box_at(c) for c in fixed + [START]])
    for t in range(1, 40):
        tracks = base.update(frame(fixed + ([START] if t < 6 else []), t))
    assert [tk.id for tk in tracks] == ids
    assert [tk.state for tk in tracks] == [TrackState.TRACKED] * 2 + [TrackState.LOST]
    assert counting.crops[:5] == [3] * 5  # all tracked: no extra work
    assert max(counting.crops) == 3 + budget
    assert base.reacquisitions == 0


def test_relocate_drops_the_search():
    tr, _ = run(redetect=True, frames=12)  # lost, scanning
    (tid,) = tr.ids
    tr.relocate(tid, box_at(SHOW))
    (tk,) = tr.update(frame([SHOW], 12))
    assert tk.state is TrackState.TRACKED and np.hypot(*(centre(tk.box) - SHOW)) < 8
