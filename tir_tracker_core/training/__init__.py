"""Supervised Siamese training: configs, pair sampling, labels and losses, actors, the loop.

Public API::

    from tir_tracker_core.training import TrainConfig, load_train_config, train
    path = train(load_train_config("config/train_default.yaml", ["optim.steps=500"]), "runs/x")
"""

from .actors import BaseActor, SiameseActor
from .config import (CheckpointConfig, DataSource, LogConfig, LossConfig, ModelInit, OptimConfig,
                     SamplerConfig, TrainConfig, load_train_config)
from .data import Clip, ClipSet, PairSampler, load_clips
from .loop import LoopSettings, Task, get_lr, run_loop
from .train import init_model, train

__all__ = ["BaseActor", "CheckpointConfig", "Clip", "ClipSet", "DataSource", "LogConfig",
           "LoopSettings",
           "LossConfig", "ModelInit", "OptimConfig", "PairSampler", "SamplerConfig",
           "SiameseActor", "Task", "TrainConfig", "get_lr", "init_model", "load_clips",
           "load_train_config", "run_loop", "train"]
