"""Import of NanoTrack v1/v2/v3 checkpoints (``backbone.*``, ``ban_head.*``) into ``SiameseNet``,
and the tracker settings published with each version.

The ``.pth`` files are read with ``torch.load(weights_only=True)`` (a restricted unpickler that
builds tensors and plain containers only, never arbitrary objects); the numpy scalar type that
the files use for bookkeeping values is the single extra type allowed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..config import TrackerConfig
from ..errors import ModelLoadError
from .siamese import PRESETS, SiameseNet, build_model

log = logging.getLogger(__name__)

_HEAD_RENAMES = {
    "v1": [("corr_pw.", "corr_cls."), ("cls_logits.", "cls_pred.")],
    "v2": [("corr_pw_reg.", "corr_reg."), ("corr_pw_cls.", "corr_cls."),
           ("cls_pw_tower.", "cls_tower."), ("bbox_pw_tower.", "bbox_tower.")],
    "v3": [("corr_pw_reg.", "corr_reg."), ("corr_pw_cls.", "corr_cls."),
           ("corr_dw_reg.", "dw_reg."), ("corr_dw_cls.", "dw_cls."), ("cls_logits.", "cls_pred.")],
}


def _safe_globals() -> list:
    from numpy._core import multiarray

    return [(multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype,
            (type(np.dtype("float64")), "numpy.dtypes.Float64DType"),
            (type(np.dtype("int64")), "numpy.dtypes.Int64DType")]


NANOTRACK_SOURCE = "https://github.com/HonglinChu/SiamTrackers (NanoTrack/models/pretrained)"


def _not_nanotrack(path: Path, why: str) -> str:
    """One line: what ``path`` is not, what we expected and where to get it."""
    return (f"{path} is not a NanoTrack checkpoint ({why}); expected a nanotrackv1/v2/v3 .pth "
            f"state dict with backbone.* and ban_head.* weights, as published at "
            f"{NANOTRACK_SOURCE}")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"NanoTrack checkpoint {path} does not exist; pass the path of a "
                             "nanotrackv*.pth file")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt / unsafe files
        # torch's own text is several lines and suggests weights_only=False (unsafe): log it
        log.debug("torch.load(%s) failed: %s", path, e)
        raise ModelLoadError(_not_nanotrack(path, "it is not a PyTorch file of tensors")) from None
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or not any(k.startswith("backbone.") for k in sd):
        raise ModelLoadError(_not_nanotrack(path, "it holds no 'backbone.*' weights"))
    return {k.removeprefix("module."): v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def detect_version(sd: dict[str, torch.Tensor]) -> str:
    if "ban_head.corr_pw.CA_layer.fc1.weight" in sd:
        return "v1"
    if any(k.startswith("ban_head.corr_dw_reg.") for k in sd):
        return "v3"
    if "ban_head.corr_pw_reg.conv_kernel.0.weight" in sd:
        return "v2"
    raise ModelLoadError("unrecognised NanoTrack head: expected ban_head.corr_pw* keys")


def convert_state_dict(sd: dict[str, torch.Tensor], version: str) -> dict[str, torch.Tensor]:
    """Rename NanoTrack keys to ours. ``neck.*`` is dropped: NanoTrack's forward never calls
    it (its ONNX backbone outputs the raw 48/96-channel features the head takes)."""
    out = {}
    for k, v in sd.items():
        if k.startswith("neck."):
            continue
        if k.startswith("ban_head."):
            k = k[len("ban_head."):]
            for a, b in _HEAD_RENAMES[version]:
                if k.startswith(a):
                    k = b + k[len(a):]
                    break
            k = "head." + k
        out[k] = v
    return out


def load_nanotrack(path: str | Path) -> SiameseNet:
    """Build our re-implementation of the checkpoint's NanoTrack version and load it strictly."""
    sd = read_state_dict(path)
    version = detect_version(sd)
    model = build_model(PRESETS.get(f"nanotrack_{version}")())
    ours = convert_state_dict(sd, version)
    missing, unexpected = model.load_state_dict(ours, strict=False)
    if missing or unexpected:
        raise ModelLoadError(f"{path}: NanoTrack {version} keys do not match the architecture: "
                             f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    log.info("imported NanoTrack %s from %s", version, path)
    return model.eval()


def nanotrack_tracker_config(name: str) -> TrackerConfig:
    """Post-processing settings published with each NanoTrack version (``name``: a preset).

    The peak-to-sidelobe lost test is off (``lost_psr=0``): it is calibrated for our thermal
    models, and the RGB NanoTrack's response on thermal frames is too flat for it, so it
    would report visible targets as lost (measured on the synthetic held-out set).
    """
    if name == "nanotrack_v3":
        return TrackerConfig(window_influence=0.455, penalty_k=0.138, lr=0.348, lost_psr=0.0)
    return TrackerConfig(window_influence=0.490, penalty_k=0.150, lr=0.385, lost_psr=0.0)
