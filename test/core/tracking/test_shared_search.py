"""Shared search canvases: several targets' search windows from one backbone pass."""

from __future__ import annotations

import numpy as np
import torch

from tir_tracker_core.models import PRESETS, build_model
from tir_tracker_core.tracking.tracker import plan_canvases

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
        mid_x = c.x0 + (cx * STRIDE + (INST - 1) / 2 + 0.5) / c.scale - 0.5
        mid_y = c.y0 + (cy * STRIDE + (INST - 1) / 2 + 0.5) / c.scale - 0.5
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
