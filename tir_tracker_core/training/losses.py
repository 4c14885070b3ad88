"""Labels and losses of the anchor-free (BAN) head.

Every loss here returns one value per sample, so that a batch loss is the plain mean over the
samples: the mean over several processes' equal shares is then the single-process loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import ModelConfig
from .config import LossConfig
from .data import NEGATIVE, POSITIVE


def score_points(model: ModelConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(S, S, 2)`` x, y of every score-map point in search-crop pixels (the runtime's grid)."""
    s = model.score_size
    ori = -(s // 2) * model.stride
    c0 = (model.instance_size - 1) / 2
    g = c0 + ori + model.stride * torch.arange(s, dtype=torch.float32, device=device)
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    return torch.stack([gx, gy], dim=-1)


def point_targets(box: torch.Tensor, kind: torch.Tensor, model: ModelConfig,
                  cfg: LossConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Classification labels ``(B, S, S)`` (1 positive, 0 negative, -1 ignored) and regression
    targets ``(B, 4, S, S)`` (l, t, r, b distances in crop pixels) from target boxes
    ``(B, 4)`` ``x1, y1, x2, y2`` and sample kinds ``(B,)``."""
    pts = score_points(model, box.device)  # (S, S, 2)
    px, py = pts[..., 0][None], pts[..., 1][None]
    b = torch.nan_to_num(box, nan=0.0)
    x1, y1, x2, y2 = (b[:, i, None, None] for i in range(4))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = (x2 - x1).clamp(min=1.0), (y2 - y1).clamp(min=1.0)
    d_pos = ((px - cx) / (cfg.pos_radius * w)) ** 2 + ((py - cy) / (cfg.pos_radius * h)) ** 2
    d_neg = ((px - cx) / (cfg.neg_radius * w)) ** 2 + ((py - cy) / (cfg.neg_radius * h)) ** 2
    inside = (px > x1) & (px < x2) & (py > y1) & (py < y2)
    label = torch.full(d_pos.shape, -1, dtype=torch.long, device=box.device)
    label[d_neg > 1] = 0
    pos = d_pos < 1
    # the point nearest to the centre is always positive when it lies in the box
    dist = (px - cx) ** 2 + (py - cy) ** 2
    nearest = dist.flatten(1).argmin(1)
    near_mask = torch.zeros_like(pos).flatten(1)
    near_mask[torch.arange(len(box)), nearest] = True
    pos = (pos | near_mask.view_as(pos)) & inside
    label[pos] = 1
    k = kind[:, None, None]
    label = torch.where(k == NEGATIVE, torch.zeros_like(label), label)
    label = torch.where((k != POSITIVE) & (k != NEGATIVE), torch.full_like(label, -1), label)
    ltrb = torch.stack([px - x1, py - y1, x2 - px, y2 - py], dim=1)
    return label, ltrb


def cls_loss(logits: torch.Tensor, label: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    """Per-sample ``0.5 * mean(pos) + 0.5 * mean(neg)`` cross-entropy (or focal) loss."""
    logp = F.log_softmax(logits, dim=1)
    lp_pos, lp_neg = logp[:, 1], logp[:, 0]
    ce_pos, ce_neg = -lp_pos, -lp_neg
    if cfg.cls_loss == "focal":
        ce_pos = ce_pos * (1 - lp_pos.exp()) ** cfg.focal_gamma
        ce_neg = ce_neg * (1 - lp_neg.exp()) ** cfg.focal_gamma
    pos, neg = (label == 1).float(), (label == 0).float()
    l_pos = (ce_pos * pos).flatten(1).sum(1) / pos.flatten(1).sum(1).clamp(min=1)
    l_neg = (ce_neg * neg).flatten(1).sum(1) / neg.flatten(1).sum(1).clamp(min=1)
    return 0.5 * l_pos + 0.5 * l_neg


def ltrb_iou(pred: torch.Tensor, target: torch.Tensor,
             kind: str = "iou") -> tuple[torch.Tensor, torch.Tensor]:
    """IoU (or GIoU) of two boxes given as l, t, r, b distances from the same point.

    ``pred`` / ``target`` ``(..., 4)``. Returns ``(iou, giou_or_iou)``.
    """
    pl, pt, pr, pb = pred.unbind(-1)
    tl, tt, tr, tb = target.unbind(-1)
    area_p = (pl + pr) * (pt + pb)
    area_t = (tl + tr) * (tt + tb)
    iw = torch.minimum(pl, tl) + torch.minimum(pr, tr)
    ih = torch.minimum(pt, tt) + torch.minimum(pb, tb)
    inter = iw.clamp(min=0) * ih.clamp(min=0)
    union = area_p + area_t - inter
    iou = inter / union.clamp(min=1e-6)
    if kind != "giou":
        return iou, iou
    cw = torch.maximum(pl, tl) + torch.maximum(pr, tr)
    ch = torch.maximum(pt, tt) + torch.maximum(pb, tb)
    enclose = (cw * ch).clamp(min=1e-6)
    return iou, iou - (enclose - union) / enclose


def box_loss(loc: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
             kind: str = "giou") -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample weighted mean box loss over points with ``weight > 0``.

    ``loc`` / ``target`` ``(B, 4, S, S)``, ``weight`` ``(B, S, S)``. Returns the loss and the
    per-sample mean IoU (detached) over those points.
    """
    p = loc.permute(0, 2, 3, 1)
    t = target.permute(0, 2, 3, 1)
    iou, g = ltrb_iou(p, t, "giou" if kind == "giou" else "iou")
    if kind == "log_iou":
        per_point = -torch.log(iou.clamp(min=1e-6))
    else:
        per_point = 1.0 - g
    wsum = weight.flatten(1).sum(1)
    denom = wsum.clamp(min=1e-6)
    loss = torch.where(wsum > 0, (per_point * weight).flatten(1).sum(1) / denom,
                       torch.zeros_like(wsum))
    miou = torch.where(wsum > 0, (iou.detach() * weight).flatten(1).sum(1) / denom,
                       torch.zeros_like(wsum))
    return loss, miou
