"""Frozen configs of ``tir-tracker train`` (and the parts that ``distill`` shares).

YAML is converted at the edge by :func:`load_train_config` (``config.from_dict``: unknown keys
and wrong types are rejected with the valid keys named); ``--set key.sub=value`` overrides are
applied to the YAML mapping before conversion.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import from_dict, load_yaml, parse_override, to_dict
from ..errors import ConfigError


@dataclass(frozen=True)
class ModelInit:
    """Where the trained network starts.

    ``init``: a preset name (``nanotrack_v2``; random weights), ``nanotrack:FILE.pth`` (an
    off-the-shelf NanoTrack checkpoint) or ``PATH.safetensors`` (a checkpoint of ours).
    ``freeze_bn``: keep BatchNorm running statistics fixed (affine parameters still train);
    recommended for small batches, and it makes multi-process training equal to one process.
    ``wise``: the final model is ``wise * trained + (1 - wise) * initial`` weights (weight-space
    ensembling, WiSE-FT): fine-tuning on narrow data (synthetic) then keeps much of the
    initial model's robustness on real sequences. 1 = the trained weights.
    ``search_size``: train (and ship) the network at a lower input resolution: a search crop
    of this many pixels covering the area of the initial network's (``models.with_search_size``;
    e.g. 191 for 255: 56 % of the search pixels). 0 = the initial network's geometry.
    """

    init: str = "nanotrack_v2"
    freeze_bn: bool = True
    wise: float = 1.0
    search_size: int = 0


@dataclass(frozen=True)
class DataSource:
    """One source of training sequences.

    ``kind``:
      - ``synthetic``: ``count`` generated sequences with seeds ``seed .. seed+count-1``;
        ``frames``, ``width``, ``height``, ``targets`` set their size and ``options`` passes any
        other ``SyntheticConfig`` field (e.g. ``{clutter: 1.5, thermal_crossover: 0.2}``).
      - ``sequences``: a benchmark folder read by ``data.load_sequences`` (OTB, LSOTB-TIR,
        PTB-TIR, VOT, pysot JSON).
      - ``paired``: paired RGB-T data read by ``data.load_paired`` (LLVIP, RGBT234, LasHeR, GTOT).
      - ``detections``: labelled still thermal images read by ``data.stills.load_detections``
        (HIT-UAV / COCO JSON, YOLO, Pascal VOC, LLVIP ``infrared/`` + ``Annotations/``): every
        box of at least ``sampler.min_box_size`` px whose class is not in ``classes_ignored``
        (nor in ``data.stills.IGNORED_CLASSES``, e.g. DontCare) is a one-frame clip, so the
        template and the search crop come from the same still with different jitter (static
        pairs). ``classes`` keeps only those classes (empty = all).
    ``modality``: which images of paired / synthetic data a single-modality trainer uses.
    ``weight``: relative sampling probability of this source.
    ``max_items``: use at most this many sequences / images (0 = all).
    ``downscale``: still images (LLVIP) are read at 1/2, 1/4 or 1/8 size (JPEG reduced
    decoding: several times faster for 1280x1024 images; boxes scaled to match).
    ``augment``: sampler settings (any ``SamplerConfig`` field) that replace the global ones for
    the pairs whose template comes from this source, e.g. stronger jitter for static pairs of
    still images: ``{search_scale: 0.3, thermal_agc: 0.5, invert: 0.2}``.
    """

    kind: Literal["synthetic", "sequences", "paired", "detections"] = "synthetic"
    path: str = ""
    weight: float = 1.0
    modality: Literal["tir", "rgb"] = "tir"
    count: int = 16
    seed: int = 1000
    frames: int = 120
    width: int = 320
    height: int = 256
    targets: int = 2
    options: dict[str, Any] = field(default_factory=dict)
    max_items: int = 0
    downscale: Literal[1, 2, 4, 8] = 1
    classes: tuple[str, ...] = ()
    classes_ignored: tuple[str, ...] = ()
    augment: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplerConfig:
    """Template / search pair sampling and augmentation (pysot-style).

    Shifts are in pixels of the resized crops at zoom 1 (template 127, search 255); scales are the
    half-width of a log-uniform jitter of the crop side. ``blur`` / ``grey`` / ``flip`` are
    probabilities; ``color`` the amplitude of a brightness/contrast jitter. ``negative``: the
    fraction of pairs whose search crop comes from another target (every point negative).
    ``aspect``: both crops of a pair are stretched by ``exp(u)`` in x and ``exp(-u)`` in y,
    ``u`` uniform in ``[-aspect, aspect]`` (breaks box-shape priors of narrow data such as the
    synthetic targets; 0 = off). ``thermal_agc``: the probability that a pair's thermal crops go
    through a random camera tone curve (what a thermal camera's automatic gain control does):
    ``255 * (c * v**g + (1 - c) * level)`` with ``v`` the pixel in 0..1, gamma ``g`` in
    ``exp([-0.5, 0.5])``, contrast ``c`` in ``[0.3, 1]``, ``level`` in ``[0.2, 0.8]``; the same
    curve for the template and the search crop. RGB crops are never changed (0 = off).
    ``visible_as_thermal`` (distillation only): the probability that a pair's thermal crops
    are replaced by its visible ones, so that on those pairs the student sees what the
    teacher sees (plain compression distillation, no modality gap; 0 = off).
    ``cross_modal`` (distillation only): the probability that one of a pair's two thermal crops,
    the template or the search crop with equal chance, is cut from the greyed visible image
    instead (the other stays thermal): template and search from different modalities of the
    same registered pair, as CMD (Sun et al., ACM MM 2021) trains, so that the student's own
    correlation and head must match across modalities; the teacher keeps its visible crops.
    Such pairs get no thermal tone curve on the visible crop and no inversion or crossover
    (0 = off).
    ``invert``: the probability that a pair's thermal crops are inverted (``255 - v``, white-hot
    <-> black-hot; both crops). ``crossover``: the probability of thermal crossover on the
    search crop only: the target's contrast against the crop's mean is multiplied by a factor in
    ``[-1, 0.3]`` inside a soft ellipse over the target box (the target fades into, or turns
    colder than, its background while the template keeps the old look). Both use a random
    stream of their own, so runs without them draw exactly the samples they drew before.
    """

    frame_gap: int = 50
    template_shift: float = 4.0
    template_scale: float = 0.05
    search_shift: float = 64.0
    search_scale: float = 0.18
    blur: float = 0.1
    grey: float = 0.0
    color: float = 0.1
    flip: float = 0.0
    aspect: float = 0.0
    thermal_agc: float = 0.0
    visible_as_thermal: float = 0.0
    cross_modal: float = 0.0
    invert: float = 0.0
    crossover: float = 0.0
    negative: float = 0.1
    context_amount: float = 0.5
    min_box_size: float = 4.0  # boxes smaller than this (pixels) are never sampled


@dataclass(frozen=True)
class LossConfig:
    """Labels and losses of the anchor-free head.

    A score-map point is positive inside the ellipse of semi-axes ``pos_radius * (w, h)``
    around the target centre (the nearest point always is), negative outside the ellipse of
    semi-axes ``neg_radius * (w, h)``, ignored in between (SiamBAN's rule).
    """

    cls_loss: Literal["ce", "focal"] = "ce"
    focal_gamma: float = 2.0
    box_loss: Literal["iou", "giou", "log_iou"] = "giou"
    cls_weight: float = 1.0
    box_weight: float = 1.0
    pos_radius: float = 0.25
    neg_radius: float = 0.5


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule. ``batch_size`` is the global batch, split over processes.

    The length is ``steps``, or ``epochs * steps_per_epoch`` when ``steps`` is 0. The learning
    rate warms up linearly from ``warmup_factor * lr`` over ``warmup_steps``, then follows
    ``schedule`` (cosine decay to ``min_lr``, or constant). ``freeze_backbone_steps``: the
    backbone is not updated during the first N steps. ``freeze``: parameter-name prefixes never
    trained (e.g. ``[backbone, head.bbox_tower, head.bbox_pred]``).
    """

    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 1e-4
    min_lr: float = 1e-6
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = 50
    warmup_factor: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    backbone_lr_mult: float = 1.0
    batch_size: int = 8
    steps: int = 1000
    epochs: int = 0
    steps_per_epoch: int = 0
    grad_clip: float = 10.0  # max gradient norm, 0 = off
    freeze_backbone_steps: int = 0
    freeze: tuple[str, ...] = ()

    @property
    def total_steps(self) -> int:
        return self.steps if self.steps > 0 else self.epochs * self.steps_per_epoch


@dataclass(frozen=True)
class LogConfig:
    """CSV log always (``OUT/log.csv``); TensorBoard (``OUT/tb``) when installed and enabled."""

    every: int = 10
    tensorboard: bool = True
    progress: bool = True


@dataclass(frozen=True)
class CheckpointConfig:
    """Training-state checkpoints in ``OUT/checkpoints`` every ``every`` steps; the newest
    ``keep`` are kept."""

    every: int = 100
    keep: int = 2


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``tir-tracker train`` reads."""

    model: ModelInit = field(default_factory=ModelInit)
    data: tuple[DataSource, ...] = (DataSource(),)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N (a torchrun process uses its LOCAL_RANK)
    workers: int = 0  # data-loading processes per training process
    threads: int = 0  # torch CPU threads per process (0: torch's default)


def validate_common(optim: OptimConfig, data: tuple[DataSource, ...], log: LogConfig,
                    ckpt: CheckpointConfig, where: str) -> None:
    if optim.total_steps <= 0:
        raise ConfigError(f"{where}.optim: set steps > 0 (or epochs and steps_per_epoch)")
    if optim.batch_size < 1:
        raise ConfigError(f"{where}.optim.batch_size must be >= 1")
    if not data:
        raise ConfigError(f"{where}.data: give at least one data source")
    for i, src in enumerate(data):
        if src.kind != "synthetic" and not src.path:
            raise ConfigError(f"{where}.data[{i}]: kind {src.kind} needs a path")
        if src.weight <= 0:
            raise ConfigError(f"{where}.data[{i}].weight must be > 0")
        if src.kind == "synthetic" and src.count < 1:
            raise ConfigError(f"{where}.data[{i}].count must be >= 1")
        if src.augment:
            source_sampler(SamplerConfig(), src, f"{where}.data[{i}].augment")
    if not 0.0 <= optim.warmup_factor <= 1.0:
        raise ConfigError(f"{where}.optim.warmup_factor must be in [0, 1]")
    if log.every < 1 or ckpt.every < 1 or ckpt.keep < 1:
        raise ConfigError(f"{where}: log.every, checkpoint.every and checkpoint.keep must be >= 1")


def source_sampler(base: SamplerConfig, src: DataSource, where: str = "augment") -> SamplerConfig:
    """``base`` with the source's ``augment`` overrides (unknown keys, wrong types rejected)."""
    if not src.augment:
        return base
    return from_dict(SamplerConfig, {**to_dict(base), **src.augment}, where)


_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def apply_overrides_indexed(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values read as YAML), indexing lists too: ``data.0.count=8``."""
    out = copy.deepcopy(data)
    for ov in overrides:
        keys, value = parse_override(ov)
        if isinstance(value, str) and _FLOAT.match(value):
            value = float(value)  # YAML 1.1 reads 3e-5 (no dot) as a string
        node: Any = out
        for i, k in enumerate(keys):
            last = i == len(keys) - 1
            if isinstance(node, list):
                if not k.isdigit() or int(k) >= len(node):
                    raise ConfigError(f"override {ov!r}: {k} is not an index of a list of "
                                      f"{len(node)} entries")
                if last:
                    node[int(k)] = value
                else:
                    node = node[int(k)]
            elif isinstance(node, dict):
                if last:
                    node[k] = value
                else:
                    node = node.setdefault(k, {})
            else:
                raise ConfigError(f"override {ov!r}: {keys[i - 1]} is not a section")
    return out


def load_config_dict(path: str | Path | None, overrides: list[str] | None) -> dict[str, Any]:
    data = load_yaml(path) if path else {}
    return apply_overrides_indexed(data, list(overrides or []))


def load_train_config(path: str | Path | None = None,
                      overrides: list[str] | None = None) -> TrainConfig:
    """Read a ``TrainConfig`` from YAML (optional) plus ``key.sub=value`` overrides."""
    cfg = from_dict(TrainConfig, load_config_dict(path, overrides))
    validate_common(cfg.optim, cfg.data, cfg.log, cfg.checkpoint, "TrainConfig")
    if cfg.model.search_size < 0:
        raise ConfigError("TrainConfig.model.search_size must be >= 0 (0 = the initial "
                          "network's search crop)")
    if not 0.0 <= cfg.model.wise <= 1.0:
        raise ConfigError("TrainConfig.model.wise must be in [0, 1]")
    return cfg
