"""INT8 calibration data: template and search crops cut from thermal frames around targets,
by the runtime's own crop rule (``geometry``), so calibration sees what the tracker feeds."""

from __future__ import annotations

from collections.abc import Sequence
import numpy as np

from ..config import FrameConfig, ModelConfig, TrackerConfig
from ..errors import ConfigError
from ..frames import to_bgr8
from ..geometry import box_center, context_side, crop_batch, mean_colour

__all__ = ["calibration_crops"]


def calibration_crops(frames: Sequence[np.ndarray], boxes: Sequence[Sequence[float]],
                      model_cfg: ModelConfig, frame_cfg: FrameConfig | None = None,
                      jitter: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Template and search crops (float32, NCHW) cut from ``frames`` around ``boxes`` (one
    ``(x, y, w, h)`` per frame), as the tracker cuts them; search crops are shifted by up to
    ``jitter`` of the context size so the calibration sees off-centre targets too."""
    if len(frames) != len(boxes) or not frames:
        raise ConfigError(f"calibration needs one box per frame, got {len(frames)} frames and "
                          f"{len(boxes)} boxes")
    ctx_amount = TrackerConfig().context_amount
    rng = np.random.default_rng(seed)
    zs, xs = [], []
    for frame, box in zip(frames, boxes):
        img = to_bgr8(frame, frame_cfg or FrameConfig())
        x, y, w, h = (float(v) for v in box)
        center = box_center((x, y, w, h))[None]
        s_z = context_side(w, h, ctx_amount, model_cfg.zoom)
        s_x = np.round(s_z * model_cfg.instance_size / model_cfg.exemplar_size)
        pads = [mean_colour(img)]
        zs.append(crop_batch(img, center, np.array([round(s_z)], np.float64),
                             model_cfg.exemplar_size, pads))
        shift = rng.uniform(-jitter, jitter, (1, 2)) * s_z
        xs.append(crop_batch(img, center + shift, np.array([s_x]), model_cfg.instance_size, pads))
    return np.concatenate(zs), np.concatenate(xs)
