"""Fixtures shared by the training and distillation tests: a tiny model (CPU, a few seconds
per run) and a free TCP port for torchrun."""

from __future__ import annotations

import socket
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
def free_port() -> int:
    """A TCP port nobody listens on (torchrun's rendezvous)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
