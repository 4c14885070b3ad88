"""Public entry points: build a ready-to-use ``Tracker`` from a model spec."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

from . import backends
from .checkpoint import Checkpoint, build_from_checkpoint, load_checkpoint
from .config import FrameConfig, ModelConfig, TrackerConfig, from_dict, replace, to_dict
from .errors import ModelLoadError
from .models import SiameseNet
from .tracking import Tracker

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
NANOTRACK_PREFIX = "nanotrack:"


def default_checkpoint_path() -> Path:
    """The checkpoint shipped inside the package (used when the user gives no model)."""
    return Path(str(resources.files("tir_tracker_core") / "weights" / "default.safetensors"))


def load_model(spec: str = DEFAULT_MODEL) -> tuple[SiameseNet, TrackerConfig, FrameConfig, dict]:
    """Resolve a model spec to (network, recommended tracker config, frame config, info).

    ``spec``: ``"default"`` (the shipped checkpoint), a ``.safetensors`` checkpoint of ours, or
    ``"nanotrack:FILE.pth"`` (an off-the-shelf NanoTrack v1/v2/v3 checkpoint).
    """
    if spec.startswith(NANOTRACK_PREFIX):
        from .models.nanotrack_import import load_nanotrack

        path = spec[len(NANOTRACK_PREFIX):]
        model = load_nanotrack(path)
        tcfg = nanotrack_tracker_config(model.cfg.name)
        return model, tcfg, FrameConfig(), {"source": spec, "name": model.cfg.name}
    path = default_checkpoint_path() if spec == DEFAULT_MODEL else Path(spec)
    if path.suffix == ".pth":
        raise ModelLoadError(f"{path} is a PyTorch pickle; for NanoTrack files use the spec "
                             f"'nanotrack:{path}', our own checkpoints are .safetensors")
    ckpt: Checkpoint = load_checkpoint(path)
    model = build_from_checkpoint(ckpt)
    return model, ckpt.tracker, ckpt.frame, {"source": str(path), "name": ckpt.model.name,
                                             "provenance": ckpt.provenance}


def nanotrack_tracker_config(name: str) -> TrackerConfig:
    """Post-processing settings published with each NanoTrack version.

    The peak-to-sidelobe lost test is off (``lost_psr=0``): it is calibrated for our thermal
    models, and the RGB NanoTrack's response on thermal frames is too flat for it, so it
    would report visible targets as lost (measured on the synthetic held-out set).
    """
    if name == "nanotrack_v3":
        return TrackerConfig(window_influence=0.455, penalty_k=0.138, lr=0.348, lost_psr=0.0)
    return TrackerConfig(window_influence=0.490, penalty_k=0.150, lr=0.385, lost_psr=0.0)


def load_tracker(model: str = DEFAULT_MODEL, backend: str = "torch", device: str = "cpu",
                 tracker: dict[str, Any] | None = None, frame: dict[str, Any] | None = None,
                 backend_options: dict[str, Any] | None = None) -> Tracker:
    """Build a ``Tracker`` for ``model`` on ``backend`` / ``device``.

    ``tracker`` / ``frame`` override fields of the model's recommended ``TrackerConfig`` /
    ``FrameConfig`` (validated; unknown keys are rejected with the valid ones named).
    """
    net, tcfg, fcfg, info = load_model(model)
    tcfg = replace(tcfg, tracker)
    fcfg = replace(fcfg, frame)
    be = backends.build_backend(backend, net, device=device, **(backend_options or {}))
    log.info("tracker ready: model %s, backend %s on %s", info["name"], be.name, be.device)
    return Tracker(be, net.cfg, tcfg, fcfg)


__all__ = ["DEFAULT_MODEL", "ModelConfig", "default_checkpoint_path", "from_dict", "load_model",
           "load_tracker", "nanotrack_tracker_config", "to_dict"]
