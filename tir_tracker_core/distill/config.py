"""Frozen configs of ``tir-tracker distill`` (cross-modal compression distillation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..config import from_dict
from ..errors import ConfigError
from ..training.config import (CheckpointConfig, DataSource, LogConfig, LossConfig, OptimConfig,
                               SamplerConfig, load_config_dict, validate_common)


@dataclass(frozen=True)
class FeatureLoss:
    """Multi-level feature matching: student backbone features (through learned 1x1 adapters
    to the teacher's channel counts) against the teacher's, at ``levels`` (indices into
    ``backbone.forward_levels``: 0 is the stem, ``i`` the output of block ``i``).

    Each level's squared error is divided by the teacher feature's mean square (scale-free).
    """

    weight: float = 1.0
    levels: tuple[int, ...] = (3, 6, 8)
    template: bool = True  # also match the template crops' features


@dataclass(frozen=True)
class ResponseLoss:
    """Distillation of the head's maps: classification by temperature-scaled KL divergence
    (x T^2), regression by the (G)IoU loss to the teacher's boxes, weighted per point by the
    teacher's foreground probability.

    ``cls_weight`` / ``loc_weight`` weigh the cross-modal terms (teacher on the RGB crops).
    ``tir_cls_weight`` / ``tir_loc_weight`` weigh the same two terms against the teacher run on
    the thermal crops themselves: a same-modality anchor that keeps the student's outputs
    (box scale in particular) close to what the teacher does on thermal images (0 = off).
    ``DistillConfig.anchor`` puts another model there (e.g. a full-resolution thermal
    student anchoring a lower-resolution one).
    """

    cls_weight: float = 1.0
    loc_weight: float = 0.5
    temperature: float = 2.0
    tir_cls_weight: float = 0.0
    tir_loc_weight: float = 0.0

    @property
    def anchored(self) -> bool:
        return self.tir_cls_weight > 0 or self.tir_loc_weight > 0


@dataclass(frozen=True)
class PruneConfig:
    """Structured channel pruning of the student (Torch-Pruning).

    ``ratio``: fraction of the prunable channels removed in total (0 = no pruning), reached in
    ``stages`` equal steps at distillation steps ``start``, ``start + interval``, ... (iterative
    prune-then-distill). ``importance``: ``magnitude`` (L2 of the coupled weights), ``bn_scale``
    (BatchNorm gammas), ``lamp`` or ``random``. ``global_pruning``: rank channels across layers
    (per-layer share then varies, at most ``max_layer_ratio``) instead of ``ratio`` per layer.
    ``layer_ratios``: per-layer ratios by module-name prefix of the network (``{backbone.
    features.2: 0.6, head: 0.3}``), the others take ``ratio``. ``ignore``: module-name
    prefixes kept whole (e.g. ``backbone.features.8``). ``round_to``: keep channel counts
    multiples of this (0 = any; 8 runs markedly faster on CPUs).
    ``decay_steps``: gradual pruning. ``decay_steps`` before each stage the channels it will
    remove are chosen (same importance and ratios) and shrunk linearly to zero while the
    student trains on; the stage then cuts channels that are already silent, so the student's
    function does not jump (0 = cut at once, the classic prune-then-distill).
    """

    ratio: float = 0.0
    importance: Literal["magnitude", "bn_scale", "lamp", "random"] = "magnitude"
    global_pruning: bool = False
    stages: int = 1
    start: int = 0
    interval: int = 0
    max_layer_ratio: float = 0.8
    ignore: tuple[str, ...] = ()
    round_to: int = 0
    layer_ratios: dict[str, float] = field(default_factory=dict)
    decay_steps: int = 0
    bn_recalib: int = 0

    @property
    def enabled(self) -> bool:
        return self.ratio > 0 or any(v > 0 for v in self.layer_ratios.values())

    def stage_steps(self) -> list[int]:
        if not self.enabled:
            return []
        return [self.start + k * self.interval for k in range(self.stages)]


@dataclass(frozen=True)
class DistillLoss:
    feature: FeatureLoss = field(default_factory=FeatureLoss)
    response: ResponseLoss = field(default_factory=ResponseLoss)
    track_weight: float = 1.0  # the ordinary tracking loss where boxes exist
    track: LossConfig = field(default_factory=LossConfig)


@dataclass(frozen=True)
class DistillConfig:
    """Everything ``tir-tracker distill`` reads.

    ``teacher``: the frozen RGB tracker, ``nanotrack:FILE.pth`` or ``PATH.safetensors``.
    ``student``: where the student starts; empty means a copy of the teacher.
    ``student_search_size``: the student at a lower input resolution: a search crop of this
    many pixels over the teacher's search area (``models.with_search_size``; e.g. 191 for the
    teacher's 255: 56 % of the search pixels), its template showing proportionally more
    context; 0 = the teacher's (or ``student``'s) geometry. See ``distill.views``.
    ``ensemble``: more frozen RGB trackers (same crop geometry) whose responses, class logits
    and boxes, are averaged with the teacher's: an ensemble teacher for the response losses
    (and the thermal anchor); the feature loss still matches ``teacher``'s features.
    ``anchor``: a model (SPEC, the teacher's crop geometry and score map) whose responses on
    the thermal crops replace the teacher's (and ensemble's) in the anchor terms
    (``loss.response.tir_cls_weight`` / ``tir_loc_weight``); "" = the teacher's. A
    full-resolution thermal model anchoring a lower-resolution student is high-to-low
    resolution distillation within the modality (LoReTrack) on top of the cross-modal terms.
    ``data``: paired RGB + thermal sources (``synthetic`` or ``paired``); unannotated pairs are
    cut around random pseudo-boxes and feed the feature and response losses only. Sources
    with one modality (``detections``, ``sequences``) are distilled within it: the teacher
    gets the thermal crop (before the student's thermal tone, inversion and crossover
    augmentations), or the student the greyed visible one.
    """

    teacher: str = "nanotrack:../shared/data/weights/nanotrack/v2/nanotrackv2.pth"
    student: str = ""
    student_search_size: int = 0
    ensemble: tuple[str, ...] = ()
    anchor: str = ""
    name: str = ""  # model name written into the student checkpoint ("" = teacher's + suffix)
    data: tuple[DataSource, ...] = (DataSource(),)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    loss: DistillLoss = field(default_factory=DistillLoss)
    prune: PruneConfig = field(default_factory=PruneConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    freeze_bn: bool = True
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    threads: int = 0


def validate(cfg: DistillConfig) -> None:
    validate_common(cfg.optim, cfg.data, cfg.log, cfg.checkpoint, "DistillConfig")
    p = cfg.prune
    for r in (p.ratio, *p.layer_ratios.values()):
        if not 0.0 <= r < 1.0:
            raise ConfigError("DistillConfig.prune: ratios must be in [0, 1)")
    if p.enabled:
        if p.stages < 1:
            raise ConfigError("DistillConfig.prune.stages must be >= 1")
        if p.stages > 1 and p.interval < 1:
            raise ConfigError("DistillConfig.prune.interval must be >= 1 with several stages")
        if p.stage_steps()[-1] >= cfg.optim.total_steps:
            raise ConfigError(f"DistillConfig.prune: the last pruning stage (step "
                              f"{p.stage_steps()[-1]}) must come before the end of training "
                              f"({cfg.optim.total_steps} steps)")
        if p.decay_steps < 0:
            raise ConfigError("DistillConfig.prune.decay_steps must be >= 0")
        if p.bn_recalib < 0:
            raise ConfigError("DistillConfig.prune.bn_recalib must be >= 0 (batches; 0 = off)")
        if p.decay_steps > p.start or (p.stages > 1 and p.decay_steps > p.interval):
            raise ConfigError(f"DistillConfig.prune.decay_steps ({p.decay_steps}) must fit "
                              f"before the first stage (start {p.start}) and between stages "
                              f"(interval {p.interval}); lower decay_steps or raise start / "
                              "interval")
    if cfg.student_search_size < 0:
        raise ConfigError("DistillConfig.student_search_size must be >= 0 (0 = the teacher's "
                          "search crop)")
    if cfg.anchor and not cfg.loss.response.anchored:
        raise ConfigError("DistillConfig.anchor is set but the anchor terms are off; set "
                          "loss.response.tir_cls_weight / tir_loc_weight > 0, or drop anchor")
    if cfg.loss.response.temperature <= 0:
        raise ConfigError("DistillConfig.loss.response.temperature must be > 0")


def load_distill_config(path: str | Path | None = None,
                        overrides: list[str] | None = None) -> DistillConfig:
    """Read a ``DistillConfig`` from YAML (optional) plus ``key.sub=value`` overrides."""
    cfg = from_dict(DistillConfig, load_config_dict(path, overrides))
    validate(cfg)
    return cfg
