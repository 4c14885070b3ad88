"""The Siamese tracker network: stateless ``backbone(x)`` and ``head(zf, xf)``.

The network holds no tracking state; the ``Tracker`` owns template caches, and the caller
owns the device.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..config import HeadConfig, ModelConfig, TowerLayer
from ..registry import Registry
from .backbone import Backbone, mobilenetv3_config
from .head import BANHead

PRESETS: Registry[ModelConfig] = Registry("model preset")


class SiameseNet(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg.backbone)
        self.head = BANHead(cfg.head)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Template crops ``z`` (B,3,127,127) and search crops ``x`` (B,3,255,255)."""
        return self.head(self.backbone(z), self.backbone(x))


def build_model(cfg: ModelConfig) -> SiameseNet:
    """Build the network and check that its score map has the configured size."""
    if not cfg.zoom > 0:
        raise ValueError(f"model {cfg.name}: zoom must be > 0, got {cfg.zoom}")
    model = SiameseNet(cfg)
    with torch.no_grad():
        was_training = model.training
        model.eval()
        cls, loc = model(torch.zeros(1, 3, cfg.exemplar_size, cfg.exemplar_size),
                         torch.zeros(1, 3, cfg.instance_size, cfg.instance_size))
        model.train(was_training)
    if cls.shape[-1] != cfg.score_size:
        raise ValueError(f"model {cfg.name}: score map is {cls.shape[-1]}, config says "
                         f"score_size={cfg.score_size}")
    return model


def with_search_size(cfg: ModelConfig, search_size: int) -> ModelConfig:
    """``cfg`` with a search crop of ``search_size`` px covering the same image area: the input
    resolution scaled by ``search_size / instance_size`` (``zoom`` scaled with it, so the
    template crop keeps its pixels and shows proportionally more context), the score map
    sized by a dry run of the backbone. The weights of ``cfg``'s network fit the result."""
    if search_size < cfg.exemplar_size:
        raise ValueError(f"search size {search_size} px is smaller than the template crop "
                         f"({cfg.exemplar_size} px); use at least {cfg.exemplar_size}")
    if search_size == cfg.instance_size:
        return cfg
    net = SiameseNet(cfg).eval()
    with torch.no_grad():
        cls, _ = net(torch.zeros(1, 3, cfg.exemplar_size, cfg.exemplar_size),
                     torch.zeros(1, 3, search_size, search_size))
    return replace(cfg, instance_size=search_size, score_size=int(cls.shape[-1]),
                   zoom=cfg.zoom * search_size / cfg.instance_size)


def at_search_size(net: SiameseNet, search_size: int) -> SiameseNet:
    """``net``'s weights in a network of :func:`with_search_size` geometry (``net`` itself when
    ``search_size`` is 0 or already its own), in ``net``'s train / eval mode."""
    if not search_size or search_size == net.cfg.instance_size:
        return net
    resized = build_model(with_search_size(net.cfg, search_size))
    resized.load_state_dict(net.state_dict())
    return resized.train(net.training)


def _tower(kernels: list[int], channels: list[int]) -> tuple[TowerLayer, ...]:
    return tuple(TowerLayer(k, c) for k, c in zip(kernels, channels))


@PRESETS.register("nanotrack_v1")
def nanotrack_v1() -> ModelConfig:
    return ModelConfig(
        name="nanotrack_v1", backbone=mobilenetv3_config(1.0),
        head=HeadConfig(style="pw", in_channels=48, corr_channels=0, shared_corr=True,
                        template_positions=64, tower_style="dw_pw_bn",
                        cls_tower=_tower([5, 5, 3], [128, 128, 128]),
                        bbox_tower=_tower([3, 3, 5, 5], [96, 96, 96, 96])),
        score_size=16)


@PRESETS.register("nanotrack_v2")
def nanotrack_v2() -> ModelConfig:
    return ModelConfig(
        name="nanotrack_v2", backbone=mobilenetv3_config(1.0),
        head=HeadConfig(style="pw", in_channels=48, corr_channels=48, template_positions=64,
                        tower_style="dw_pw_bn", cls_tower=_tower([3] * 6, [96] * 6),
                        bbox_tower=_tower([3] * 6, [96] * 6)),
        score_size=16)


@PRESETS.register("nanotrack_v3")
def nanotrack_v3() -> ModelConfig:
    return ModelConfig(
        name="nanotrack_v3", backbone=mobilenetv3_config(1.0, extra_block=(5, 6, 96, True, True, 1)),
        head=HeadConfig(style="pwdw", in_channels=96, corr_channels=96, template_positions=64,
                        pw_post_conv=True, tower_style="dw_bn_pw_bn",
                        cls_tower=_tower([3] * 6, [96] * 6), bbox_tower=_tower([3] * 6, [96] * 6)),
        score_size=15)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: SiameseNet) -> int:
    """Multiply-accumulates of one template + one search forward (Torch-Pruning's counter)."""
    import torch_pruning as tp

    cfg = model.cfg
    device = next(model.parameters()).device  # the caller owns the device
    z = torch.zeros(1, 3, cfg.exemplar_size, cfg.exemplar_size, device=device)
    x = torch.zeros(1, 3, cfg.instance_size, cfg.instance_size, device=device)
    was_training = model.training
    model.eval()
    macs, _ = tp.utils.count_ops_and_params(model, (z, x))
    model.train(was_training)
    return int(macs)
