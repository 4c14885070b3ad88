"""Export of a ``SiameseNet`` to four ONNX graphs, with parity checks and a content-keyed cache.

The tracker runs the template branch once per target and the search branch once per frame, so
the network is exported as NanoTrack's split, with the head fused to the search backbone:

- ``template.onnx``: ``z`` (B, 3, E, E) float32 -> ``zf`` (B, C, h, w)
- ``track.onnx``: ``zf`` (B, C, h, w), ``x`` (B, 3, I, I) float32 -> ``cls`` (B, 2, S, S),
  ``loc`` (B, 4, S, S)

and, for targets searched on one shared canvas, the same networks split the other way:

- ``backbone.onnx``: ``x`` (B, 3, H, W) of any size -> ``xf``
- ``head.onnx``: ``zf``, ``xf`` -> ``cls``, ``loc``

each with a dynamic batch axis ``B`` (one row per target). Crops are float BGR in
``[0, model.cfg.input_scale]``, exactly what ``Tracker`` feeds every backend. What is exported
are the modules of ``inference.inference_modules`` (BatchNorm folded, batch-independent
depth-wise correlation), the ones the TensorRT backend compiles too.

Exports are cached: ``cached_export(model)`` writes under ``<cache>/<key>/`` where ``key``
hashes the state dict, the model config, the export options and the exporter's version, so
building the ONNX Runtime backend twice for the same checkpoint exports once. The cache root is
``$TIR_TRACKER_CACHE/onnx``, else ``$XDG_CACHE_HOME/tir_tracker/onnx``, else
``~/.cache/tir_tracker/onnx``; where it cannot be written the export goes to a temporary
folder for the process (a warning says so).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig, from_dict, to_dict
from ..errors import ExportError
from .inference import HeadBranch, inference_modules

log = logging.getLogger(__name__)

EXPORT_FORMAT = "tir_tracker.onnx_export"
EXPORT_FORMAT_VERSION = 2
DEFAULT_OPSET = 17
META_FILE = "export.json"
TEMPLATE_FILE = "template.onnx"
BACKBONE_FILE = "backbone.onnx"
HEAD_FILE = "head.onnx"
TRACK_FILE = "track.onnx"


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """Paths and metadata of one exported model (the contents of ``export.json``)."""

    directory: Path
    key: str
    model: ModelConfig
    opset: int
    dynamic_batch: bool
    fold_bn: bool
    feature_shape: tuple[int, int, int]  # (C, h, w) of the template features
    parity: dict[str, float]  # max abs / rel errors of the verification run

    @property
    def template(self) -> Path:
        return self.directory / TEMPLATE_FILE

    @property
    def track(self) -> Path:
        return self.directory / TRACK_FILE

    @property
    def backbone(self) -> Path:
        """``x`` (B, 3, H, W) of any size -> ``xf``: search features of shared canvases."""
        return self.directory / BACKBONE_FILE

    @property
    def head(self) -> Path:
        """``zf``, ``xf`` -> ``cls``, ``loc``: the head alone."""
        return self.directory / HEAD_FILE


# --------------------------------------------------------------------------- keys, cache


def default_cache_dir() -> Path:
    """Root of the export cache (see the module docstring for the lookup order)."""
    if os.environ.get("TIR_TRACKER_CACHE"):
        return Path(os.environ["TIR_TRACKER_CACHE"]) / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tir_tracker" / "onnx"


def export_key(model: nn.Module, opset: int = DEFAULT_OPSET, dynamic_batch: bool = True,
               fold_bn: bool = True) -> str:
    """SHA-256 (first 20 hex digits) of the weights, the config and the export settings."""
    h = hashlib.sha256()
    head = {"format": EXPORT_FORMAT, "version": EXPORT_FORMAT_VERSION, "torch": torch.__version__,
            "opset": opset, "dynamic_batch": dynamic_batch, "fold_bn": fold_bn,
            "config": to_dict(model.cfg)}
    h.update(json.dumps(head, sort_keys=True).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:20]


def load_export(directory: str | Path) -> ExportedModel:
    """Read an export written by ``export_onnx``; raises ``ExportError`` if incomplete."""
    d = Path(directory)
    meta_path = d / META_FILE
    if not meta_path.is_file():
        raise ExportError(f"{d} holds no ONNX export ({META_FILE} missing); create one with "
                          "tir_tracker_core.backends.export.export_onnx")
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != EXPORT_FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, expected {EXPORT_FORMAT!r}")
        exp = ExportedModel(
            directory=d, key=meta["key"], model=from_dict(ModelConfig, meta["model"]),
            opset=int(meta["opset"]), dynamic_batch=bool(meta["dynamic_batch"]),
            fold_bn=bool(meta["fold_bn"]), feature_shape=tuple(meta["feature_shape"]),
            parity={k: float(v) for k, v in meta.get("parity", {}).items()})
    except (ValueError, KeyError, TypeError) as e:
        raise ExportError(f"{meta_path} is not a valid export description: {e}") from None
    for p in (exp.template, exp.track, exp.backbone, exp.head):
        if not p.is_file():
            raise ExportError(f"{p} is missing; delete {d} and export again")
    return exp


# --------------------------------------------------------------------------- export


def _onnx_export(module: nn.Module, args: tuple, path: Path, input_names: list[str],
                 output_names: list[str], opset: int, dynamic_batch: bool,
                 spatial: dict[str, dict[int, str]] | None = None) -> None:
    axes: dict[str, dict[int, str]] | None = None
    if dynamic_batch or spatial:
        axes = {n: ({0: "batch"} if dynamic_batch else {}) for n in input_names + output_names}
        for name, dims in (spatial or {}).items():
            axes[name].update(dims)
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of the torch.export one (which needs
        # onnxscript, not installed); shape reads of fixed spatial sizes warn as tracer
        # constants, which they are
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=opset,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=axes, do_constant_folding=True)


def _session(path: Path) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def verify_export(model: nn.Module, exported: ExportedModel, batch_sizes: tuple[int, ...] = (1, 3),
                  atol: float = 1e-3, rtol: float = 1e-3, seed: int = 0) -> dict[str, float]:
    """Run the four graphs in ONNX Runtime and the original model in PyTorch on the same random
    crops (and a canvas wider than one search crop); raise ``ExportError`` if any output differs
    by more than ``atol + rtol * |ref|``.

    Returns the worst absolute error per output (``zf``, ``cls``, ``loc``, ``canvas``).
    """
    cfg: ModelConfig = model.cfg
    net = copy.deepcopy(model).float().cpu().eval()
    tpl, trk = _session(exported.template), _session(exported.track)
    bb, hd = _session(exported.backbone), _session(exported.head)
    rng = np.random.default_rng(seed)
    worst = {"zf": 0.0, "cls": 0.0, "loc": 0.0, "canvas": 0.0}
    sizes = batch_sizes if exported.dynamic_batch else (1,)
    for b in sizes:
        z = rng.uniform(0, cfg.input_scale, (b, 3, cfg.exemplar_size, cfg.exemplar_size))
        x = rng.uniform(0, cfg.input_scale, (b, 3, cfg.instance_size, cfg.instance_size))
        z, x = z.astype(np.float32), x.astype(np.float32)
        with torch.inference_mode():
            zf_ref = net.backbone(torch.from_numpy(z))
            cls_ref, loc_ref = net.head(zf_ref, net.backbone(torch.from_numpy(x)))
        (zf,) = tpl.run(None, {"z": z})
        cls, loc = trk.run(None, {"zf": zf_ref.numpy(), "x": x})
        # the split path of shared search canvases: backbone on a canvas wider than one
        # search crop, and the head alone
        canvas = rng.uniform(0, cfg.input_scale, (b, 3, cfg.instance_size,
                                                  cfg.instance_size + 32)).astype(np.float32)
        with torch.inference_mode():
            cf_ref = net.backbone(torch.from_numpy(canvas))
            xf_ref = net.backbone(torch.from_numpy(x))
        (cf,) = bb.run(None, {"x": canvas})
        cls2, loc2 = hd.run(None, {"zf": zf_ref.numpy(), "xf": xf_ref.numpy()})
        for name, ref, out in (("zf", zf_ref.numpy(), zf), ("cls", cls_ref.numpy(), cls),
                               ("loc", loc_ref.numpy(), loc), ("canvas", cf_ref.numpy(), cf),
                               ("cls", cls_ref.numpy(), cls2), ("loc", loc_ref.numpy(), loc2)):
            if ref.shape != out.shape:
                raise ExportError(f"{name} of batch {b}: ONNX shape {out.shape}, PyTorch "
                                  f"{ref.shape}")
            diff = np.abs(out.astype(np.float64) - ref)
            bad = diff > atol + rtol * np.abs(ref)
            err = float(diff.max())
            worst[name] = max(worst[name], err)
            if bad.any():
                raise ExportError(
                    f"ONNX export of {cfg.name} does not match PyTorch: {name} at batch {b} "
                    f"differs by up to {err:.3g} (tolerance {atol} + {rtol}*|ref|) in "
                    f"{int(bad.sum())} values; export with fold_bn=False to rule out BatchNorm "
                    "folding, or report the model config")
    return worst


def _check(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # onnx raises ValidationError / InferenceError and others
        raise ExportError(f"{path} fails onnx.checker: {e}") from None


def _write_graphs(model: nn.Module, folder: Path, opset: int, dynamic_batch: bool,
                  fold_bn: bool) -> tuple[int, int, int]:
    """Write the four graphs into ``folder``, each checked by ``onnx.checker``; returns the
    (C, h, w) shape of the template features."""
    cfg: ModelConfig = model.cfg
    tpl, trk = inference_modules(model, fold_bn=fold_bn)
    z = torch.rand(1, 3, cfg.exemplar_size, cfg.exemplar_size) * cfg.input_scale
    x = torch.rand(1, 3, cfg.instance_size, cfg.instance_size) * cfg.input_scale
    with torch.inference_mode():
        zf = tpl(z)
        xf = trk.backbone(x)
    _onnx_export(tpl, (z,), folder / TEMPLATE_FILE, ["z"], ["zf"], opset, dynamic_batch)
    _onnx_export(trk, (zf, x), folder / TRACK_FILE, ["zf", "x"], ["cls", "loc"], opset,
                 dynamic_batch)
    # backbone with dynamic spatial size: shared search canvases of several targets
    _onnx_export(tpl, (x,), folder / BACKBONE_FILE, ["x"], ["xf"], opset, dynamic_batch,
                 spatial={"x": {2: "height", 3: "width"}, "xf": {2: "fh", 3: "fw"}})
    _onnx_export(HeadBranch(trk.head).eval(), (zf, xf), folder / HEAD_FILE, ["zf", "xf"],
                 ["cls", "loc"], opset, dynamic_batch)
    for f in (TEMPLATE_FILE, TRACK_FILE, BACKBONE_FILE, HEAD_FILE):
        _check(folder / f)
    return tuple(int(v) for v in zf.shape[1:])


def _metadata(exp: ExportedModel) -> dict[str, Any]:
    """The contents of ``export.json`` for ``exp``."""
    cfg, batch = exp.model, -1 if exp.dynamic_batch else 1
    return {"format": EXPORT_FORMAT, "format_version": EXPORT_FORMAT_VERSION, "key": exp.key,
            "model": to_dict(cfg), "opset": exp.opset, "dynamic_batch": exp.dynamic_batch,
            "fold_bn": exp.fold_bn, "feature_shape": list(exp.feature_shape),
            "torch": torch.__version__, "parity": exp.parity,
            "inputs": {"template": {"z": [batch, 3, cfg.exemplar_size, cfg.exemplar_size]},
                       "track": {"zf": [batch, *exp.feature_shape],
                                 "x": [batch, 3, cfg.instance_size, cfg.instance_size]}}}


def _current(out: Path, key: str, force: bool) -> ExportedModel | None:
    """The export already in ``out`` if it has ``key`` (and not ``force``); raises
    ``ExportError`` if ``out`` holds something other than an export."""
    if (out / META_FILE).is_file():
        if force:
            return None
        try:
            found = load_export(out)
        except ExportError as e:
            log.warning("replacing broken export in %s: %s", out, e)
            return None
        if found.key == key:
            log.debug("reusing ONNX export %s", out)
            return found
    elif out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty and holds no export; give an empty or new folder")
    return None


def _install(tmp: Path, out: Path, key: str) -> None:
    """Rename the finished export ``tmp`` to ``out``, replacing a previous export."""
    if out.exists():
        shutil.rmtree(out)
    try:
        os.replace(tmp, out)
    except OSError:
        # another process finished the same export first: keep theirs if it is ours
        if load_export(out).key != key:
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def export_onnx(model: nn.Module, out_dir: str | Path, *, opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = True, fold_bn: bool = True, verify: bool = True,
                force: bool = False) -> ExportedModel:
    """Export ``model`` (a ``SiameseNet``) to the four graphs of the module docstring in
    ``out_dir`` and describe them in ``out_dir/export.json``.

    If ``out_dir`` already holds an export of the same weights, config and settings it is
    reused (unless ``force``). Each graph passes ``onnx.checker`` and, with ``verify``, an
    ONNX Runtime run against PyTorch at batch 1 and 3 (``ExportError`` on mismatch). The files
    are written to a temporary folder and renamed into place, so a crash leaves no partial
    export behind. ``out_dir`` may exist only if it is empty or holds a previous export.
    """
    out = Path(out_dir)
    key = export_key(model, opset, dynamic_batch, fold_bn)
    found = _current(out, key, force)
    if found is not None:
        return found
    cfg: ModelConfig = model.cfg
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        feature_shape = _write_graphs(model, tmp, opset, dynamic_batch, fold_bn)
        exp = ExportedModel(directory=tmp, key=key, model=cfg, opset=opset,
                            dynamic_batch=dynamic_batch, fold_bn=fold_bn,
                            feature_shape=feature_shape, parity={})
        parity = verify_export(model, exp) if verify else {}
        exp = dataclasses.replace(exp, parity=parity)
        (tmp / META_FILE).write_text(json.dumps(_metadata(exp), indent=1))
        _install(tmp, out, key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %s to %s (opset %d, parity %s)", cfg.name, out, opset,
             {k: f"{v:.2g}" for k, v in parity.items()})
    return load_export(out)


def cached_export(model: nn.Module, cache_dir: str | Path | None = None,
                  **kwargs: Any) -> ExportedModel:
    """``export_onnx`` into ``<cache_dir>/<export_key>/``: exports only the first time a given
    checkpoint (weights + config + settings) is seen. ``cache_dir`` defaults to
    ``default_cache_dir()``.

    A cache that cannot be written (a read-only home in a container, a path blocked by a file)
    does not stop the backend: the graphs go to a temporary folder kept for this process, with
    a warning naming the setting to fix; the export is then repeated in every new process.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = export_key(model, kwargs.get("opset", DEFAULT_OPSET), kwargs.get("dynamic_batch", True),
                     kwargs.get("fold_bn", True))
    if (root / key / META_FILE).is_file():  # exported before: reuse it even if read-only
        return export_onnx(model, root / key, **kwargs)
    try:
        root.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(dir=root, prefix=".probe."))
    except OSError as e:
        root = _process_cache()
        log.warning("ONNX export cache %s cannot be written (%s); exporting into %s for this "
                    "process only: set TIR_TRACKER_CACHE to a writable folder to keep exports",
                    cache_dir if cache_dir is not None else default_cache_dir(), e, root)
    return export_onnx(model, root / key, **kwargs)


_PROCESS_CACHE: Path | None = None


def _process_cache() -> Path:
    """A temporary export folder for this process (removed at exit): the fallback of an
    unwritable cache. The graphs must outlive the sessions (grey variants are derived from
    the files on first use), hence not a context-managed folder."""
    global _PROCESS_CACHE
    if _PROCESS_CACHE is None:
        import atexit

        _PROCESS_CACHE = Path(tempfile.mkdtemp(prefix="tir_tracker_onnx_"))
        atexit.register(shutil.rmtree, _PROCESS_CACHE, ignore_errors=True)
    return _PROCESS_CACHE


__all__ = ["DEFAULT_OPSET", "ExportError", "ExportedModel", "cached_export", "default_cache_dir",
           "export_key", "export_onnx", "load_export", "verify_export"]
