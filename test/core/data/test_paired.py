"""Paired visible + thermal readers: real LLVIP pairs, generated RGBT234 / LasHeR / GTOT folders."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from tir_tracker_core.data.paired import PairedImage, detect_paired_layout, load_paired
from tir_tracker_core.data.sequence import PairedSequence
from tir_tracker_core.errors import DatasetError


def llvip(shared_data: Path) -> Path:
    return shared_data / "paired_rgbt" / "llvip"


def write_frames(folder: Path, count: int, channels: int, base: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        shape = (16, 20, 3) if channels == 3 else (16, 20)
        assert cv2.imwrite(str(folder / f"{i + 1:05d}.png"), np.full(shape, base + i, np.uint8))


def voc_boxes(path: Path) -> np.ndarray:
    """Independent reading of a VOC file: (xmin, ymin, xmax, ymax) rows."""
    root = ET.parse(path).getroot()
    return np.array(
        [[float(o.find("bndbox").findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
         for o in root.iter("object")]
    ).reshape(-1, 4)


def test_llvip_annotated_pairs(shared_data: Path) -> None:
    folder = llvip(shared_data) / "pairs_annotated"
    assert detect_paired_layout(folder) == "llvip"
    records = load_paired(folder)
    assert len(records) == 50 and all(isinstance(r, PairedImage) for r in records)
    assert sum(len(r.boxes) for r in records) == 222
    assert all(r.annotated and r.rgb_path is not None for r in records)
    first = records[0]
    assert first.name == "010001"
    assert first.rgb_path == folder / "visible" / "010001.jpg"
    assert first.tir_path == folder / "infrared" / "010001.jpg"
    corners = voc_boxes(folder / "Annotations" / "010001.xml")
    expected = np.column_stack([corners[:, :2], corners[:, 2:] - corners[:, :2]])
    np.testing.assert_array_equal(first.boxes, expected)
    np.testing.assert_array_equal(first.boxes[0], [287, 428, 64, 234])
    assert first.labels == ("person",) * 6
    rgb, tir = first.rgb(), first.tir()
    assert rgb.shape == tir.shape == (1024, 1280, 3) and rgb.dtype == np.uint8


def test_llvip_root_with_its_three_subsets(shared_data: Path) -> None:
    root = llvip(shared_data)
    assert detect_paired_layout(root) == "collection"
    records = load_paired(root)
    assert len(records) == 50 + 50 + 58
    by_subset: dict[str, list[PairedImage]] = {}
    for r in records:
        assert isinstance(r, PairedImage)
        by_subset.setdefault(r.name.split("/")[0], []).append(r)
    assert sorted(by_subset) == ["ir_only_annotated", "pairs_annotated", "pairs_unannotated"]
    ir_only = by_subset["ir_only_annotated"]
    assert all(r.rgb_path is None and r.annotated for r in ir_only)
    assert sum(len(r.boxes) for r in ir_only) == 439 - 222
    with pytest.raises(DatasetError, match="thermal only"):
        ir_only[0].rgb()
    unannotated = by_subset["pairs_unannotated"]
    assert all(not r.annotated and r.boxes.shape == (0, 4) for r in unannotated)
    assert all(r.rgb_path is not None and r.rgb_path.is_file() for r in unannotated)


def make_rgbt_sequence(folder: Path, count: int = 3, *, init_only: bool = False) -> None:
    write_frames(folder / "visible", count, 3, 100)
    write_frames(folder / "infrared", count, 1, 10)
    if init_only:
        (folder / "init.txt").write_text("".join(f"{i},2,5,6\n" for i in range(count)))
        return
    (folder / "visible.txt").write_text("".join(f"{i},1,4,4\n" for i in range(count)))
    (folder / "infrared.txt").write_text("".join(f"{i + 1},2,4,5\n" for i in range(count)))
    (folder / "init.txt").write_text("0,1,4,4\n")


def test_rgbt234_lasher_sequence(tmp_path: Path) -> None:
    folder = tmp_path / "afterrain"
    make_rgbt_sequence(folder)
    assert detect_paired_layout(folder) == "rgbt"
    (seq,) = load_paired(folder)
    assert isinstance(seq, PairedSequence) and seq.layout == "rgbt" and len(seq) == 3
    assert seq.gt is not None and seq.gt_rgb is not None
    np.testing.assert_array_equal(seq.gt[2], [3, 2, 4, 5])  # infrared.txt
    np.testing.assert_array_equal(seq.gt_rgb[2], [2, 1, 4, 4])  # visible.txt
    assert seq.rgb_frame(1).shape == (16, 20, 3) and int(seq.rgb_frame(1)[0, 0, 0]) == 101
    assert seq.tir_frame(2).shape == (16, 20) and int(seq.tir_frame(2)[0, 0]) == 12
    tir_seq = seq.as_sequence("tir")
    assert tir_seq.layout == "rgbt_tir" and np.array_equal(tir_seq.gt, seq.gt)
    assert np.array_equal(seq.as_sequence("rgb").gt, seq.gt_rgb)
    with pytest.raises(IndexError):
        seq.tir_frame(3)


def test_init_txt_gives_shared_boxes(tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    make_rgbt_sequence(folder, init_only=True)
    (seq,) = load_paired(folder)
    assert seq.gt is not None and seq.gt_rgb is None
    np.testing.assert_array_equal(seq.gt[1], [1, 2, 5, 6])


def test_gtot_corner_boxes(tmp_path: Path) -> None:
    folder = tmp_path / "BlackCar"
    write_frames(folder / "v", 2, 3, 50)
    write_frames(folder / "i", 2, 1, 5)
    (folder / "groundTruth_v.txt").write_text("10 20 30 60\n11 21 31 61\n")
    (folder / "groundTruth_i.txt").write_text("12 22 30 60\n13 23 31 61\n")
    assert detect_paired_layout(folder) == "gtot"
    (seq,) = load_paired(folder)
    assert seq.layout == "gtot"
    assert seq.gt is not None and seq.gt_rgb is not None
    np.testing.assert_array_equal(seq.gt[0], [12, 22, 18, 38])
    np.testing.assert_array_equal(seq.gt_rgb[1], [11, 21, 20, 40])


def test_collection_mismatch_and_mixing_errors(tmp_path: Path, shared_data: Path) -> None:
    root = tmp_path / "RGBT234"
    make_rgbt_sequence(root / "a")
    make_rgbt_sequence(root / "b", count=4)
    seqs = load_paired(root)
    assert [s.name for s in seqs] == ["a", "b"]
    (root / "b" / "infrared" / "00004.png").unlink()
    with pytest.raises(DatasetError, match="4 visible but 3 infrared frames"):
        load_paired(root)
    truncated = load_paired(root, length_mismatch="truncate")
    assert len(truncated[1]) == 3
    # A root holding LLVIP pairs and sequences at once is rejected.
    mixed = tmp_path / "mixed"
    make_rgbt_sequence(mixed / "seq")
    (mixed / "llvip" / "infrared").mkdir(parents=True)
    (mixed / "llvip" / "visible").mkdir()
    cv2.imwrite(str(mixed / "llvip" / "infrared" / "1.jpg"), np.zeros((8, 8), np.uint8))
    with pytest.raises(DatasetError, match="mixes LLVIP image pairs and RGB-T sequences"):
        load_paired(mixed)


def test_unknown_paired_layout(tmp_path: Path) -> None:
    (tmp_path / "visible").mkdir()
    with pytest.raises(DatasetError) as info:
        load_paired(tmp_path)
    for expected in ("LLVIP", "RGBT234/LasHeR", "GTOT", "groundTruth_v.txt"):
        assert expected in str(info.value)


# --------------------------------------------------------------------------------------------
# VTUAV, paired videos, still pairs by name
# --------------------------------------------------------------------------------------------


def test_real_vtuav_sparse_boxes_in_both_modalities(shared_data: Path) -> None:
    bus = shared_data / "paired_rgbt" / "vtuav_bus1"
    assert detect_paired_layout(bus) == "vtuav"
    (seq,) = load_paired(bus)
    assert isinstance(seq, PairedSequence) and (seq.layout, len(seq)) == ("vtuav", 101)
    assert seq.gt is not None and seq.gt_rgb is not None
    for modality, first in (("tir", [582, 88, 67, 80]), ("rgb", None)):
        single = seq.as_sequence(modality)
        np.testing.assert_array_equal(single.gt_frames, np.arange(0, 101, 10))
        assert single.gt_stride == 10 and len(single) == 101
        if first is not None:
            np.testing.assert_array_equal(single.gt[0], first)
    assert seq.tir_frame(100).shape[:2] == (1080, 1920)


def test_real_m3svd_video_pairs(shared_data: Path) -> None:
    folder = shared_data / "paired_rgbt" / "m3svd_video"
    assert detect_paired_layout(folder) == "video_pairs"
    clips = load_paired(folder)  # counts every clip's frames: about 1 s for 3,826 frames
    assert {c.name: len(c) for c in clips} == {
        "0111_1716": 151, "0113_1714": 560, "0117_1605": 407, "0117_1620": 590, "1230_1202": 205}
    assert sum(len(c) for c in clips) == 1913
    clip = clips[0]
    assert isinstance(clip, PairedSequence) and clip.gt is None
    tir, rgb = clip.tir_frame(150), clip.rgb_frame(150)
    assert tir.shape == (480, 640) and tir.dtype == np.uint8
    assert rgb.shape == (480, 640, 3)


def test_video_pairs_of_different_lengths(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def video(path: Path, count: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 25, (32, 24))
        if not writer.isOpened():
            pytest.skip("this OpenCV build cannot write FFV1 video")
        for i in range(count):
            writer.write(np.full((24, 32, 3), i, np.uint8))
        writer.release()

    video(tmp_path / "infrared" / "a.mkv", 5)
    video(tmp_path / "visible" / "a.mkv", 4)
    video(tmp_path / "visible" / "lonely.mkv", 2)
    with pytest.raises(DatasetError, match="4 visible but 5 infrared frames"):
        load_paired(tmp_path)
    with caplog.at_level("WARNING"):
        (clip,) = load_paired(tmp_path, length_mismatch="truncate")
    assert len(clip) == 4 and "lonely" in caplog.text


def test_real_still_pairs_by_name(shared_data: Path, tmp_path: Path) -> None:
    road = shared_data / "paired_rgbt" / "roadscene"
    vifb = shared_data / "paired_rgbt" / "vifb"
    assert detect_paired_layout(road) == detect_paired_layout(vifb) == "image_pairs"
    pairs = load_paired(road)
    assert len(pairs) == 221 and all(isinstance(p, PairedImage) for p in pairs)
    assert pairs[0].rgb_path.name == pairs[0].tir_path.name and not pairs[0].annotated
    assert pairs[0].tir().shape[:2] == pairs[0].rgb().shape[:2]
    assert len(load_paired(vifb)) == 21
    # a root of both reads as one collection, names prefixed by their folder
    root = tmp_path / "root"
    root.mkdir()
    (root / "roadscene").symlink_to(road)
    (root / "vifb").symlink_to(vifb)
    both = load_paired(root)
    assert len(both) == 242 and both[-1].name.startswith("vifb/")
