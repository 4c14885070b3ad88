"""Image and track conversions (pure numpy, no ROS needed)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from tir_tracker_ros import conversions as conv
from tir_tracker_core.tracking import Track, TrackState


def _msg(**fields):
    return SimpleNamespace(**{"is_bigendian": 0, **fields})


@pytest.mark.parametrize("encoding, frame", [
    ("mono8", np.arange(12 * 10, dtype=np.uint8).reshape(10, 12)),
    ("mono16", (np.arange(12 * 10, dtype=np.uint16) * 500).reshape(10, 12)),
    ("32FC1", np.linspace(-1, 1, 120, dtype=np.float32).reshape(10, 12)),
    ("bgr8", np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)),
])
def test_fill_then_convert_round_trips(encoding, frame):
    msg = conv.fill_image(SimpleNamespace(), frame)
    assert msg.encoding == encoding
    out = conv.image_to_array(msg)
    assert out.dtype == frame.dtype and out.shape == frame.shape
    np.testing.assert_array_equal(out, frame)


def test_8uc1_and_16uc1_read_as_mono():
    frame = (np.arange(30, dtype=np.uint16) * 1000).reshape(5, 6)
    msg = conv.fill_image(SimpleNamespace(), frame)
    msg.encoding = "16UC1"
    np.testing.assert_array_equal(conv.image_to_array(msg), frame)
    msg8 = conv.fill_image(SimpleNamespace(), frame.astype(np.uint8))
    msg8.encoding = "8UC1"
    assert conv.image_to_array(msg8).dtype == np.uint8


def test_rgb8_is_handed_over_as_bgr():
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 10  # blue
    bgr[..., 2] = 200  # red
    msg = conv.fill_image(SimpleNamespace(), bgr, "rgb8")
    assert bytes(msg.data[:3]) == bytes([200, 0, 10])  # stored R, G, B
    np.testing.assert_array_equal(conv.image_to_array(msg), bgr)


def test_row_padding_is_skipped():
    frame = (np.arange(20, dtype=np.uint16) * 3000).reshape(4, 5)
    padded = np.zeros((4, 8), np.uint16)  # step 16 bytes for 10 bytes of pixels
    padded[:, :5] = frame
    msg = _msg(encoding="mono16", height=4, width=5, step=16, data=padded.tobytes())
    np.testing.assert_array_equal(conv.image_to_array(msg), frame)


def test_big_endian_16_bit_is_swapped_to_native():
    frame = np.array([[1, 256, 65535, 4660]], np.uint16)
    msg = _msg(encoding="mono16", height=1, width=4, step=8, is_bigendian=1,
               data=frame.astype(">u2").tobytes())
    out = conv.image_to_array(msg)
    np.testing.assert_array_equal(out, frame)
    assert out.dtype.byteorder in ("=", "|", "<" if sys.byteorder == "little" else ">")


@pytest.mark.parametrize("fields, reason", [
    ({"encoding": "yuv422", "height": 2, "width": 2, "step": 4, "data": bytes(8)},
     "unsupported image encoding 'yuv422'"),
    ({"encoding": "mono16", "height": 512, "width": 640, "step": 1280, "data": bytes(1000)},
     "truncated image data: 1000 bytes, expected"),
    ({"encoding": "mono16", "height": 4, "width": 4, "step": 4, "data": bytes(64)},
     "step 4 is smaller than"),
    ({"encoding": "mono8", "height": 0, "width": 0, "step": 0, "data": b""}, "empty image"),
])
def test_bad_images_raise_with_reason(fields, reason):
    with pytest.raises(conv.ImageConversionError, match=reason):
        conv.image_to_array(_msg(**fields))


def test_unencodable_frame_is_refused():
    with pytest.raises(conv.ImageConversionError, match="no image encoding"):
        conv.encoding_for(np.zeros((4, 4), np.int64))


def test_track_and_box_fields():
    track = Track(id=7, box=(1.5, 2.5, 30.0, 40.0), score=0.8, state=TrackState.LOST, age=12)
    box = SimpleNamespace()
    msg = SimpleNamespace(box=box, STATE_TRACKED=0, STATE_LOST=1)
    conv.fill_track(msg, track)
    assert (msg.id, msg.state, msg.age) == (7, 1, 12)
    assert msg.score == pytest.approx(0.8)
    assert (box.x, box.y, box.width, box.height) == (1.5, 2.5, 30.0, 40.0)
    assert conv.boxes_from_msgs([box]) == [(1.5, 2.5, 30.0, 40.0)]


def test_stamps_round_trip():
    stamp = conv.ns_to_stamp(1_700_000_000_123_456_789, SimpleNamespace())
    assert (stamp.sec, stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert conv.stamp_to_ns(stamp) == 1_700_000_000_123_456_789


def test_detection_is_centre_size_with_the_track_id_and_score():
    track = Track(id=3, box=(10.0, 20.0, 30.0, 40.0), score=0.75, state=TrackState.TRACKED,
                  age=2)
    msg = SimpleNamespace(bbox=SimpleNamespace(center=SimpleNamespace(
        position=SimpleNamespace())), results=[])
    hyp = SimpleNamespace(hypothesis=SimpleNamespace())
    conv.fill_detection(msg, hyp, track, "person")
    assert msg.id == "3"
    assert (msg.bbox.center.position.x, msg.bbox.center.position.y) == (25.0, 40.0)
    assert (msg.bbox.size_x, msg.bbox.size_y) == (30.0, 40.0)
    assert msg.results == [hyp] and hyp.hypothesis.class_id == "person"
    assert hyp.hypothesis.score == pytest.approx(0.75)
    out = conv.fill_track(SimpleNamespace(box=SimpleNamespace(), STATE_TRACKED=0,
                                          STATE_LOST=1), track)
    assert out.id == 3 and out.state == 0
