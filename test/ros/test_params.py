"""Node parameters derived from the core's config dataclasses (pure Python, no ROS)."""

from __future__ import annotations

import dataclasses

from tir_tracker_core.config import FrameConfig, TrackerConfig
from tir_tracker_ros.params import NODE_PARAMETERS, core_parameters, help_text


def test_core_overrides_come_from_the_dataclass_metadata():
    specs = {p.name: p for p in core_parameters()}
    for section, cls in (("tracker", TrackerConfig), ("frame", FrameConfig)):
        for f in dataclasses.fields(cls):
            name = f"{section}.{f.name}"
            if "help" in f.metadata:
                assert name in specs, name
                assert specs[name].description.startswith(f.metadata["help"])
                assert specs[name].default is None  # unset: the model's own value
                if "range" in f.metadata:
                    assert specs[name].range == tuple(f.metadata["range"])
            else:
                assert name not in specs
    assert specs["tracker.max_targets"].kind is int
    assert specs["tracker.lost_threshold"].kind is float
    assert specs["frame.mono16_mode"].choices == ("percentile", "fixed")


def test_names_are_unique_and_help_lists_them_all():
    names = [p.name for p in NODE_PARAMETERS + core_parameters()]
    assert len(names) == len(set(names))
    text = help_text()
    assert all(f"  {name} (" in text for name in names)
    assert "np.float64" not in text
