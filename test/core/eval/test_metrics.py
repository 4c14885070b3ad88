"""LSOTB-TIR metric rules: cross-check with got10k, hand-computed quirks, real annotations."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from tir_tracker_core.eval.metrics import (
    NORM_PRECISION_THRESHOLDS,
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    aggregate,
    aggregate_by_attribute,
    center_error,
    evaluate_sequence,
    iou,
    normalized_center_error,
    repair_predictions,
    restrict_frames,
)


@pytest.fixture(scope="module")
def got10k_metrics(tmp_path_factory: pytest.TempPathFactory) -> types.ModuleType:
    """``got10k/utils/metrics.py`` loaded from its file.

    The module imports shapely at the top for its polygon IoU; ``rect_iou`` and
    ``center_error`` do not use it, so a stand-in ``shapely.geometry`` is injected only while
    the file is executed (shapely is a compiled dependency not installed here).
    """
    spec = importlib.util.find_spec("got10k")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("got10k is not installed (pip install --no-deps got10k) for the cross-check")
    path = Path(next(iter(spec.submodule_search_locations))) / "utils" / "metrics.py"
    stub_shapely = types.ModuleType("shapely")
    stub_geometry = types.ModuleType("shapely.geometry")
    stub_geometry.box = stub_geometry.Polygon = None  # type: ignore[attr-defined]
    saved = {k: sys.modules.get(k) for k in ("shapely", "shapely.geometry")}
    if saved["shapely"] is None:
        sys.modules["shapely"] = stub_shapely
        sys.modules["shapely.geometry"] = stub_geometry
    try:
        module_spec = importlib.util.spec_from_file_location("got10k_metrics_reference", path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
    return module


def random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(-20, 300, (n, 2))
    wh = rng.uniform(1, 120, (n, 2))
    return np.hstack([xy, wh])


def test_iou_and_center_error_match_got10k(got10k_metrics: types.ModuleType) -> None:
    rng = np.random.default_rng(0)
    a = random_boxes(rng, 2000)
    b = a + rng.normal(0, 25, a.shape)
    b[:, 2:] = np.abs(b[:, 2:]) + 1
    b[:500] = random_boxes(rng, 500)  # many disjoint pairs
    np.testing.assert_allclose(iou(a, b), got10k_metrics.rect_iou(a.copy(), b.copy()),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(center_error(a, b), got10k_metrics.center_error(a, b),
                               rtol=1e-12, atol=1e-12)
    assert (iou(a, b)[:500] == 0).mean() > 0.5


def test_iou_hand_cases() -> None:
    box = np.array([10.0, 20.0, 30.0, 40.0])
    assert iou(box, box) == pytest.approx(1.0)
    assert iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [10, 0, 10, 10]) == 0.0  # touching edges
    assert iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0  # empty union
    np.testing.assert_allclose(iou(np.tile(box, (3, 1)), np.tile(box, (3, 1))), np.ones(3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        iou([1, 2, 3], [1, 2, 3])


def test_center_uses_x_plus_w_minus_one_over_two() -> None:
    # Centres (4.5, 4.5) and (5, 5).
    assert center_error([0, 0, 10, 10], [0, 0, 11, 11]) == pytest.approx(np.sqrt(0.5))
    # x divided by the ground-truth w, y by its h: (2.1 / 20, 0 / 40).
    assert normalized_center_error([12.1, 10, 20, 40], [10, 10, 20, 40]) == pytest.approx(0.105)
    assert np.isnan(normalized_center_error([1, 1, 5, 5], [1, 1, 0, 5]))


def test_thresholds() -> None:
    assert len(SUCCESS_THRESHOLDS) == 21 and SUCCESS_THRESHOLDS[-1] == 1.0
    np.testing.assert_array_equal(PRECISION_THRESHOLDS, np.arange(51))
    assert len(NORM_PRECISION_THRESHOLDS) == 51 and NORM_PRECISION_THRESHOLDS[-1] == 0.5


GT2 = np.array([[10.0, 10.0, 20.0, 40.0], [10.0, 10.0, 20.0, 40.0]])


def test_success_is_strictly_greater_than_threshold() -> None:
    # Frame 2: the same box with double height, IoU exactly 0.5.
    pred = np.array([[10.0, 10.0, 20.0, 40.0], [10.0, 10.0, 20.0, 80.0]])
    scores = evaluate_sequence(pred, GT2)
    assert scores.ious[1] == pytest.approx(0.5)
    assert scores.success_curve[10] == 0.5  # t = 0.5: 0.5 > 0.5 is false
    assert scores.success_curve[9] == 1.0  # t = 0.45
    assert scores.success_curve[20] == 0.0  # t = 1: IoU > 1 never holds
    # AUC = mean over the 21 thresholds: frame 1 succeeds on 20, frame 2 on 10.
    assert scores.success == pytest.approx((20 + 10) / (2 * 21))


def test_precision_is_inclusive_at_twenty_pixels() -> None:
    at_20 = evaluate_sequence(np.array([GT2[0], GT2[0] + [20, 0, 0, 0]]), GT2)
    assert at_20.center_errors[1] == pytest.approx(20.0)
    assert at_20.precision == 1.0
    beyond = evaluate_sequence(np.array([GT2[0], GT2[0] + [20.5, 0, 0, 0]]), GT2)
    assert beyond.precision == 0.5


def test_normalized_precision_is_the_mean_of_its_curve() -> None:
    scores = evaluate_sequence(np.array([GT2[0], GT2[0] + [2.1, 0, 0, 0]]), GT2)
    # Frame 1 succeeds at all 51 thresholds; frame 2 (0.105) at 0.11 .. 0.50 (40 of them).
    assert scores.norm_precision == pytest.approx((51 + 40) / (2 * 51))
    assert scores.norm_precision_curve[10] == 0.5 and scores.norm_precision_curve[11] == 1.0


def test_frame_one_is_forced_to_ground_truth() -> None:
    pred = np.array([[500.0, 500.0, 1.0, 1.0], GT2[1]])
    scores = evaluate_sequence(pred, GT2)
    assert scores.ious[0] == 1.0 and scores.center_errors[0] == 0.0
    assert scores.success == pytest.approx(20 / 21)


def test_invalid_predictions_take_the_previous_prediction() -> None:
    gt = np.tile([10.0, 10.0, 20.0, 20.0], (6, 1))
    shifted = [15.0, 10.0, 20.0, 20.0]
    pred = np.array([gt[0], shifted, [np.nan] * 4, [1, 1, 0, 5], [1, 1, 5, -2], gt[0]])
    fixed = repair_predictions(pred, gt)
    for i in (2, 3, 4):  # NaN, w = 0, h < 0: carried forward through the chain
        np.testing.assert_array_equal(fixed[i], shifted)
    scores = evaluate_sequence(pred, gt)
    np.testing.assert_allclose(scores.ious[1:5], iou(shifted, gt[0]))
    assert scores.ious[5] == 1.0
    assert np.isnan(pred[2]).all()  # the caller's array is left untouched


def test_ground_truth_rows_with_non_positive_values() -> None:
    gt = np.array([[10.0, 10.0, 20.0, 20.0], [0.0, 10.0, 20.0, 20.0], [10.0, 10.0, 20.0, 20.0]])
    pred = np.array([gt[0], [300.0, 300.0, 5.0, 5.0], [300.0, 300.0, 5.0, 5.0]])
    scores = evaluate_sequence(pred, gt)
    assert scores.ious[1] == -1.0 and scores.center_errors[1] == -1.0
    assert scores.norm_center_errors[1] == -1.0
    # IoU = -1 fails even at t = 0; error = -1 succeeds even at 0 px.
    assert scores.success_curve[0] == pytest.approx(1 / 3)
    assert scores.precision_curve[0] == pytest.approx(2 / 3)
    assert scores.norm_precision_curve[0] == pytest.approx(2 / 3)
    assert scores.precision == pytest.approx(2 / 3)


def test_real_lsotb_and_ptb_rows_with_zero(shared_data: Path) -> None:
    """Scoring the real annotation against itself: invalid rows are the only failures."""
    for path, bad in (
        (shared_data / "annotations" / "lsotb_tir" / "anno" / "airplane_H_001.txt", 7),
        (shared_data / "annotations" / "lsotb_tir" / "anno" / "car_V_008.txt", 124),
        (shared_data / "annotations" / "ptb_tir" / "tiranno" / "road2.txt", 109),
    ):
        gt = np.loadtxt(path, delimiter=",")
        scores = evaluate_sequence(gt.copy(), gt)
        n = len(gt)
        assert int((scores.ious == -1).sum()) == bad, path.name
        assert scores.success == pytest.approx(20 / 21 * (n - bad) / n)
        assert scores.precision == 1.0 and scores.norm_precision == 1.0


def test_aggregate_averages_curves_and_drops_all_zero_ones() -> None:
    good = evaluate_sequence(np.array([GT2[0], GT2[0] + [2.1, 0, 0, 0]]), GT2)
    other = evaluate_sequence(np.array([GT2[0], GT2[0] + [30.0, 0, 0, 0]]), GT2)
    invalid_gt = np.zeros((3, 4))  # every row invalid: success curve all zero, precision all one
    dropped = evaluate_sequence(np.ones((3, 4)), invalid_gt)
    assert not dropped.success_curve.any() and dropped.precision_curve.all()
    total = aggregate([good, other, dropped])
    np.testing.assert_allclose(total.success_curve, (good.success_curve + other.success_curve) / 2)
    assert total.success == pytest.approx((good.success + other.success) / 2)
    np.testing.assert_allclose(
        total.precision_curve,
        (good.precision_curve + other.precision_curve + dropped.precision_curve) / 3,
    )
    assert total.precision == pytest.approx((1.0 + 0.5 + 1.0) / 3)
    assert total.num_sequences == 3
    assert dict(total.num_used) == {"success": 2, "precision": 3, "norm_precision": 3}
    assert aggregate([dropped]).success == 0.0
    with pytest.raises(ValueError):
        aggregate([])


def test_aggregate_by_attribute_sequence_flags_and_per_frame_labels() -> None:
    gt = np.tile([10.0, 10.0, 20.0, 20.0], (4, 1))
    far = [200.0, 200.0, 20.0, 20.0]
    a = evaluate_sequence(np.array([gt[0], gt[0], far, far]), gt)
    b = evaluate_sequence(gt.copy(), gt)
    result = aggregate_by_attribute(
        {"a": a, "b": b},
        {
            "a": {"occlusion": np.array([0, 0, 1, 1], bool), "drone": np.array(False)},
            "b": {"occlusion": np.zeros(4, bool), "drone": np.array(True)},
        },
    )
    assert sorted(result) == ["drone", "occlusion"]
    assert result["drone"].num_sequences == 1
    assert result["drone"].success == pytest.approx(b.success)
    # Only a's two labelled frames count, both lost: all-zero success curve, so no score.
    assert result["occlusion"].num_used["success"] == 0
    assert result["occlusion"].precision == 0.0
    restricted = restrict_frames(a, np.array([1, 1, 0, 0], bool))
    assert restricted.num_frames == 2 and restricted.success == pytest.approx(20 / 21)
    with pytest.raises(ValueError, match="selects no frame"):
        restrict_frames(a, np.zeros(4, bool))


def test_length_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match="3 predictions for 2 ground-truth rows"):
        evaluate_sequence(np.zeros((3, 4)), GT2)
