"""TrainConfig: YAML + overrides, strict conversion, the shipped recipe parses."""

from __future__ import annotations

import pytest

from tir_tracker_core.errors import ConfigError
from tir_tracker_core.training.config import TrainConfig, load_train_config
from tir_tracker_core.training.loop import get_lr


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim: {steps: 10, lr: 0.01}\ndata:\n  - {kind: synthetic, count: 2}\n")
    cfg = load_train_config(p, ["optim.batch_size=4", "data.0.count=5", "model.freeze_bn=false"])
    assert isinstance(cfg, TrainConfig)
    assert cfg.optim.steps == 10 and cfg.optim.batch_size == 4 and cfg.optim.lr == 0.01
    assert cfg.data[0].count == 5 and cfg.model.freeze_bn is False


def test_unknown_keys_and_bad_values_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="valid keys"):
        load_train_config(None, ["optim.stepz=3"])
    with pytest.raises(ConfigError, match="not one of"):
        load_train_config(None, ["optim.optimizer=rmsprop"])
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  - {kind: synthetic}\n")
    with pytest.raises(ConfigError, match="index"):
        load_train_config(p, ["data.4.count=1"])
    with pytest.raises(ConfigError, match="needs a path"):
        load_train_config(None, ["data=[{kind: sequences}]"])


def test_shipped_recipe_parses(repo_root):
    cfg = load_train_config(repo_root / "config" / "train_default.yaml")
    assert cfg.model.init.startswith("nanotrack:")
    assert cfg.data[0].kind == "synthetic" and 0 < cfg.model.wise <= 1


def test_lr_schedule_warmup_then_cosine():
    cfg = load_train_config(None, ["optim.steps=100", "optim.warmup_steps=10", "optim.lr=1.0",
                                   "optim.min_lr=0.0", "optim.warmup_factor=0.0"]).optim
    assert get_lr(0, cfg) == 0.0
    assert get_lr(5, cfg) == pytest.approx(0.5)
    assert get_lr(10, cfg) == pytest.approx(1.0)
    assert get_lr(55, cfg) == pytest.approx(0.5)
    assert get_lr(100, cfg) == pytest.approx(0.0, abs=1e-9)
