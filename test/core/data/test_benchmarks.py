"""Benchmark layout readers and layout detection: real annotation files with tiny generated
images."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tir_tracker_core.data.benchmarks import (
    LSOTB_TIR_ATTRIBUTES,
    PTB_TIR_ATTRIBUTES,
    detect_layout,
    load_sequences,
    normalize_attribute_name,
)
from tir_tracker_core.errors import DatasetError

SCENARIO_FLAG = {"V": "vehicle", "D": "drone", "S": "surveillance", "H": "hand_held"}


def write_frames(folder: Path, count: int, pattern: str, dtype: type = np.uint8) -> list[Path]:
    """``count`` small grey frames whose first pixel encodes the frame index."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        img = np.full((24, 32), 10 * i + 5, dtype=dtype)
        path = folder / pattern.format(i + 1)
        assert cv2.imwrite(str(path), img)
        paths.append(path)
    return paths


def head_lines(src: Path, dst: Path, count: int) -> list[str]:
    lines = src.read_text().strip().splitlines()[:count]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(lines) + "\n")
    return lines


def parse_rows(lines: list[str]) -> np.ndarray:
    return np.array([[float(v) for v in line.split(",")] for line in lines])


@pytest.fixture
def lsotb_root(shared_data: Path, tmp_path: Path) -> Path:
    """A 2-sequence LSOTB-TIR root: real anno + att files cut to 4 frames, tiny JPEGs."""
    anno = shared_data / "annotations" / "lsotb_tir" / "anno"
    root = tmp_path / "LSOTB-TIR"
    for name in ("person_H_001", "airplane_H_001"):
        head_lines(anno / f"{name}.txt", root / "anno" / f"{name}.txt", 4)
        (root / "anno" / "att").mkdir(parents=True, exist_ok=True)
        shutil.copy(anno / "att" / f"{name}.txt", root / "anno" / "att" / f"{name}.txt")
        write_frames(root / "sequences" / name / "img", 4, "{:04d}.jpg")
    return root


def test_lsotb_root_reads_real_annotations(lsotb_root: Path, shared_data: Path) -> None:
    anno = shared_data / "annotations" / "lsotb_tir" / "anno"
    assert detect_layout(lsotb_root) == "lsotb_tir"
    seqs = {s.name: s for s in load_sequences(lsotb_root)}
    assert sorted(seqs) == ["airplane_H_001", "person_H_001"]
    person = seqs["person_H_001"]
    assert person.layout == "lsotb_tir"
    assert len(person) == 4 and person.gt.dtype == np.float64
    expected = parse_rows(anno.joinpath("person_H_001.txt").read_text().splitlines()[:4])
    np.testing.assert_array_equal(person.gt, expected)
    assert person.init_box == tuple(expected[0])
    # person_H_001 flags: 1,1,1,0,1,0,1,1,0,0,0,0,0,0,0,1
    assert set(person.attributes) == set(LSOTB_TIR_ATTRIBUTES)
    assert all(v.ndim == 0 for v in person.attributes.values())
    on = {k for k, v in person.attributes.items() if v}
    assert on == {"deformation", "occlusion", "distractor", "out_of_view", "fast_motion",
                  "motion_blur", "hand_held"}
    assert person.has_attribute("hand_held") and not person.has_attribute("drone")
    assert person.frame_paths is not None and person.frame_paths[0].name == "0001.jpg"
    frame = person.frame(2)
    assert frame.shape == (24, 32) and frame.dtype == np.uint8
    assert abs(int(frame[0, 0]) - 25) <= 2  # JPEG of frame 3 (value 25)
    assert len(list(person.frames())) == 4


def test_lsotb_attribute_order_matches_scenario_letter(shared_data: Path) -> None:
    """The last four flags name the platform, which the sequence name also encodes."""
    att_dir = shared_data / "annotations" / "lsotb_tir" / "anno" / "att"
    files = sorted(att_dir.glob("*.txt"))
    assert len(files) == 120
    for path in files:
        flags = np.array([float(v) for v in path.read_text().strip().split(",")]) != 0
        assert len(flags) == len(LSOTB_TIR_ATTRIBUTES)
        on = {name for name, flag in zip(LSOTB_TIR_ATTRIBUTES[-4:], flags[-4:]) if flag}
        assert on == {SCENARIO_FLAG[path.stem.split("_")[-2]]}, path.name


def test_lsotb_missing_images_are_skipped_with_warning(
    lsotb_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.rmtree(lsotb_root / "sequences" / "airplane_H_001")
    with caplog.at_level(logging.WARNING):
        seqs = load_sequences(lsotb_root)
    assert [s.name for s in seqs] == ["person_H_001"]
    assert "airplane_H_001" in caplog.text
    shutil.rmtree(lsotb_root / "sequences" / "person_H_001")
    with pytest.raises(DatasetError, match="none of the 2 annotated sequences"):
        load_sequences(lsotb_root)


def test_length_mismatch_is_an_error_unless_truncation_is_asked(
    lsotb_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (lsotb_root / "sequences" / "person_H_001" / "img" / "0004.jpg").unlink()
    with pytest.raises(DatasetError, match="4 ground-truth rows but 3 frames.*truncate"):
        load_sequences(lsotb_root)
    with caplog.at_level(logging.WARNING):
        seqs = {s.name: s for s in load_sequences(lsotb_root, length_mismatch="truncate")}
    assert len(seqs["person_H_001"]) == 3 and len(seqs["airplane_H_001"]) == 4
    assert "truncating to 3" in caplog.text


def test_ptb_root_reads_real_annotations(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "annotations" / "ptb_tir" / "tiranno"
    root = tmp_path / "PTB-TIR"
    lines = head_lines(src / "birds.txt", root / "tiranno" / "birds.txt", 3)
    (root / "tiranno" / "att").mkdir(parents=True)
    shutil.copy(src / "att" / "birds.txt", root / "tiranno" / "att" / "birds.txt")
    write_frames(root / "tirsequences" / "birds" / "img", 3, "{:08d}.jpg")
    assert detect_layout(root) == "ptb_tir"
    (seq,) = load_sequences(root)
    assert seq.name == "birds" and seq.layout == "ptb_tir"
    np.testing.assert_array_equal(seq.gt, parse_rows(lines))
    assert set(seq.attributes) == set(PTB_TIR_ATTRIBUTES)
    assert seq.frame_paths is not None and seq.frame_paths[-1].name == "00000003.jpg"


def test_ptb_attribute_order_matches_the_json_index(shared_data: Path) -> None:
    """Flag order of tiranno/att agrees with the attribute names of PTB-TIR.json."""
    ptb = shared_data / "annotations" / "ptb_tir"
    index = json.loads((ptb / "PTB-TIR.json").read_text())
    assert len(index) == 59
    for name, entry in index.items():
        flags = np.loadtxt(ptb / "tiranno" / "att" / f"{name}.txt", delimiter=",") != 0
        from_flags = {a for a, f in zip(PTB_TIR_ATTRIBUTES, flags) if f}
        assert from_flags == {normalize_attribute_name(a) for a in entry["attr"]}, name


def _cut_ptb_json(shared_data: Path, dst: Path, names: list[str], count: int) -> dict:
    index = json.loads((shared_data / "annotations" / "ptb_tir" / "PTB-TIR.json").read_text())
    cut = {
        n: {**index[n], "img_names": index[n]["img_names"][:count],
            "gt_rect": index[n]["gt_rect"][:count]}
        for n in names
    }
    dst.write_text(json.dumps(cut))
    return cut


def test_pysot_json_index(shared_data: Path, tmp_path: Path) -> None:
    cut = _cut_ptb_json(shared_data, tmp_path / "PTB-TIR.json", ["birds", "saturated"], 3)
    for entry in cut.values():
        for rel in entry["img_names"]:
            write_frames((tmp_path / "tirsequences" / rel).parent, 1, Path(rel).name)
    assert detect_layout(tmp_path) == "pysot_json"
    seqs = {s.name: s for s in load_sequences(tmp_path / "PTB-TIR.json")}
    assert sorted(seqs) == ["birds", "saturated"]
    birds = seqs["birds"]
    assert birds.layout == "pysot_json" and len(birds) == 3
    np.testing.assert_array_equal(birds.gt, np.array(cut["birds"]["gt_rect"], float))
    assert birds.frame_paths is not None
    assert birds.frame_paths[0] == tmp_path / "tirsequences" / "birds" / "img" / "00000001.jpg"
    # Attributes: union of names over the index, flags as 0-d bools.
    assert set(birds.attributes) == set(seqs["saturated"].attributes)
    assert bool(seqs["saturated"].attributes["thermal_crossover"])
    assert not bool(birds.attributes["thermal_crossover"])


def test_pysot_json_without_images_names_the_places_looked(
    shared_data: Path, tmp_path: Path
) -> None:
    _cut_ptb_json(shared_data, tmp_path / "PTB-TIR.json", ["birds"], 3)
    with pytest.raises(DatasetError, match="tirsequences.*image_root"):
        load_sequences(tmp_path / "PTB-TIR.json")


def test_vottir_horse_otb_folder_with_per_frame_labels(shared_data: Path) -> None:
    folder = shared_data / "tir" / "vottir_horse"
    assert detect_layout(folder) == "otb"
    (seq,) = load_sequences(folder)
    assert seq.name == "vottir_horse" and seq.layout == "otb" and len(seq) == 348
    np.testing.assert_array_equal(
        seq.gt, np.loadtxt(folder / "groundtruth_rect.txt", delimiter=",")
    )
    labels = {"camera_motion", "dynamics_change", "motion_change", "occlusion", "size_change"}
    assert set(seq.attributes) == labels
    assert all(v.shape == (348,) and v.dtype == bool for v in seq.attributes.values())
    assert int(seq.attributes["occlusion"].sum()) == 23
    assert int(seq.attributes["motion_change"].sum()) == 95
    frame = seq.frame(0)
    assert frame.shape == (256, 324) and frame.dtype == np.uint8
    short = seq.head(40)
    assert len(short) == 40 and short.attributes["occlusion"].shape == (40,)
    with pytest.raises(IndexError):
        seq.frame(348)


def test_vot_polygons_become_min_max_boxes(shared_data: Path, tmp_path: Path) -> None:
    horse = shared_data / "tir" / "vottir_horse"
    folder = tmp_path / "horse"
    head_lines(horse / "groundtruth_vot_polygon.txt", folder / "groundtruth.txt", 5)
    for i in range(5):
        (folder / "color").mkdir(exist_ok=True)
        shutil.copy(horse / "img" / f"{i + 1:08d}.png", folder / "color" / f"{i + 1:08d}.png")
    assert detect_layout(folder) == "vot"
    (seq,) = load_sequences(folder)
    assert seq.layout == "vot" and len(seq) == 5
    expected = np.loadtxt(horse / "groundtruth_rect.txt", delimiter=",")[:5]
    np.testing.assert_allclose(seq.gt, expected, atol=0.0051)  # derived file has 2 decimals
    assert seq.frame(0).shape == (256, 324)


def test_vot_prefers_ir_folder_and_keeps_16_bit(tmp_path: Path) -> None:
    folder = tmp_path / "vot_rgbt_seq"
    folder.mkdir()
    (folder / "groundtruth.txt").write_text("1,2,3,4\n2,3,4,5\n")
    write_frames(folder / "color", 2, "{:08d}.jpg")
    write_frames(folder / "ir", 2, "{:08d}.png", dtype=np.uint16)
    (seq,) = load_sequences(folder)
    frame = seq.frame(1)
    assert frame.dtype == np.uint16 and int(frame[0, 0]) == 15
    assert seq.frame_paths is not None and seq.frame_paths[0].parent.name == "ir"


def test_otb_separators_multi_target_and_collection(tmp_path: Path) -> None:
    a = tmp_path / "root" / "Jogging"
    write_frames(a / "img", 3, "{:04d}.jpg")
    (a / "groundtruth_rect.1.txt").write_text("1\t2\t3\t4\n5\t6\t7\t8\n9\t10\t11\t12\n")
    (a / "groundtruth_rect.2.txt").write_text("1 2 3 4\n5 6 7 8\n9 10 11 12\n\n")
    b = tmp_path / "root" / "Car"
    write_frames(b / "img", 2, "{:04d}.jpg")
    (b / "groundtruth_rect.txt").write_text("1,2,3,4\n5, 6, 7, 8\n")
    (tmp_path / "root" / "notes").mkdir()
    assert detect_layout(tmp_path / "root") == "collection"
    seqs = {s.name: s for s in load_sequences(tmp_path / "root")}
    assert sorted(seqs) == ["Car", "Jogging-1", "Jogging-2"]
    np.testing.assert_array_equal(seqs["Jogging-2"].gt[2], [9, 10, 11, 12])
    np.testing.assert_array_equal(seqs["Car"].gt[1], [5, 6, 7, 8])


def test_unknown_layout_lists_what_was_looked_for(tmp_path: Path) -> None:
    (tmp_path / "anno").mkdir()
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(DatasetError) as info:
        load_sequences(tmp_path)
    message = str(info.value)
    for expected in ("groundtruth_rect.txt", "anno/ + sequences/", "tiranno/", "groundtruth.txt",
                     "pysot JSON", "sequences/ (the LSOTB-TIR images) is missing"):
        assert expected in message
    with pytest.raises(DatasetError, match="does not exist"):
        load_sequences(tmp_path / "missing")


# --------------------------------------------------------------------------------------------
# Video sequences
# --------------------------------------------------------------------------------------------


def write_video(path: Path, count: int) -> Path:
    """A lossless (FFV1) grey video stored as 3 channels; frame ``i`` is ``10 * i + 5``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 25, (32, 24))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write FFV1 video")
    for i in range(count):
        writer.write(np.full((24, 32, 3), 10 * i + 5, np.uint8))
    writer.release()
    return path


def test_real_tir_collection_reads_videos_and_skips_the_stills(
    shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tir = shared_data / "tir"
    assert detect_layout(tir) == "collection"
    assert detect_layout(tir / "antiuav_4") == "video"
    assert detect_layout(tir / "antiuav_4" / "4.avi") == "video"
    with caplog.at_level(logging.WARNING):
        seqs = load_sequences(tir)
    assert {s.name: (s.layout, len(s)) for s in seqs} == {
        "antiuav_4": ("video", 501), "antiuav_5": ("video", 726), "antiuav_7": ("video", 751),
        "antiuav_9": ("video", 751), "vottir_horse": ("otb", 348)}
    assert "antiuav_ir_sparse" in caplog.text
    assert "not a continuous tracking sequence" in caplog.text
    with pytest.raises(DatasetError, match="not a continuous tracking sequence"):
        detect_layout(tir / "antiuav_ir_sparse")
    video = seqs[0]
    assert not video.is_sparse
    np.testing.assert_allclose(video.gt[0], [227.16, 185.16, 13.68, 6.01])  # TAB-separated
    frame = video.frame(3)
    assert frame.shape == (512, 640) and frame.dtype == np.uint8


def test_video_file_with_a_box_file_given(shared_data: Path, tmp_path: Path) -> None:
    avi = shared_data / "tir" / "antiuav_5" / "5.avi"
    (seq,) = load_sequences(avi)  # groundtruth.txt beside it
    assert (seq.name, len(seq)) == ("antiuav_5", 726)
    rows = (shared_data / "tir" / "antiuav_5" / "groundtruth.txt").read_text().splitlines()
    gt = tmp_path / "boxes.txt"
    gt.write_text("\n".join(",".join(r.split()) for r in rows) + "\n")  # comma-separated
    (seq2,) = load_sequences(avi, gt=gt)
    np.testing.assert_array_equal(seq2.gt, seq.gt)
    with pytest.raises(DatasetError, match="only be given with a video file"):
        load_sequences(shared_data / "tir" / "vottir_horse", gt=gt)


def test_video_shorter_than_its_box_file_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "clip"
    write_video(folder / "clip.mkv", 6)
    (folder / "groundtruth_rect.txt").write_text("1 2 3 4\n" * 8)  # 8 rows, 6 frames
    assert detect_layout(folder) == "video"
    with pytest.raises(DatasetError, match="8 ground-truth rows but 6 decoded video frames"):
        load_sequences(folder)
    with caplog.at_level(logging.WARNING):
        (seq,) = load_sequences(folder, length_mismatch="truncate")
    assert len(seq) == 6 and "8 ground-truth rows but 6 decoded video frames" in caplog.text
    assert int(seq.frame(5)[0, 0]) == 55 and seq.frame(5).shape == (24, 32)


def test_video_file_sparse_box_file_and_missing_box_file(tmp_path: Path) -> None:
    video = write_video(tmp_path / "a" / "clip.mkv", 21)
    with pytest.raises(DatasetError, match="no box file for video"):
        load_sequences(video)
    gt = tmp_path / "sparse.txt"
    gt.write_text("1\t2\t3\t4\n5\t6\t7\t8\n9\t10\t11\t12\n")
    (seq,) = load_sequences(video, gt=gt, gt_stride=10)
    assert (seq.name, len(seq), seq.gt_stride) == ("a", 21, 10)
    np.testing.assert_array_equal(seq.gt_frames, [0, 10, 20])
    write_video(tmp_path / "a" / "other.mkv", 2)
    with pytest.raises(DatasetError, match="give the box file"):
        load_sequences(video)  # no longer alone in its folder
    (tmp_path / "a" / "groundtruth.txt").write_text("1 2 3 4\n")
    with pytest.raises(DatasetError, match="2 video files next to the box file"):
        detect_layout(tmp_path / "a")


def test_vtuav_folder_gives_its_sparse_thermal_sequence(shared_data: Path) -> None:
    bus = shared_data / "paired_rgbt" / "vtuav_bus1"
    assert detect_layout(bus) == "vtuav"
    (seq,) = load_sequences(bus)
    assert (seq.name, seq.layout, len(seq), seq.gt_stride) == ("vtuav_bus1", "vtuav_tir", 101, 10)
    np.testing.assert_array_equal(seq.gt_frames, np.arange(0, 101, 10))
    np.testing.assert_array_equal(seq.gt[100], [614, 166, 77, 94])
    # the visible half, as given by `tir-tracker eval --modality rgb`: its own boxes, colour
    (rgb,) = load_sequences(bus, modality="rgb")
    assert (rgb.layout, len(rgb), rgb.gt_stride) == ("vtuav_rgb", 101, 10)
    assert rgb.frame(0).ndim == 3 and not np.array_equal(rgb.gt[100], seq.gt[100])


def test_truncated_real_video_is_reported_with_the_counts(
    shared_data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = shared_data / "tir" / "antiuav_4"
    folder = tmp_path / "cut"
    folder.mkdir()
    data = (src / "4.avi").read_bytes()
    (folder / "4.avi").write_bytes(data[: len(data) // 2])  # the index says 501 frames
    shutil.copy(src / "groundtruth.txt", folder / "groundtruth.txt")
    with caplog.at_level(logging.WARNING):
        with pytest.raises(DatasetError, match=r"501 ground-truth rows but \d+ decoded video"):
            load_sequences(folder)
    assert "the container says 501 frames but" in caplog.text
    (seq,) = load_sequences(folder, length_mismatch="truncate")
    assert 100 < len(seq) < 501
    assert seq.frame(len(seq) - 1).shape == (512, 640)
