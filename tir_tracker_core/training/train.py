"""``tir-tracker train``: supervised Siamese training on thermal template / search pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import FrameConfig, ModelConfig, TrackerConfig, from_dict, to_dict
from ..models import SiameseNet, build_model
from .actors import SiameseActor
from .config import TrainConfig
from .data import StepBatches
from .distributed import DistInfo
from .loop import LoopResult
from .model_init import init_model
from .optim import network_groups
from .run import FinalModel, RunTask, run, step_batches


def interpolate(trained: dict[str, torch.Tensor], initial: dict[str, torch.Tensor],
                alpha: float) -> dict[str, torch.Tensor]:
    """``alpha * trained + (1 - alpha) * initial`` for float tensors (others: trained)."""
    return {k: torch.lerp(initial[k].to(v.dtype), v, alpha) if v.is_floating_point() else v
            for k, v in trained.items()}


def _initial_weights(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    torch.manual_seed(cfg.seed)  # presets: the same random initialisation as the run
    model, *_ = init_model(cfg.model.init, cfg.model.search_size)
    return model.state_dict()


class SiameseTask(RunTask):
    """Supervised training of one ``SiameseNet``.

    ``tracker`` / ``frame`` / ``source``: the settings and origin of the initial network,
    carried into the final checkpoint.
    """

    def __init__(self, model: SiameseNet, cfg: TrainConfig, batches: StepBatches,
                 tracker: TrackerConfig, frame: FrameConfig, source: dict[str, Any]) -> None:
        self.model = model
        self.cfg = cfg
        self.batches = batches
        self.actor = SiameseActor(model, model.cfg, cfg.loss)
        self.freeze_bn = cfg.model.freeze_bn
        self.tracker = tracker
        self.frame = frame
        self.source = source

    @classmethod
    def build(cls, cfg: TrainConfig, info: DistInfo) -> SiameseTask:
        """The network of ``model.init`` on the thermal pairs of ``cfg.data``."""
        model, tcfg, fcfg, source = init_model(cfg.model.init, cfg.model.search_size)
        batches = step_batches(cfg, model.cfg, info, ("tir",), single_modality=True)
        return cls(model, cfg, batches, tcfg, fcfg, source)

    def trainable(self) -> nn.Module:
        return self.model

    def arch(self) -> dict[str, Any]:
        return {"model": to_dict(self.model.cfg)}

    def rebuild(self, arch: dict[str, Any]) -> None:
        mcfg = from_dict(ModelConfig, arch["model"])
        if mcfg != self.model.cfg:
            self.model = build_model(mcfg)
            self.actor = SiameseActor(self.model, mcfg, self.cfg.loss)

    def param_groups(self) -> list[dict[str, Any]]:
        return network_groups(self.model, self.cfg.optim)

    def final_model(self, result: LoopResult) -> FinalModel:
        """The trained weights (WiSE-interpolated with the initial ones when ``model.wise``
        < 1) with the initial network's tracker and frame settings."""
        net = self.model.cpu().eval()
        weights = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        if self.cfg.model.wise < 1.0:
            weights = interpolate(weights, _initial_weights(self.cfg), self.cfg.model.wise)
        return FinalModel(net.cfg, weights, self.tracker, self.frame,
                          {"init": self.source, "wise": self.cfg.model.wise})


def train(cfg: TrainConfig, out: str | Path, resume: bool = True,
          stop_after: int | None = None) -> Path:
    """Train a Siamese tracker; returns the path of ``OUT/final.safetensors``.

    Checkpoints go to ``OUT/checkpoints`` and a run restarted with the same ``out`` resumes from
    the newest one (unless ``resume`` is False). Run under ``torchrun`` for data parallelism.
    ``stop_after``: stop after that many steps with a checkpoint (a later call resumes) and
    return the ``OUT/checkpoints`` folder instead; no final model is written then.
    """
    return run("train", cfg, out, lambda info: SiameseTask.build(cfg, info), resume, stop_after)
