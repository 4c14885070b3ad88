"""Export of a ``SiameseNet`` to two ONNX graphs, with parity checks and a content-keyed cache.

The tracker runs the template branch once per target and the search branch once per frame, so
the network is exported as two graphs (NanoTrack's split, with the head fused to the search
backbone):

- ``template.onnx``: ``z`` (B, 3, E, E) float32 -> ``zf`` (B, C, h, w)
- ``track.onnx``: ``zf`` (B, C, h, w), ``x`` (B, 3, I, I) float32 -> ``cls`` (B, 2, S, S),
  ``loc`` (B, 4, S, S)

with a dynamic batch axis ``B`` (one row per target). Crops are float BGR in
``[0, model.cfg.input_scale]``, exactly what ``Tracker`` feeds every backend.

Before export the network is copied and rewritten for inference: BatchNorm layers are folded
into the convolutions before them, and the depth-wise correlation of v3-style heads (which
PyTorch runs as one grouped convolution over ``batch * channels`` groups, a group count that
ONNX would freeze at the traced batch size) is replaced by an equivalent shift-and-add that
keeps the batch axis dynamic. The same rewritten modules feed the TensorRT backend.

Exports are cached: ``cached_export(model)`` writes under ``<cache>/<key>/`` where ``key``
hashes the state dict, the model config, the export options and the exporter's version, so
building the ONNX Runtime backend twice for the same checkpoint exports once. The cache root is
``$TIR_TRACKER_CACHE/onnx``, else ``$XDG_CACHE_HOME/tir_tracker/onnx``, else
``~/.cache/tir_tracker/onnx``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig, from_dict, to_dict
from ..errors import TrackerError

log = logging.getLogger(__name__)

EXPORT_FORMAT = "tir_tracker.onnx_export"
EXPORT_FORMAT_VERSION = 2
DEFAULT_OPSET = 17
META_FILE = "export.json"
TEMPLATE_FILE = "template.onnx"
BACKBONE_FILE = "backbone.onnx"
HEAD_FILE = "head.onnx"
TRACK_FILE = "track.onnx"


class ExportError(TrackerError, RuntimeError):
    """An export failed, or its outputs do not match PyTorch within tolerance."""


@dataclass(frozen=True)
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


# --------------------------------------------------------------------------- rewriting


def _fold_bn_in_sequentials(module: nn.Module) -> int:
    """Fold every ``Conv2d`` directly followed by a ``BatchNorm2d`` inside an ``nn.Sequential``
    (eval-mode statistics); the BatchNorm becomes ``Identity``. Returns the number folded."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    n = 0
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
                    and conv.out_channels == bn.num_features and bn.track_running_stats):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
                n += 1
    return n


def xcorr_depthwise_shift_add(search: torch.Tensor, kernel: torch.Tensor,
                              padding: int = 1) -> torch.Tensor:
    """Depth-wise correlation as a sum of shifted, scaled search maps.

    Same result as ``models.head.xcorr_depthwise`` but without a grouped convolution whose group
    count depends on the batch size, so the batch axis stays dynamic in ONNX / TensorRT. The
    kernel is small (4x4 in NanoTrack v3), so this is 16 fused multiply-adds on a tiny map.
    """
    kh, kw = int(kernel.shape[2]), int(kernel.shape[3])
    xp = nn.functional.pad(search, (padding, padding, padding, padding))
    ho, wo = int(xp.shape[2]) - kh + 1, int(xp.shape[3]) - kw + 1
    out = None
    for i in range(kh):
        for j in range(kw):
            term = xp[:, :, i:i + ho, j:j + wo] * kernel[:, :, i:i + 1, j:j + 1]
            out = term if out is None else out + term
    return out


class _ExportDepthwiseCorr(nn.Module):
    """Drop-in for ``models.head.DepthwiseCorr`` with a batch-independent graph."""

    def __init__(self, src: nn.Module) -> None:
        super().__init__()
        self.conv_kernel = src.conv_kernel
        self.conv_search = src.conv_search

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        return xcorr_depthwise_shift_add(self.conv_search(xf), self.conv_kernel(zf))


def _replace_depthwise_corr(module: nn.Module) -> int:
    from ..models.head import DepthwiseCorr

    n = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, DepthwiseCorr):
                setattr(parent, name, _ExportDepthwiseCorr(child))
                n += 1
    return n


class TemplateBranch(nn.Module):
    """``z -> zf``: the backbone on template crops."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.backbone = net.backbone

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.backbone(z)


class TrackBranch(nn.Module):
    """``(zf, x) -> (cls, loc)``: the backbone on search crops, then the head."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.backbone = net.backbone
        self.head = net.head

    def forward(self, zf: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(zf, self.backbone(x))


class HeadBranch(nn.Module):
    """``(zf, xf) -> (cls, loc)``: the head alone (search features computed elsewhere)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(zf, xf)


def inference_modules(model: nn.Module, fold_bn: bool = True) -> tuple[TemplateBranch, TrackBranch]:
    """CPU float32 eval-mode copies of the two branches, rewritten for export (the caller's
    model is left untouched)."""
    net = copy.deepcopy(model).float().cpu().eval()
    _replace_depthwise_corr(net)
    if fold_bn:
        _fold_bn_in_sequentials(net)
    for p in net.parameters():
        p.requires_grad_(False)
    return TemplateBranch(net).eval(), TrackBranch(net).eval()


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
    """Run both graphs in ONNX Runtime and the original model in PyTorch on the same random
    crops; raise ``ExportError`` if any output differs by more than ``atol + rtol * |ref|``.

    Returns the worst absolute error per output (``zf``, ``cls``, ``loc``).
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


def export_onnx(model: nn.Module, out_dir: str | Path, *, opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = True, fold_bn: bool = True, verify: bool = True,
                force: bool = False) -> ExportedModel:
    """Export ``model`` (a ``SiameseNet``) to ``out_dir/template.onnx`` and
    ``out_dir/track.onnx`` and describe them in ``out_dir/export.json``.

    If ``out_dir`` already holds an export of the same weights, config and settings it is
    reused (unless ``force``). Each graph passes ``onnx.checker`` and, with ``verify``, an
    ONNX Runtime run against PyTorch at batch 1 and 3 (``ExportError`` on mismatch). The files
    are written to a temporary folder and renamed into place, so a crash leaves no partial
    export behind. ``out_dir`` may exist only if it is empty or holds a previous export.
    """
    out = Path(out_dir)
    key = export_key(model, opset, dynamic_batch, fold_bn)
    if not force and (out / META_FILE).is_file():
        try:
            found = load_export(out)
        except ExportError as e:
            log.warning("replacing broken export in %s: %s", out, e)
        else:
            if found.key == key:
                log.debug("reusing ONNX export %s", out)
                return found
    if out.exists() and any(out.iterdir()) and not (out / META_FILE).is_file():
        raise ExportError(f"{out} is not empty and holds no export; give an empty or new folder")

    cfg: ModelConfig = model.cfg
    tpl, trk = inference_modules(model, fold_bn=fold_bn)
    z = torch.rand(1, 3, cfg.exemplar_size, cfg.exemplar_size) * cfg.input_scale
    x = torch.rand(1, 3, cfg.instance_size, cfg.instance_size) * cfg.input_scale
    with torch.inference_mode():
        zf = tpl(z)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        _onnx_export(tpl, (z,), tmp / TEMPLATE_FILE, ["z"], ["zf"], opset, dynamic_batch)
        _onnx_export(trk, (zf, x), tmp / TRACK_FILE, ["zf", "x"], ["cls", "loc"], opset,
                     dynamic_batch)
        with torch.inference_mode():
            xf = trk.backbone(x)
        # backbone with dynamic spatial size: shared search canvases of several targets
        _onnx_export(tpl, (x,), tmp / BACKBONE_FILE, ["x"], ["xf"], opset, dynamic_batch,
                     spatial={"x": {2: "height", 3: "width"}, "xf": {2: "fh", 3: "fw"}})
        _onnx_export(HeadBranch(trk.head).eval(), (zf, xf), tmp / HEAD_FILE, ["zf", "xf"], ["cls", "loc"], opset,
                     dynamic_batch)
        for f in (TEMPLATE_FILE, TRACK_FILE, BACKBONE_FILE, HEAD_FILE):
            _check(tmp / f)
        exp = ExportedModel(directory=tmp, key=key, model=cfg, opset=opset,
                            dynamic_batch=dynamic_batch, fold_bn=fold_bn,
                            feature_shape=tuple(int(v) for v in zf.shape[1:]), parity={})
        parity = verify_export(model, exp) if verify else {}
        meta = {"format": EXPORT_FORMAT, "format_version": EXPORT_FORMAT_VERSION, "key": key,
                "model": to_dict(cfg), "opset": opset, "dynamic_batch": dynamic_batch,
                "fold_bn": fold_bn, "feature_shape": list(exp.feature_shape),
                "torch": torch.__version__, "parity": parity,
                "inputs": {"template": {"z": [-1 if dynamic_batch else 1, 3, cfg.exemplar_size,
                                              cfg.exemplar_size]},
                           "track": {"zf": [-1 if dynamic_batch else 1, *exp.feature_shape],
                                     "x": [-1 if dynamic_batch else 1, 3, cfg.instance_size,
                                           cfg.instance_size]}}}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        if out.exists():
            shutil.rmtree(out)
        try:
            os.replace(tmp, out)
        except OSError:
            # another process finished the same export first: keep theirs if it is ours
            if load_export(out).key != key:
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("exported %s to %s (opset %d, parity %s)", cfg.name, out, opset,
             {k: f"{v:.2g}" for k, v in parity.items()})
    return load_export(out)


def mono_variant(path: str | Path, input_name: str) -> bytes | None:
    """The graph at ``path`` rewritten to take a 1-channel ``input_name`` (grey crops).

    Thermal crops have three equal channels, and a convolution over three equal channels equals
    one over a single channel with the weights summed over input channels. The rewrite sums the
    weights of the convolution(s) that read the input, so grey crops are cropped, copied and
    convolved once instead of three times. Returns the serialised model, or ``None`` when the
    input feeds anything other than ungrouped convolutions with constant weights.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    users = [n for n in g.node if input_name in n.input]
    if not users:
        return None
    for n in users:
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if (n.op_type != "Conv" or list(n.input).index(input_name) != 0 or group != 1
                or n.input[1] not in inits):
            return None
        if sum(n.input[1] in other.input for other in g.node) != 1:
            return None  # weight shared with another node
    for n in users:
        w = numpy_helper.to_array(inits[n.input[1]])
        if w.ndim != 4 or w.shape[1] != 3:
            return None
        inits[n.input[1]].CopyFrom(numpy_helper.from_array(w.sum(axis=1, keepdims=True),
                                                           n.input[1]))
    for i in g.input:
        if i.name == input_name:
            i.type.tensor_type.shape.dim[1].dim_value = 1
    onnx.checker.check_model(model)
    return model.SerializeToString()


def cached_export(model: nn.Module, cache_dir: str | Path | None = None,
                  **kwargs: Any) -> ExportedModel:
    """``export_onnx`` into ``<cache_dir>/<export_key>/``: exports only the first time a given
    checkpoint (weights + config + settings) is seen. ``cache_dir`` defaults to
    ``default_cache_dir()``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = export_key(model, kwargs.get("opset", DEFAULT_OPSET), kwargs.get("dynamic_batch", True),
                     kwargs.get("fold_bn", True))
    return export_onnx(model, root / key, **kwargs)


# --------------------------------------------------------------------------- CLI


def cmd_export(args: Any) -> int:
    """``tir-tracker export``: export a model spec's networks; prints the export folder."""
    from ..api import load_model

    model, _, _, info = load_model(args.model)
    kw = dict(opset=args.opset, dynamic_batch=not args.static_batch, fold_bn=not args.no_fold_bn,
              verify=not args.no_verify)
    if args.out:
        exp = export_onnx(model, args.out, force=args.force, **kw)
    else:
        exp = cached_export(model, args.cache_dir, force=args.force, **kw)
    log.info("%s exported: %s, %s (parity %s)", info["name"], exp.template, exp.track, exp.parity)
    print(exp.directory)
    return 0


def add_export_parser(subparsers: Any) -> Any:
    p = subparsers.add_parser(
        "export", help="export a model to ONNX (template.onnx + track.onnx)",
        description="Export the template branch and the search branch + head of a model to two "
                    "ONNX graphs with a dynamic batch axis, check them with onnx.checker and "
                    "against PyTorch in ONNX Runtime. Without --out the export goes to the "
                    "cache the onnxruntime backend reads. Prints the export folder.")
    p.add_argument("model", help="model spec: default, a .safetensors checkpoint, or "
                                 "nanotrack:FILE.pth")
    p.add_argument("--out", help="export folder (default: the cache, keyed by the weights)")
    p.add_argument("--cache-dir", help=f"cache root (default: {default_cache_dir()})")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.add_argument("--static-batch", action="store_true", help="fix the batch axis at 1")
    p.add_argument("--no-fold-bn", action="store_true", help="keep BatchNorm layers")
    p.add_argument("--no-verify", action="store_true", help="skip the parity run")
    p.add_argument("--force", action="store_true", help="export even if the folder is current")
    p.set_defaults(func=cmd_export)
    return p


__all__ = ["DEFAULT_OPSET", "ExportError", "ExportedModel", "add_export_parser", "cached_export",
           "default_cache_dir", "export_key", "export_onnx", "inference_modules", "load_export",
           "mono_variant", "verify_export", "xcorr_depthwise_shift_add"]
