"""Siamese tracker networks."""

from .siamese import PRESETS, SiameseNet, build_model, count_macs, count_params, with_search_size

__all__ = ["PRESETS", "SiameseNet", "build_model", "count_macs", "count_params",
           "with_search_size"]
