"""Actors: ``actor(batch) -> (loss, stats)`` (pytracking's pattern).

An actor owns the loss; the training loop only moves batches, steps the optimiser and logs.
``actor.net`` is the (possibly DistributedDataParallel-wrapped) trainable network; the loop
sets it, and sets it again whenever the network is rebuilt (pruning).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import ModelConfig
from .config import LossConfig
from .data import POSITIVE
from .losses import box_loss, cls_loss, point_targets


class BaseActor:
    """``actor(batch) -> (loss, stats)``; ``stats`` maps names like ``Loss/total`` to floats.

    Every call returns the same stat keys (the loop averages them over processes).
    """

    net: nn.Module

    def __init__(self, net: nn.Module) -> None:
        self.net = net

    def __call__(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError


def tracking_loss(cls: torch.Tensor, loc: torch.Tensor, box: torch.Tensor, kind: torch.Tensor,
                  model: ModelConfig, cfg: LossConfig) -> tuple[torch.Tensor, torch.Tensor,
                                                            torch.Tensor, torch.Tensor]:
    """Per-sample classification loss, box loss and IoU (and the labels used)."""
    label, ltrb = point_targets(box, kind, model, cfg)
    l_cls = cls_loss(cls, label, cfg)
    pos = ((label == 1) & (kind[:, None, None] == POSITIVE)).float()
    l_box, miou = box_loss(loc, ltrb, pos, cfg.box_loss)
    return l_cls, l_box, miou, label


class SiameseActor(BaseActor):
    """Supervised Siamese training on ``z_tir`` / ``x_tir`` crops with point labels."""

    def __init__(self, net: nn.Module, model_cfg: ModelConfig, cfg: LossConfig,
                 modality: str = "tir") -> None:
        super().__init__(net)
        self.model_cfg = model_cfg
        self.cfg = cfg
        self.modality = modality

    def __call__(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        z, x = batch[f"z_{self.modality}"], batch[f"x_{self.modality}"]
        cls, loc = self.net(z, x)
        l_cls, l_box, miou, label = tracking_loss(cls, loc, batch["box"], batch["kind"],
                                                  self.model_cfg, self.cfg)
        loss = (self.cfg.cls_weight * l_cls + self.cfg.box_weight * l_box).mean()
        with torch.no_grad():
            fg = torch.softmax(cls, 1)[:, 1]
            pos, neg = label == 1, label == 0
            stats = {
                "Loss/total": loss.item(),
                "Loss/cls": l_cls.mean().item(),
                "Loss/box": l_box.mean().item(),
                "Stats/iou": miou.sum().item() / max(int((batch["kind"] == POSITIVE).sum()), 1),
                "Stats/pos_score": fg[pos].mean().item() if pos.any() else 0.0,
                "Stats/neg_score": fg[neg].mean().item() if neg.any() else 0.0,
            }
        return loss, stats
