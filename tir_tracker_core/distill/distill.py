"""``tir-tracker distill``: an RGB teacher teaches a pruned thermal student on paired data.

The method of Li, Zha et al. (EAAI 2023), cross-modal compression distillation: a frozen RGB
tracker sees the visible crops of a registered RGB + thermal pair; the student, initialised
from the teacher, sees the thermal crops cut at the same place with the same augmentation, and
learns to reproduce the teacher's backbone features (several depths, through 1x1 adapters),
classification and regression maps, plus the ordinary tracking loss where boxes exist. The
student is pruned (Torch-Pruning, structured channels) in one or several stages during the run.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import Checkpoint, save_checkpoint
from ..config import ModelConfig, from_dict, to_dict
from ..errors import ConfigError
from ..models import SiameseNet, build_model, count_macs, count_params
from ..training.data import ClipSet, PairSampler, StepBatches, collate
from ..training.distributed import barrier, init_distributed, shutdown
from ..training.loop import LoopSettings, Task, make_groups, run_loop
from ..training.train import freeze_batchnorm, init_model, prepare_run, provenance
from .actor import DistillActor, Student, level_channels
from .config import DistillConfig
from .prune import (Root, Slice, cut_channels, prune_channels, rebuild, scale_slices,
                    select_channels, stage_ratio)

log = logging.getLogger(__name__)


def _macs(net: SiameseNet) -> int:
    """MACs of ``net`` wherever it lives (Torch-Pruning's counter runs on a CPU copy)."""
    return count_macs(copy.deepcopy(net).cpu())


class DistillTask(Task):
    """Trains the ``Student`` (network + adapters); prunes it at the configured steps."""

    def __init__(self, cfg: DistillConfig, teacher: SiameseNet, net: SiameseNet,
                 batches: StepBatches) -> None:
        self.cfg = cfg
        self.teacher = teacher
        self.batches = batches
        feat = cfg.loss.feature
        self.levels = tuple(feat.levels) if feat.weight > 0 else ()
        self.t_channels = level_channels(teacher)
        bad = [lv for lv in self.levels if not 0 <= lv < len(self.t_channels)]
        if bad:
            raise ConfigError(f"loss.feature.levels {bad} out of range: the backbone has levels "
                              f"0..{len(self.t_channels) - 1} (0 = stem)")
        self.stage = 0
        # gradual pruning: the groups the next stage cuts and their slices being shrunk
        self.decay_roots: list[Root] = []
        self.decay: list[Slice] = []
        self.student = self._student(net)
        self.actor = DistillActor(self.student, teacher, cfg.loss)

    def _student(self, net: SiameseNet) -> Student:
        return Student(net, self.levels, [self.t_channels[lv] for lv in self.levels],
                       self.cfg.loss.feature.template)

    def trainable(self) -> nn.Module:
        return self.student

    def arch(self) -> dict[str, Any]:
        return {"model": to_dict(self.student.net.cfg), "stage": self.stage,
                "decay": [[n, d, i] for n, d, i in self.decay],
                "decay_roots": [[n, f, i] for n, f, i in self.decay_roots]}

    def rebuild(self, arch: dict[str, Any]) -> None:
        mcfg = from_dict(ModelConfig, arch["model"])
        if mcfg != self.student.net.cfg:
            self.student = self._student(build_model(mcfg))
        self.stage = int(arch.get("stage", 0))
        self.decay = [(str(n), int(d), [int(j) for j in i]) for n, d, i in arch.get("decay", [])]
        self.decay_roots = [(str(n), str(f), [int(j) for j in i])
                            for n, f, i in arch.get("decay_roots", [])]
        self.actor.net = self.student

    def _stage_args(self, k: int) -> tuple[tuple[torch.Tensor, ...], float, dict[str, float]]:
        p = self.cfg.prune
        dev = next(self.student.parameters()).device
        mc = self.student.net.cfg
        z = torch.zeros(1, 3, mc.exemplar_size, mc.exemplar_size, device=dev)
        x = torch.zeros(1, 3, mc.instance_size, mc.instance_size, device=dev)
        layer = {n: stage_ratio(v, p.stages, k) for n, v in p.layer_ratios.items()}
        return (z, x), stage_ratio(p.ratio, p.stages, k), layer

    def before_step(self, step: int) -> bool:
        stages = self.cfg.prune.stage_steps()
        if self.stage >= len(stages):
            return False
        p = self.cfg.prune
        k = self.stage + 1
        cut = stages[self.stage]
        if p.decay_steps and cut - p.decay_steps <= step < cut:
            self._decay(step, cut, k)
            return False
        if step < cut:
            return False
        inputs, ratio, layer = self._stage_args(k)
        before = _macs(self.student.net)
        if self.decay_roots:  # cut the channels shrunk to zero (what the last step regrew too)
            scale_slices(self.student, self.decay, 0.0)
            cut_channels(self.student, self.student.net, inputs, self.decay_roots, p.round_to)
        else:
            prune_channels(self.student, self.student.net, inputs, ratio, p.importance,
                           p.global_pruning, p.ignore, keep_outputs=list(self.student.adapters),
                           round_to=p.round_to, max_layer_ratio=p.max_layer_ratio,
                           layer_ratios=layer)
        self.student.net = rebuild(self.student.net).to(inputs[0].device)
        self.stage = k
        self.decay, self.decay_roots = [], []
        log.info("pruning stage %d/%d at step %d: removed %.1f%% of the channels left, MACs "
                 "%.1fM -> %.1fM", k, p.stages, step, 100 * ratio, before / 1e6,
                 _macs(self.student.net) / 1e6)
        if p.bn_recalib:
            recalibrate_bn(self.student.net, self.batches.sampler, self.cfg.optim.batch_size,
                           p.bn_recalib, stream=_RECALIB_STREAM + k)
            log.info("pruning stage %d/%d: BatchNorm statistics re-estimated on %d batches of "
                     "thermal crops", k, p.stages, p.bn_recalib)
        return True

    def _decay(self, step: int, cut: int, k: int) -> None:
        """Shrink the channels stage ``k`` will cut: linearly from 1 to 0 at ``cut - 1``."""
        p = self.cfg.prune
        if not self.decay_roots:
            inputs, ratio, layer = self._stage_args(k)
            self.decay_roots, self.decay = select_channels(
                self.student, self.student.net, inputs, ratio, p.importance, p.global_pruning,
                p.ignore, keep_outputs=list(self.student.adapters), round_to=p.round_to,
                max_layer_ratio=p.max_layer_ratio, layer_ratios=layer)
            log.info("pruning stage %d/%d: shrinking %d parameter slices to zero over steps "
                     "%d-%d", k, p.stages, len(self.decay), step, cut - 1)
        # from (cut - step) / D to (cut - step - 1) / D of the original scale
        scale_slices(self.student, self.decay, 1.0 - 1.0 / (cut - step))

    def param_groups(self) -> list[dict[str, Any]]:
        o = self.cfg.optim
        named = list(self.student.net.named_parameters())
        bb = [(n, q) for n, q in named if n.startswith("backbone.")]
        head = [(n, q) for n, q in named if not n.startswith("backbone.")]
        return (make_groups("backbone", bb, o.backbone_lr_mult, o.weight_decay, o.freeze)
                + make_groups("head", head, 1.0, o.weight_decay, o.freeze)
                + make_groups("adapters", list(self.student.adapters.named_parameters()), 1.0,
                              0.0))

    def train_mode(self) -> None:
        self.student.train()
        if self.cfg.freeze_bn:
            freeze_batchnorm(self.student)


# sampler step numbers for the BatchNorm batches: far beyond any training step, one stream per
# stage, so they never repeat a training batch and every process draws the same ones
_RECALIB_STREAM = 1 << 40


@torch.no_grad()
def recalibrate_bn(net: SiameseNet, sampler: PairSampler, batch_size: int, batches: int,
                   stream: int) -> None:
    """Re-estimate every BatchNorm's running mean and variance of ``net`` as the plain
    average over ``batches`` batches of the sampler's thermal template and search crops.

    Every process draws the whole global batch, so the statistics agree across processes.
    """
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [(m.training, m.momentum) for m in bns]
    was_training = net.training
    net.eval()
    dev = next(net.parameters()).device
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
        m.train()
    for b in range(batches):
        batch = collate([sampler.sample(stream * batches + b, i) for i in range(batch_size)])
        net(batch["z_tir"].to(dev), batch["x_tir"].to(dev))
    net.train(was_training)  # first: it sets every submodule, the BatchNorms included
    for m, (training, momentum) in zip(bns, saved):
        m.momentum = momentum
        m.train(training)


def student_name(cfg: DistillConfig, teacher: SiameseNet) -> str:
    if cfg.name:
        return cfg.name
    suffix = f"_tir_pruned{int(round(100 * cfg.prune.ratio))}" if cfg.prune.enabled else "_tir"
    return teacher.cfg.name + suffix


def distill(cfg: DistillConfig, out: str | Path, resume: bool = True,
            stop_after: int | None = None) -> Path:
    """Distil ``cfg.teacher`` into a (pruned) thermal student; returns
    ``OUT/final.safetensors`` (an ordinary checkpoint: loads without Torch-Pruning).

    Resumes from ``OUT/checkpoints`` (the pruned architecture included) unless ``resume`` is
    False; runs data-parallel under torchrun. ``stop_after``: stop after that many steps with a
    checkpoint and return the checkpoint folder (no final model).
    """
    out = Path(out)
    info = init_distributed(cfg.device)
    try:
        prepare_run(out, cfg, info)
        teacher, tcfg, fcfg, t_info = init_model(cfg.teacher)
        teacher = teacher.eval().requires_grad_(False)
        if cfg.student:
            net, _, _, s_info = init_model(cfg.student)
        else:
            net, s_info = copy.deepcopy(teacher).requires_grad_(True), {"source": "teacher copy"}
        for key in ("exemplar_size", "instance_size", "score_size", "stride"):
            if getattr(net.cfg, key) != getattr(teacher.cfg, key):
                raise ConfigError(f"student and teacher differ in {key}; distillation needs the "
                                  "same crop geometry")
        clips = ClipSet(cfg.data, cfg.sampler.min_box_size)
        sampler = PairSampler(clips, cfg.sampler, teacher.cfg, ("tir", "rgb"), seed=cfg.seed,
                              allow_unlabelled=True)
        batches = StepBatches(sampler, cfg.optim.batch_size, info.rank, info.world)
        task = DistillTask(cfg, teacher.to(info.device), net, batches)
        settings = LoopSettings(cfg.optim, cfg.log, cfg.checkpoint, cfg.seed, cfg.workers, cfg)
        result = run_loop(task, settings, out, info, resume, stop_after)
        if result.steps < cfg.optim.total_steps:
            return out / "checkpoints"
        path = out / "final.safetensors"
        if info.is_main:
            student = task.student.net.cpu().eval()
            mcfg = dataclasses.replace(student.cfg, name=student_name(cfg, teacher))
            teacher = teacher.cpu()
            sizes = {"teacher_params": count_params(teacher), "teacher_macs": count_macs(teacher),
                     "student_params": count_params(student), "student_macs": count_macs(student)}
            ckpt = Checkpoint(mcfg, {k: v.detach().cpu() for k, v in student.state_dict().items()},
                              tcfg, fcfg,
                              provenance("distill", cfg, result.steps, info, teacher=t_info,
                                         student_init=s_info, pruning_stages=task.stage,
                                         final_stats=result.last_stats, **sizes))
            save_checkpoint(ckpt, path)
            log.info("final student: %s (MACs %.1fM of the teacher's %.1fM, params %d of %d)",
                     path, sizes["student_macs"] / 1e6, sizes["teacher_macs"] / 1e6,
                     sizes["student_params"], sizes["teacher_params"])
        barrier(info)
        return path
    finally:
        shutdown(info)
