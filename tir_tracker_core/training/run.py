"""One run of ``train`` or ``distill``: the skeleton both share.

:func:`run` joins the torchrun process group, seeds and prepares ``OUT`` (the resolved
config), builds the task, runs the loop (resuming from ``OUT/checkpoints``), writes
``OUT/final.safetensors`` with its provenance on rank 0, and leaves the process group. The
command supplies only a :class:`RunTask`: what is trained and what the final model is.
"""

from __future__ import annotations

import datetime
import functools
import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import yaml

from ..checkpoint import Checkpoint, save_checkpoint
from ..config import FrameConfig, ModelConfig, TrackerConfig, to_dict
from ..data.io import atomic_write_bytes
from .config import CheckpointConfig, DataSource, LogConfig, OptimConfig, SamplerConfig
from .data import ClipSet, PairSampler, StepBatches
from .distributed import DistInfo, barrier, init_distributed, shutdown
from .loop import LoopResult, LoopSettings, Task, run_loop

log = logging.getLogger(__name__)


class RunConfig(Protocol):
    """The fields of ``TrainConfig`` and ``DistillConfig`` that a run reads."""

    data: tuple[DataSource, ...]
    sampler: SamplerConfig
    optim: OptimConfig
    log: LogConfig
    checkpoint: CheckpointConfig
    seed: int
    device: str
    workers: int
    threads: int


@dataclass(frozen=True)
class FinalModel:
    """What a run leaves in ``OUT/final.safetensors``; ``provenance`` holds the command's own
    entries (the run adds the config, steps, seed, world size, git commit, date, versions)."""

    model: ModelConfig
    weights: dict[str, torch.Tensor]
    tracker: TrackerConfig
    frame: FrameConfig
    provenance: dict[str, Any]


class RunTask(Task):
    """A :class:`Task` that also says what its finished run leaves behind."""

    def final_model(self, result: LoopResult) -> FinalModel:
        """The final model (called on rank 0 only, after the last step)."""
        raise NotImplementedError


@functools.cache
def git_commit() -> str | None:
    """The commit of the source tree this package runs from, if it is a git checkout; read
    once per process (``prepare_run`` reads it at the start of a run: edits made to the tree
    while the run goes on do not change the code it runs, so they do not mark it dirty)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=Path(__file__).parent, capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(command: str, cfg: Any, steps: int, info: DistInfo, **extra: Any) -> dict[str, Any]:
    """Where a final model comes from: command, full config, steps, seed, world size, commit."""
    return {"command": command, "config": to_dict(cfg), "steps": steps, "seed": cfg.seed,
            "world_size": info.world, "git_commit": git_commit(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, **extra}


def prepare_run(out: Path, cfg: RunConfig, info: DistInfo) -> None:
    """Start of a run: compute threads, seeds, the output folder and the resolved config
    (``OUT/config.yaml``, written by rank 0)."""
    git_commit()  # the tree as the run starts (cached for its provenance)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    if info.is_main:
        atomic_write_bytes(out / "config.yaml",
                           yaml.safe_dump(to_dict(cfg), sort_keys=False).encode())


def step_batches(cfg: RunConfig, model: ModelConfig, info: DistInfo,
                 modalities: Sequence[str], single_modality: bool = False,
                 allow_unlabelled: bool = False, template_context: float = 1.0,
                 thermal_teacher: bool = False) -> StepBatches:
    """This process's share of every step's batch of ``cfg.data`` pairs (``data.PairSampler``
    cutting ``model``'s crop sizes; templates ``template_context`` times wider; thermal-only
    clips give their thermal crops as the visible ones with ``thermal_teacher``)."""
    clips = ClipSet(cfg.data, cfg.sampler.min_box_size, single_modality=single_modality)
    sampler = PairSampler(clips, cfg.sampler, model, tuple(modalities), seed=cfg.seed,
                          allow_unlabelled=allow_unlabelled, template_context=template_context,
                          thermal_teacher=thermal_teacher)
    return StepBatches(sampler, cfg.optim.batch_size, info.rank, info.world)


def save_final(command: str, cfg: RunConfig, final: FinalModel, result: LoopResult,
               info: DistInfo, path: Path) -> Path:
    """Write ``final`` with its full provenance (atomic, strict-loading checkpoint)."""
    prov = provenance(command, cfg, result.steps, info, **final.provenance,
                      final_stats=result.last_stats)
    save_checkpoint(Checkpoint(final.model, final.weights, final.tracker, final.frame, prov),
                    path)
    log.info("final model: %s", path)
    return path


def run(command: str, cfg: RunConfig, out: str | Path,
        build_task: Callable[[DistInfo], RunTask], resume: bool = True,
        stop_after: int | None = None) -> Path:
    """Run ``command`` (``train`` / ``distill``): returns ``OUT/final.safetensors``, or the
    ``OUT/checkpoints`` folder when ``stop_after`` stopped it early (a later call resumes).

    ``build_task(info)`` is called after seeding, in every process; the loop moves the
    trainable module to ``info.device`` (other modules, a teacher, are the task's to place).
    Run under ``torchrun`` for data parallelism.
    """
    out = Path(out)
    info = init_distributed(cfg.device)
    task: RunTask | None = None
    try:
        prepare_run(out, cfg, info)
        task = build_task(info)
        settings = LoopSettings(cfg.optim, cfg.log, cfg.checkpoint, cfg.seed, cfg.workers, cfg)
        result = run_loop(task, settings, out, info, resume, stop_after)
        if result.steps < cfg.optim.total_steps:
            return out / "checkpoints"
        path = out / "final.safetensors"
        if info.is_main:
            save_final(command, cfg, task.final_model(result), result, info, path)
        barrier(info)
        return path
    finally:
        del task  # drop the (DDP-wrapped) networks before the process group goes
        shutdown(info)
