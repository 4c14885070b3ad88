"""Tracker specs as used on the command line, resolved to tracker factories.

SPEC grammar (stable, scripts drive it)::

    default                      the checkpoint shipped in the package
    PATH.safetensors             a checkpoint of ours (its .json beside it)
    nanotrack:FILE.pth           an off-the-shelf NanoTrack v1/v2/v3 checkpoint, our runtime
    opencv:csrt | opencv:kcf | opencv:mil
    opencv:nano:DIR              OpenCV's TrackerNano on the NanoTrack ONNX files in DIR

Our specs take an optional ``@BACKEND`` suffix (``default@onnxruntime``) choosing the
inference backend; without it the ``backend`` argument applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .api import load_model
from .backends import build_backend
from .errors import ConfigError
from .tracking import Box, Track, Tracker

OPENCV_PREFIX = "opencv:"


@dataclass(frozen=True)
class ParsedSpec:
    spec: str
    model: str | None  # None for OpenCV peers
    backend: str | None

    @property
    def is_ours(self) -> bool:
        return self.model is not None


def parse_spec(spec: str, backend: str = "torch") -> ParsedSpec:
    if spec.startswith(OPENCV_PREFIX):
        return ParsedSpec(spec, None, None)
    model, _, be = spec.partition("@")
    if not model:
        raise ConfigError(f"tracker spec {spec!r} names no model; use default, a .safetensors "
                          "checkpoint, nanotrack:FILE.pth or opencv:NAME")
    if model != "default" and not model.startswith("nanotrack:") and not Path(model).exists():
        raise ConfigError(f"tracker spec {spec!r}: file {model} does not exist; valid specs: "
                          "default, PATH.safetensors, nanotrack:FILE.pth, opencv:csrt, "
                          "opencv:kcf, opencv:mil, opencv:nano:DIR")
    return ParsedSpec(spec, model, be or backend)


def display_name(p: ParsedSpec, info: dict[str, Any] | None = None) -> str:
    if not p.is_ours:
        return p.spec
    base = p.model if p.model == "default" else Path(p.model.split(":", 1)[-1]).stem
    return f"{base}@{p.backend}"


class OursSingle:
    """Our multi-target ``Tracker`` seen through the single-target evaluation protocol."""

    def __init__(self, tracker: Tracker, name: str) -> None:
        self.tracker = tracker
        self.name = name

    def init(self, frame: np.ndarray, box: Box) -> None:
        self.tracker.init(frame, [box])

    def track(self, frame: np.ndarray) -> tuple[Box, float]:
        (t,) = self.tracker.update(frame)
        return t.box, t.score


@dataclass
class ResolvedTracker:
    name: str
    single: Callable[[], Any]  # factory of single-target trackers (evaluation)
    multi: Callable[[], Any]  # factory of multi-target trackers (benchmark)
    params: int | None = None
    macs: int | None = None


def resolve(spec: str, backend: str = "torch", device: str = "cpu",
            backend_options: dict[str, Any] | None = None, count_ops: bool = True,
            tracker_overrides: dict[str, Any] | None = None) -> ResolvedTracker:
    """Turn a SPEC into factories; the network is loaded once and shared by the factories."""
    p = parse_spec(spec, backend)
    if not p.is_ours:
        from .eval.bench import MultiFromSingle
        from .eval.peers import build_peer

        factory = build_peer(spec)
        return ResolvedTracker(spec, factory, lambda: MultiFromSingle(factory))
    from .config import replace
    from .models import count_macs, count_params

    net, tcfg, fcfg, info = load_model(p.model)
    tcfg = replace(tcfg, tracker_overrides)
    params = count_params(net)
    macs = count_macs(net) if count_ops else None
    be = build_backend(p.backend, net, device=device, **(backend_options or {}))
    name = display_name(p, info)

    def make() -> Tracker:
        return Tracker(be, net.cfg, tcfg, fcfg)

    return ResolvedTracker(name, lambda: OursSingle(make(), name), make, params, macs)


__all__ = ["OursSingle", "ParsedSpec", "ResolvedTracker", "Track", "parse_spec",
           "resolve"]
