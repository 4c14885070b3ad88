"""Structured pruning: the pruned architecture is read back, rebuilt and reloaded strictly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tir_tracker_core.checkpoint import Checkpoint, save_checkpoint
from tir_tracker_core.models import PRESETS, build_model, count_macs
from tir_tracker_core.distill.config import PruneConfig
from tir_tracker_core.distill.prune import (PruneSpec, config_from_model, cut_channels,
                                           prune_channels, prune_model, rebuild, scale_slices,
                                           select_channels, stage_ratio, stage_spec)

REPO = Path(__file__).resolve().parents[3]


def _inputs(cfg):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(2, 3, cfg.exemplar_size, cfg.exemplar_size, generator=g) * 255,
            torch.rand(2, 3, cfg.instance_size, cfg.instance_size, generator=g) * 255)


def test_unpruned_config_round_trip(tiny_cfg):
    for cfg in (tiny_cfg, PRESETS.get("nanotrack_v2")(), PRESETS.get("nanotrack_v3")()):
        assert config_from_model(build_model(cfg)) == cfg


@pytest.mark.parametrize("importance,global_pruning,ratio", [
    ("magnitude", False, 0.3), ("bn_scale", True, 0.5), ("lamp", False, 0.5)])
def test_pruned_network_rebuilds_exactly(importance, global_pruning, ratio):
    torch.manual_seed(0)
    net = build_model(PRESETS.get("nanotrack_v2")()).eval()
    for m in net.modules():  # non-trivial BN statistics so that the importances differ
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.2, 1.5)
            m.running_var.data.uniform_(0.5, 2.0)
    z, x = _inputs(net.cfg)
    before = count_macs(net)
    pruned = prune_model(net, PruneSpec(ratio, importance, global_pruning)).eval()
    with torch.no_grad():
        ref = net(z, x)  # net was pruned in place; pruned is its Torch-Pruning-free rebuild
        out = pruned(z, x)
    torch.testing.assert_close(out[0], ref[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out[1], ref[1], rtol=1e-4, atol=1e-3)
    assert count_macs(pruned) < 0.8 * before
    cfg = pruned.cfg
    assert cfg.head.template_positions == 64 and cfg.head.corr_channels == 48  # kept whole
    rebuilt = build_model(config_from_model(pruned))
    rebuilt.load_state_dict(pruned.state_dict(), strict=True)


def test_pruned_checkpoint_loads_without_torch_pruning(tmp_path, tiny_cfg):
    torch.manual_seed(0)
    pruned = prune_model(build_model(tiny_cfg), PruneSpec(0.4))
    path = save_checkpoint(Checkpoint(pruned.cfg, pruned.state_dict()), tmp_path / "p.safetensors")
    code = ("import sys; sys.modules['torch_pruning'] = None\n"
            "from tir_tracker_core.api import load_model\n"
            f"net, *_ = load_model({str(path)!r})\n"
            "print(sum(p.numel() for p in net.parameters()))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == sum(p.numel() for p in pruned.parameters())


@pytest.mark.parametrize("importance,global_pruning", [("lamp", False), ("bn_scale", True)])
def test_selected_channels_are_the_ones_a_cut_removes(importance, global_pruning):
    """select_channels names what prune_channels would remove; cut_channels removes exactly
    that (same architecture and kept weights as prune_channels), and once the slices are zero
    the cut leaves the network's outputs unchanged."""
    import copy

    torch.manual_seed(0)
    net = build_model(PRESETS.get("nanotrack_v2")()).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.2, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
            m.running_var.data.uniform_(0.5, 2.0)
    z, x = _inputs(net.cfg)
    shapes = (torch.zeros(1, 3, 127, 127), torch.zeros(1, 3, 255, 255))
    spec = PruneSpec(0.5, importance, global_pruning, round_to=8)
    direct = copy.deepcopy(net)
    prune_channels(direct, direct, shapes, spec)
    direct = rebuild(direct)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    roots, slices = select_channels(net, net, shapes, spec)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # nothing cut
    assert {n.rsplit(".", 1)[-1] for n, _, _ in slices} == {"weight", "bias"}
    assert any(d == 1 for _, d, _ in slices)  # consumers' input channels are included
    scale_slices(net, slices, 0.0)
    with torch.no_grad():
        ref = net(z, x)
    cut_channels(net, net, shapes, roots, round_to=8)
    cut = rebuild(net).eval()
    assert cut.cfg == direct.cfg
    for k, v in cut.state_dict().items():
        torch.testing.assert_close(v, direct.state_dict()[k])
    with torch.no_grad():
        out = cut(z, x)
    torch.testing.assert_close(out[0], ref[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out[1], ref[1], rtol=1e-4, atol=1e-3)


def test_stage_ratios_compound_to_the_total():
    left = 1.0
    for k in (1, 2, 3):
        left *= 1 - stage_ratio(0.45, 3, k)
    assert left == pytest.approx(0.55)


def test_stage_spec_carries_the_schedule_into_one_pruner_step():
    cfg = PruneConfig(ratio=0.45, importance="lamp", global_pruning=True, stages=3, interval=5,
                      max_layer_ratio=0.7, ignore=("head.cls_tower",), round_to=8,
                      layer_ratios={"backbone.features.2": 0.6})
    spec = stage_spec(cfg, 2)
    assert spec == PruneSpec(stage_ratio(0.45, 3, 2), "lamp", True, ("head.cls_tower",), 8, 0.7,
                             {"backbone.features.2": stage_ratio(0.6, 3, 2)})
    assert not spec.empty and PruneSpec(0.0).empty
    assert not PruneSpec(0.0, layer_ratios={"head": 0.3}).empty


def test_shipped_recipe_parses(repo_root):
    from tir_tracker_core.distill.config import load_distill_config

    cfg = load_distill_config(repo_root / "config" / "distill_nanotrack.yaml")
    assert cfg.teacher.startswith("nanotrack:") and cfg.prune.enabled
    assert all(s.kind in ("synthetic", "paired") for s in cfg.data)
    assert cfg.prune.stage_steps()[-1] < cfg.optim.total_steps


@pytest.mark.parametrize("overrides", [
    ["prune.decay_steps=150"],  # longer than the 100 steps before the first stage
    ["prune.decay_steps=50", "prune.interval=40"],  # longer than the gap between stages
    ["prune.decay_steps=-1"]])
def test_decay_steps_that_do_not_fit_the_schedule_are_rejected(repo_root, overrides):
    from tir_tracker_core.distill.config import load_distill_config
    from tir_tracker_core.errors import ConfigError

    with pytest.raises(ConfigError, match="decay_steps"):
        load_distill_config(repo_root / "config" / "distill_nanotrack.yaml", overrides)
    cfg = load_distill_config(repo_root / "config" / "distill_nanotrack.yaml",
                              ["prune.decay_steps=100"])
    assert cfg.prune.decay_steps == 100
