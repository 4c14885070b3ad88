"""Training-state checkpoints: resumable after a kill, no pickle.

One checkpoint of step N in ``OUT/checkpoints``:

- ``step_000000N.model.safetensors``: the trainable module's state dict;
- ``step_000000N.optim.safetensors``: the optimiser's tensors (``state.<param>.<name>``) and
  the RNG states (``rng.torch``, ``rng.cuda``);
- ``step_000000N.json``: step, architecture, optimiser scalars and param groups, the config,
  the SHA-256 of both tensor files. Written last: a checkpoint without its JSON (killed while
  writing) is ignored, and one whose hashes do not match is skipped with a warning.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ..checkpoint import atomic_save_tensors, sha256_file
from ..data.io import atomic_write_bytes
from ..errors import ModelLoadError

log = logging.getLogger(__name__)

STATE_FORMAT = "tir_tracker.train_state"
STATE_VERSION = 1
_NAME = re.compile(r"^step_(\d{7,})\.json$")


def flatten_optimizer(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer ``state_dict`` -> (tensors for safetensors, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"state.{pid}.{key}"] = val
            else:
                scalars.setdefault(str(pid), {})[key] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars,
                     "state_ids": [int(p) for p in sd["state"]]}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(p): {} for p in meta["state_ids"]}
    for key, val in tensors.items():
        if not key.startswith("state."):
            continue
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = val
    for pid, sc in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(sc)
    return {"state": state, "param_groups": meta["param_groups"]}


@dataclass(frozen=True)
class TrainState:
    step: int
    meta: dict[str, Any]
    model: dict[str, torch.Tensor]
    optim: dict[str, Any]
    rng: dict[str, torch.Tensor]


def save_train_state(folder: Path, step: int, model: torch.nn.Module,
                     optimizer: torch.optim.Optimizer, meta: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint of ``step`` (atomic files, JSON last); prune to ``keep`` newest."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"step_{step:07d}"
    model_path = folder / f"{stem}.model.safetensors"
    optim_path = folder / f"{stem}.optim.safetensors"
    atomic_save_tensors(model.state_dict(), model_path)
    tensors, omet = flatten_optimizer(optimizer.state_dict())
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    atomic_save_tensors(tensors, optim_path)
    doc = {"format": STATE_FORMAT, "format_version": STATE_VERSION, "step": step,
           "model_file": model_path.name, "model_sha256": sha256_file(model_path),
           "optim_file": optim_path.name, "optim_sha256": sha256_file(optim_path),
           "optimizer": omet, **meta}
    path = folder / f"{stem}.json"
    atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode())
    for old in list_states(folder)[:-keep]:
        for f in (old, old.with_name(old.stem + ".model.safetensors"),
                  old.with_name(old.stem + ".optim.safetensors")):
            f.unlink(missing_ok=True)
    return path


def list_states(folder: Path) -> list[Path]:
    """Checkpoint JSON files in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def load_train_state(path: Path) -> TrainState:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"training state {path} is unreadable: {e}") from None
    if doc.get("format") != STATE_FORMAT or doc.get("format_version") != STATE_VERSION:
        raise ModelLoadError(f"{path} is not a version-{STATE_VERSION} training state")
    files = {}
    for key in ("model", "optim"):
        f = path.parent / doc[f"{key}_file"]
        if not f.is_file() or sha256_file(f) != doc[f"{key}_sha256"]:
            raise ModelLoadError(f"{f} is missing or does not match the hash in {path.name}")
        files[key] = load_file(str(f))
    ot = files["optim"]
    rng = {k[len("rng."):]: v for k, v in ot.items() if k.startswith("rng.")}
    optim = unflatten_optimizer(ot, doc["optimizer"])
    return TrainState(int(doc["step"]), doc, files["model"], optim, rng)


def latest_state(folder: Path) -> TrainState | None:
    """The newest readable checkpoint in ``folder`` (corrupt ones are skipped), or None."""
    for path in reversed(list_states(folder)):
        try:
            return load_train_state(path)
        except (ModelLoadError, KeyError, ValueError) as e:
            log.warning("skipping training state %s: %s", path, e)
    return None
