from __future__ import annotations

import pytest
import torch

from tir_tracker_core.config import from_dict, to_dict, ModelConfig
from tir_tracker_core.errors import ConfigError
from tir_tracker_core.models import (PRESETS, build_model, count_macs, count_params,
                                     with_search_size)
from tir_tracker_core.models.backbone import mobilenetv3_config


@pytest.mark.parametrize("name", ["nanotrack_v1", "nanotrack_v2", "nanotrack_v3"])
def test_presets_build_and_batch(name):
    cfg = PRESETS.get(name)()
    model = build_model(cfg).eval()
    z = torch.rand(3, 3, 127, 127) * 255
    x = torch.rand(3, 3, 255, 255) * 255
    with torch.no_grad():
        cls, loc = model(z, x)
        cls1, loc1 = model(z[1:2], x[1:2])
    s = cfg.score_size
    assert cls.shape == (3, 2, s, s) and loc.shape == (3, 4, s, s)
    assert (loc > 0).all()
    # batching targets never mixes them
    torch.testing.assert_close(cls[1:2], cls1, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(loc[1:2], loc1, rtol=1e-4, atol=1e-4)


def test_config_round_trip_rebuilds_same_architecture():
    cfg = PRESETS.get("nanotrack_v2")()
    again = from_dict(ModelConfig, to_dict(cfg))
    assert again == cfg
    a, b = build_model(cfg), build_model(again)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]


def test_width_multiplier_makes_smaller_model():
    import dataclasses

    full = PRESETS.get("nanotrack_v2")()
    half_bb = mobilenetv3_config(0.5)
    small = dataclasses.replace(full, backbone=half_bb,
                                head=dataclasses.replace(full.head, in_channels=half_bb.out_channels))
    m_full, m_small = build_model(full), build_model(small)
    assert count_params(m_small) < count_params(m_full)
    assert count_macs(m_small) < count_macs(m_full)


def test_unknown_preset_lists_choices():
    with pytest.raises(ConfigError, match="nanotrack_v2"):
        PRESETS.get("nanotrack_v9")


def test_score_size_mismatch_is_rejected():
    import dataclasses

    cfg = dataclasses.replace(PRESETS.get("nanotrack_v2")(), score_size=15)
    with pytest.raises(ValueError, match="score_size"):
        build_model(cfg)


def test_lower_input_resolution_keeps_the_weights_and_the_searched_area():
    """``with_search_size``: a 191 px search crop over the area of NanoTrack v2's 255 px one;
    the score map shrinks with it, the zoom records the resolution, the weights still fit."""
    cfg = PRESETS.get("nanotrack_v2")()
    low = with_search_size(cfg, 191)
    assert (low.instance_size, low.score_size, low.exemplar_size) == (191, 12, 127)
    assert low.zoom == pytest.approx(191 / 255)
    # template side / zoom x instance / exemplar: the same image area as at 255
    assert 127 / low.zoom * low.instance_size / low.exemplar_size == pytest.approx(255)
    net = build_model(low)
    net.load_state_dict(build_model(cfg).state_dict())  # strict: every weight fits
    assert with_search_size(cfg, 255) == cfg
    with pytest.raises(ValueError, match="smaller than the template"):
        with_search_size(cfg, 100)
    with pytest.raises(ValueError, match="zoom must be > 0"):
        build_model(ModelConfig(zoom=0.0))
