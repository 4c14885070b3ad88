"""Where a trained network starts (``model.init`` of ``train``; ``teacher`` / ``student`` of
``distill``), with the tracker and frame settings its final checkpoint recommends.

Resolved from the layers below the public API (``specs`` for the SPEC grammar, ``models``,
``checkpoint``), so that training does not depend on ``api`` (trackers and backends).
"""

from __future__ import annotations

from typing import Any

from ..checkpoint import build_from_checkpoint, load_checkpoint
from ..config import FrameConfig, TrackerConfig
from ..errors import ConfigError
from ..models import PRESETS, SiameseNet, build_model
from ..models.nanotrack_import import load_nanotrack, nanotrack_tracker_config
from ..specs import parse_spec

INIT_SPECS = ("PRESET (random weights)", "nanotrack:FILE.pth", "PATH.safetensors", "default")


def init_model(spec: str) -> tuple[SiameseNet, TrackerConfig, FrameConfig, dict[str, Any]]:
    """``(network, tracker config, frame config, {"source": ...})`` of ``spec``: a preset name
    (random weights, seeded by the caller), ``nanotrack:FILE.pth``, a ``.safetensors``
    checkpoint of ours or ``default`` (the shipped checkpoint)."""
    if spec in PRESETS:
        model = build_model(PRESETS.get(spec)())
        return model, nanotrack_tracker_config(spec), FrameConfig(), {"source": f"preset:{spec}"}
    parsed = parse_spec(spec)
    if parsed.kind == "nanotrack":
        model = load_nanotrack(parsed.target)
        return (model, nanotrack_tracker_config(model.cfg.name), FrameConfig(),
                {"source": parsed.model})
    if parsed.kind == "opencv" or parsed.path is None:
        raise ConfigError(f"cannot train from {spec!r}; start from one of: "
                          f"{', '.join(INIT_SPECS)}")
    ckpt = load_checkpoint(parsed.path)
    return build_from_checkpoint(ckpt), ckpt.tracker, ckpt.frame, {"source": str(parsed.path)}
