"""Optimiser, parameter groups and learning-rate schedule of ``train`` and ``distill``.

A parameter group is a dict of ``params`` plus ``name`` (``backbone``, ``head``, ``adapters``),
``lr_mult`` and ``weight_decay``; the loop sets each group's learning rate every step from
:func:`get_lr` (the backbone's is 0 while ``optim.freeze_backbone_steps`` lasts).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .config import OptimConfig


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


def backbone_frozen(step: int, cfg: OptimConfig) -> bool:
    """Whether the backbone sits out ``step`` (``optim.freeze_backbone_steps``)."""
    return step < cfg.freeze_backbone_steps


def set_lr(opt: torch.optim.Optimizer, lr: float, backbone_frozen: bool) -> None:
    """Learning rate of every group: ``lr * lr_mult``, 0 for the backbone while frozen."""
    for g in opt.param_groups:
        g["lr"] = 0.0 if backbone_frozen and g["name"] == "backbone" else lr * g["lr_mult"]


def drop_backbone_grads(opt: torch.optim.Optimizer) -> None:
    """No gradient (so no momentum or weight-decay update) for the frozen backbone."""
    for g in opt.param_groups:
        if g["name"] == "backbone":
            for p in g["params"]:
                p.grad = None


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


def network_groups(net: nn.Module, cfg: OptimConfig) -> list[dict[str, Any]]:
    """The ``backbone`` groups (``backbone_lr_mult``) and ``head`` groups of a ``SiameseNet``;
    parameters under an ``optim.freeze`` prefix are frozen."""
    named = list(net.named_parameters())
    bb = [(n, p) for n, p in named if n.startswith("backbone.")]
    head = [(n, p) for n, p in named if not n.startswith("backbone.")]
    return (make_groups("backbone", bb, cfg.backbone_lr_mult, cfg.weight_decay, cfg.freeze)
            + make_groups("head", head, 1.0, cfg.weight_decay, cfg.freeze))


def clip_grads(opt: torch.optim.Optimizer, max_norm: float) -> float:
    """Clip the gradients of the optimised parameters to ``max_norm``; their norm before."""
    params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))


def build_optimizer(groups: list[dict[str, Any]], cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.AdamW(groups, lr=cfg.lr)
