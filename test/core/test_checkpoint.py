from __future__ import annotations

import json

import pytest
import torch

from tir_tracker_core.checkpoint import (Checkpoint, build_from_checkpoint, load_checkpoint,
                                         save_checkpoint, sidecar)
from tir_tracker_core.config import TrackerConfig
from tir_tracker_core.errors import ModelLoadError
from tir_tracker_core.models import PRESETS, build_model


@pytest.fixture()
def saved(tmp_path):
    cfg = PRESETS.get("nanotrack_v2")()
    model = build_model(cfg)
    path = save_checkpoint(Checkpoint(cfg, model.state_dict(), TrackerConfig(lr=0.3),
                                      provenance={"note": "test"}), tmp_path / "m.safetensors")
    return path, model


def test_round_trip_is_exact_and_leaves_no_temp_files(saved):
    path, model = saved
    ckpt = load_checkpoint(path)
    assert ckpt.tracker.lr == 0.3 and ckpt.provenance == {"note": "test"}
    rebuilt = build_from_checkpoint(ckpt)
    for (k, a), (_, b) in zip(model.state_dict().items(), rebuilt.state_dict().items()):
        assert torch.equal(a, b), k
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.json", "m.safetensors"]


def test_missing_sidecar(saved):
    path, _ = saved
    sidecar(path).unlink()
    with pytest.raises(ModelLoadError, match="no config sidecar"):
        load_checkpoint(path)


def test_corrupt_weights_detected(saved):
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="hash"):
        load_checkpoint(path)
    with pytest.raises(ModelLoadError):
        load_checkpoint(path.parent / "absent.safetensors")


def test_config_that_does_not_fit_weights(saved):
    path, _ = saved
    meta = json.loads(sidecar(path).read_text())
    meta["model"]["head"]["cls_tower"][0]["channels"] = 64
    sidecar(path).write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="do not fit"):
        build_from_checkpoint(load_checkpoint(path))


def test_bad_json(saved):
    path, _ = saved
    sidecar(path).write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_checkpoint(path)
