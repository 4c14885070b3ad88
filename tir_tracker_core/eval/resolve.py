"""Any tracker SPEC (ours or an OpenCV peer) as factories of fresh trackers for evaluation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..api import build_trackers
from ..models import count_macs, count_params
from ..specs import parse_spec
from .adapters import MultiFromSingle, OursSingle

__all__ = ["ResolvedTracker", "resolve"]


@dataclass
class ResolvedTracker:
    """A SPEC ready for evaluation: factories of fresh trackers for both protocols."""

    name: str
    single: Callable[[], Any]  # factory of single-target trackers (eval.runner)
    multi: Callable[[], Any]  # factory of multi-target trackers (eval.bench, eval.probe)
    params: int | None = None
    macs: int | None = None


def resolve(spec: str, backend: str = "torch", device: str = "cpu",
            backend_options: dict[str, Any] | None = None, count_ops: bool = True,
            tracker_overrides: dict[str, Any] | None = None) -> ResolvedTracker:
    """Turn a SPEC into factories; our network is loaded once and shared by the factories.

    ``count_ops``: count the network's MACs (a traced forward pass) for the result tables.
    """
    p = parse_spec(spec, backend)
    if not p.is_ours:
        from .peers import build_peer  # OpenCV's trackers load only when a peer is asked for

        factory = build_peer(p.text, threads=(backend_options or {}).get("threads"))
        return ResolvedTracker(p.name, factory, lambda: MultiFromSingle(factory))
    trackers = build_trackers(p, device=device, tracker=tracker_overrides,
                              backend_options=backend_options)
    macs = count_macs(trackers.net) if count_ops else None
    return ResolvedTracker(p.name, lambda: OursSingle(trackers(), p.name), trackers,
                           count_params(trackers.net), macs)
