from __future__ import annotations

import numpy as np
import pytest

from tir_tracker_core.config import FrameConfig
from tir_tracker_core.errors import InvalidFrameError
from tir_tracker_core.frames import to_bgr8


def test_mono8_replicated_to_three_channels():
    f = np.arange(64 * 80, dtype=np.uint32).reshape(64, 80).astype(np.uint8)
    out = to_bgr8(f, FrameConfig())
    assert out.shape == (64, 80, 3) and out.dtype == np.uint8
    assert (out[:, :, 0] == f).all() and (out[:, :, 2] == f).all()


def test_mono16_percentile_stretch_is_robust_to_hot_pixels():
    rng = np.random.default_rng(0)
    f = (7000 + rng.normal(0, 30, (128, 160))).astype(np.uint16)
    f[40:60, 50:70] += 400  # warm target
    f[0, 0] = 65535  # dead/hot pixel must not squash the range
    g = to_bgr8(f, FrameConfig())[:, :, 0]
    assert g[45:55, 55:65].mean() > 200 and g[100:120, 100:150].mean() < 128
    fixed = to_bgr8(f, FrameConfig(mono16_mode="fixed", fixed_min=6000, fixed_max=8000))[:, :, 0]
    assert abs(int(fixed[50, 60]) - int((int(f[50, 60]) - 6000) * 255 / 2000)) <= 1


def test_float_with_nan_and_rgb_order():
    f = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    f[0, 0] = np.nan
    assert to_bgr8(f, FrameConfig(float_mode="unit"))[31, 31, 0] == 255
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, :, 0] = 200  # red in RGB order
    assert to_bgr8(rgb, FrameConfig(rgb_order="rgb"))[0, 0, 2] == 200


@pytest.mark.parametrize("frame, msg", [
    (np.zeros((32, 32), np.int64), "dtype"),
    (np.zeros((32, 32, 2), np.uint8), "shape"),
    (np.zeros((4, 4), np.uint8), "too small"),
    (np.full((32, 32), np.nan, np.float32), "finite"),
    ([[1, 2], [3, 4]], "numpy array"),
])
def test_bad_frames_name_the_problem(frame, msg):
    with pytest.raises(InvalidFrameError, match=msg):
        to_bgr8(frame, FrameConfig())
