"""Conversions between ROS messages and the core's numpy frames and tracks.

Pure functions, no rclpy: they accept any object with the fields of ``sensor_msgs/Image``
(rclpy messages, rosbags messages), so the bag tools and the node share them. ROS 2's
cv_bridge is not needed; with ``passthrough``-style semantics 16-bit thermal data stays
intact (normalisation to 8 bit is the core's job, per its ``FrameConfig``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

#: encoding -> (numpy dtype, channels). Multi-channel frames are handed to the core as BGR.
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgb8": (np.dtype(np.uint8), 3),
}


class ImageConversionError(ValueError):
    """An image message cannot be converted to a frame (encoding, size or data)."""


def image_to_array(msg: Any) -> np.ndarray:
    """Return the pixels of a ``sensor_msgs/Image`` as a numpy frame for the core.

    mono8/8UC1 -> HxW uint8, mono16/16UC1 -> HxW uint16, 32FC1 -> HxW float32,
    bgr8 -> HxWx3 uint8, rgb8 -> HxWx3 uint8 reordered to BGR. Row padding (``step``) and
    big-endian data are handled. The result may share memory with ``msg.data``.

    Raises:
        ImageConversionError: unknown encoding, zero size, or data shorter than
            ``step * height``, with the numbers involved.
    """
    encoding = msg.encoding
    if encoding not in ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        )
    dtype, channels = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image: {width}x{height} pixels")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width*channels*bytes = {row_bytes} for "
            f"{width}x{height} {encoding}"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < step * height:
        raise ImageConversionError(
            f"truncated image data: {data.size} bytes, expected step*height = "
            f"{step}*{height} = {step * height} for {width}x{height} {encoding}"
        )
    rows = data[: step * height].reshape(height, step)[:, :row_bytes]
    big_endian = bool(msg.is_bigendian)
    pixels = rows.view(dtype.newbyteorder(">" if big_endian else "<"))
    if big_endian != (sys.byteorder == "big") and dtype.itemsize > 1:
        pixels = pixels.astype(dtype)  # native byte order for the core
    frame = pixels.reshape(height, width, channels) if channels > 1 else pixels
    if encoding == "rgb8":
        frame = frame[:, :, ::-1]
    return np.ascontiguousarray(frame)  # a view unless rows were padded or reordered


def encoding_for(frame: np.ndarray) -> str:
    """The image encoding that carries ``frame`` unchanged (3 channels are taken as BGR)."""
    if frame.ndim == 2:
        for encoding in ("mono8", "mono16", "32FC1"):
            if frame.dtype == ENCODINGS[encoding][0]:
                return encoding
    elif frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8:
        return "bgr8"
    raise ImageConversionError(
        f"no image encoding for a frame of shape {frame.shape} and dtype {frame.dtype}; "
        "expected HxW uint8/uint16/float32 or HxWx3 uint8"
    )


def fill_image(msg: Any, frame: np.ndarray, encoding: str | None = None) -> Any:
    """Fill the size, encoding and data fields of an image message from ``frame``.

    ``encoding`` defaults to :func:`encoding_for`; ``rgb8`` reorders BGR frames. Data is
    assigned as ``bytes`` (assigning a memoryview to an rclpy message is ~300x slower).
    """
    encoding = encoding or encoding_for(frame)
    if encoding not in ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        )
    dtype, channels = ENCODINGS[encoding]
    if encoding == "rgb8":
        frame = frame[:, :, ::-1]
    pixels = np.ascontiguousarray(frame, dtype=dtype.newbyteorder("<"))
    if pixels.ndim != (2 if channels == 1 else 3):
        raise ImageConversionError(
            f"a frame of shape {frame.shape} cannot be encoded as {encoding}"
        )
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(pixels.shape[1] * channels * dtype.itemsize)
    msg.data = pixels.tobytes()
    return msg


def boxes_from_msgs(boxes: Iterable[Any]) -> list[tuple[float, float, float, float]]:
    """``tir_tracker_ros/Box`` messages -> ``(x, y, w, h)`` float tuples (no validation:
    the core rejects NaN, empty and out-of-image boxes with InvalidBoxError)."""
    return [(float(b.x), float(b.y), float(b.width), float(b.height)) for b in boxes]


def fill_box(msg: Any, box: Iterable[float]) -> Any:
    """Fill a ``tir_tracker_ros/Box`` message from ``(x, y, w, h)``."""
    msg.x, msg.y, msg.width, msg.height = (float(v) for v in box)
    return msg


def fill_track(msg: Any, track: Any) -> Any:
    """Fill a ``tir_tracker_ros/Track`` message from a core ``Track`` (its id: unique for the
    node's lifetime, the core never reuses one)."""
    msg.id = int(track.id)
    fill_box(msg.box, track.box)
    msg.score = float(track.score)
    msg.state = msg.STATE_LOST if track.lost else msg.STATE_TRACKED
    msg.age = int(track.age)
    return msg


def fill_detection(msg: Any, hypothesis: Any, track: Any, class_id: str = "target") -> Any:
    """Fill a ``vision_msgs/Detection2D`` from a core ``Track``: ``id`` is the track id as
    text, ``bbox`` the centre and size in pixels, one hypothesis (``hypothesis``, an empty
    ``ObjectHypothesisWithPose``) with ``class_id`` and the track's score."""
    x, y, w, h = (float(v) for v in track.box)
    msg.id = str(int(track.id))
    msg.bbox.center.position.x = x + w / 2.0
    msg.bbox.center.position.y = y + h / 2.0
    msg.bbox.center.theta = 0.0
    msg.bbox.size_x = w
    msg.bbox.size_y = h
    hypothesis.hypothesis.class_id = class_id
    hypothesis.hypothesis.score = float(track.score)
    msg.results = [hypothesis]
    return msg


def stamp_to_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int, stamp: Any) -> Any:
    """Fill a ``builtin_interfaces/Time`` from integer nanoseconds."""
    stamp.sec, stamp.nanosec = divmod(int(ns), 1_000_000_000)
    return stamp
