"""Siamese tracker networks."""

from .siamese import (PRESETS, SiameseNet, at_search_size, build_model, count_macs, count_params,
                      with_search_size)

__all__ = ["PRESETS", "SiameseNet", "at_search_size", "build_model", "count_macs", "count_params",
           "with_search_size"]
