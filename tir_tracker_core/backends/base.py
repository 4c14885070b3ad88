"""Backend protocol and registry."""

from __future__ import annotations

import os
from typing import Any, Protocol

import numpy as np

from ..registry import Registry


class Backend(Protocol):
    """What every backend provides: the template branch and the fused search branch + head.

    A backend that can also run the backbone and the head apart (``features``, ``head``)
    lets the tracker search nearby targets on one shared canvas; that optional protocol is
    owned by its user, ``tracking.canvas.SplitBackbone``.
    """

    name: str
    device: str
    accepts_mono: bool  # takes grey (N,1,H,W) crops as well as (N,3,H,W) ones

    def template(self, crops: np.ndarray) -> list[Any]:
        """(K,3,E,E) float32 template crops -> one cached feature object per crop."""

    def track(self, feats: list[Any], crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cached features of N targets + (N,3,I,I) search crops -> cls (N,2,S,S), loc (N,4,S,S)."""


BACKENDS: Registry[Backend] = Registry("backend")


def build_backend(name: str, model: Any, device: str = "cpu", **kwargs: Any) -> Backend:
    """Build backend ``name`` for a ``SiameseNet`` (backends that need export do it here)."""
    return BACKENDS.get(name)(model, device=device, **kwargs)


def usable_cpus() -> int | None:
    """CPUs this process may run on (its affinity mask where the OS has one, else every CPU;
    None if unknown)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count()
