"""Tiny models and configs for the training tests (CPU, a few seconds per run)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tir_tracker_core.checkpoint import Checkpoint, save_checkpoint
from tir_tracker_core.config import (BackboneConfig, BlockSpec, HeadConfig, ModelConfig,
                                     TowerLayer)
from tir_tracker_core.models import build_model


def tiny_model_config() -> ModelConfig:
    """Stride-16 network on 63 / 127 crops: 4x4 template map, 8x8 score map."""
    return ModelConfig(
        name="tiny",
        backbone=BackboneConfig(stem=8, blocks=(
            BlockSpec(3, 8, 8, 0, False, 2), BlockSpec(3, 24, 12, 0, False, 2),
            BlockSpec(3, 32, 16, 8, True, 2), BlockSpec(3, 32, 16, 8, True, 1))),
        head=HeadConfig(style="pw", in_channels=16, corr_channels=16, template_positions=16,
                        cls_tower=(TowerLayer(3, 16), TowerLayer(3, 16)),
                        bbox_tower=(TowerLayer(3, 16), TowerLayer(3, 16))),
        exemplar_size=63, instance_size=127, stride=16, score_size=8)


@pytest.fixture(scope="session")
def tiny_init(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny checkpoint to start training from."""
    torch.manual_seed(0)
    model = build_model(tiny_model_config())
    path = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    return save_checkpoint(Checkpoint(model.cfg, model.state_dict()), path)


@pytest.fixture(scope="session")
def tiny_cfg() -> ModelConfig:
    return tiny_model_config()


@pytest.fixture()
def train_dict(tiny_init: Path):
    """``train_dict(steps) -> dict`` of a tiny training config (plain YAML-like dict)."""
    return lambda steps=8: _train_dict(tiny_init, steps)


def _train_dict(init: Path, steps: int) -> dict:
    return {
        "model": {"init": str(init)},
        "data": [{"kind": "synthetic", "count": 3, "seed": 7, "frames": 30, "width": 160,
                  "height": 128, "targets": 1}],
        "sampler": {"search_shift": 24, "negative": 0.1},
        "optim": {"steps": steps, "batch_size": 4, "lr": 1e-3, "warmup_steps": 2,
                  "schedule": "cosine"},
        "log": {"every": 1, "progress": False, "tensorboard": False},
        "checkpoint": {"every": 4, "keep": 3},
        "seed": 3,
        "device": "cpu",
        "threads": 1,
    }

