"""Anchor-free box-adaptive (BAN) head over pixel-wise / depth-wise cross-correlation."""

from __future__ import annotations

import torch
from torch import nn

from ..config import HeadConfig, TowerLayer


def xcorr_pixelwise(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Pixel-wise correlation: every template position becomes one output channel.

    search (B, C, H, W), kernel (B, C, h, w) -> (B, h*w, H, W).
    """
    b, c, h, w = search.shape
    k = kernel.reshape(b, c, -1).transpose(1, 2)
    return torch.matmul(k, search.reshape(b, c, h * w)).reshape(b, -1, h, w)


def xcorr_depthwise(search: torch.Tensor, kernel: torch.Tensor, padding: int = 1) -> torch.Tensor:
    """Depth-wise (per-channel) correlation, batched by folding the batch into groups."""
    b, c = kernel.shape[:2]
    x = search.reshape(1, b * c, search.shape[2], search.shape[3])
    k = kernel.reshape(b * c, 1, kernel.shape[2], kernel.shape[3])
    out = nn.functional.conv2d(x, k, padding=padding, groups=b * c)
    return out.reshape(b, c, out.shape[2], out.shape[3])


class ChannelAttention(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels, 1)
        self.fc2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(y))))


def _proj(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.BatchNorm2d(c_out))


class PixelwiseCorr(nn.Module):
    def __init__(self, in_ch: int, proj_ch: int, positions: int, post_conv: bool) -> None:
        super().__init__()
        self.CA_layer = ChannelAttention(positions)
        if proj_ch > 0:
            self.conv_kernel = _proj(in_ch, proj_ch)
            self.conv_search = _proj(in_ch, proj_ch)
        if post_conv:
            self.conv = nn.Sequential(
                nn.Conv2d(positions, positions, 2, groups=positions, bias=False),
                nn.BatchNorm2d(positions), nn.ReLU6(inplace=True),
                nn.Conv2d(positions, positions, 1), nn.BatchNorm2d(positions),
            )

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "conv_kernel"):
            zf, xf = self.conv_kernel(zf), self.conv_search(xf)
        out = self.CA_layer(xcorr_pixelwise(xf, zf))
        return self.conv(out) if hasattr(self, "conv") else out


class DepthwiseCorr(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv_kernel = _proj(in_ch, out_ch)
        self.conv_search = _proj(in_ch, out_ch)

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
        return xcorr_depthwise(self.conv_search(xf), self.conv_kernel(zf))


def _tower(c_in: int, layers: tuple[TowerLayer, ...], style: str) -> tuple[nn.Sequential, int]:
    mods: list[nn.Module] = []
    for layer in layers:
        k, c = layer.kernel, layer.channels
        dw = nn.Conv2d(c_in, c_in, k, 1, k // 2, groups=c_in, bias=False)
        pw = nn.Conv2d(c_in, c, 1, bias=False)
        if style == "dw_pw_bn":
            mods += [dw, pw, nn.BatchNorm2d(c), nn.ReLU6(inplace=True)]
        else:  # dw_bn_pw_bn
            mods += [dw, nn.BatchNorm2d(c_in), nn.ReLU6(inplace=True), pw, nn.BatchNorm2d(c)]
        c_in = c
    return nn.Sequential(*mods), c_in


class BANHead(nn.Module):
    """``head(zf, xf) -> (cls_logits (B,2,S,S), ltrb distances (B,4,S,S) in search-crop pixels)``."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        proj = cfg.corr_channels
        self.corr_cls = PixelwiseCorr(cfg.in_channels, proj, cfg.template_positions,
                                      cfg.pw_post_conv)
        if not cfg.shared_corr:
            self.corr_reg = PixelwiseCorr(cfg.in_channels, proj, cfg.template_positions,
                                          cfg.pw_post_conv)
        tower_in = cfg.template_positions
        if cfg.style == "pwdw":
            self.dw_cls = DepthwiseCorr(cfg.in_channels, proj)
            self.dw_reg = DepthwiseCorr(cfg.in_channels, proj)
            self.down_cls = nn.Sequential(nn.Conv2d(proj + cfg.template_positions, proj, 1))
            self.down_reg = nn.Sequential(nn.Conv2d(proj + cfg.template_positions, proj, 1))
            tower_in = proj
        self.cls_tower, c_cls = _tower(tower_in, cfg.cls_tower, cfg.tower_style)
        self.bbox_tower, c_box = _tower(tower_in, cfg.bbox_tower, cfg.tower_style)
        self.cls_pred = nn.Sequential(nn.Conv2d(c_cls, 2, 1))
        self.bbox_pred = nn.Sequential(nn.Conv2d(c_box, 4, 1))

    def forward(self, zf: torch.Tensor, xf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_cls = self.corr_cls(zf, xf)
        x_reg = x_cls if self.cfg.shared_corr else self.corr_reg(zf, xf)
        if self.cfg.style == "pwdw":
            hz = zf.shape[-1]
            zc = zf[:, :, 2:6, 2:6] if hz > 4 else zf  # centre 4x4 of the template map
            x_cls = self.down_cls(torch.cat((x_cls, self.dw_cls(zc, xf)), 1))
            x_reg = self.down_reg(torch.cat((x_reg, self.dw_reg(zc, xf)), 1))
        cls = self.cls_pred(self.cls_tower(x_cls))
        loc = torch.exp(self.bbox_pred(self.bbox_tower(x_reg)))
        return cls, loc
