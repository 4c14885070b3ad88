"""Box and crop geometry (geometry.py): one centre convention, one crop rule for the runtime,
training and calibration."""

from __future__ import annotations

import numpy as np
import pytest

from tir_tracker_core.backends.calibration import calibration_crops
from tir_tracker_core.config import FrameConfig, ModelConfig, TrackerConfig
from tir_tracker_core.errors import InvalidBoxError
from tir_tracker_core.frames import to_bgr8
from tir_tracker_core.geometry import (box_center, box_from_center, box_in_crop, box_iou,
                                       context_side, context_sides, crop, crop_transform,
                                       mean_colour, validate_box, window_centers)
from tir_tracker_core.tracking import Tracker

H, W = 120, 160
BOXES = [(37.3, 21.8, 24.6, 31.2), (-6.0, 80.5, 30.0, 20.0)]  # the second crosses the border


class _Recorder:
    """Backend stand-in that keeps the crops the tracker cuts."""

    name, device, accepts_mono = "recorder", "cpu", False

    def __init__(self, cfg: ModelConfig) -> None:
        self.cfg, self.templates, self.searches = cfg, [], []

    def template(self, crops):
        self.templates.append(crops.copy())
        return [None] * len(crops)

    def track(self, feats, crops):
        self.searches.append(crops.copy())
        s = self.cfg.score_size
        return np.zeros((len(feats), 2, s, s), np.float32), np.zeros((len(feats), 4, s, s),
                                                                        np.float32)


def _frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)


def _training_crop(img: np.ndarray, box, side: float, out: int) -> np.ndarray:
    """A crop as training cuts it (``geometry.crop``, no augmentation), NCHW float32."""
    cx, cy = box_center(box)
    return crop(img, cx, cy, side, out, mean_colour(img)).transpose(2, 0, 1).astype(np.float32)


def test_runtime_and_training_crops_of_a_box_are_the_same_pixels():
    cfg, tcfg = ModelConfig(), TrackerConfig()
    frame = _frame()
    img = to_bgr8(frame, FrameConfig())
    backend = _Recorder(cfg)
    tracker = Tracker(backend, cfg, tcfg)
    tracker.init(frame, BOXES)
    tracker.update(frame)
    (templates,), (searches,) = backend.templates, backend.searches
    for k, box in enumerate(validate_box(b, W, H) for b in BOXES):
        side = round(context_side(box[2], box[3], tcfg.context_amount))
        np.testing.assert_array_equal(templates[k],
                                      _training_crop(img, box, side, cfg.exemplar_size))
        # search crop: the same rule around the unmoved box (zero score maps keep every target
        # in place), the context side (unrounded between frames) scaled to the search size
        s_z = context_sides(np.array([box[2:]]), tcfg.context_amount)[0]
        side_x = np.round(s_z * (cfg.instance_size / cfg.exemplar_size))
        np.testing.assert_array_equal(searches[k],
                                      _training_crop(img, box, side_x, cfg.instance_size))


def test_calibration_crops_are_the_runtime_crops():
    cfg = ModelConfig()
    frames = [_frame(1), _frame(2)]
    z, _ = calibration_crops(frames, BOXES, cfg, jitter=0.0)
    for k, (frame, box) in enumerate(zip(frames, BOXES)):
        img = to_bgr8(frame, FrameConfig())
        side = round(context_side(box[2], box[3], TrackerConfig().context_amount))
        np.testing.assert_array_equal(z[k], _training_crop(img, box, side, cfg.exemplar_size))


@pytest.mark.parametrize("box", [(30, 40, 12, 9), (31, 17, 7, 20)])
def test_box_in_crop_matches_the_pixels_of_the_crop(box):
    """A bright box cropped without resizing (side == out: an integer shift) lands exactly on
    ``box_in_crop``'s edges (pixel i covers [i - 0.5, i + 0.5)); resized 2x, its centroid lands
    on the centre of ``box_in_crop``."""
    x, y, w, h = box
    img = np.zeros((H, W, 1), np.uint8)
    img[y:y + h, x:x + w] = 200
    cx, cy = box_center(box)
    for side, out in ((48, 48), (48, 96)):
        pixels = crop(img, cx, cy, side, out, (0,)).reshape(out, out)
        x1, y1, x2, y2 = box_in_crop(box, cx, cy, side, out)
        if side == out:
            rows, cols = np.nonzero(pixels)
            assert (cols.min() - 0.5, rows.min() - 0.5) == (x1, y1)
            assert (cols.max() + 0.5, rows.max() + 0.5) == (x2, y2)
        else:
            yy, xx = np.mgrid[0:out, 0:out]
            mass = pixels.astype(np.float64)
            centroid = ((xx * mass).sum() / mass.sum(), (yy * mass).sum() / mass.sum())
            np.testing.assert_allclose(centroid, ((x1 + x2) / 2, (y1 + y2) / 2), atol=1e-6)
            assert (x2 - x1, y2 - y1) == (2 * w, 2 * h)


def test_crop_window_starts_at_an_integer_pixel_around_the_centre():
    """The window: ``side`` pixels from the integer pixel that centres it best on ``c``. The
    crop centre ``(out - 1) / 2`` is the window's middle pixel ``start + (side - 1) / 2``
    (``window_centers``), within half a pixel of ``c``, and a box centred on ``c`` maps to the
    same crop point through ``crop_transform`` and ``box_in_crop``."""
    for c, side, out in ((50.0, 33.0, 127), (50.5, 32.0, 127), (41.25, 20.0, 63),
                         (41.75, 20.0, 63)):
        m = crop_transform(c, c, side, out)
        start = np.floor(c - (side - 1) / 2 + 0.5)
        s = out / side
        assert m[0, 0] == s and m[0, 2] == pytest.approx(s * (0.5 - start) - 0.5)
        mid = start + (side - 1) / 2
        assert m[0, 0] * mid + m[0, 2] == pytest.approx((out - 1) / 2)
        assert -0.5 < mid - c <= 0.5
        assert window_centers(np.array([[c, c]]), np.array([side]))[0, 0] == pytest.approx(mid)
        mapped = m[0, 0] * c + m[0, 2]
        assert mapped == pytest.approx((out - 1) / 2 + s * (c - mid))
        x1, _, x2, _ = box_in_crop(box_from_center((c, c), (10, 10)), c, c, side, out)
        assert (x1 + x2) / 2 == pytest.approx(mapped, abs=1e-4)


def test_box_center_convention():
    assert box_center((10, 20, 5, 6)).tolist() == [12.0, 22.5]  # x + (w - 1) / 2
    assert box_from_center(box_center((10, 20, 5, 6)), (5, 6)) == (10.0, 20.0, 5.0, 6.0)
    assert box_center((0, 0, 1, 1)).tolist() == [0.0, 0.0]  # a one-pixel box: that pixel


@pytest.mark.parametrize("box, msg", [
    ((np.nan, 10, 20, 20), "box (nan, 10, 20, 20) contains NaN"),
    ((10, 10, 0, 20), "box (10, 10, 0, 20) has zero or negative size"),
    ((np.float64(10.5), 10, 20, -5), "box (10.5, 10, 20, -5) has zero or negative"),
    ((W + 5, 10, 20, 20), f"box ({W + 5}, 10, 20, 20) lies outside the {W}x{H} image"),
    ((1, 2, 3), "has 3 values"),
])
def test_validate_box_messages_are_plain(box, msg):
    with pytest.raises(InvalidBoxError) as e:
        validate_box(box, W, H)
    assert msg in str(e.value)
    assert "np." not in str(e.value) and "float64" not in str(e.value)


def test_validate_box_clips_to_the_image():
    np.testing.assert_allclose(validate_box((-10, -10, 30, 30), W, H), [0, 0, 20, 20])
    np.testing.assert_allclose(validate_box((150, 100, 30, 30), W, H), [150, 100, 10, 20])


def test_box_iou():
    a = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 15.0]])
    b = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 0.0], [25 / 175, 0.0]])
    assert box_iou(a[:0], b).shape == (0, 2)
