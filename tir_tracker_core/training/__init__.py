"""Supervised Siamese training: configs, pair sampling, labels and losses, actors, the loop.

Public API::

    from tir_tracker_core.training import TrainConfig, load_train_config, train
    path = train(load_train_config("config/train_default.yaml", ["optim.steps=500"]), "runs/x")

The command is ``tir-tracker train`` (``tir_tracker_core.cli``). This package never imports
``api``, ``tracking`` or ``distill``; ``distill`` builds on it (``run.run``, ``loop.Task``).
"""

from .actors import BaseActor, SiameseActor
from .config import (CheckpointConfig, DataSource, LogConfig, LossConfig, ModelInit, OptimConfig,
                     SamplerConfig, TrainConfig, load_train_config)
from .data import Clip, ClipSet, PairSampler, load_clips
from .loop import LoopSettings, Task, Trainer, run_loop
from .model_init import init_model
from .optim import get_lr
from .run import FinalModel, RunTask, run
from .train import train

__all__ = ["BaseActor", "CheckpointConfig", "Clip", "ClipSet", "DataSource", "FinalModel",
           "LogConfig", "LoopSettings", "LossConfig", "ModelInit", "OptimConfig", "PairSampler",
           "RunTask", "SamplerConfig", "SiameseActor", "Task", "TrainConfig", "Trainer",
           "get_lr", "init_model", "load_clips", "load_train_config", "run", "run_loop",
           "train"]
