"""Annotated still images: real LLVIP, Anti-UAV (YOLO), HIT-UAV (COCO) and VOT-TIR frames,
generated YOLO, COCO and VOC folders."""

from __future__ import annotations

import json
from collections import Counter

import cv2
import numpy as np
import pytest

from tir_tracker_core.data.benchmarks import load_sequences
from tir_tracker_core.data.stills import (
    AnnotatedImage,
    Still,
    detect_still_layout,
    load_detections,
    load_stills,
)
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


# --------------------------------------------------------------------------------------------
# Detection records: COCO JSON, YOLO, Pascal VOC
# --------------------------------------------------------------------------------------------


def test_real_hit_uav_coco_with_its_annotation_key(shared_data):
    hit = shared_data / "tir_detection/hit_uav"
    assert detect_still_layout(hit) == "coco"
    val = load_detections(hit / "annotations/val.json")
    test = load_detections(hit / "annotations/test.json")
    assert (len(val), sum(len(r.boxes) for r in val)) == (290, 2460)
    assert (len(test), sum(len(r.boxes) for r in test)) == (579, 4811)
    both = load_detections(hit)  # the folder: both files, names prefixed by split
    assert len(both) == 869 and both[0].name.startswith("test/")
    labels = Counter(lab for r in both for lab in r.labels)
    assert labels == {"Person": 3779, "Car": 2058, "Bicycle": 1350, "OtherVehicle": 46,
                      "DontCare": 38}
    rec = val[0]
    assert isinstance(rec, AnnotatedImage) and rec.path.parent.name == "val"
    np.testing.assert_array_equal(rec.boxes[0], [351, 160, 33, 23])
    assert rec.image().shape[:2] == (512, 640)
    stills = load_stills(hit, max_boxes=5)  # only the images of the kept boxes are read
    assert len(stills) == 5 and stills[0].image.shape[:2] == (512, 640)


def test_coco_standard_keys_crowd_and_missing_images(tmp_path):
    (tmp_path / "val2017").mkdir()
    cv2.imwrite(str(tmp_path / "val2017" / "a.png"), np.zeros((40, 50), np.uint8))
    cv2.imwrite(str(tmp_path / "val2017" / "b.png"), np.zeros((40, 50), np.uint8))
    data = {"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
            "annotations": [
                {"id": 1, "image_id": 1, "bbox": [1, 2, 30, 25], "category_id": 7},
                {"id": 2, "image_id": 1, "bbox": [0, 0, 50, 40], "category_id": 7,
                 "iscrowd": 1},
                {"id": 3, "image_id": 2, "bbox": [5, 5, 30, 30], "category_id": 4}],
            "categories": [{"id": 7, "name": "person"}, {"id": 4, "name": "DontCare"}]}
    ann = tmp_path / "annotations" / "instances_val2017.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps(data))
    a, b = load_detections(tmp_path)
    assert a.labels == ("person",) and b.labels == ("DontCare",)  # crowd box dropped
    ((img, box),) = load_stills(ann)  # DontCare regions are never stills
    assert img.shape == (40, 50)
    np.testing.assert_array_equal(box, [1, 2, 30, 25])
    (tmp_path / "val2017" / "b.png").unlink()
    with pytest.raises(DatasetError, match="1 of 2 images are missing"):
        load_detections(ann)


def test_voc_and_yolo_class_names(tmp_path):
    voc = tmp_path / "voc"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "JPEGImages").mkdir()
    cv2.imwrite(str(voc / "JPEGImages" / "x.jpg"), np.zeros((60, 80, 3), np.uint8))
    (voc / "Annotations" / "x.xml").write_text(
        "<annotation><object><name>car</name><bndbox><xmin>10</xmin><ymin>20</ymin>"
        "<xmax>40</xmax><ymax>50</ymax></bndbox></object></annotation>")
    assert detect_still_layout(voc) == "voc"
    (rec,) = load_detections(voc)
    assert rec.labels == ("car",)
    np.testing.assert_array_equal(rec.boxes, [[10, 20, 30, 30]])
    yolo = tmp_path / "yolo"
    (yolo / "images").mkdir(parents=True)
    (yolo / "labels").mkdir()
    cv2.imwrite(str(yolo / "images" / "y.png"), np.zeros((100, 200), np.uint8))
    (yolo / "labels" / "y.txt").write_text("1 0.5 0.5 0.2 0.3\n")
    (yolo / "classes.txt").write_text("person\ndrone\n")
    (rec,) = load_detections(yolo)
    assert rec.labels == ("drone",)
    np.testing.assert_allclose(rec.boxes, [[80, 35, 40, 30]])


def test_real_antiuav_stills_as_detection_records(shared_data):
    records = load_detections(shared_data / "tir/antiuav_ir_sparse")
    assert len(records) == 85 and sum(len(r.boxes) for r in records) == 85
    assert {lab for r in records for lab in r.labels} == {"0"}
