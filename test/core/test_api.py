"""Public entry points: ``load_model``, ``build_trackers`` and ``load_tracker``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tir_tracker_core.api import build_trackers, load_model, load_tracker
from tir_tracker_core.config import TrackerConfig
from tir_tracker_core.errors import ConfigError, ModelLoadError
from tir_tracker_core.models import PRESETS, SiameseNet, build_model
from tir_tracker_core.models.nanotrack_import import _HEAD_RENAMES
from tir_tracker_core.specs import MODEL_SPECS, default_checkpoint_path


@pytest.fixture(scope="module")
def nanotrack_pth(tmp_path_factory):
    """A NanoTrack v2 ``.pth`` as the upstream repository writes it (random weights)."""
    torch.manual_seed(0)
    net = build_model(PRESETS.get("nanotrack_v2")())
    sd = {}
    for key, value in net.state_dict().items():
        if key.startswith("head."):
            key = key[len("head."):]
            for upstream, ours in _HEAD_RENAMES["v2"]:
                if key.startswith(ours):
                    key = upstream + key[len(ours):]
                    break
            key = "ban_head." + key
        sd[key] = value
    path = tmp_path_factory.mktemp("nanotrack") / "nanotrackv2.pth"
    torch.save({"state_dict": sd}, path)
    return path, net


def test_load_model_default():
    net, tcfg, fcfg, info = load_model("default")
    assert isinstance(net, SiameseNet) and not net.training
    assert isinstance(tcfg, TrackerConfig)
    assert info["source"] == str(default_checkpoint_path()) and info["name"] == net.cfg.name
    assert "provenance" in info


def test_load_model_nanotrack_pth(nanotrack_pth):
    path, reference = nanotrack_pth
    net, tcfg, _, info = load_model(f"nanotrack:{path}")
    assert net.cfg.name == "nanotrack_v2" and tcfg.lost_psr == 0.0
    assert info == {"source": f"nanotrack:{path}", "name": "nanotrack_v2"}
    for key, value in reference.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    # an @BACKEND suffix is allowed and plays no part in loading
    assert load_model(f"nanotrack:{path}@onnxruntime")[3]["source"] == f"nanotrack:{path}"


@pytest.mark.parametrize("make_spec, match", [
    (lambda tmp, pth: str(tmp / "missing.safetensors"), "does not exist"),
    (lambda tmp, pth: "defualt", "does not exist"),
    (lambda tmp, pth: str(pth), "PyTorch pickle.*'nanotrack:"),
    (lambda tmp, pth: f"nanotrack:{tmp / 'missing.pth'}", "does not exist"),
])
def test_bad_model_is_one_line_model_load_error(tmp_path, nanotrack_pth, make_spec, match):
    with pytest.raises(ModelLoadError, match=match) as e:
        load_model(make_spec(tmp_path, nanotrack_pth[0]))
    assert "\n" not in str(e.value)


def test_missing_file_names_the_valid_models(tmp_path):
    with pytest.raises(ModelLoadError) as e:
        load_model(str(tmp_path / "missing.safetensors"))
    assert all(spec in str(e.value) for spec in MODEL_SPECS)


def test_opencv_peer_is_not_a_model():
    with pytest.raises(ConfigError, match="OpenCV peer.*nanotrack:FILE.pth"):
        load_tracker("opencv:kcf")


def test_load_tracker_applies_overrides():
    tracker = load_tracker("default", tracker={"lost_patience": 3, "max_targets": 4},
                           frame={"mono16_mode": "fixed"})
    _, tcfg, _, _ = load_model("default")
    assert tracker.cfg.lost_patience == 3 and tracker.cfg.max_targets == 4
    assert tracker.cfg.window_influence == tcfg.window_influence  # the rest: the model's own
    assert tracker.frame_cfg.mono16_mode == "fixed"
    assert tracker.backend_name == "torch" and tracker.device == "cpu"


@pytest.mark.parametrize("kwargs, valid", [
    ({"tracker": {"lost_patiense": 3}}, "lost_patience"),
    ({"frame": {"mono_16_mode": "fixed"}}, "mono16_mode"),
])
def test_unknown_override_key_names_the_valid_keys(kwargs, valid):
    with pytest.raises(ConfigError, match=f"unknown key.*valid keys.*{valid}") as e:
        load_tracker("default", **kwargs)
    assert "\n" not in str(e.value)


def test_backend_suffix_wins_over_the_backend_argument():
    assert load_tracker("default@torch", backend="onnxruntime").backend_name == "torch"


def test_builder_makes_fresh_trackers_over_one_backend():
    trackers = build_trackers("default")
    a, b = trackers(), trackers()
    assert a is not b and a.backend is b.backend is trackers.backend
    off = trackers.with_overrides({"exclusion_iou": 1.0})
    assert off.backend is trackers.backend and off().cfg.exclusion_iou == 1.0
    assert trackers().cfg == trackers.tracker_config  # the original is left as it was
    frame = np.zeros((64, 80), np.uint16)
    frame[20:40, 30:50] = 30000
    (track_id,) = a.init(frame, [(30, 20, 20, 20)])
    (track,) = a.update(frame)
    assert track.id == track_id and b.num_targets == 0  # trackers share no state
