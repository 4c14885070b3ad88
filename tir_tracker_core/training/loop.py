"""The plain training loop shared by ``train`` and ``distill``.

A :class:`Task` supplies the trainable module, its actor, its parameter groups and its batches;
the :class:`Trainer` resumes from the newest checkpoint, cycles the step loader, makes one
optimiser step per batch, logs (``stats.StatsLog``), writes atomic resumable checkpoints
(``state``) and runs data-parallel under torchrun. Like pytracking's ``LTRTrainer``, each part
of a step is one small named method.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..config import to_dict
from ..errors import ConfigError
from .actors import BaseActor
from .config import CheckpointConfig, LogConfig, OptimConfig
from .data import StepBatches, StepDataset
from .distributed import DistInfo, barrier
from .optim import (backbone_frozen, build_optimizer, clip_grads, drop_backbone_grads, get_lr,
                    set_lr)
from .state import TrainState, latest_state, save_train_state
from .stats import StatsLog

log = logging.getLogger(__name__)


def freeze_batchnorm(module: nn.Module) -> None:
    """Put every BatchNorm in eval mode (running statistics fixed; affine still trains)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class Task:
    """What the loop trains. Subclasses set ``actor`` and ``batches`` and implement
    :meth:`trainable` and :meth:`param_groups`; ``freeze_bn`` keeps BatchNorm statistics fixed."""

    actor: BaseActor
    batches: StepBatches
    find_unused_parameters: bool = False
    freeze_bn: bool = False

    def trainable(self) -> nn.Module:
        """The module whose parameters are optimised and checkpointed."""
        raise NotImplementedError

    def arch(self) -> dict[str, Any]:
        """JSON-able description from which :meth:`rebuild` recreates ``trainable()``."""
        return {}

    def rebuild(self, arch: dict[str, Any]) -> None:
        """Recreate ``trainable()`` with the architecture ``arch`` (weights are loaded after)."""

    def before_step(self, step: int) -> bool:
        """Hook run before step ``step``; True when the architecture changed (pruning)."""
        return False

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimiser groups: ``params`` plus ``name``, ``lr_mult`` and ``weight_decay``."""
        raise NotImplementedError

    def train_mode(self) -> None:
        self.trainable().train()
        if self.freeze_bn:
            freeze_batchnorm(self.trainable())


@dataclass
class LoopSettings:
    optim: OptimConfig
    log: LogConfig
    checkpoint: CheckpointConfig
    seed: int = 0
    workers: int = 0
    config: Any = None  # the full config, recorded in every checkpoint


@dataclass
class LoopResult:
    steps: int
    resumed_from: int
    last_stats: dict[str, float] = field(default_factory=dict)


def _wrap(module: nn.Module, info: DistInfo, find_unused: bool) -> nn.Module:
    if not info.distributed:
        return module
    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused)


def _to(batch: dict[str, Any], dev: torch.device) -> dict[str, Any]:
    return {k: v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)


class Trainer:
    """Trains one :class:`Task` in ``out``: :meth:`train` is resume, then one
    :meth:`train_step` per step with stats and checkpoints in between."""

    def __init__(self, task: Task, settings: LoopSettings, out: Path, info: DistInfo) -> None:
        self.task = task
        self.settings = settings
        self.out = out
        self.info = info
        self.ckpt_dir = out / "checkpoints"
        self.opt: torch.optim.Optimizer | None = None

    # ------------------------------------------------------------------ run
    def train(self, resume: bool = True, stop_after: int | None = None) -> LoopResult:
        """Train up to ``optim.total_steps`` (or ``stop_after``) steps, resuming from the newest
        checkpoint in ``OUT/checkpoints`` when ``resume``."""
        total = self.settings.optim.total_steps
        end = total if stop_after is None else min(total, stop_after)
        start = self.restore(resume)
        stats = StatsLog(self.out, self.settings.log, self.info, start, total)
        try:
            self.cycle(self.loader(start, end), start, end, stats)
        finally:
            stats.close()
        if start == total:
            log.info("training already complete at step %d", total)
        self.task.actor.net = self.task.trainable()
        return LoopResult(max(end, start), start, stats.last)

    def cycle(self, batches: Iterable[dict[str, Any]], start: int, end: int,
              stats: StatsLog) -> None:
        """Steps ``start .. end - 1``, one batch each."""
        for step, batch in zip(range(start, end), batches):
            lr, step_stats = self.train_step(step, batch)
            stats.update(step_stats)
            done = step + 1
            if stats.due(done, end):
                stats.flush(done, lr)
            stats.advance()
            if done % self.settings.checkpoint.every == 0 or done == end:
                self.checkpoint(done)

    # ------------------------------------------------------------------ resume
    def restore(self, resume: bool) -> int:
        """Load the newest checkpoint (model, optimiser, RNG) when resuming; set up the
        optimiser and the (DDP-wrapped) network; returns the first step to run."""
        state = latest_state(self.ckpt_dir) if resume else None
        start = 0
        if state is not None:
            start = self.load_model(state)
        elif resume and self.ckpt_dir.is_dir() and any(self.ckpt_dir.iterdir()):
            log.warning("no usable checkpoint in %s; starting from step 0", self.ckpt_dir)
        total = self.settings.optim.total_steps
        if start > total:
            raise ConfigError(f"checkpoint in {self.ckpt_dir} is at step {start}, past the "
                              f"configured {total} steps; raise the step count or use a new "
                              "--out")
        self.task.trainable().to(self.info.device)
        self.setup(state.optim if state is not None else None)
        if state is not None:
            self.restore_rng(state.rng)
        return start

    def load_model(self, state: TrainState) -> int:
        """Rebuild the trainable module as checkpointed and load its weights strictly."""
        if state.meta.get("config") != to_dict(self.settings.config):
            log.warning("resuming from %s with a changed config", self.ckpt_dir)
        self.task.rebuild(state.meta.get("arch", {}))
        self.task.trainable().load_state_dict(state.model, strict=True)
        log.info("resuming from step %d (%s)", state.step, self.ckpt_dir)
        return state.step

    def restore_rng(self, rng: dict[str, torch.Tensor]) -> None:
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
            if "cuda" in rng and self.info.device.type == "cuda":
                torch.cuda.set_rng_state(rng["cuda"], self.info.device)

    def setup(self, optim_state: dict[str, Any] | None) -> None:
        """A fresh optimiser over the task's groups (its state restored when given) and the
        actor's network, DDP-wrapped when distributed. Again after an architecture change."""
        self.opt = build_optimizer(self.task.param_groups(), self.settings.optim)
        if optim_state is not None:
            self.opt.load_state_dict(optim_state)
        self.task.actor.net = _wrap(self.task.trainable(), self.info,
                                    self.task.find_unused_parameters)

    def loader(self, start: int, end: int) -> torch.utils.data.DataLoader:
        """Batches of steps ``start .. end - 1`` (workers build their own clips)."""
        # workers are spawned, not forked: a fork of a process whose OpenMP / OpenCV thread
        # pools are running can deadlock; they build their own clips (see data.ClipSet)
        workers = self.settings.workers
        self.task.batches.sampler.check()
        if workers:
            self.task.batches.sampler.release()
        return torch.utils.data.DataLoader(
            StepDataset(self.task.batches), sampler=range(start, max(end, start)),
            batch_size=None, num_workers=workers,
            worker_init_fn=_worker_init if workers else None,
            multiprocessing_context="spawn" if workers else None,
            persistent_workers=False, pin_memory=self.info.device.type == "cuda")

    # ------------------------------------------------------------------ step
    def train_step(self, step: int, batch: dict[str, Any]) -> tuple[float, dict[str, float]]:
        """One optimiser step; returns the learning rate and the actor's stats."""
        if self.task.before_step(step):  # the architecture changed: new optimiser
            self.task.trainable().to(self.info.device)
            self.setup(None)
        assert self.opt is not None
        ocfg = self.settings.optim
        self.task.train_mode()
        lr, frozen = get_lr(step, ocfg), backbone_frozen(step, ocfg)
        set_lr(self.opt, lr, frozen)
        loss, stats = self.task.actor(_to(batch, self.info.device))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}; lower optim.lr "
                                     "or raise optim.warmup_steps")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if frozen:
            drop_backbone_grads(self.opt)
        if ocfg.grad_clip > 0:
            stats["Stats/grad_norm"] = clip_grads(self.opt, ocfg.grad_clip)
        self.opt.step()
        return lr, stats

    def checkpoint(self, step: int) -> None:
        """Rank 0 writes the resumable checkpoint of ``step``; every rank waits for it."""
        if self.info.is_main:
            assert self.opt is not None
            meta = {"arch": self.task.arch(), "config": to_dict(self.settings.config),
                    "world_size": self.info.world}
            save_train_state(self.ckpt_dir, step, self.task.trainable(), self.opt, meta,
                             self.settings.checkpoint.keep)
        barrier(self.info)


def run_loop(task: Task, settings: LoopSettings, out: Path, info: DistInfo,
             resume: bool = True, stop_after: int | None = None) -> LoopResult:
    """Train ``task`` for ``settings.optim.total_steps`` steps (resuming from ``out``).

    ``stop_after``: leave after that many steps (with a checkpoint there), as a job with a
    time limit would; a later call resumes. ``LoopResult.steps`` tells where it stopped.
    """
    return Trainer(task, settings, out, info).train(resume, stop_after)
