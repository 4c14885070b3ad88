"""Where a trained network starts (``model.init`` of ``train``; ``teacher`` / ``student`` of
``distill``), with the tracker and frame settings its final checkpoint recommends.

Model SPECs resolve through ``specs.load_model`` (below the public API), so that training does
not depend on ``api`` (trackers and backends).
"""

from __future__ import annotations

from typing import Any

from ..config import FrameConfig, TrackerConfig
from ..models import PRESETS, SiameseNet, build_model
from ..models.nanotrack_import import nanotrack_tracker_config
from ..specs import load_model


def init_model(spec: str) -> tuple[SiameseNet, TrackerConfig, FrameConfig, dict[str, Any]]:
    """``(network, tracker config, frame config, {"source": ...})`` of ``spec``: a preset name
    (random weights, seeded by the caller) or a model SPEC (``nanotrack:FILE.pth``,
    ``PATH.safetensors``, ``default``)."""
    if spec in PRESETS:
        model = build_model(PRESETS.get(spec)())
        return model, nanotrack_tracker_config(spec), FrameConfig(), {"source": f"preset:{spec}"}
    model, tcfg, fcfg, info = load_model(spec)
    return model, tcfg, fcfg, {"source": info.get("source", spec)}
