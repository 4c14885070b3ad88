"""Tiny models and configs for the training tests (CPU, a few seconds per run)."""

from __future__ import annotations

from pathlib import Path

import pytest


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

