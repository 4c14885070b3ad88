"""The ``tracks`` layout (pseudo-labelled tracks over video files): written, read back by both
sequence readers, and refused with a reason when broken."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tir_tracker_core.data import load_paired, load_sequences
from tir_tracker_core.data.benchmarks import detect_layout
from tir_tracker_core.data.paired import detect_paired_layout, find_video_clips
from tir_tracker_core.data.tracks import (TRACKS_FILE, TrackLabel, TracksClip, read_tracks,
                                          write_tracks)
from tir_tracker_core.errors import DatasetError


def write_video(path: Path, frames: int, colour: bool) -> Path:
    """An MJPG .avi whose frame ``i`` is flat grey level ``8 * i`` (decodable within codec
    noise), 48 x 64."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 8 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture()
def paired_videos(tmp_path: Path) -> Path:
    root = tmp_path / "pairs"
    for name, n in (("a", 12), ("b", 9)):
        write_video(root / "infrared" / f"{name}.avi", n, False)
        write_video(root / "visible" / f"{name}.avi", n, True)
    return root


def test_find_video_clips_paired_thermal_only_and_one_file(paired_videos: Path) -> None:
    clips = find_video_clips(paired_videos)
    assert [(c.name, c.frames, c.rgb is not None) for c in clips] == [("a", 12, True),
                                                                     ("b", 9, True)]
    thermal = find_video_clips(paired_videos / "infrared")
    assert [(c.name, c.frames, c.rgb) for c in thermal] == [("a", 12, None), ("b", 9, None)]
    assert [c.name for c in find_video_clips(paired_videos / "infrared" / "b.avi")] == ["b"]
    with pytest.raises(DatasetError, match="nothing does not exist"):
        find_video_clips(paired_videos.parent / "nothing")
    (paired_videos / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no video or .cptv file"):
        find_video_clips(paired_videos / "empty")


def test_tracks_round_trip_through_both_readers(paired_videos: Path, tmp_path: Path) -> None:
    clips = {c.name: c for c in find_video_clips(paired_videos)}
    boxes = np.array([[1, 2, 10, 12], [np.nan] * 4, [3, 4, 10, 12], [4, 5, 11, 12.5]])
    tracks = [TrackLabel("a#000", "a", 5, boxes), TrackLabel("b#001", "b", 0, boxes[:2])]
    out = tmp_path / "labels"
    path = write_tracks(out, clips, tracks, {"tracker": "x"})
    assert path == out / TRACKS_FILE and not list(out.glob(".tracks.*"))
    doc = json.loads(path.read_text())
    assert doc["clips"]["a"]["tir"] == "../pairs/infrared/a.avi"  # relative: moves with data
    read_clips, read, provenance = read_tracks(out)
    assert provenance == {"tracker": "x"} and read_clips["b"].frames == 9
    np.testing.assert_array_equal(read[0].boxes, boxes)
    assert read[0].labelled == 3

    assert detect_layout(out) == "tracks" and detect_paired_layout(out) == "tracks"
    seqs = load_sequences(out)
    assert [(s.name, len(s), s.layout) for s in seqs] == [("a#000", 4, "tracks"),
                                                           ("b#001", 2, "tracks")]
    np.testing.assert_array_equal(seqs[0].gt_frames, [0, 2, 3])
    # frame i of the track is frame start + i of the clip (grey level 8 * (5 + i))
    assert abs(float(seqs[0].frame(0).mean()) - 40) < 3
    assert abs(float(seqs[0].frame(3).mean()) - 64) < 3
    assert seqs[0].frame(0).ndim == 2
    rgb = load_sequences(out, modality="rgb")
    assert rgb[0].frame(1).ndim == 3
    pairs = load_paired(out)
    assert [p.name for p in pairs] == ["a#000", "b#001"]
    assert pairs[0].tir_frame(2).ndim == 2 and pairs[0].rgb_frame(2).shape == (48, 64, 3)
    np.testing.assert_array_equal(pairs[0].gt, boxes)


def test_thermal_only_tracks_are_sequences_not_pairs(paired_videos: Path, tmp_path: Path
                                                     ) -> None:
    clips = {c.name: c for c in find_video_clips(paired_videos / "infrared")}
    out = tmp_path / "self"
    write_tracks(out, clips, [TrackLabel("a#000", "a", 0, np.ones((3, 4)))])
    assert len(load_sequences(out)) == 1
    with pytest.raises(DatasetError, match="no visible video; read the folder as thermal"):
        load_paired(out)
    with pytest.raises(DatasetError, match="no visible video; evaluate the thermal"):
        load_sequences(out, modality="rgb")


def test_broken_tracks_files_are_refused_with_a_reason(paired_videos: Path, tmp_path: Path
                                                       ) -> None:
    clips = {c.name: c for c in find_video_clips(paired_videos)}
    out = tmp_path / "bad"
    write_tracks(out, clips, [TrackLabel("a#000", "a", 0, np.ones((3, 4)))])
    good = json.loads((out / TRACKS_FILE).read_text())

    def check(doc: dict, match: str) -> None:
        (out / TRACKS_FILE).write_text(json.dumps(doc))
        with pytest.raises(DatasetError, match=match):
            read_tracks(out)

    check({**good, "version": 7}, "version 7")
    check({**good, "format": "other"}, "not a tir-tracker tracks file")
    unlabelled_first = {**good["tracks"][0], "boxes": [None, [1, 2, 3, 4]]}
    check({**good, "tracks": [unlabelled_first]}, "first box must be labelled")
    too_long = {**good["tracks"][0], "start": 11}
    check({**good, "tracks": [too_long]}, "outside clip 'a'")
    moved = {**good, "clips": {**good["clips"], "a": {**good["clips"]["a"], "tir": "gone.avi"}}}
    check(moved, "moved without its videos")
    (out / TRACKS_FILE).write_text("{")
    with pytest.raises(DatasetError, match="cannot be read"):
        read_tracks(out)
    with pytest.raises(ValueError, match="unknown clip"):
        write_tracks(out, clips, [TrackLabel("z#0", "z", 0, np.ones((1, 4)))])


def test_real_m3svd_paired_and_unlabelled_clips_are_found(shared_data: Path) -> None:
    paired = find_video_clips(shared_data / "paired_rgbt" / "m3svd_video")
    assert [c.frames for c in paired] == [151, 560, 407, 590, 205]
    assert all(isinstance(c, TracksClip) and c.rgb is not None for c in paired)
    thermal = find_video_clips(shared_data / "tir_unlabelled" / "m3svd_ir")
    assert len(thermal) == 6 and sum(c.frames for c in thermal) == 5182
    assert all(c.rgb is None for c in thermal)
