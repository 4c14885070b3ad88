"""Tiny models and configs for the distillation tests (CPU, a few seconds per run)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def distill_dict(tiny_init: Path):
    """``distill_dict(steps, ratio) -> dict`` of a tiny distillation config."""
    return lambda steps=8, ratio=0.3: _distill_dict(tiny_init, steps, ratio)


def _distill_dict(init: Path, steps: int, ratio: float) -> dict:
    return {
        "teacher": str(init),
        "data": [{"kind": "synthetic", "count": 3, "seed": 7, "frames": 30, "width": 160,
                  "height": 128, "targets": 1}],
        "sampler": {"search_shift": 24, "negative": 0.1},
        "loss": {"feature": {"levels": [2, 4]}},
        "prune": {"ratio": ratio, "stages": 2, "start": 0, "interval": 4},
        "optim": {"steps": steps, "batch_size": 4, "lr": 1e-3, "warmup_steps": 2},
        "log": {"every": 1, "progress": False, "tensorboard": False},
        "checkpoint": {"every": 2, "keep": 2},
        "seed": 3,
        "device": "cpu",
        "threads": 1,
    }
