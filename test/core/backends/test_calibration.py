"""INT8 calibration crops (backends/calibration.py), cut as the tracker cuts them."""

from __future__ import annotations

import numpy as np
import pytest

from tir_tracker_core.backends.calibration import calibration_crops
from tir_tracker_core.errors import ConfigError


def test_calibration_crops_from_thermal_frames(tiny_model):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 65535, (120, 160), dtype=np.uint16) for _ in range(3)]
    boxes = [(40, 30, 20, 25), (42, 31, 20, 25), (44, 33, 21, 24)]
    z, x = calibration_crops(frames, boxes, tiny_model.cfg)
    assert z.shape == (3, 3, 127, 127) and x.shape == (3, 3, 255, 255)
    assert z.dtype == np.float32 and 0 <= z.min() and z.max() <= 255
    with pytest.raises(ConfigError, match="one box per frame"):
        calibration_crops(frames, boxes[:2], tiny_model.cfg)
