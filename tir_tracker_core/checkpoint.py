"""Model checkpoints: safetensors weights + a JSON sidecar with the config and provenance.

``model.safetensors`` holds tensors only (loading it never executes code); ``model.json``
beside it holds the model architecture, the recommended tracker and frame settings, the
training provenance, the format version and the SHA-256 of the weights file, so a weights
file and a config that do not belong together are detected. Both files are written to
temporary names and renamed into place (atomic on POSIX), the JSON last.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from .config import FrameConfig, ModelConfig, TrackerConfig, from_dict, to_dict
from .data.io import atomic_write_bytes
from .errors import ConfigError, ModelLoadError

FORMAT = "tir_tracker.checkpoint"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    model: ModelConfig
    state_dict: dict[str, torch.Tensor]
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    frame: FrameConfig = field(default_factory=FrameConfig)
    provenance: dict[str, Any] = field(default_factory=dict)


def sidecar(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: Path,
                        metadata: dict[str, str] | None = None) -> None:
    """``tensors`` as a safetensors file at ``path``, written atomically."""
    atomic_write_bytes(path, save({k: v.detach().contiguous().cpu() for k, v in tensors.items()},
                                  metadata=metadata))


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write ``path`` (.safetensors) and its ``.json`` sidecar atomically; returns ``path``."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ConfigError(f"checkpoint path {path} must end in .safetensors")
    atomic_save_tensors(ckpt.state_dict, path, metadata={"format": FORMAT})
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "weights_file": path.name,
        "weights_sha256": sha256_file(path),
        "model": to_dict(ckpt.model),
        "tracker": to_dict(ckpt.tracker),
        "frame": to_dict(ckpt.frame),
        "provenance": ckpt.provenance,
    }
    atomic_write_bytes(sidecar(path), (json.dumps(meta, indent=2) + "\n").encode())
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    meta_path = sidecar(path)
    if not path.is_file():
        raise ModelLoadError(f"checkpoint {path} does not exist; give the path of a "
                             ".safetensors file written by `tir-tracker train` or `distill`")
    if not meta_path.is_file():
        raise ModelLoadError(f"checkpoint {path} has no config sidecar {meta_path.name}; "
                             "copy the .json written beside it")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{meta_path} is not valid JSON ({e}); the file is corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelLoadError(f"{meta_path} is not a tir_tracker checkpoint config")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(f"{meta_path} has format version {meta.get('format_version')}; "
                             f"this version reads {FORMAT_VERSION}")
    return meta


def load_checkpoint(path: str | Path, verify: bool = True) -> Checkpoint:
    """Read a checkpoint strictly: config validated, weights hash checked, no code executed."""
    path = Path(path)
    meta = read_metadata(path)
    if verify and meta.get("weights_sha256") != sha256_file(path):
        raise ModelLoadError(f"{path} does not match the hash recorded in {sidecar(path).name}: "
                             "the weights are corrupt or belong to another config")
    try:
        model = from_dict(ModelConfig, meta["model"])
        tracker = from_dict(TrackerConfig, meta.get("tracker", {}))
        frame = from_dict(FrameConfig, meta.get("frame", {}))
    except (ConfigError, KeyError) as e:
        raise ModelLoadError(f"{sidecar(path)}: invalid config: {e}") from None
    try:
        sd = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ModelLoadError(f"cannot read weights {path}: {e}") from None
    return Checkpoint(model, sd, tracker, frame, meta.get("provenance", {}))


def build_from_checkpoint(ckpt: Checkpoint) -> torch.nn.Module:
    """Rebuild the network and load its weights strictly."""
    from .models import build_model

    model = build_model(ckpt.model)
    try:
        model.load_state_dict(ckpt.state_dict, strict=True)
    except RuntimeError as e:
        raise ModelLoadError(f"weights do not fit the architecture in the config: {e}") from None
    return model.eval()
