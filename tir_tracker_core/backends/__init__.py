"""Inference backends: the networks behind a ``Tracker`` (PyTorch, ONNX Runtime, TensorRT).

A backend takes pre-processed crops as float32 numpy arrays and returns numpy arrays; the
tracker owns the template-feature cache (opaque objects returned by ``template``).
"""

from .base import BACKENDS, Backend, build_backend
from . import torch_backend  # noqa: F401  (registers "torch")
from . import onnx_backend  # noqa: F401  (registers "onnxruntime")
from . import tensorrt_backend  # noqa: F401  (registers "tensorrt"; imports torch_tensorrt lazily)
from . import auto  # noqa: F401  (registers "auto")
from .auto import auto_backend
from .tensorrt_backend import tensorrt_status

__all__ = ["BACKENDS", "Backend", "auto_backend", "build_backend", "tensorrt_status",
           "thread_options"]


def thread_options(backend: str, threads: int | None) -> dict[str, int] | None:
    """Backend options that hold a tracker to ``threads`` CPU threads per network run, one run
    at a time (ONNX Runtime's ``workers`` 1), for like-for-like timing; None: each backend's
    defaults (``threads`` None or 0)."""
    if not threads:
        return None
    if backend in ("onnxruntime", "auto"):  # "auto" drops the options of backends it skips
        return {"threads": threads, "workers": 1}
    return {"threads": threads}
