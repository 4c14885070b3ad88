"""The ``auto`` backend: the fastest backend this machine can run."""

from __future__ import annotations

import importlib.util
import inspect
import logging
from typing import Any

from ..errors import ConfigError
from .base import BACKENDS, Backend
from .tensorrt_backend import tensorrt_status

log = logging.getLogger(__name__)

__all__ = ["auto_backend", "build_auto", "cpu_backend"]

_AUTO_CHOICES = ("tensorrt", "onnxruntime", "torch")


def cpu_backend() -> str:
    """The fastest installed backend that runs on the CPU: ``onnxruntime``, else ``torch``."""
    return "onnxruntime" if importlib.util.find_spec("onnxruntime") is not None else "torch"


def auto_backend() -> tuple[str, str]:
    """(backend name, device) of the fastest backend available: ``tensorrt`` on CUDA where
    torch-tensorrt is installed, else ``onnxruntime`` on the CPU, else ``torch`` on the CPU."""
    if tensorrt_status()[0]:
        return "tensorrt", "cuda"
    return cpu_backend(), "cpu"


def _options_of(name: str) -> set[str]:
    """Keyword options of backend ``name`` (its constructor's parameters)."""
    params = inspect.signature(BACKENDS.get(name)).parameters
    return {p for p in params if p not in ("self", "model", "device")}


@BACKENDS.register("auto")
def build_auto(model: Any, device: str = "auto", **options: Any) -> Backend:
    """Build the backend ``auto_backend()`` picks. A ``device`` other than "auto" narrows the
    choice: "cpu" never picks TensorRT; "cuda[:N]" picks TensorRT, else PyTorch on that GPU.
    Options of the other backends are accepted and dropped (so one configuration serves every
    machine); options no backend knows raise ``ConfigError``."""
    known = set().union(*(_options_of(n) for n in _AUTO_CHOICES))
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown backend option(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(known))}")
    name, dev = auto_backend()
    if device == "cpu" and name == "tensorrt":
        name, dev = cpu_backend(), "cpu"
    elif device not in ("auto", "cpu"):  # a GPU asked for: TensorRT, else PyTorch on it
        name = "tensorrt" if name == "tensorrt" else "torch"
        dev = device
    kept = {k: v for k, v in options.items() if k in _options_of(name)}
    dropped = sorted(set(options) - set(kept))
    log.info("auto backend: %s on %s%s", name, dev,
             f" (options for other backends dropped: {', '.join(dropped)})" if dropped else "")
    return BACKENDS.get(name)(model, device=dev, **kept)
