"""TensorRT backend through torch-tensorrt (NVIDIA GPUs; FP16, or INT8 calibrated on thermal
crops).

torch-tensorrt is optional at install time and imported only when the backend is built. On a
machine without CUDA or without torch-tensorrt, building the backend raises
``BackendUnavailableError`` naming what is missing and how to install it.

The two branches compiled are the template and track branches exported to ONNX
(``inference.inference_modules``: BatchNorm folded, batch-independent depth-wise correlation),
each with a dynamic batch axis from 1 to ``max_batch`` targets. The backbone and head are not
compiled apart, so this backend searches every target alone (no shared search canvases).
Template features stay on the GPU between frames.

INT8 uses NVIDIA ModelOpt post-training quantization (``pip install nvidia-modelopt``): the
branches are calibrated on template and search crops cut from thermal frames around their
targets (``calibration.calibration_crops``), then compiled with INT8 and FP16 kernels enabled.

Status: written against the torch-tensorrt 2.x dynamo API; the GPU path has not been run in
this repository's CI (no GPU). Its CPU-side logic (availability checks, crop preparation,
batching) is tested with a stand-in compiler.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from typing import Any

import numpy as np
import torch

from ..errors import BackendUnavailableError, ConfigError
from .base import BACKENDS
from .inference import inference_modules

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")

INSTALL_HINT = (
    "install the torch-tensorrt release built for torch {torch} ('pip install torch-tensorrt', "
    "pinned to the version matching torch {torch} and your CUDA) together with a CUDA build of "
    "torch, on a machine with an NVIDIA GPU and its driver")


def _install_hint() -> str:
    return INSTALL_HINT.format(torch=torch.__version__.split("+")[0])


def tensorrt_status() -> tuple[bool, str]:
    """(available, reason): whether the ``tensorrt`` backend can be built here, and if not why."""
    missing = []
    if not torch.cuda.is_available():
        build = "a CPU-only build of torch" if torch.version.cuda is None else "no visible GPU"
        missing.append(f"CUDA is not available ({build}); TensorRT needs an NVIDIA GPU")
    if importlib.util.find_spec("torch_tensorrt") is None:
        missing.append("the torch_tensorrt package is not installed")
    if missing:
        return False, "; ".join(missing)
    return True, "CUDA and torch_tensorrt found"


def _unavailable(reason: str) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"backend 'tensorrt' cannot run here: {reason}. To use it, {_install_hint()}. "
        "Otherwise use backend 'onnxruntime' (CPU) or 'torch', or 'auto' to pick the best "
        "available.")


def _import_torch_tensorrt() -> Any:
    ok, reason = tensorrt_status()
    if not ok:
        raise _unavailable(reason)
    try:
        return importlib.import_module("torch_tensorrt")
    except Exception as e:  # a broken install raises ImportError, OSError (libnvinfer), ...
        raise _unavailable(f"importing torch_tensorrt failed ({type(e).__name__}: {e})") from None


# --------------------------------------------------------------------------- backend


def _torch_device(device: str) -> torch.device:
    dev = torch.device("cuda" if device in ("auto", "cuda") else device)
    if dev.type != "cuda":
        raise ConfigError(f"backend 'tensorrt' runs on CUDA devices only, got device {device!r}; "
                          "use 'cuda' or 'cuda:N'")
    return dev


@BACKENDS.register("tensorrt")
class TensorRTBackend:
    """Both branches compiled by torch-tensorrt, dynamic batch 1..``max_batch``.

    Options: ``precision`` ("fp16" default, "fp32", "int8"), ``max_batch`` (most targets per
    frame, default 32), ``opt_batch`` (batch the kernels are tuned for, default 1),
    ``calibration`` (INT8 only: ``(template_crops, search_crops)`` from ``calibration_crops``),
    ``workspace_mb`` (TensorRT builder workspace).
    """

    name = "tensorrt"
    accepts_mono = True

    def __init__(self, model: Any, device: str = "cuda", *, precision: str = "fp16",
                 max_batch: int = 32, opt_batch: int = 1,
                 calibration: tuple[np.ndarray, np.ndarray] | None = None,
                 workspace_mb: int = 1024) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if not 1 <= opt_batch <= max_batch:
            raise ConfigError(f"need 1 <= opt_batch <= max_batch, got {opt_batch}, {max_batch}")
        if precision == "int8" and calibration is None:
            raise ConfigError("precision 'int8' needs calibration crops: pass calibration="
                              "calibration_crops(frames, boxes, model.cfg) from thermal frames")
        trt = _import_torch_tensorrt()
        self._dev = _torch_device(device)
        self.device = str(self._dev)
        self.precision = precision
        self.max_batch = max_batch
        cfg = model.cfg
        self.model_cfg = cfg
        tpl, trk = inference_modules(model, fold_bn=True)
        tpl, trk = tpl.to(self._dev), trk.to(self._dev)
        with torch.inference_mode():
            zf = tpl(torch.zeros(1, 3, cfg.exemplar_size, cfg.exemplar_size, device=self._dev))
        feat = tuple(zf.shape[1:])
        self.feature_shape = feat
        if precision == "int8":
            tpl, trk = self._quantize(tpl, trk, calibration)

        def spec(*shape: int) -> Any:
            return trt.Input(min_shape=(1, *shape), opt_shape=(opt_batch, *shape),
                             max_shape=(max_batch, *shape), dtype=torch.float32)

        precisions = {"fp32": {torch.float32}, "fp16": {torch.float32, torch.float16},
                      "int8": {torch.float32, torch.float16, torch.int8}}[precision]
        kw = dict(ir="dynamo", enabled_precisions=precisions, min_block_size=1,
                  workspace_size=workspace_mb << 20)
        e, i = cfg.exemplar_size, cfg.instance_size
        with self._export_mode():
            self._template = trt.compile(tpl, inputs=[spec(3, e, e)], **kw)
            self._track = trt.compile(trk, inputs=[spec(*feat), spec(3, i, i)], **kw)
        log.info("tensorrt backend: %s, %s, batch 1..%d on %s", cfg.name, precision, max_batch,
                 self.device)

    def _export_mode(self) -> Any:
        import contextlib

        if self.precision != "int8":
            return contextlib.nullcontext()
        from modelopt.torch.quantization.utils import export_torch_mode

        return export_torch_mode()

    def _quantize(self, tpl: torch.nn.Module, trk: torch.nn.Module,
                  calibration: tuple[np.ndarray, np.ndarray]) -> tuple[Any, Any]:
        try:
            import modelopt.torch.quantization as mtq
        except ImportError:
            raise _unavailable("precision 'int8' needs NVIDIA ModelOpt (pip install "
                               "nvidia-modelopt), which is not installed") from None
        z, x = (torch.from_numpy(np.ascontiguousarray(a, np.float32)) for a in calibration)
        if len(z) != len(x) or len(z) == 0:
            raise ConfigError("calibration must be (template_crops, search_crops) of equal, "
                              "non-zero length")
        step = max(1, min(self.max_batch, 8))

        def loop_tpl(m: torch.nn.Module) -> None:
            for k in range(0, len(z), step):
                m(z[k:k + step].to(self._dev))

        mtq.quantize(tpl, mtq.INT8_DEFAULT_CFG, forward_loop=loop_tpl)
        with torch.inference_mode():
            zf = torch.cat([tpl(z[k:k + step].to(self._dev)) for k in range(0, len(z), step)])

        def loop_trk(m: torch.nn.Module) -> None:
            for k in range(0, len(x), step):
                m(zf[k:k + step].clone(), x[k:k + step].to(self._dev))

        mtq.quantize(trk, mtq.INT8_DEFAULT_CFG, forward_loop=loop_trk)
        log.info("int8 calibration on %d thermal crop pairs", len(z))
        return tpl, trk

    def _check_batch(self, n: int) -> None:
        if n > self.max_batch:
            raise ConfigError(f"{n} targets exceed the TensorRT engine's max_batch "
                              f"{self.max_batch}; rebuild the backend with a larger max_batch")

    def _upload(self, crops: np.ndarray) -> torch.Tensor:
        """Crops to the device; grey (N,1,S,S) crops are copied once and expanded there."""
        self._check_batch(len(crops))
        if crops.shape[1] not in (1, 3):
            raise ValueError(f"crops must have 1 or 3 channels, got {crops.shape[1]}")
        t = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32)).to(self._dev)
        return t.expand(-1, 3, -1, -1).contiguous() if t.shape[1] == 1 else t

    @torch.inference_mode()
    def template(self, crops: np.ndarray) -> list[Any]:
        zf = self._template(self._upload(crops))
        return list(zf.float())

    @torch.inference_mode()
    def track(self, feats: list[Any], crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cls, loc = self._track(torch.stack(feats), self._upload(crops))
        return cls.float().cpu().numpy(), loc.float().cpu().numpy()
