"""A ``SiameseNet`` rewritten for inference: the modules that ONNX export and TensorRT compile.

The network is copied (the caller's model is untouched) and rewritten: BatchNorm layers are
folded into the convolutions before them, and the depth-wise correlation of v3-style heads
(which PyTorch runs as one grouped convolution over ``batch * channels`` groups, a group count
that ONNX would freeze at the traced batch size) is replaced by an equivalent shift-and-add
that keeps the batch axis dynamic. The branches the tracker runs are thin modules over it:

- ``TemplateBranch``: ``z -> zf`` (also the backbone on search canvases of any size)
- ``TrackBranch``: ``(zf, x) -> (cls, loc)``, search backbone fused with the head
- ``HeadBranch``: ``(zf, xf) -> (cls, loc)``, the head alone
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["HeadBranch", "TemplateBranch", "TrackBranch", "inference_modules",
           "xcorr_depthwise_shift_add"]


def _fold_bn_in_sequentials(module: nn.Module) -> int:
    """Fold every ``Conv2d`` directly followed by a ``BatchNorm2d`` inside an ``nn.Sequential``
    (eval-mode statistics); the BatchNorm becomes ``Identity``. Returns the number folded."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    n = 0
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
                    and conv.out_channels == bn.num_features and bn.track_running_stats):
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
                n += 1
    return n


def xcorr_depthwise_shift_add(search: torch.Tensor, kernel: torch.Tensor,
                              padding: int = 1) -> torch.Tensor:
    """Depth-wise correlation as a sum of shifted, scaled search maps.

    Same result as ``models.head.xcorr_depthwise`` but without a grouped convolution whose group
    count depends on the batch size, so the batch axis stays dynamic in ONNX / TensorRT. The
    kernel is small (4x4 in NanoTrack v3), so this is 16 fused multiply-adds on a tiny map.
    """
    kh, kw = int(kernel.shape[2]), int(kernel.shape[3])
    xp = nn.functional.pad(search, (padding, padding, padding, padding))
    ho, wo = int(xp.shape[2]) - kh + 1, int(xp.shape[3]) - kw + 1
    out = None
    for i in range(kh):
        for j in range(kw):
            term = xp[:, :, i:i + ho, j:j + wo] * kernel[:, :, i:i + 1, j:j + 1]
            out = term if out is None else out + term
    return out


class _ExportDepthwiseCorr(nn.Module):
    """Drop-in for ``models.head.DepthwiseCorr`` with a batch-independent graph."""

    def __init__(self, src: nn.Module) -> None:
        super().__init__()
        self.conv_kernel = src.conv_kernel
        self.conv_search = src.conv_search

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        return xcorr_depthwise_shift_add(self.conv_search(xf), self.conv_kernel(zf))


def _replace_depthwise_corr(module: nn.Module) -> int:
    from ..models.head import DepthwiseCorr

    n = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, DepthwiseCorr):
                setattr(parent, name, _ExportDepthwiseCorr(child))
                n += 1
    return n


class TemplateBranch(nn.Module):
    """``z -> zf``: the backbone on template crops."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.backbone = net.backbone

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.backbone(z)


class TrackBranch(nn.Module):
    """``(zf, x) -> (cls, loc)``: the backbone on search crops, then the head."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.backbone = net.backbone
        self.head = net.head

    def forward(self, zf: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(zf, self.backbone(x))


class HeadBranch(nn.Module):
    """``(zf, xf) -> (cls, loc)``: the head alone (search features computed elsewhere)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(zf, xf)


def inference_modules(model: nn.Module, fold_bn: bool = True) -> tuple[TemplateBranch, TrackBranch]:
    """CPU float32 eval-mode copies of the template and track branches, rewritten for
    inference (the caller's model is left untouched); ``HeadBranch(track.head)`` is the head
    alone, ``template`` also runs the backbone on search canvases."""
    net = copy.deepcopy(model).float().cpu().eval()
    _replace_depthwise_corr(net)
    if fold_bn:
        _fold_bn_in_sequentials(net)
    for p in net.parameters():
        p.requires_grad_(False)
    return TemplateBranch(net).eval(), TrackBranch(net).eval()
