"""Shared search canvases (tracking/canvas.py): several targets' search windows from one
backbone pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tir_tracker_core.models import PRESETS, build_model
from tir_tracker_core.tracking.canvas import canvas_transform, plan_canvases, window_center

INST, STRIDE = 255, 16


def test_overlapping_targets_share_and_distant_ones_do_not():
    centers = np.array([[100.0, 100.0], [120.0, 110.0], [900.0, 900.0], [105.0, 96.0]])
    scales = np.array([2.0, 2.0, 2.0, 1.0])  # the last is zoomed differently: alone
    canvases = plan_canvases(centers, scales, INST, STRIDE, tolerance=0.1)
    groups = sorted(sorted(c.members) for c in canvases)
    assert groups == [[0, 1], [2], [3]]


def test_window_geometry_maps_back_to_the_target_centre():
    centers = np.array([[200.0, 150.0], [236.0, 171.0], [220.0, 140.0]])
    (c,) = plan_canvases(centers, np.full(3, 1.5), INST, STRIDE, tolerance=0.1)
    for k, (cx, cy) in zip(c.members, c.cells):
        # image point of the window's middle pixel, via the canvas affine map
        mid_x, mid_y = window_center(c, (cx, cy), INST, STRIDE)
        m = canvas_transform(c)
        assert m[0, 0] * mid_x + m[0, 2] == pytest.approx(cx * STRIDE + (INST - 1) / 2)
        assert m[1, 1] * mid_y + m[1, 2] == pytest.approx(cy * STRIDE + (INST - 1) / 2)
        # snapping to the feature grid moves a window by at most half a cell
        assert abs(mid_x - centers[k][0]) <= STRIDE / 2 / c.scale + 1e-9
        assert abs(mid_y - centers[k][1]) <= STRIDE / 2 / c.scale + 1e-9
        assert cx >= 0 and cy >= 0


def test_canvas_feature_window_equals_features_of_that_crop():
    """Translation equivariance at stride 16: a window of the canvas features equals the
    features of the same pixels cropped alone (away from the zero-padded border)."""
    torch.manual_seed(0)
    net = build_model(PRESETS.get("nanotrack_v2")()).eval()
    canvas = torch.rand(1, 3, INST + 3 * STRIDE, INST + 2 * STRIDE) * 255
    cx, cy = 2, 3
    with torch.no_grad():
        fmap = net.backbone(canvas)
        window = canvas[:, :, cy * STRIDE:cy * STRIDE + INST, cx * STRIDE:cx * STRIDE + INST]
        alone = net.backbone(window)
    size = fmap.shape[-1] - (canvas.shape[-1] - INST) // STRIDE
    assert size == alone.shape[-1] == 16
    sliced = fmap[:, :, cy:cy + size, cx:cx + size]
    inner = (slice(None), slice(None), slice(4, 12), slice(4, 12))
    torch.testing.assert_close(sliced[inner], alone[inner], rtol=1e-4, atol=1e-4)


def test_backends_declare_mono_and_which_can_share_a_canvas():
    """Every backend says whether it takes grey crops; shared search needs the backbone and
    the head apart (``SplitBackbone``), which TensorRT does not compile."""
    from tir_tracker_core.backends.onnx_backend import OnnxRuntimeBackend
    from tir_tracker_core.backends.tensorrt_backend import TensorRTBackend
    from tir_tracker_core.backends.torch_backend import TorchBackend
    from tir_tracker_core.tracking import SplitBackbone

    for cls in (TorchBackend, OnnxRuntimeBackend, TensorRTBackend):
        assert isinstance(vars(cls).get("accepts_mono"), bool), cls
    assert issubclass(TorchBackend, SplitBackbone) and issubclass(OnnxRuntimeBackend, SplitBackbone)
    assert not issubclass(TensorRTBackend, SplitBackbone)
