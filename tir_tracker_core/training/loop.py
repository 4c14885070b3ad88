"""The plain training loop shared by ``train`` and ``distill``.

A :class:`Task` supplies the trainable module, its actor, its parameter groups and its batches;
the loop steps the optimiser, schedules the learning rate, logs (progress bar, CSV, TensorBoard
when installed), writes atomic resumable checkpoints and runs data-parallel under torchrun.
"""

from __future__ import annotations

import csv
import logging
import math
import time
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
from .distributed import DistInfo, all_mean, barrier
from .state import latest_state, save_train_state

log = logging.getLogger(__name__)


class Task:
    """What the loop trains. Subclasses set ``actor`` and implement the methods below."""

    actor: BaseActor
    batches: StepBatches
    find_unused_parameters: bool = False

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


def get_lr(step: int, cfg: OptimConfig) -> float:
    """Learning rate of ``step``: linear warm-up, then cosine decay or constant."""
    total = cfg.total_steps
    if step < cfg.warmup_steps:
        f = cfg.warmup_factor + (1 - cfg.warmup_factor) * step / max(cfg.warmup_steps, 1)
        return cfg.lr * f
    if cfg.schedule == "constant":
        return cfg.lr
    t = (step - cfg.warmup_steps) / max(total - cfg.warmup_steps, 1)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(t, 1.0)))


def split_decay(named: list[tuple[str, nn.Parameter]]
                ) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights that get weight decay, biases and norm parameters that do not)."""
    decay = [p for _, p in named if p.requires_grad and p.ndim > 1]
    no_decay = [p for _, p in named if p.requires_grad and p.ndim <= 1]
    return decay, no_decay


def make_groups(name: str, named: list[tuple[str, nn.Parameter]], lr_mult: float,
                weight_decay: float, freeze: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Optimiser groups of ``named`` parameters; those whose name starts with a ``freeze``
    prefix get ``requires_grad = False`` and are left out."""
    for n, p in named:
        if any(n.startswith(f) for f in freeze):
            p.requires_grad_(False)
    decay, no_decay = split_decay(named)
    groups = []
    if decay:
        groups.append({"params": decay, "name": name, "lr_mult": lr_mult,
                       "weight_decay": weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "name": name, "lr_mult": lr_mult, "weight_decay": 0.0})
    return groups


def build_optimizer(groups: list[dict[str, Any]], cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.AdamW(groups, lr=cfg.lr)


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


class _Logger:
    """Rank-0 CSV (always) and TensorBoard (when installed) logs; resumable."""

    def __init__(self, out: Path, cfg: LogConfig, start: int, enabled: bool) -> None:
        self.enabled = enabled
        self.path = out / "log.csv"
        self.keys: list[str] | None = None
        self.tb = None
        if not enabled:
            return
        if self.path.is_file():  # resume: drop rows written after the checkpoint
            with open(self.path, newline="") as f:
                rows = list(csv.reader(f))
            if rows:
                self.keys = rows[0]
                kept = [r for r in rows[1:] if r and int(r[0]) <= start]
                with open(self.path, "w", newline="") as f:
                    csv.writer(f).writerows([rows[0], *kept])
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tb"), purge_step=start + 1)
            except ImportError:
                log.info("tensorboard is not installed; logging to %s only", self.path)

    def write(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        if self.keys is None:
            self.keys = ["step", *values]
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.keys)
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([step, *(f"{values.get(k, float('nan')):.6g}"
                                             for k in self.keys[1:])])
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


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


def run_loop(task: Task, settings: LoopSettings, out: Path, info: DistInfo,
             resume: bool = True, stop_after: int | None = None) -> LoopResult:
    """Train ``task`` for ``settings.optim.total_steps`` steps (resuming from ``out``).

    ``stop_after``: leave after that many steps (with a checkpoint there), as a job with a
    time limit would; a later call resumes. ``LoopResult.steps`` tells where it stopped.
    """
    ocfg = settings.optim
    total = ocfg.total_steps
    end = total if stop_after is None else min(total, stop_after)
    ckpt_dir = out / "checkpoints"
    start = 0
    state = latest_state(ckpt_dir) if resume else None
    if state is not None:
        if state.meta.get("config") != to_dict(settings.config):
            log.warning("resuming from %s with a changed config", ckpt_dir)
        task.rebuild(state.meta.get("arch", {}))
        task.trainable().load_state_dict(state.model, strict=True)
        start = state.step
        log.info("resuming from step %d (%s)", start, ckpt_dir)
    elif resume and ckpt_dir.is_dir() and any(ckpt_dir.iterdir()):
        log.warning("no usable checkpoint in %s; starting from step 0", ckpt_dir)
    if start > total:
        raise ConfigError(f"checkpoint in {ckpt_dir} is at step {start}, past the configured "
                          f"{total} steps; raise the step count or use a new --out")
    task.trainable().to(info.device)

    def setup(restore: dict[str, Any] | None) -> tuple[nn.Module, torch.optim.Optimizer]:
        opt = build_optimizer(task.param_groups(), ocfg)
        if restore is not None:
            opt.load_state_dict(restore)
        net = _wrap(task.trainable(), info, task.find_unused_parameters)
        task.actor.net = net
        return net, opt

    net, opt = setup(state.optim if state is not None else None)
    if state is not None and "torch" in state.rng:
        torch.set_rng_state(state.rng["torch"])
        if "cuda" in state.rng and info.device.type == "cuda":
            torch.cuda.set_rng_state(state.rng["cuda"], info.device)
    del state

    # workers are spawned, not forked: a fork of a process whose OpenMP / OpenCV thread pools
    # are running can deadlock; they build their own clips (see data.ClipSet)
    task.batches.sampler.check()
    if settings.workers:
        task.batches.sampler.release()
    loader = torch.utils.data.DataLoader(
        StepDataset(task.batches), sampler=range(start, max(end, start)), batch_size=None,
        num_workers=settings.workers, worker_init_fn=_worker_init if settings.workers else None,
        multiprocessing_context="spawn" if settings.workers else None,
        persistent_workers=False, pin_memory=info.device.type == "cuda")
    logger = _Logger(out, settings.log, start, info.is_main)
    bar = None
    if info.is_main and settings.log.progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)
    acc: dict[str, float] = {}
    n_acc = 0
    last: dict[str, float] = {}
    t_last = time.perf_counter()

    def checkpoint(step: int) -> None:
        if info.is_main:
            meta = {"arch": task.arch(), "config": to_dict(settings.config),
                    "world_size": info.world}
            save_train_state(ckpt_dir, step, task.trainable(), opt, meta,
                             settings.checkpoint.keep)
        barrier(info)

    step = start
    for step, batch in zip(range(start, end), loader):
        if task.before_step(step):
            task.trainable().to(info.device)
            net, opt = setup(None)
        task.train_mode()
        lr = get_lr(step, ocfg)
        frozen = step < ocfg.freeze_backbone_steps
        for g in opt.param_groups:
            g["lr"] = 0.0 if frozen and g["name"] == "backbone" else lr * g["lr_mult"]
        loss, stats = task.actor(_to(batch, info.device))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}; lower optim.lr "
                                     "or raise optim.warmup_steps")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if frozen:
            for g in opt.param_groups:
                if g["name"] == "backbone":
                    for p in g["params"]:
                        p.grad = None
        if ocfg.grad_clip > 0:
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            gn = torch.nn.utils.clip_grad_norm_(params, ocfg.grad_clip)
            stats["Stats/grad_norm"] = float(gn)
        opt.step()
        for k, v in stats.items():
            acc[k] = acc.get(k, 0.0) + v
        n_acc += 1
        done = step + 1
        if done % settings.log.every == 0 or done == end:
            keys = sorted(acc)
            means = all_mean([acc[k] / n_acc for k in keys], info)
            now = time.perf_counter()
            last = dict(zip(keys, means))
            last["lr"] = lr
            last["sec_per_step"] = (now - t_last) / n_acc
            t_last = now
            logger.write(done, last)
            if bar is not None:
                bar.set_postfix(loss=f"{last.get('Loss/total', 0):.4f}", lr=f"{lr:.2e}")
            acc, n_acc = {}, 0
        if bar is not None:
            bar.update(1)
        if done % settings.checkpoint.every == 0 or done == end:
            checkpoint(done)
    if bar is not None:
        bar.close()
    logger.close()
    if start == total:
        log.info("training already complete at step %d", total)
    task.actor.net = task.trainable()
    return LoopResult(max(end, start), start, last)
