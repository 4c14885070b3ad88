"""Public entry points, and the one tracker builder every caller uses.

``load_tracker`` (the ROS node and users), ``eval.resolve`` (eval / bench / probe) and the
``multitarget`` command all build their trackers through :func:`build_trackers`. The SPEC
grammar and ``load_model`` (the network a SPEC names) live in :mod:`tir_tracker_core.specs`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from . import backends, config
from .backends import Backend
from .config import FrameConfig, ModelConfig, TrackerConfig, from_dict, to_dict
from .models import SiameseNet
from .models.nanotrack_import import nanotrack_tracker_config
from .specs import (DEFAULT_MODEL, ModelInfo, TrackerSpec, default_checkpoint_path,
                    load_model, model_spec)
from .tracking import Tracker

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrackerBuilder:
    """A network on its inference backend, with the tracker and frame configs to use.

    Calling it makes a fresh :class:`Tracker`. Every tracker made shares the backend (the
    network holds no state; each tracker owns its template cache), so a tracker per sequence
    or per config variant costs no reload.
    """

    spec: TrackerSpec
    net: SiameseNet
    backend: Backend
    tracker_config: TrackerConfig
    frame_config: FrameConfig
    info: ModelInfo

    @property
    def name(self) -> str:
        """Name in result tables (``default@torch``)."""
        return self.spec.name

    def __call__(self) -> Tracker:
        return Tracker(self.backend, self.net.cfg, self.tracker_config, self.frame_config)

    def with_overrides(self, tracker: dict[str, Any] | None = None,
                       frame: dict[str, Any] | None = None) -> TrackerBuilder:
        """The same network and backend, with fields of the configs replaced (validated)."""
        return dataclasses.replace(self,
                                   tracker_config=config.replace(self.tracker_config, tracker),
                                   frame_config=config.replace(self.frame_config, frame))


def build_trackers(model: str | TrackerSpec = DEFAULT_MODEL, backend: str = "torch",
                   device: str = "cpu", tracker: dict[str, Any] | None = None,
                   frame: dict[str, Any] | None = None,
                   backend_options: dict[str, Any] | None = None) -> TrackerBuilder:
    """The tracker builder: load ``model``, apply the overrides, build the backend.

    ``model``: a model SPEC; its ``@BACKEND`` suffix wins over ``backend`` (a parsed
    :class:`TrackerSpec` carries its backend). ``tracker`` / ``frame`` override fields of the
    model's recommended ``TrackerConfig`` / ``FrameConfig`` (validated; unknown keys are
    rejected with the valid ones named) before anything is built. ``backend_options`` go to
    the backend (``threads``...).
    """
    spec = model_spec(model, backend)
    net, tcfg, fcfg, info = load_model(spec)
    tcfg, fcfg = config.replace(tcfg, tracker), config.replace(fcfg, frame)
    assert spec.backend is not None  # set for our specs
    be = backends.build_backend(spec.backend, net, device=device, **(backend_options or {}))
    log.info("tracker ready: model %s, backend %s on %s", info["name"], be.name, be.device)
    return TrackerBuilder(spec, net, be, tcfg, fcfg, info)


def load_tracker(model: str = DEFAULT_MODEL, backend: str = "torch", device: str = "cpu",
                 tracker: dict[str, Any] | None = None, frame: dict[str, Any] | None = None,
                 backend_options: dict[str, Any] | None = None) -> Tracker:
    """Build a ``Tracker`` for ``model`` on ``backend`` / ``device`` (see :func:`build_trackers`).

    ``tracker`` / ``frame`` override fields of the model's recommended ``TrackerConfig`` /
    ``FrameConfig`` (validated; unknown keys are rejected with the valid ones named).
    """
    return build_trackers(model, backend, device, tracker, frame, backend_options)()


__all__ = ["DEFAULT_MODEL", "ModelConfig", "TrackerBuilder", "build_trackers",
           "default_checkpoint_path", "from_dict", "load_model", "load_tracker",
           "nanotrack_tracker_config", "to_dict"]
