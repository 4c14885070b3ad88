"""Inference backends: the networks behind a ``Tracker`` (PyTorch, ONNX Runtime, ...).

A backend takes pre-processed crops as float32 numpy arrays and returns numpy arrays; the
tracker owns the template-feature cache (opaque objects returned by ``template``).
"""

from .base import BACKENDS, Backend, build_backend
from . import torch_backend  # noqa: F401  (registers "torch")

__all__ = ["BACKENDS", "Backend", "build_backend"]
