"""Cross-modal compression distillation: an RGB teacher teaches a pruned thermal student.

Public API::

    from tir_tracker_core.distill import load_distill_config, distill
    path = distill(load_distill_config("config/distill_nanotrack.yaml"), "runs/distill")

    from tir_tracker_core.distill import PruneSpec, prune_model
    small = prune_model(net, PruneSpec(0.5, "magnitude", round_to=8))  # Torch-Pruning-free

Builds on ``tir_tracker_core.training`` (the run skeleton, the loop, the pair sampler).
"""

from .actor import DistillActor, Student
from .config import (DistillConfig, DistillLoss, FeatureLoss, PruneConfig, ResponseLoss,
                     load_distill_config)
from .distill import DistillTask, distill
from .prune import (IMPORTANCES, PruneSpec, config_from_model, prune_channels, prune_model,
                    rebuild, stage_spec)

__all__ = ["IMPORTANCES", "DistillActor", "DistillConfig", "DistillLoss", "DistillTask",
           "FeatureLoss", "PruneConfig", "PruneSpec", "ResponseLoss", "Student",
           "config_from_model", "distill", "load_distill_config", "prune_channels",
           "prune_model", "rebuild", "stage_spec"]
