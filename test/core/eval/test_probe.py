"""Scale-convergence probe on the real held-out LLVIP infrared frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tir_tracker_core.eval.probe import markdown_table, probe_images, save_json, scale_probe
from tir_tracker_core.specs import resolve


@pytest.fixture(scope="module")
def items(shared_data):
    return probe_images(shared_data / "paired_rgbt/llvip/ir_only_annotated", max_boxes=6)


def test_probe_separates_a_size_correcting_tracker_from_a_frozen_one(shared_data, items, tmp_path):
    spec = f"nanotrack:{shared_data / 'weights/nanotrack/v2/nanotrackv2.pth'}"
    good = scale_probe("nanotrack", resolve(spec, count_ops=False).multi, items)
    # lr 0: the size is never updated, so the error is exactly the size it was given
    frozen = scale_probe("frozen", resolve(spec, count_ops=False,
                                           tracker_overrides={"lr": 0.0}).multi, items)
    assert good.num_boxes == frozen.num_boxes == 6
    for s, e in zip(frozen.scales, frozen.log_size_error):
        assert e == pytest.approx(math.log(s), abs=1e-6)
    # NanoTrack pulls a 25 % too large box most of the way back to the truth
    assert abs(good.log_size_error[2]) < 0.5 * math.log(1.25)
    assert good.mean_iou > frozen.mean_iou
    table = markdown_table([good, frozen])
    assert "| nanotrack | 6 |" in table and "| frozen | 6 |" in table
    saved = save_json([good], tmp_path / "probe.json").read_text()
    assert '"mean_iou"' in saved


def test_probe_images_rejects_folders_without_usable_boxes(shared_data):
    from tir_tracker_core.data.sequences import DatasetError

    with pytest.raises(DatasetError, match="no annotated box"):
        probe_images(shared_data / "paired_rgbt/llvip/ir_only_annotated", min_side=10_000)
    assert len(probe_images(shared_data / "paired_rgbt/llvip/ir_only_annotated",
                            max_boxes=3)) == 3
    assert np.isfinite(probe_images(shared_data / "paired_rgbt/llvip/ir_only_annotated",
                                    max_boxes=1)[0][1]).all()


def test_probe_images_reads_yolo_folders(tmp_path):
    import cv2

    from tir_tracker_core.data.sequences import DatasetError

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((100, 200), np.uint8))
    # one 40x30 box centred at (100, 50), one too small to keep
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.3\n0 0.1 0.1 0.05 0.05\n")
    (tmp_path / "labels" / "empty.txt").write_text("")
    ((img, box),) = probe_images(tmp_path)
    assert img.shape == (100, 200)
    np.testing.assert_allclose(box, [80, 35, 40, 30])
    (tmp_path / "labels" / "b.txt").write_text("0 0.5 0.5 0.2\n")
    cv2.imwrite(str(tmp_path / "images" / "b.png"), np.zeros((100, 200), np.uint8))
    with pytest.raises(DatasetError, match=r"b.txt:1: expected 'class cx cy w h'"):
        probe_images(tmp_path)
    (tmp_path / "images" / "b.png").unlink()
    with pytest.raises(DatasetError, match="no image b.jpg/.png"):
        probe_images(tmp_path)


def test_probe_images_reads_the_real_antiuav_frames(shared_data):
    items = probe_images(shared_data / "tir/antiuav_ir_sparse", min_side=0)
    assert len(items) == 85  # one drone box per frame
    assert all(img.shape[:2] == (512, 640) for img, _ in items)


def test_probe_images_samples_tracking_sequences(shared_data, tmp_path):
    from tir_tracker_core.data.sequences import DatasetError, load_sequences

    horse = shared_data / "tir/vottir_horse"
    (seq,) = load_sequences(horse)
    items = probe_images(horse, every=50, min_side=0)
    assert len(items) == len(range(0, len(seq), 50))
    np.testing.assert_allclose(items[1][1], seq.gt[50])
    assert items[1][0].shape == seq.frame(50).shape
    with pytest.raises(DatasetError, match="nor a tracking-sequence layout"):
        probe_images(tmp_path)
