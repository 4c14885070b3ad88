"""Annotated still images: real LLVIP, Anti-UAV (YOLO) and VOT-TIR frames, generated YOLO
folders."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tir_tracker_core.data.benchmarks import load_sequences
from tir_tracker_core.data.stills import Still, detect_still_layout, load_stills
from tir_tracker_core.errors import DatasetError


def test_load_stills_rejects_folders_without_usable_boxes(shared_data):
    assert detect_still_layout(shared_data / "paired_rgbt/llvip/ir_only_annotated") == "llvip"
    with pytest.raises(DatasetError, match="no annotated box"):
        load_stills(shared_data / "paired_rgbt/llvip/ir_only_annotated", min_side=10_000)
    assert len(load_stills(shared_data / "paired_rgbt/llvip/ir_only_annotated",
                           max_boxes=3)) == 3
    assert np.isfinite(load_stills(shared_data / "paired_rgbt/llvip/ir_only_annotated",
                                   max_boxes=1)[0][1]).all()


def test_load_stills_reads_yolo_folders(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((100, 200), np.uint8))
    # one 40x30 box centred at (100, 50), one too small to keep
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.3\n0 0.1 0.1 0.05 0.05\n")
    (tmp_path / "labels" / "empty.txt").write_text("")
    assert detect_still_layout(tmp_path) == "yolo"
    ((img, box),) = load_stills(tmp_path)
    assert img.shape == (100, 200)
    np.testing.assert_allclose(box, [80, 35, 40, 30])
    (tmp_path / "labels" / "b.txt").write_text("0 0.5 0.5 0.2\n")
    cv2.imwrite(str(tmp_path / "images" / "b.png"), np.zeros((100, 200), np.uint8))
    with pytest.raises(DatasetError, match=r"b.txt:1: expected 'class cx cy w h'"):
        load_stills(tmp_path)
    (tmp_path / "images" / "b.png").unlink()
    with pytest.raises(DatasetError, match="no image b.jpg/.png"):
        load_stills(tmp_path)


def test_load_stills_reads_the_real_antiuav_frames(shared_data):
    assert detect_still_layout(shared_data / "tir/antiuav_ir_sparse") == "yolo"
    items = load_stills(shared_data / "tir/antiuav_ir_sparse", min_side=0)
    assert len(items) == 85  # one drone box per frame
    assert all(isinstance(item, Still) and item.box.dtype == np.float64 for item in items)
    assert all(img.shape[:2] == (512, 640) for img, _ in items)


def test_load_stills_samples_tracking_sequences(shared_data, tmp_path):
    horse = shared_data / "tir/vottir_horse"
    (seq,) = load_sequences(horse)
    assert detect_still_layout(horse) == "sequences"
    items = load_stills(horse, every=50, min_side=0)
    assert len(items) == len(range(0, len(seq), 50))
    np.testing.assert_allclose(items[1][1], seq.gt[50])
    assert items[1][0].shape == seq.frame(50).shape
    with pytest.raises(DatasetError, match="nor a tracking-sequence layout"):
        load_stills(tmp_path)
