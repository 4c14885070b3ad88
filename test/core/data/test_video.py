"""Video and CPTV frame sources: generated lossless videos, the real Anti-UAV / M3SVD videos and
the real Cacophony ``.cptv`` files."""

from __future__ import annotations

import gzip
import logging
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from tir_tracker_core.cli import _iter_source
from tir_tracker_core.data.video import (
    CptvFrameLoader,
    VideoFrameLoader,
    count_video_frames,
    open_frame_source,
    read_cptv_header,
)
from tir_tracker_core.errors import DatasetError


def write_video(path: Path, count: int, size: tuple[int, int] = (64, 48),
                colour: bool = False) -> Path:
    """A lossless (FFV1) video whose frame ``i`` is filled with ``10 * i + 5`` (grey) or with
    distinct B, G, R values (``colour``)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 25, size)
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write FFV1 video")
    for i in range(count):
        frame = np.full((size[1], size[0], 3), 10 * i + 5, np.uint8)
        if colour:
            frame[..., 0], frame[..., 2] = 200, 30
        writer.write(frame)
    writer.release()
    return path


def test_video_loader_decodes_grey_frames_in_any_order(tmp_path):
    video = write_video(tmp_path / "clip.mkv", 20)
    loader = VideoFrameLoader(video, grey=True, cache_size=3)
    assert len(loader) == count_video_frames(video) == 20
    for i in [0, 1, 2, 7, 3, 19, 0, 18, 5]:  # forward, backward, long jumps
        frame = loader(i)
        assert frame.shape == (48, 64) and frame.dtype == np.uint8
        assert int(frame[0, 0]) == 10 * i + 5
    loader(4)[:] = 0  # callers get copies, never the cached frame
    assert int(loader(4)[0, 0]) == 45
    assert [int(f[0, 0]) for f in loader][:3] == [5, 15, 25]


def test_video_loader_reports_frames_past_the_decodable_end(tmp_path):
    video = write_video(tmp_path / "clip.mkv", 5)
    loader = VideoFrameLoader(video, grey=True, num_frames=8)  # as if the box file said 8
    assert int(loader(4)[0, 0]) == 45
    with pytest.raises(DatasetError, match=r"frame 6 cannot be decoded.*after 5 frames"):
        loader(6)


def test_video_loader_auto_grey_keeps_colour_video(tmp_path):
    grey = VideoFrameLoader(write_video(tmp_path / "g.mkv", 2), grey="auto")
    colour = VideoFrameLoader(write_video(tmp_path / "c.mkv", 2, colour=True), grey="auto")
    assert grey(1).shape == (48, 64)
    assert colour(1).shape == (48, 64, 3)


def test_video_loader_pickles_without_its_capture(tmp_path):
    loader = VideoFrameLoader(write_video(tmp_path / "clip.mkv", 4), grey=True)
    assert len(loader) == 4 and int(loader(2)[0, 0]) == 25
    clone = pickle.loads(pickle.dumps(loader))
    assert clone.num_frames == 4 and int(clone(3)[0, 0]) == 35


def test_video_loader_rejects_missing_and_undecodable_files(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        VideoFrameLoader(tmp_path / "none.avi")
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video")
    with pytest.raises(DatasetError, match="cannot open video"):
        len(VideoFrameLoader(bad))


def test_real_antiuav_video_decodes_to_grey(shared_data):
    loader = VideoFrameLoader(shared_data / "tir/antiuav_4/4.avi", grey=True)
    assert loader.container_frames() == 501
    assert len(loader) == 501  # counting is the point: about 0.1 s
    frame = loader(250)
    assert frame.shape == (512, 640) and frame.dtype == np.uint8
    colour = VideoFrameLoader(shared_data / "tir/antiuav_4/4.avi", grey=False)(250)
    assert colour.shape == (512, 640, 3)
    # grey content stored as 3 channels: the grey frame is the channels' common value
    assert np.abs(frame.astype(int) - colour.astype(int).mean(axis=2)).max() <= 2


def test_real_cptv_files_decode_to_uint16(shared_data):
    # Frame sums checked against the Cacophony Project's own reader (cptv 1.5.5, Apache-2.0).
    expected = {"possum": (161, 9, [45973589, 46113916, 46151974]),
                "hedgehog": (119, 0, [53357375, 52884685, 54047461])}
    for name, (count, fps, sums) in expected.items():
        path = shared_data / f"thermal_raw/cptv/{name}.cptv"
        header = read_cptv_header(path)
        assert (header.width, header.height, header.version, header.fps) == (160, 120, 2, fps)
        loader = CptvFrameLoader(path)
        assert len(loader) == count and loader.shape == (120, 160)
        frames = {i: loader(i) for i in (count - 1, 0, 50, 33)}  # random access
        assert all(f.dtype == np.uint16 and f.shape == (120, 160) for f in frames.values())
        assert [int(frames[i].sum(dtype=np.int64)) for i in (0, 50, count - 1)] == sums
        streamed = list(loader)
        assert len(streamed) == count and np.array_equal(streamed[33], frames[33])
    assert read_cptv_header(shared_data / "thermal_raw/cptv/possum.cptv").fields["model"] \
        == "lepton3"


def test_truncated_cptv_keeps_the_complete_frames(shared_data, tmp_path, caplog):
    raw = gzip.open(shared_data / "thermal_raw/cptv/hedgehog.cptv").read()
    cut = tmp_path / "cut.cptv"
    cut.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with caplog.at_level(logging.WARNING):
        loader = CptvFrameLoader(cut)
    assert 0 < len(loader) < 119 and "truncated" in caplog.text
    full = CptvFrameLoader(shared_data / "thermal_raw/cptv/hedgehog.cptv")
    assert np.array_equal(loader(len(loader) - 1), full(len(loader) - 1))
    not_cptv = tmp_path / "x.cptv"
    not_cptv.write_bytes(gzip.compress(b"JUNKJUNK"))
    with pytest.raises(DatasetError, match="not a CPTV file"):
        CptvFrameLoader(not_cptv)


def test_open_frame_source_and_track_input(shared_data, tmp_path):
    cptv = shared_data / "thermal_raw/cptv/possum.cptv"
    frames = _iter_source(str(cptv))
    first = next(frames)
    assert first.dtype == np.uint16 and first.shape == (120, 160)
    video = _iter_source(str(shared_data / "tir/antiuav_5/5.avi"))
    assert next(video).shape == (512, 640)  # grey content -> one channel
    horse = open_frame_source(shared_data / "tir/vottir_horse")
    assert len(horse) == 348 and horse(0).ndim == 2
    with pytest.raises(DatasetError, match="does not exist"):
        next(_iter_source(str(tmp_path / "missing.mp4")))
