"""Fixtures for backend tests: tiny random-init models (with non-trivial BatchNorm statistics,
so BatchNorm folding is exercised) and NanoTrack imports from the shared data."""

from __future__ import annotations

import pytest
import torch

from tir_tracker_core.config import HeadConfig, ModelConfig, TowerLayer
from tir_tracker_core.models import build_model
from tir_tracker_core.models.backbone import mobilenetv3_config


def _randomise_bn(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model.eval()


def tiny_config(style: str = "pw") -> ModelConfig:
    bb = mobilenetv3_config(0.25)
    c = bb.out_channels
    tower = (TowerLayer(3, 16), TowerLayer(3, 16))
    if style == "pwdw":  # NanoTrack v3 layout: pixel-wise + depth-wise correlation
        head = HeadConfig(style="pwdw", in_channels=c, corr_channels=16, template_positions=64,
                          pw_post_conv=True, tower_style="dw_bn_pw_bn", cls_tower=tower,
                          bbox_tower=tower)
        return ModelConfig(name="tiny_pwdw", backbone=bb, head=head, score_size=15)
    head = HeadConfig(style="pw", in_channels=c, corr_channels=8, template_positions=64,
                      tower_style="dw_pw_bn", cls_tower=tower, bbox_tower=tower)
    return ModelConfig(name="tiny_pw", backbone=bb, head=head, score_size=16)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Backend tests run torch on one thread (restored afterwards): on this small shared CPU,
    two OpenMP threads spinning against other processes make tiny models seconds slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return _randomise_bn(build_model(tiny_config("pw")), 1)


@pytest.fixture(scope="module")
def tiny_pwdw_model() -> torch.nn.Module:
    torch.manual_seed(1)
    return _randomise_bn(build_model(tiny_config("pwdw")), 2)


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory):
    """One export cache per test module (exports are reused across its tests)."""
    return tmp_path_factory.mktemp("onnx_cache")
