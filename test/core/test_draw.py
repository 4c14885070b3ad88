"""The pictures of tracks shared by the CLI's videos and the ROS node's debug image."""

import numpy as np

from tir_tracker_core.config import FrameConfig
from tir_tracker_core.draw import (COLORS, GT_COLOR, LOST_COLOR, VideoSink, annotate,
                                   draw_tracks, given_tracks, label)
from tir_tracker_core.frames import to_bgr8
from tir_tracker_core.tracking.types import Track, TrackState


def test_labels_and_legend():
    given = given_tracks([1], [(10, 40, 30, 20)])[0]
    tracked = Track(1, (10.0, 40.0, 30.0, 20.0), 0.871, TrackState.TRACKED, 5)
    lost = Track(2, (60.0, 40.0, 30.0, 20.0), 0.93, TrackState.LOST, 5)
    assert (label(given), label(tracked), label(lost)) == ("#1 given", "#1 0.87", "#2 lost")
    img = draw_tracks(np.zeros((120, 160, 3), np.uint8), [tracked, lost],
                      np.array([[5, 80, 20, 20]]))
    assert tuple(img[40, 20]) == COLORS[0] and tuple(img[40, 70]) == LOST_COLOR
    assert tuple(img[80, 10]) == GT_COLOR
    legend = img[:40, :100].astype(int)  # top-left: a line per kind of box, in its colour
    for colour in (COLORS[0], LOST_COLOR, GT_COLOR):  # (anti-aliased text: near the colour)
        assert (np.abs(legend - colour).max(axis=-1) < 60).sum() > 10


def test_each_target_has_its_own_colour():
    tracks = [Track(i, (10.0 + 30 * (i - 1), 60.0, 20.0, 20.0), 0.9, TrackState.TRACKED, 3)
              for i in (1, 2, 3)]
    img = draw_tracks(np.zeros((100, 120, 3), np.uint8), tracks)
    assert [tuple(img[60, 10 + 30 * k]) for k in range(3)] == COLORS[:3]


def test_a_16_bit_frame_is_shown_as_the_network_sees_it_and_left_unchanged():
    frame = np.full((64, 64), 5000, np.uint16)
    frame[30:40, 30:40] = 9000
    before = frame.copy()
    cfg = FrameConfig(mono16_mode="fixed", fixed_min=4000, fixed_max=10000)
    tracks = [Track(1, (8.0, 44.0, 16.0, 16.0), 0.9, TrackState.TRACKED, 3),
              Track(2, (float("nan"), 0.0, 5.0, 5.0), 0.1, TrackState.LOST, 3)]  # left out
    out = annotate(frame, tracks, cfg=cfg)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert tuple(out[44, 8]) == COLORS[0]  # corner of the tracked box (below the legend)
    np.testing.assert_array_equal(out[42:, 30:], to_bgr8(frame, cfg)[42:, 30:])
    assert out[35, 35, 0] > out[55, 55, 0]  # the warm square stays brighter
    np.testing.assert_array_equal(frame, before)


def test_drawing_never_writes_into_the_callers_picture():
    img = np.zeros((40, 40, 3), np.uint8)  # a BGR frame may be shown as it is,
    draw_tracks(to_bgr8(img, FrameConfig()), [Track(1, (5.0, 5.0, 10.0, 10.0), 0.5,
                                                    TrackState.TRACKED, 1)])
    assert not img.any()  # but the boxes go on a copy


def test_video_sink_writes_a_video_or_frames(tmp_path):
    sink = VideoSink(tmp_path)
    for i in range(3):
        sink.write(np.full((48, 64, 3), 40 * i, np.uint8), i)
    sink.close()
    assert sink.path is not None and sink.path.exists()
    if sink.path.is_dir():  # no MP4 encoder in this OpenCV build: PNG frames
        assert len(list(sink.path.glob("*.png"))) == 3
    else:
        assert sink.path.name == "tracked.mp4" and sink.path.stat().st_size > 0
