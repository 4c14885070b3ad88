"""Cross-modal compression distillation: an RGB teacher teaches a pruned thermal student.

Public API::

    from tir_tracker_core.distill import load_distill_config, distill
    path = distill(load_distill_config("config/distill_nanotrack.yaml"), "runs/distill")

    from tir_tracker_core.distill import prune_model, config_from_model
    small = prune_model(net, 0.5, "magnitude", round_to=8)   # Torch-Pruning-free result
"""

from .actor import DistillActor, Student
from .config import (DistillConfig, DistillLoss, FeatureLoss, PruneConfig, ResponseLoss,
                     load_distill_config)
from .distill import DistillTask, distill
from .prune import IMPORTANCES, config_from_model, prune_channels, prune_model, rebuild

__all__ = ["IMPORTANCES", "DistillActor", "DistillConfig", "DistillLoss", "DistillTask",
           "FeatureLoss", "PruneConfig", "ResponseLoss", "Student", "config_from_model",
           "distill", "load_distill_config", "prune_channels", "prune_model", "rebuild"]
