"""The distillation student (network + feature adapters) and the distillation actor."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..models import SiameseNet
from ..training.actors import BaseActor, tracking_loss
from ..training.data import NEGATIVE, POSITIVE
from ..training.losses import ltrb_iou
from .config import DistillLoss
from .views import StudentView


def adapter(c_in: int, c_out: int) -> nn.Conv2d:
    """1x1 conv from student to teacher channels; identity when the counts are equal."""
    conv = nn.Conv2d(c_in, c_out, 1, bias=True)
    with torch.no_grad():
        conv.bias.zero_()
        if c_in == c_out:
            conv.weight.copy_(torch.eye(c_in).view(c_in, c_in, 1, 1))
        else:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
    return conv


class Student(nn.Module):
    """A ``SiameseNet`` plus one adapter per matched backbone level.

    ``forward(z, x)`` returns the head's ``(cls, loc)`` and the adapted template and search
    features of every level in ``levels`` (the template ones empty when ``template`` is off).
    Pruning this module (rather than ``net`` alone) keeps each adapter's input channels
    consistent with the pruned features.
    """

    def __init__(self, net: SiameseNet, levels: tuple[int, ...], teacher_channels: list[int],
                 template: bool = True) -> None:
        super().__init__()
        self.net = net
        self.levels = tuple(levels)
        self.template = template
        chans = level_channels(net)
        self.adapters = nn.ModuleList(adapter(chans[lv], tc)
                                      for lv, tc in zip(self.levels, teacher_channels))

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                 list[torch.Tensor],
                                                                 list[torch.Tensor]]:
        zl = self.net.backbone.forward_levels(z)
        xl = self.net.backbone.forward_levels(x)
        cls, loc = self.net.head(zl[-1], xl[-1])
        fx = [a(xl[lv]) for a, lv in zip(self.adapters, self.levels)]
        fz = [a(zl[lv]) for a, lv in zip(self.adapters, self.levels)] if self.template else []
        return cls, loc, fz, fx

    def adapter_shapes(self) -> list[list[int]]:
        return [[a.in_channels, a.out_channels] for a in self.adapters]


def level_channels(net: SiameseNet) -> list[int]:
    """Output channels of every entry of ``backbone.forward_levels`` (stem, then blocks)."""
    feats = list(net.backbone.features)
    chans = [feats[0][0].out_channels]
    for block in feats[1:]:
        chans.append([m for m in block.conv if isinstance(m, nn.Conv2d)][-1].out_channels)
    return chans


def feature_loss(student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
    """Per-sample mean over levels of ``mean((s - t)^2) / mean(t^2)``."""
    per_level = []
    for s, t in zip(student, teacher):
        err = (s - t).pow(2).flatten(1).mean(1)
        scale = t.pow(2).flatten(1).mean(1).clamp(min=1e-6)
        per_level.append(err / scale)
    return torch.stack(per_level, 0).mean(0)


def response_cls_loss(s_cls: torch.Tensor, t_cls: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-sample temperature-scaled KL(teacher || student) over the two classes, x T^2."""
    t = temperature
    log_ps = F.log_softmax(s_cls / t, dim=1)
    pt = F.softmax(t_cls / t, dim=1)
    kl = (pt * (torch.log(pt.clamp(min=1e-8)) - log_ps)).sum(1)  # (B, S, S)
    return kl.flatten(1).mean(1) * t * t


def response_loc_loss(s_loc: torch.Tensor, t_loc: torch.Tensor, t_cls: torch.Tensor,
                      kind: str = "giou") -> torch.Tensor:
    """Per-sample (G)IoU loss to the teacher's boxes, weighted by teacher foreground prob."""
    w = F.softmax(t_cls, dim=1)[:, 1]
    p = s_loc.permute(0, 2, 3, 1)
    t = t_loc.permute(0, 2, 3, 1)
    iou, g = ltrb_iou(p, t, "giou" if kind == "giou" else "iou")
    per_point = 1.0 - g
    return (per_point * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp(min=1e-6)


def member_shift(size: int, member_size: int) -> int:
    """Cell ``j`` of a ``member_size`` score map sits on cell ``j + shift`` of a ``size`` map
    with the same stride (cells sit at ``(k - size // 2) * stride`` from the search centre);
    -1 when the member's map does not fit inside."""
    shift = size // 2 - member_size // 2
    return shift if 0 <= shift and shift + member_size <= size else -1


def ensemble_mean(cls: torch.Tensor, loc: torch.Tensor,
                  members: list[tuple[torch.Tensor, torch.Tensor]]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per cell, the mean of the teacher's class logits and boxes and those of the members
    that have that cell (a member's smaller map, e.g. NanoTrack v3's 15 x 15 against v2's
    16 x 16, covers the cells it shares with the teacher's; the rest keep the teacher's)."""
    size = cls.shape[-1]
    total_cls, total_loc = cls.clone(), loc.clone()
    count = torch.ones_like(cls[:, :1])
    for m_cls, m_loc in members:
        n = m_cls.shape[-1]
        k = member_shift(size, n)
        assert k >= 0, f"a {n}x{n} score map does not fit inside {size}x{size}"
        total_cls[..., k:k + n, k:k + n] += m_cls
        total_loc[..., k:k + n, k:k + n] += m_loc
        count[..., k:k + n, k:k + n] += 1
    return total_cls / count, total_loc / count


def _peak(cls: torch.Tensor) -> torch.Tensor:
    return F.softmax(cls, dim=1)[:, 1].flatten(1).argmax(1)


@torch.no_grad()
def agreement(s_cls: torch.Tensor, s_loc: torch.Tensor, t_cls: torch.Tensor,
              t_loc: torch.Tensor) -> dict[str, float]:
    """How closely the student follows the teacher: peak within one score-map cell, and the
    IoU of the student's box at the teacher's peak with the teacher's box there."""
    size = t_cls.shape[-1]
    ps, pt = _peak(s_cls), _peak(t_cls)
    near = ((ps // size - pt // size).abs() <= 1) & ((ps % size - pt % size).abs() <= 1)
    b = torch.arange(len(pt))
    sl = s_loc.flatten(2)[b, :, pt]
    tl = t_loc.flatten(2)[b, :, pt]
    iou, _ = ltrb_iou(sl, tl)
    return {"Stats/agree_peak": near.float().mean().item(), "Stats/agree_iou": iou.mean().item()}


class DistillActor(BaseActor):
    """Teacher on ``z_rgb`` / ``x_rgb``, student (``self.net``) on ``z_tir`` / ``x_tir``.

    ``ensemble``: more frozen trackers whose class logits and boxes are averaged with the
    teacher's (the response targets of an ensemble teacher); features come from ``teacher``.
    ``view``: how the student's input resolution relates to the teacher's (``views``); the
    teacher's responses and the student's features are compared on one grid through it.
    ``anchor``: a frozen tracker (teacher geometry) run on the thermal crops for the anchor
    terms instead of the teacher and ensemble.
    """

    def __init__(self, net: nn.Module, teacher: SiameseNet, cfg: DistillLoss,
                 ensemble: tuple[SiameseNet, ...] = (), view: StudentView | None = None,
                 anchor: SiameseNet | None = None) -> None:
        super().__init__(net)
        self.teacher = teacher
        self.anchor = anchor
        self.ensemble = tuple(ensemble)
        self.cfg = cfg
        self.view = view or StudentView(teacher.cfg, teacher.cfg)

    @torch.no_grad()
    def teacher_outputs(self, z: torch.Tensor, x: torch.Tensor, levels: tuple[int, ...],
                        template: bool) -> tuple[torch.Tensor, torch.Tensor, list, list]:
        """The teacher's (or ensemble's) responses on the student's score map and the
        teacher's features at ``levels``, from the sampler's crops ``z`` / ``x``."""
        z, x = self.view.teacher_crops(z, x)
        t = self.teacher.eval()
        zl = t.backbone.forward_levels(z)
        xl = t.backbone.forward_levels(x)
        cls, loc = t.head(zl[-1], xl[-1])
        if self.ensemble:
            cls, loc = ensemble_mean(cls, loc, [m.eval()(z, x) for m in self.ensemble])
        cls, loc = self.view.responses(cls, loc)
        return cls, loc, [zl[i] for i in levels] if template else [], [xl[i] for i in levels]

    @torch.no_grad()
    def anchor_outputs(self, z: torch.Tensor, x: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """The anchor's responses (the teacher's and ensemble's without one) on the thermal
        crops ``z`` / ``x``, on the student's score map."""
        if self.anchor is None:
            cls, loc, _, _ = self.teacher_outputs(z, x, (), False)
            return cls, loc
        z, x = self.view.teacher_crops(z, x)
        cls, loc = self.anchor.eval()(z, x)
        return self.view.responses(cls, loc)

    def __call__(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        student: Student = getattr(self.net, "module", self.net)  # unwrap DDP
        t_cls, t_loc, t_fz, t_fx = self.teacher_outputs(batch["z_rgb"], batch["x_rgb"],
                                                        student.levels, student.template)
        s_cls, s_loc, s_fz, s_fx = self.net(*self.view.student_crops(batch["z_tir"],
                                                                     batch["x_tir"]))
        s_fx = self.view.features(s_fx, t_fx, template=False)
        s_fz = self.view.features(s_fz, t_fz, template=True)
        zero = torch.zeros(len(s_cls), device=s_cls.device)
        l_feat = feature_loss(s_fx + s_fz, t_fx + t_fz) if s_fx else zero
        temp, box_kind = cfg.response.temperature, cfg.track.box_loss
        l_rcls = response_cls_loss(s_cls, t_cls, temp)
        l_rloc = response_loc_loss(s_loc, t_loc, t_cls, box_kind)
        l_anchor = zero
        if cfg.response.anchored:
            a_cls, a_loc = self.anchor_outputs(batch["z_tir"], batch["x_tir"])
            l_anchor = (cfg.response.tir_cls_weight * response_cls_loss(s_cls, a_cls, temp)
                        + cfg.response.tir_loc_weight * response_loc_loss(s_loc, a_loc, a_cls,
                                                                          box_kind))
        kind = batch["kind"]
        l_cls, l_box, miou, _ = tracking_loss(s_cls, s_loc, self.view.box(batch["box"]), kind,
                                              student.net.cfg, cfg.track)
        l_track = cfg.track.cls_weight * l_cls + cfg.track.box_weight * l_box
        per_sample = (cfg.feature.weight * l_feat + cfg.response.cls_weight * l_rcls
                      + cfg.response.loc_weight * l_rloc + l_anchor
                      + cfg.track_weight * l_track)
        loss = per_sample.mean()
        labelled = ((kind == POSITIVE) | (kind == NEGATIVE)).float()
        stats = {
            "Loss/total": loss.item(),
            "Loss/feat": l_feat.mean().item(),
            "Loss/resp_cls": l_rcls.mean().item(),
            "Loss/resp_loc": l_rloc.mean().item(),
            "Loss/resp_tir": l_anchor.mean().item(),
            "Loss/track": l_track.mean().item(),
            "Stats/labelled": labelled.mean().item(),
            "Stats/iou": miou.sum().item() / max(int((kind == POSITIVE).sum()), 1),
            **agreement(s_cls, s_loc, t_cls, t_loc),
        }
        return loss, stats
