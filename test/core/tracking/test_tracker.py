"""Tracker runtime behaviour: multi-target batching, state, lost targets, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from tir_tracker_core.api import load_tracker
from tir_tracker_core.config import ModelConfig, TrackerConfig
from tir_tracker_core.errors import InvalidBoxError, InvalidFrameError, TrackerInputError, UnknownTargetError
from tir_tracker_core.eval.metrics import iou
from tir_tracker_core.tracking import Tracker, TrackState

H, W = 240, 320


def blob_frame(centers, t: int, visible=None) -> np.ndarray:
    """Mono16 frame: warm elliptic blobs on a noisy, slightly structured background."""
    rng = np.random.default_rng(1000 + t)
    yy, xx = np.mgrid[0:H, 0:W]
    f = 7000 + 40 * np.sin(xx / 23.0) + 30 * np.cos(yy / 17.0) + rng.normal(0, 15, (H, W))
    for k, (cx, cy) in enumerate(centers):
        if visible is not None and not visible[k]:
            continue
        f += 600 * np.exp(-(((xx - cx) / 9.0) ** 2 + ((yy - cy) / 14.0) ** 2))
    return f.astype(np.uint16)


def path(k: int, t: int) -> tuple[float, float]:
    return 60 + 90 * k + 1.5 * t, 70 + 50 * k + 20 * np.sin(t / 10.0)


def box_at(c) -> tuple[float, float, float, float]:
    return (c[0] - 12, c[1] - 18, 24, 36)


@pytest.fixture(scope="module")
def tracker_factory():
    """Trackers over the model shipped in the package: these tests need a trained model, not
    a particular one, so they run without ../shared/data."""
    return lambda **kw: load_tracker("default", **kw)


def test_tracks_several_targets_in_one_batch(tracker_factory):
    tr = tracker_factory()
    n = 3
    ids = tr.init(blob_frame([path(k, 0) for k in range(n)], 0), [box_at(path(k, 0)) for k in range(n)])
    assert ids == [1, 2, 3] and tr.num_targets == 3
    for t in range(1, 40):
        tracks = tr.update(blob_frame([path(k, t) for k in range(n)], t))
    for k, tk in enumerate(tracks):
        cx, cy = tk.box[0] + tk.box[2] / 2, tk.box[1] + tk.box[3] / 2
        gx, gy = path(k, 39)
        assert np.hypot(cx - gx, cy - gy) < 8, (k, tk)
        assert tk.state is TrackState.TRACKED and tk.age == 39


@pytest.mark.parametrize("share, atol", [(False, 1e-2), (True, 3.0)])
def test_batched_equals_one_by_one(tracker_factory, share, atol):
    """Batching targets never mixes them; a shared search canvas (targets close together)
    only moves each search window by under half a feature cell, so boxes stay within px."""
    frames = [blob_frame([path(k, t) for k in range(2)], t) for t in range(12)]
    joint = tracker_factory(tracker={"share_search": share})
    joint.init(frames[0], [box_at(path(k, 0)) for k in range(2)])
    single = [tracker_factory() for _ in range(2)]
    for k, s in enumerate(single):
        s.init(frames[0], [box_at(path(k, 0))])
    for f in frames[1:]:
        j = joint.update(f)
        for k, s in enumerate(single):
            (one,) = s.update(f)
            np.testing.assert_allclose(j[k].box, one.box, atol=atol)


def test_add_remove_reset(tracker_factory):
    tr = tracker_factory()
    f0 = blob_frame([path(0, 0), path(1, 0)], 0)
    (a,) = tr.init(f0, [box_at(path(0, 0))])
    (b,) = tr.add(f0, [box_at(path(1, 0))])
    assert (a, b) == (1, 2)
    assert [t.id for t in tr.update(blob_frame([path(0, 1), path(1, 1)], 1))] == [1, 2]
    tr.remove([a])
    assert [t.id for t in tr.update(blob_frame([path(0, 2), path(1, 2)], 2))] == [2]
    with pytest.raises(UnknownTargetError, match="held ids"):
        tr.remove([a])
    tr.reset()
    assert tr.num_targets == 0 and tr.update(np.zeros((100, 100), np.uint8)) == ()


def test_target_that_vanishes_is_reported_lost():
    """A warm target hidden for a while (standing still behind an obstacle): the score map's
    response spreads out, the target is reported lost and its box is held instead of
    drifting over the clutter; when it shows again it is tracked again."""
    tr = load_tracker("default", tracker={"lost_patience": 3})
    tr.init(blob_frame([path(0, 0)], 0), [box_at(path(0, 0))])
    for t in range(1, 6):
        (tk,) = tr.update(blob_frame([path(0, t)], t))
    assert tk.state is TrackState.TRACKED
    hidden = [tr.update(blob_frame([path(0, 5)], t, visible=[False]))[0] for t in range(6, 20)]
    lost = [k for k in hidden if k.state is TrackState.LOST]
    assert len(lost) >= 5, [k.state.value for k in hidden]
    first = lost[0].box
    assert all(np.allclose(k.box, first) for k in lost)  # held, not drifting
    back = [tr.update(blob_frame([path(0, 5)], t))[0] for t in range(20, 30)]
    assert back[-1].state is TrackState.TRACKED
    cx, cy = back[-1].box[0] + back[-1].box[2] / 2, back[-1].box[1] + back[-1].box[3] / 2
    assert np.hypot(cx - path(0, 5)[0], cy - path(0, 5)[1]) < 10


@pytest.mark.parametrize("box, msg", [
    ((np.nan, 10, 20, 20), "NaN"),
    ((10, 10, 0, 20), "zero or negative"),
    ((10, 10, 20, -5), "zero or negative"),
    ((W + 5, 10, 20, 20), "outside"),
    ((-50, -50, 20, 20), "outside"),
    ((1, 2, 3), "4 values"),
    ("abc", "not 4 numbers"),
])
def test_bad_boxes_rejected_and_state_kept(tracker_factory, box, msg):
    tr = tracker_factory()
    f0 = blob_frame([path(0, 0)], 0)
    tr.init(f0, [box_at(path(0, 0))])
    with pytest.raises(InvalidBoxError, match=msg):
        tr.add(f0, [box])
    with pytest.raises(InvalidBoxError, match=msg):
        tr.init(f0, [box_at(path(0, 0)), box])
    assert tr.num_targets == 1 and len(tr.update(blob_frame([path(0, 1)], 1))) == 1


def test_partially_outside_box_is_clipped(tracker_factory):
    tr = tracker_factory()
    tr.init(blob_frame([(5, 5)], 0), [(-10, -10, 30, 30)])
    (tk,) = tr.update(blob_frame([(5, 5)], 1))
    assert tk.box[2] > 0 and tk.box[3] > 0


def test_frame_changes_mid_sequence_are_rejected_and_state_kept(tracker_factory):
    tr = tracker_factory()
    tr.init(blob_frame([path(0, 0)], 0), [box_at(path(0, 0))])
    with pytest.raises(InvalidFrameError, match="changed.*reset"):
        tr.update(np.zeros((H // 2, W // 2), np.uint16))
    with pytest.raises(InvalidFrameError, match="changed"):
        tr.update(np.zeros((H, W), np.uint8))
    with pytest.raises(InvalidFrameError, match="dtype"):
        tr.init(np.zeros((H, W), np.int32), [box_at(path(0, 0))])
    assert tr.num_targets == 1
    assert len(tr.update(blob_frame([path(0, 1)], 1))) == 1


def test_max_targets(tracker_factory):
    tr = tracker_factory(tracker={"max_targets": 2})
    f0 = blob_frame([path(0, 0)], 0)
    with pytest.raises(TrackerInputError, match="max_targets"):
        tr.init(f0, [box_at(path(0, 0))] * 3)


def test_relocate_moves_a_target_and_keeps_its_template(tracker_factory):
    """An external detector re-finds a target: the box moves, the template stays, the target
    is tracked from there; bad ids and boxes are rejected and leave the target unchanged."""
    tr = tracker_factory()
    f0 = blob_frame([path(0, 0)], 0)
    (a,) = tr.init(f0, [box_at(path(0, 0))])
    # the target jumps far away between frames: relocating puts the tracker back on it
    far = (250.0, 180.0)
    tr.relocate(a, box_at(far))
    (tk,) = tr.update(blob_frame([far], 1))
    cx, cy = tk.box[0] + tk.box[2] / 2, tk.box[1] + tk.box[3] / 2
    assert np.hypot(cx - far[0], cy - far[1]) < 6
    before = tk.box
    with pytest.raises(UnknownTargetError, match="held ids"):
        tr.relocate(a + 1, box_at(far))
    with pytest.raises(InvalidBoxError, match="zero or negative"):
        tr.relocate(a, (10, 10, 0, 5))
    assert tr.update(blob_frame([far], 2))[0].box == pytest.approx(before, abs=3)


def _iou(a, b) -> float:
    return float(iou(np.asarray(a), np.asarray(b)))


@pytest.mark.parametrize("exclusion_iou", [0.5, 1.0])
def test_two_targets_never_take_one_object(exclusion_iou):
    """A target that vanishes next to a look-alike neighbour must not jump onto it: with the
    exclusive assignment (default) it is held and reported lost; with it off (1.0) the two
    tracks report the same object, which is what the rule exists to prevent."""
    tr = load_tracker("default", tracker={"exclusion_iou": exclusion_iou, "lost_patience": 3})

    def centers(t):
        return [(170.0, 120.0), (110.0 + 3 * min(t, 10), 120.0)]

    tr.init(blob_frame(centers(0), 0), [box_at(c) for c in centers(0)])
    shared = 0
    for t in range(1, 30):  # the second blob moves towards the first, then vanishes (t >= 10)
        a, b = tr.update(blob_frame(centers(t), t, visible=[True, t < 10]))
        assert _iou(a.box, box_at(centers(t)[0])) > 0.5  # the first target is never disturbed
        shared += a.state is TrackState.TRACKED and b.state is TrackState.TRACKED \
            and _iou(a.box, b.box) >= 0.5
    if exclusion_iou < 1.0:
        assert shared == 0
        assert b.state is TrackState.LOST
    else:
        assert shared > 10


class _FixedMaps:
    """Backend stand-in: every target's score map peaks at its search centre (the target
    stays where it is) and the regressed box keeps its size."""

    name, device, accepts_mono = "fixed-maps", "cpu", False

    def __init__(self, cfg: ModelConfig, size_crop: float) -> None:
        self.cfg, self.half = cfg, size_crop / 2

    def template(self, crops):
        return [None] * len(crops)

    def track(self, feats, crops):
        s = self.cfg.score_size
        n = len(feats)
        cls = np.zeros((n, 2, s, s), np.float32)
        cls[:, 0] = 3.0  # background logit: score ~0.05 everywhere...
        cls[:, 0, s // 2, s // 2] = -3.0  # ...but ~1.0 at the centre cell
        loc = np.full((n, 4, s, s), self.half, np.float32)
        return cls, loc


def test_reported_box_convention():
    """Boxes are reported as pysot, NanoTrack and OpenCV's TrackerNano report them, ``x = cx -
    w / 2`` with ``cx = x0 + (w - 1) / 2`` from the first box: half a pixel up-left of the
    exact inverse (``pysot_report=False``), which keeps a target that stays put on its first
    box. The tracked state is the same either way."""
    cfg = ModelConfig()
    box = (90.0, 60.0, 20.0, 20.0)
    scale = cfg.exemplar_size / 40.0  # context: sqrt((20 + 20) * (20 + 20))
    frame = np.zeros((200, 200), np.uint8)
    boxes = {}
    for pysot_report in (True, False):
        tr = Tracker(_FixedMaps(cfg, 20 * scale), cfg,
                     TrackerConfig(pysot_report=pysot_report, lost_psr=0.0))
        tr.init(frame, [box])
        boxes[pysot_report] = [tr.update(frame)[0].box for _ in range(3)]
    np.testing.assert_allclose(np.array(boxes[True]) - np.array(boxes[False]),
                               [[-0.5, -0.5, 0.0, 0.0]] * 3, atol=1e-9)
    np.testing.assert_allclose(boxes[False][-1], box, atol=0.6)


def test_target_overlapping_a_placed_neighbour_counts_misses():
    """Contested frames: two targets that overlap by IoU 1/3 (between exclusion_iou / 2 and
    exclusion_iou) are both kept in place, but the one placed second counts each frame as a
    miss and is reported lost after lost_patience frames; with the rules off it stays
    tracked."""
    cfg = ModelConfig()
    a, b = (90.0, 90.0, 20.0, 20.0), (100.0, 90.0, 20.0, 20.0)  # IoU 200 / 600
    scale = cfg.exemplar_size / 40.0  # context: sqrt((20 + 20) * (20 + 20))
    frame = np.zeros((200, 200), np.uint8)
    states = {}
    for rules in (0.5, 1.0):
        tr = Tracker(_FixedMaps(cfg, 20 * scale), cfg,
                     TrackerConfig(exclusion_iou=rules, lost_patience=3, lost_psr=0.0))
        tr.init(frame, [a, b])
        for _ in range(4):
            ta, tb = tr.update(frame)
        assert ta.state is TrackState.TRACKED and np.allclose(ta.box, a, atol=0.6)
        assert np.allclose(tb.box, b, atol=0.6)  # never moved onto a
        states[rules] = tb.state
    assert states == {0.5: TrackState.LOST, 1.0: TrackState.TRACKED}


def test_continue_ids_never_reuses_an_id():
    """A tracker that replaces another (a reconfigured ROS node) continues its ids."""
    old = load_tracker("default")
    old.init(blob_frame([path(0, 0)], 0), [box_at(path(0, 0))])
    new = load_tracker("default")
    new.continue_ids(old.next_id)
    new.continue_ids(1)  # never goes back
    assert new.init(blob_frame([path(0, 0)], 0), [box_at(path(0, 0))]) == [2]
    assert new.next_id == 3


def test_a_lower_resolution_model_crops_the_same_area_with_fewer_pixels(tmp_path):
    """``ModelConfig.zoom`` (``models.with_search_size``): the template shows the target
    ``zoom`` times as large in its pixels as at zoom 1, and the search crop the same image
    area in ``instance_size`` pixels; the box comes back in image pixels at either."""
    from tir_tracker_core.api import load_model, model_spec
    from tir_tracker_core.checkpoint import Checkpoint, save_checkpoint
    from tir_tracker_core.models import with_search_size

    net, tcfg, fcfg, _ = load_model(model_spec("default", "torch"))
    low = with_search_size(net.cfg, 191)
    path = save_checkpoint(Checkpoint(low, net.state_dict(), tcfg, fcfg),
                           tmp_path / "low.safetensors")
    frame = blob_frame([path_(0)], 0)
    seen = {}

    def spy(fn, key):  # record the crops the backend is given
        def wrapped(*args):
            seen[key] = args[-1]
            return fn(*args)
        return wrapped

    for name, spec in (("full", "default"), ("low", str(path))):
        tr = load_tracker(spec, backend="torch")
        tr.backend.template = spy(tr.backend.template, name + "_z")
        tr.backend.track = spy(tr.backend.track, name + "_x")
        tr.init(frame, [box_at(path_(0))])
        (track,) = tr.update(frame)
        assert iou(np.array(track.box), np.array(box_at(path_(0)))) > 0.3

    def width(crop: np.ndarray) -> float:  # columns warmer than halfway up the blob
        row = crop[0].mean(0)[crop.shape[-1] // 2]
        return float((row > row.min() + 0.5 * (row.max() - row.min())).sum())

    assert seen["full_x"].shape[-1] == 255 and seen["low_x"].shape[-1] == 191
    assert seen["low_z"].shape[-1] == seen["full_z"].shape[-1] == 127
    ratio = width(seen["low_z"]) / width(seen["full_z"])
    assert ratio == pytest.approx(191 / 255, abs=0.06)


def path_(k: int) -> tuple[float, float]:
    return 160.0 + 10 * k, 120.0
