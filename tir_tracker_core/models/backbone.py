"""MobileNetV3-style backbone with explicit per-block channel counts."""

from __future__ import annotations

import torch
from torch import nn

from ..config import BackboneConfig, BlockSpec


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round ``v`` to a multiple of ``divisor`` without going down by more than 10 %."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels),
            nn.Hardsigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x.mean(dim=(2, 3)))
        return x * y[:, :, None, None]


def _act(hswish: bool) -> nn.Module:
    return nn.Hardswish() if hswish else nn.ReLU(inplace=True)


class InvertedResidual(nn.Module):
    """Expansion 1x1 -> depth-wise kxk -> (SE) -> projection 1x1, residual when shapes allow.

    Module indices inside ``conv`` follow the common MobileNetV3 layout so that published
    checkpoints map onto it by name.
    """

    def __init__(self, inp: int, spec: BlockSpec) -> None:
        super().__init__()
        k, hid, out, s = spec.kernel, spec.hidden, spec.out, spec.stride
        self.identity = s == 1 and inp == out
        se: nn.Module = SqueezeExcite(hid, spec.se) if spec.se > 0 else nn.Identity()
        if inp == hid:
            layers = [
                nn.Conv2d(hid, hid, k, s, (k - 1) // 2, groups=hid, bias=False),
                nn.BatchNorm2d(hid),
                _act(spec.hswish),
                se,
                nn.Conv2d(hid, out, 1, 1, 0, bias=False),
                nn.BatchNorm2d(out),
            ]
        else:
            layers = [
                nn.Conv2d(inp, hid, 1, 1, 0, bias=False),
                nn.BatchNorm2d(hid),
                _act(spec.hswish),
                nn.Conv2d(hid, hid, k, s, (k - 1) // 2, groups=hid, bias=False),
                nn.BatchNorm2d(hid),
                se,
                _act(spec.hswish),
                nn.Conv2d(hid, out, 1, 1, 0, bias=False),
                nn.BatchNorm2d(out),
            ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.identity else y


class Backbone(nn.Module):
    """Stem conv + inverted residual blocks; ``forward`` returns the last feature map.

    ``forward_levels`` also returns the output of every block, for multi-level feature
    matching during distillation.
    """

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(3, cfg.stem, 3, 2, 1, bias=False), nn.BatchNorm2d(cfg.stem),
                          nn.Hardswish())
        ]
        inp = cfg.stem
        for spec in cfg.blocks:
            layers.append(InvertedResidual(inp, spec))
            inp = spec.out
        self.features = nn.Sequential(*layers)
        self.out_channels = inp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for layer in self.features:
            x = layer(x)
            outs.append(x)
        return outs


# k, expansion ratio, out, SE, hswish, stride (MobileNetV3-small as trimmed by NanoTrack)
_MNV3_SMALL_TRIMMED = [
    (3, 1, 16, True, False, 2),
    (3, 4.5, 24, False, False, 2),
    (3, 3.67, 24, False, False, 1),
    (5, 4, 40, True, True, 2),
    (5, 6, 40, True, True, 1),
    (5, 6, 40, True, True, 1),
    (5, 3, 48, True, True, 1),
    (5, 3, 48, True, True, 1),
]


def mobilenetv3_config(width: float = 1.0, extra_block: tuple | None = None) -> BackboneConfig:
    """Explicit-channel config of a width-scaled, stride-16 MobileNetV3-small trunk."""
    rows = list(_MNV3_SMALL_TRIMMED) + ([extra_block] if extra_block else [])
    inp = make_divisible(16 * width)
    stem = inp
    blocks = []
    for k, t, c, se, hs, s in rows:
        out = make_divisible(c * width)
        hid = make_divisible(inp * t)
        blocks.append(BlockSpec(kernel=k, hidden=hid, out=out,
                                se=make_divisible(hid // 4) if se else 0, hswish=hs, stride=s))
        inp = out
    return BackboneConfig(stem=stem, blocks=tuple(blocks))
