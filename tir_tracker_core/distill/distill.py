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

from ..config import FrameConfig, ModelConfig, TrackerConfig, from_dict, to_dict
from ..errors import ConfigError
from ..models import SiameseNet, at_search_size, build_model, count_macs, count_params
from ..training.data import PairSampler, StepBatches, collate
from ..training.distributed import DistInfo
from ..training.loop import LoopResult
from ..training.model_init import init_model
from ..training.optim import make_groups, network_groups
from ..training.run import FinalModel, RunTask, run, step_batches
from .actor import DistillActor, Student, level_channels, member_shift
from .config import DistillConfig
from .prune import (Root, Slice, cut_channels, example_inputs, prune_channels, rebuild,
                    scale_slices, select_channels, stage_spec)
from .views import StudentView

log = logging.getLogger(__name__)


def _macs(net: SiameseNet) -> int:
    """MACs of ``net`` wherever it lives (Torch-Pruning's counter runs on a CPU copy)."""
    return count_macs(copy.deepcopy(net).cpu())


def _same_geometry(other: SiameseNet, teacher: SiameseNet, what: str,
                   with_score_map: bool) -> None:
    """``other`` cuts the teacher's crops at the teacher's stride; its score map is the
    teacher's (``with_score_map``) or fits inside it (an ensemble member's)."""
    keys = ("exemplar_size", "instance_size", "stride", "zoom")
    keys += ("score_size",) if with_score_map else ()
    for key in keys:
        if getattr(other.cfg, key) != getattr(teacher.cfg, key):
            raise ConfigError(f"{what} and teacher differ in {key}; distillation needs the same "
                              "crop geometry")
    t, o = teacher.cfg.score_size, other.cfg.score_size
    if member_shift(t, o) < 0:
        raise ConfigError(f"{what}'s {o}x{o} score map does not fit the teacher's {t}x{t}; make "
                          "the model with the larger map the teacher")


class DistillTask(RunTask):
    """Trains the ``Student`` (network + adapters); prunes it at the configured steps.

    ``tracker`` / ``frame`` / ``sources``: the teacher's settings and where teacher and student
    came from, carried into the final checkpoint. ``view``: the student's input resolution
    against the teacher's (``views.StudentView``; equal by default).
    """

    def __init__(self, cfg: DistillConfig, teacher: SiameseNet, net: SiameseNet,
                 batches: StepBatches, tracker: TrackerConfig, frame: FrameConfig,
                 sources: dict[str, Any], ensemble: tuple[SiameseNet, ...] = (),
                 view: StudentView | None = None, anchor: SiameseNet | None = None) -> None:
        self.cfg = cfg
        self.view = view or StudentView.of(teacher.cfg, net.cfg)
        self.teacher = teacher
        self.batches = batches
        self.freeze_bn = cfg.freeze_bn
        self.tracker = tracker
        self.frame = frame
        self.sources = sources
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
        self.actor = DistillActor(self.student, teacher, cfg.loss, ensemble, self.view, anchor)

    @classmethod
    def build(cls, cfg: DistillConfig, info: DistInfo) -> DistillTask:
        """The frozen teacher (on ``info.device``), the student (``cfg.student`` or a copy of
        the teacher) and the paired thermal + visible crops of ``cfg.data``."""
        teacher, tcfg, fcfg, t_info = init_model(cfg.teacher)
        teacher = teacher.eval().requires_grad_(False)
        if cfg.student:
            net, _, _, s_info = init_model(cfg.student, cfg.student_search_size)
        else:
            net = at_search_size(copy.deepcopy(teacher).requires_grad_(True),
                                 cfg.student_search_size)
            s_info = {"source": "teacher copy"}
        view = StudentView.of(teacher.cfg, net.cfg)
        ensemble, e_info = [], []
        for spec in cfg.ensemble:
            member, _, _, m_info = init_model(spec)
            _same_geometry(member, teacher, f"ensemble member {spec!r}", with_score_map=False)
            ensemble.append(member.eval().requires_grad_(False).to(info.device))
            e_info.append(m_info)
        anchor = None
        if cfg.anchor:
            anchor, _, _, a_info = init_model(cfg.anchor)
            _same_geometry(anchor, teacher, f"anchor {cfg.anchor!r}", with_score_map=True)
            anchor = anchor.eval().requires_grad_(False).to(info.device)
        batches = step_batches(cfg, teacher.cfg, info, ("tir", "rgb"), allow_unlabelled=True,
                               template_context=view.template_context, thermal_teacher=True)
        sources = {"teacher": t_info, "student_init": s_info}
        if e_info:
            sources["ensemble"] = e_info
        if anchor is not None:
            sources["anchor"] = a_info
        return cls(cfg, teacher.to(info.device), net, batches, tcfg, fcfg, sources,
                   tuple(ensemble), view, anchor)

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

    def _inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The pruner's trace inputs, on the student's device."""
        return example_inputs(self.student.net.cfg, next(self.student.parameters()).device)

    def before_step(self, step: int) -> bool:
        stages = self.cfg.prune.stage_steps()
        if self.stage >= len(stages):
            return False
        decay_steps, cut = self.cfg.prune.decay_steps, stages[self.stage]
        if decay_steps and cut - decay_steps <= step < cut:
            self._decay(step, cut, self.stage + 1)
            return False
        if step < cut:
            return False
        self._cut(step, self.stage + 1)
        return True

    def _cut(self, step: int, k: int) -> None:
        """Pruning stage ``k``: remove its channels, rebuild the network, re-estimate the
        BatchNorm statistics when ``prune.bn_recalib``."""
        p = self.cfg.prune
        spec, inputs = stage_spec(p, k), self._inputs()
        before = _macs(self.student.net)
        if self.decay_roots:  # cut the channels shrunk to zero (what the last step regrew too)
            scale_slices(self.student, self.decay, 0.0)
            cut_channels(self.student, self.student.net, inputs, self.decay_roots, p.round_to)
        else:
            prune_channels(self.student, self.student.net, inputs, spec,
                           keep_outputs=list(self.student.adapters))
        self.student.net = rebuild(self.student.net).to(inputs[0].device)
        self.stage = k
        self.decay, self.decay_roots = [], []
        log.info("pruning stage %d/%d at step %d: removed %.1f%% of the channels left, MACs "
                 "%.1fM -> %.1fM", k, p.stages, step, 100 * spec.ratio, before / 1e6,
                 _macs(self.student.net) / 1e6)
        if p.bn_recalib:
            recalibrate_bn(self.student.net, self.batches.sampler, self.cfg.optim.batch_size,
                           p.bn_recalib, stream=_RECALIB_STREAM + k, view=self.view)
            log.info("pruning stage %d/%d: BatchNorm statistics re-estimated on %d batches of "
                     "thermal crops", k, p.stages, p.bn_recalib)

    def _decay(self, step: int, cut: int, k: int) -> None:
        """Shrink the channels stage ``k`` will cut: linearly from 1 to 0 at ``cut - 1``."""
        if not self.decay_roots:
            self.decay_roots, self.decay = select_channels(
                self.student, self.student.net, self._inputs(), stage_spec(self.cfg.prune, k),
                keep_outputs=list(self.student.adapters))
            log.info("pruning stage %d/%d: shrinking %d parameter slices to zero over steps "
                     "%d-%d", k, self.cfg.prune.stages, len(self.decay), step, cut - 1)
        # from (cut - step) / D to (cut - step - 1) / D of the original scale
        scale_slices(self.student, self.decay, 1.0 - 1.0 / (cut - step))

    def param_groups(self) -> list[dict[str, Any]]:
        return (network_groups(self.student.net, self.cfg.optim)
                + make_groups("adapters", list(self.student.adapters.named_parameters()), 1.0,
                              0.0))

    def final_model(self, result: LoopResult) -> FinalModel:
        """The pruned student (named by :func:`student_name`) with the teacher's tracker and
        frame settings; the provenance records both networks' sizes."""
        student = self.student.net.cpu().eval()
        teacher = self.teacher.cpu()
        mcfg = dataclasses.replace(student.cfg, name=student_name(self.cfg, teacher))
        sizes = {"teacher_params": count_params(teacher), "teacher_macs": count_macs(teacher),
                 "student_params": count_params(student), "student_macs": count_macs(student)}
        log.info("final student: MACs %.1fM of the teacher's %.1fM, params %d of %d",
                 sizes["student_macs"] / 1e6, sizes["teacher_macs"] / 1e6,
                 sizes["student_params"], sizes["teacher_params"])
        weights = {k: v.detach().cpu() for k, v in student.state_dict().items()}
        return FinalModel(mcfg, weights, self.tracker, self.frame,
                          {**self.sources, "pruning_stages": self.stage, **sizes})


# sampler step numbers for the BatchNorm batches: far beyond any training step, one stream per
# stage, so they never repeat a training batch and every process draws the same ones
_RECALIB_STREAM = 1 << 40


@torch.no_grad()
def recalibrate_bn(net: SiameseNet, sampler: PairSampler, batch_size: int, batches: int,
                   stream: int, view: StudentView | None = None) -> None:
    """Re-estimate every BatchNorm's running mean and variance of ``net`` as the plain
    average over ``batches`` batches of the sampler's thermal template and search crops
    (as ``view`` shows them to the student).

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
        z, x = batch["z_tir"].to(dev), batch["x_tir"].to(dev)
        net(*(view.student_crops(z, x) if view is not None else (z, x)))
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
    return run("distill", cfg, out, lambda info: DistillTask.build(cfg, info), resume,
               stop_after)
