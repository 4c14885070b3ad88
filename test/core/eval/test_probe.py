"""Scale-convergence probe on the real held-out LLVIP infrared frames."""

from __future__ import annotations

import math

import pytest

from tir_tracker_core.data.stills import load_stills
from tir_tracker_core.eval.probe import markdown_table, save_json, scale_probe
from tir_tracker_core.eval.resolve import resolve


@pytest.fixture(scope="module")
def items(shared_data):
    return load_stills(shared_data / "paired_rgbt/llvip/ir_only_annotated", max_boxes=6)


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
    assert '"mean_iou"' in saved and '"iou_by_size"' in saved
    # per target size: every box in one bin, the bins' IoUs averaging to the mean
    assert sum(good.count_by_size) == 6 and len(good.count_by_size) == len(good.size_bins) + 1
    filled = [(v, n) for v, n in zip(good.iou_by_size, good.count_by_size) if n]
    assert sum(v * n for v, n in filled) / 6 == pytest.approx(good.mean_iou)
    assert all(v is None for v, n in zip(good.iou_by_size, good.count_by_size) if not n)
    assert "Mean IoU by target size" in table and ">= 64 px" in table


def test_template_probe_initialises_on_the_scaled_box(shared_data, items):
    spec = f"nanotrack:{shared_data / 'weights/nanotrack/v2/nanotrackv2.pth'}"
    # lr 0: the size stays the first box's, so the error is exactly the scale it was drawn at
    frozen = scale_probe("frozen", resolve(spec, count_ops=False,
                                           tracker_overrides={"lr": 0.0}).multi, items,
                         scales=(0.8, 1.2), template=True)
    assert frozen.template
    for s, e in zip(frozen.scales, frozen.log_size_error):
        assert e == pytest.approx(math.log(s), abs=1e-6)
    # the template defines the object: cut around a box 20 % too large, NanoTrack keeps more
    # of that size than when only the size is reset and the true template kept
    loose = scale_probe("nanotrack", resolve(spec, count_ops=False).multi, items,
                        scales=(1.0, 1.2), template=True)
    reset = scale_probe("nanotrack", resolve(spec, count_ops=False).multi, items,
                        scales=(1.0, 1.2))
    assert abs(loose.log_size_error[0]) < 0.1
    assert loose.log_size_error[1] > reset.log_size_error[1] + 0.05
