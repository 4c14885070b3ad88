"""TensorRT backend through torch-tensorrt (NVIDIA GPUs; FP16, or INT8 calibrated on thermal
crops), and the ``auto`` backend that picks the fastest backend this machine can run.

torch-tensorrt is optional at install time and imported only when the backend is built. On a
machine without CUDA or without torch-tensorrt, building the backend raises
``BackendUnavailableError`` naming what is missing and how to install it.

The two branches compiled are the ones exported to ONNX (``export.inference_modules``: BatchNorm
folded, batch-independent depth-wise correlation), each with a dynamic batch axis from 1 to
``max_batch`` targets. Template features stay on the GPU between frames.

INT8 uses NVIDIA ModelOpt post-training quantization (``pip install nvidia-modelopt``): the
branches are calibrated on template and search crops cut from thermal frames around their
targets (``calibration_crops``), then compiled with INT8 and FP16 kernels enabled.

Status: written against the torch-tensorrt 2.x dynamo API; the GPU path has not been run in
this repository's CI (no GPU). Its CPU-side logic (availability checks, auto selection, crop
preparation, batching) is tested with a stand-in compiler.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import BackendUnavailableError, ConfigError
from .base import BACKENDS
from .export import inference_modules

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


def auto_backend() -> tuple[str, str]:
    """(backend name, device) of the fastest backend available: ``tensorrt`` on CUDA where
    torch-tensorrt is installed, else ``onnxruntime`` on the CPU, else ``torch`` on the CPU."""
    if tensorrt_status()[0]:
        return "tensorrt", "cuda"
    if importlib.util.find_spec("onnxruntime") is not None:
        return "onnxruntime", "cpu"
    return "torch", "cpu"


# --------------------------------------------------------------------------- calibration


def calibration_crops(frames: Sequence[np.ndarray], boxes: Sequence[Sequence[float]],
                      model_cfg: Any, frame_cfg: Any = None, jitter: float = 0.1,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Template and search crops (float32, NCHW) cut from ``frames`` around ``boxes`` (one
    ``(x, y, w, h)`` per frame), as the tracker cuts them; search crops are shifted by up to
    ``jitter`` of the context size so the calibration sees off-centre targets too."""
    from ..config import FrameConfig, TrackerConfig
    from ..frames import to_bgr8
    from ..tracking.tracker import crop_batch

    if len(frames) != len(boxes) or not frames:
        raise ConfigError(f"calibration needs one box per frame, got {len(frames)} frames and "
                          f"{len(boxes)} boxes")
    ctx_amount = TrackerConfig().context_amount
    rng = np.random.default_rng(seed)
    zs, xs = [], []
    for frame, box in zip(frames, boxes):
        img = to_bgr8(frame, frame_cfg or FrameConfig())
        x, y, w, h = (float(v) for v in box)
        center = np.array([[x + (w - 1) / 2, y + (h - 1) / 2]])
        ctx = ctx_amount * (w + h)
        s_z = np.sqrt((w + ctx) * (h + ctx))
        s_x = np.round(s_z * model_cfg.instance_size / model_cfg.exemplar_size)
        avg = [tuple(float(v) for v in img.reshape(-1, 3).mean(0))]
        zs.append(crop_batch(img, center, np.array([round(s_z)], np.float64),
                             model_cfg.exemplar_size, avg))
        shift = rng.uniform(-jitter, jitter, (1, 2)) * s_z
        xs.append(crop_batch(img, center + shift, np.array([s_x]), model_cfg.instance_size, avg))
    return np.concatenate(zs), np.concatenate(xs)


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


# --------------------------------------------------------------------------- auto


_AUTO_CHOICES = ("tensorrt", "onnxruntime", "torch")


def _options_of(name: str) -> set[str]:
    """Keyword options of backend ``name`` (its constructor's parameters)."""
    import inspect

    params = inspect.signature(BACKENDS.get(name)).parameters
    return {p for p in params if p not in ("self", "model", "device")}


@BACKENDS.register("auto")
def build_auto(model: Any, device: str = "auto", **options: Any) -> Any:
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
        name = "onnxruntime" if importlib.util.find_spec("onnxruntime") else "torch"
        dev = "cpu"
    elif device not in ("auto", "cpu"):  # a GPU asked for: TensorRT, else PyTorch on it
        name = "tensorrt" if name == "tensorrt" else "torch"
        dev = device
    kept = {k: v for k, v in options.items() if k in _options_of(name)}
    dropped = sorted(set(options) - set(kept))
    log.info("auto backend: %s on %s%s", name, dev,
             f" (options for other backends dropped: {', '.join(dropped)})" if dropped else "")
    return BACKENDS.get(name)(model, device=dev, **kept)
