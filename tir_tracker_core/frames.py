"""Frame normalisation: mono8 / mono16 / float / 3-channel input -> 8-bit 3-channel BGR."""

from __future__ import annotations

import numpy as np

from .config import FrameConfig
from .errors import InvalidFrameError

SUPPORTED = "HxW uint8 (mono8), HxW uint16 (mono16), HxW float32/64, HxWx1, HxWx3 uint8"


def _stretch(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise InvalidFrameError("frame holds no finite values; check the camera driver")
    if hi <= lo:
        hi = lo + 1.0
    out = (img.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def _percentiles(img: np.ndarray, cfg: FrameConfig) -> tuple[float, float]:
    # subsample for speed: percentiles of every 4th pixel in both axes are stable enough
    sample = img[::4, ::4]
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            raise InvalidFrameError("frame holds no finite values (all NaN/inf)")
    lo, hi = np.percentile(sample, (cfg.percentile_low, cfg.percentile_high))
    return float(lo), float(hi)


def to_gray8(frame: np.ndarray, cfg: FrameConfig) -> np.ndarray:
    """Single-channel frame of any supported dtype -> uint8."""
    if frame.dtype == np.uint8:
        return frame
    if frame.dtype == np.uint16:
        if cfg.mono16_mode == "fixed":
            return _stretch(frame, cfg.fixed_min, cfg.fixed_max)
        return _stretch(frame, *_percentiles(frame, cfg))
    if frame.dtype.kind == "f":
        if cfg.float_mode == "unit":
            return _stretch(np.nan_to_num(frame, nan=0.0), 0.0, 1.0)
        lo, hi = _percentiles(frame, cfg)
        return _stretch(np.nan_to_num(frame, nan=lo), lo, hi)
    raise InvalidFrameError(f"unsupported frame dtype {frame.dtype}; supported: {SUPPORTED}")


def to_bgr8(frame: np.ndarray, cfg: FrameConfig, grey: bool = False) -> np.ndarray:
    """Any supported frame -> contiguous HxWx3 uint8 BGR (thermal replicated to 3 channels).

    ``grey``: single-channel frames come back as HxWx1 (no replication), for backends that
    take grey crops.
    """
    if not isinstance(frame, np.ndarray):
        raise InvalidFrameError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        if frame.shape[0] < 8 or frame.shape[1] < 8:
            raise InvalidFrameError(f"frame of shape {frame.shape} is too small (min 8x8)")
        g = to_gray8(frame, cfg)
        if grey:
            return np.ascontiguousarray(g[:, :, None])
        return np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2))
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        if frame.shape[2] == 4:
            frame = frame[:, :, :3]
        if frame.dtype != np.uint8:
            frame = np.stack([to_gray8(frame[:, :, c], cfg) for c in range(3)], axis=2)
        if cfg.rgb_order == "rgb":
            frame = frame[:, :, ::-1]
        return np.ascontiguousarray(frame)
    raise InvalidFrameError(f"unsupported frame shape {frame.shape}; supported: {SUPPORTED}")
