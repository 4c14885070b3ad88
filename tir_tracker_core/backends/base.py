"""Backend protocol and registry."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..registry import Registry


class Backend(Protocol):
    name: str
    device: str

    def template(self, crops: np.ndarray) -> list[Any]:
        """(K,3,E,E) float32 template crops -> one cached feature object per crop."""

    def track(self, feats: list[Any], crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cached features of N targets + (N,3,I,I) search crops -> cls (N,2,S,S), loc (N,4,S,S)."""

    def features(self, images: np.ndarray) -> np.ndarray:
        """(B,3,H,W) float32 images of any size (shared search canvases) -> backbone features."""

    def head(self, feats: list[Any], xf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cached template features of N targets + (N,C,s,s) search features -> cls, loc."""


BACKENDS: Registry[Backend] = Registry("backend")


def build_backend(name: str, model: Any, device: str = "cpu", **kwargs: Any) -> Backend:
    """Build backend ``name`` for a ``SiameseNet`` (backends that need export do it here)."""
    return BACKENDS.get(name)(model, device=device, **kwargs)
