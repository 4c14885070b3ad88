from __future__ import annotations

import pytest

from tir_tracker_core.config import (FrameConfig, TrackerConfig, from_dict,
                                     load_yaml, replace)
from tir_tracker_core.errors import ConfigError


def test_unknown_key_names_valid_keys():
    with pytest.raises(ConfigError, match="unknown key.*lost_treshold.*valid keys.*lost_threshold"):
        from_dict(TrackerConfig, {"lost_treshold": 0.3})


@pytest.mark.parametrize("value", ["high", True, None, [1]])
def test_wrong_type_rejected(value):
    with pytest.raises(ConfigError, match="window_influence"):
        from_dict(TrackerConfig, {"window_influence": value})


def test_literal_choices_named():
    with pytest.raises(ConfigError, match="'percentile'.*'fixed'"):
        from_dict(FrameConfig, {"mono16_mode": "auto"})


def test_int_promoted_to_float_and_replace_validates():
    cfg = from_dict(TrackerConfig, {"lr": 1})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert replace(cfg, {"max_targets": 4}).max_targets == 4
    with pytest.raises(ConfigError):
        replace(cfg, {"max_targets": "many"})


def test_load_yaml_rejects_bad_files(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
