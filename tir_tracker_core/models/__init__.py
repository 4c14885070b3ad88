"""Siamese tracker networks."""

from .siamese import PRESETS, SiameseNet, build_model, count_macs, count_params

__all__ = ["PRESETS", "SiameseNet", "build_model", "count_macs", "count_params"]
