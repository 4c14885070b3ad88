"""Where a trained network starts (``model.init`` of ``train``; ``teacher`` / ``student`` of
``distill``), with the tracker and frame settings its final checkpoint recommends.

Model SPECs resolve through ``specs.load_model`` (below the public API), so that training does
not depend on ``api`` (trackers and backends).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..config import FrameConfig, TrackerConfig
from ..models import PRESETS, SiameseNet, at_search_size, build_model
from ..models.nanotrack_import import nanotrack_tracker_config
from ..specs import load_model


def init_model(spec: str, search_size: int = 0
               ) -> tuple[SiameseNet, TrackerConfig, FrameConfig, dict[str, Any]]:
    """``(network, tracker config, frame config, {"source": ...})`` of ``spec``: a preset name
    (random weights, seeded by the caller) or a model SPEC (``nanotrack:FILE.pth``,
    ``PATH.safetensors``, ``default``). ``search_size`` > 0: the same weights at a lower (or
    higher) input resolution, ``models.with_search_size``."""
    if spec in PRESETS:
        model = build_model(PRESETS.get(spec)())
        tcfg, fcfg = nanotrack_tracker_config(spec), FrameConfig()
        info: dict[str, Any] = {"source": f"preset:{spec}"}
    else:
        model, tcfg, fcfg, loaded = load_model(spec)
        info = {"source": loaded.get("source", spec)}
        digest = _sha256(info["source"])
        if digest:
            info["sha256"] = digest  # which weights, whatever the path holds later
    return at_search_size(model, search_size), tcfg, fcfg, info


def _sha256(source: str) -> str | None:
    """SHA-256 of the weights file a model source names (``nanotrack:FILE`` or a path)."""
    path = Path(source.split(":", 1)[1] if source.startswith("nanotrack:") else source)
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()
