"""Structured channel pruning with Torch-Pruning, and the architecture of a pruned network.

Torch-Pruning's dependency graph removes coupled channels together (a block's projection conv,
its BatchNorm, the residual adds it feeds, the next block's expansion conv, ...). The pixel-wise
correlation couples the template and search projections through a matmul and turns template
positions into channels; those layers (the correlation modules, their channel attention, the
prediction convs) are always kept whole. Pruned are the backbone (expansion channels, SE
bottlenecks, block outputs when not ignored) and the head towers.

After pruning, :func:`config_from_model` reads the channel counts back from the modules, so
``build_model(config)`` rebuilds exactly the pruned architecture and ``load_state_dict(strict)``
loads its weights without Torch-Pruning: a pruned student is an ordinary checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..config import BackboneConfig, BlockSpec, ModelConfig, TowerLayer
from ..errors import ConfigError
from ..models import SiameseNet, build_model
from ..models.backbone import InvertedResidual, SqueezeExcite
from .config import PruneConfig

log = logging.getLogger(__name__)

IMPORTANCES = ("magnitude", "bn_scale", "lamp", "random")


@dataclass(frozen=True)
class PruneSpec:
    """One Torch-Pruning step: how many channels go and how they are chosen.

    ``ratio``: fraction of the prunable channels removed (per layer, or across layers with
    ``global_pruning``, then at most ``max_layer_ratio`` of any one layer); ``importance``: one
    of :data:`IMPORTANCES`; ``ignore``: module-name prefixes of the network kept whole
    (``backbone.features.8``, ``head.cls_tower``); ``round_to``: keep channel counts multiples
    of this (0 = any); ``layer_ratios``: prefix -> ratio for the convs / linears under it
    (others take ``ratio``). A distillation stage's spec is :func:`stage_spec`.
    """

    ratio: float
    importance: str = "magnitude"
    global_pruning: bool = False
    ignore: tuple[str, ...] = ()
    round_to: int = 0
    max_layer_ratio: float = 0.9
    layer_ratios: Mapping[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Nothing to remove (every ratio 0)."""
        return self.ratio <= 0 and not any(v > 0 for v in self.layer_ratios.values())


# --------------------------------------------------------------------------- architecture


def _convs(seq: nn.Module) -> list[nn.Conv2d]:
    return [m for m in seq.modules() if isinstance(m, nn.Conv2d)]


def _block_spec(block: InvertedResidual, old: BlockSpec) -> BlockSpec:
    convs = [m for m in block.conv if isinstance(m, nn.Conv2d)]
    dw = next(c for c in convs if c.groups > 1 or c.kernel_size[0] > 1)
    se = next((m for m in block.conv if isinstance(m, SqueezeExcite)), None)
    hswish = any(isinstance(m, nn.Hardswish) for m in block.conv)
    return BlockSpec(kernel=dw.kernel_size[0], hidden=dw.out_channels, out=convs[-1].out_channels,
                     se=se.fc[0].out_features if se is not None else 0, hswish=hswish,
                     stride=dw.stride[0])


def _tower_spec(tower: nn.Sequential) -> tuple[TowerLayer, ...]:
    layers = []
    convs = _convs(tower)
    for dw, pw in zip(convs[0::2], convs[1::2]):
        layers.append(TowerLayer(kernel=dw.kernel_size[0], channels=pw.out_channels))
    return tuple(layers)


def config_from_model(model: SiameseNet, name: str | None = None) -> ModelConfig:
    """The ``ModelConfig`` of ``model`` as its modules are now (after structural pruning).

    Channel counts (stem, every block's hidden / out / SE, the head's input, correlation
    projection and tower channels) are read from the conv / linear shapes; what pruning cannot
    change (kernels, strides, activations, head style, crop sizes) comes from ``model.cfg``.
    """
    old = model.cfg
    feats = model.backbone.features
    stem = feats[0][0].out_channels
    blocks = tuple(_block_spec(b, s) for b, s in zip(list(feats)[1:], old.backbone.blocks))
    h = model.head
    corr = h.corr_cls
    if hasattr(corr, "conv_kernel"):
        in_ch, proj = corr.conv_kernel[0].in_channels, corr.conv_kernel[0].out_channels
    else:
        in_ch, proj = (blocks[-1].out if blocks else stem), 0
    if old.head.style == "pwdw":
        proj = h.dw_cls.conv_kernel[0].out_channels
        in_ch = h.dw_cls.conv_kernel[0].in_channels
    head = dataclasses.replace(
        old.head, in_channels=in_ch, corr_channels=proj,
        template_positions=corr.CA_layer.fc1.in_channels,
        cls_tower=_tower_spec(h.cls_tower), bbox_tower=_tower_spec(h.bbox_tower))
    return dataclasses.replace(old, name=name or old.name,
                               backbone=BackboneConfig(stem=stem, blocks=blocks), head=head)


def rebuild(model: SiameseNet, name: str | None = None) -> SiameseNet:
    """A fresh ``build_model`` of the pruned architecture with the pruned weights (strict)."""
    cfg = config_from_model(model, name)
    fresh = build_model(cfg)
    fresh.load_state_dict(model.state_dict(), strict=True)
    return fresh.train(model.training)


# --------------------------------------------------------------------------- pruning


def importance(name: str) -> Any:
    import torch_pruning as tp

    if name == "magnitude":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if name == "bn_scale":
        return tp.importance.BNScaleImportance()
    if name == "lamp":
        return tp.importance.LAMPImportance(p=2)
    if name == "random":
        return tp.importance.RandomImportance()
    raise ConfigError(f"unknown pruning importance {name!r}; "
                      f"valid choices: {', '.join(IMPORTANCES)}")


def always_kept(net: SiameseNet) -> list[nn.Module]:
    """Modules whose output channels must never be pruned (correlation, predictions)."""
    h = net.head
    keep: list[nn.Module] = [h.corr_cls, h.cls_pred, h.bbox_pred]
    for name in ("corr_reg", "dw_cls", "dw_reg", "down_cls", "down_reg"):
        if hasattr(h, name):
            keep.append(getattr(h, name))
    return keep


def _named(root: nn.Module, prefixes: Sequence[str]) -> list[nn.Module]:
    return [m for n, m in root.named_modules() if n and any(n.startswith(p) for p in prefixes)]


def _fix_collisions(net: SiameseNet, dg: Any, step: int = 1) -> int:
    """Prune ``step`` more channels where pruning made two layouts indistinguishable.

    A block built with an expansion conv whose hidden width now equals its input width, or a
    stride-1 block without residual whose output width now equals its input width, would be
    rebuilt differently by ``build_model``; the least important ``step`` channels (1, or the
    ``round_to`` multiple) of that width are removed.
    """
    import torch_pruning as tp

    fixes = 0
    feats = list(net.backbone.features)
    inp = feats[0][0].out_channels
    for block in feats[1:]:
        convs = [m for m in block.conv if isinstance(m, nn.Conv2d)]
        expand = len(convs) == 3
        hidden, out = convs[-2].out_channels, convs[-1].out_channels
        stride = convs[-2].stride[0]
        if expand and hidden == inp and hidden > step:
            w = convs[0].weight.detach().flatten(1).norm(dim=1)
            idx = w.argsort()[:step].tolist()
            dg.get_pruning_group(convs[0], tp.prune_conv_out_channels, idx).prune()
            fixes += 1
        if stride == 1 and not block.identity and out == inp and out > step:
            w = convs[-1].weight.detach().flatten(1).norm(dim=1)
            idx = w.argsort()[:step].tolist()
            dg.get_pruning_group(convs[-1], tp.prune_conv_out_channels, idx).prune()
            fixes += 1
        inp = convs[-1].out_channels
    return fixes


def _pruner(root: nn.Module, net: SiameseNet, example_inputs: tuple[torch.Tensor, ...],
            spec: PruneSpec, keep_outputs: Sequence[nn.Module],
            forward_fn: Callable[[nn.Module, Any], Any] | None = None) -> Any:
    import torch_pruning as tp

    ignored = always_kept(net) + list(keep_outputs) + _named(net, spec.ignore)
    ratio_dict: dict[nn.Module, float] = {}
    for prefix, r in spec.layer_ratios.items():
        mods = [m for m in _named(net, [prefix]) if isinstance(m, (nn.Conv2d, nn.Linear))]
        if not mods:
            raise ConfigError(f"prune.layer_ratios: no layer of the network is named {prefix}*; "
                              "use names like backbone.features.2 or head.cls_tower")
        for m in mods:
            ratio_dict[m] = r
    return tp.pruner.MetaPruner(
        root, example_inputs, importance=importance(spec.importance), pruning_ratio=spec.ratio,
        global_pruning=spec.global_pruning, ignored_layers=ignored,
        round_to=spec.round_to or None, max_pruning_ratio=spec.max_layer_ratio,
        forward_fn=forward_fn, pruning_ratio_dict=ratio_dict or None)


def prune_channels(root: nn.Module, net: SiameseNet, example_inputs: tuple[torch.Tensor, ...],
                   spec: PruneSpec, keep_outputs: Sequence[nn.Module] = (),
                   forward_fn: Callable[[nn.Module, Any], Any] | None = None) -> None:
    """Remove the channels ``spec`` chooses from ``root`` in place (one Torch-Pruning step).

    ``root`` is the module traced (``net`` itself, or a wrapper holding ``net`` plus modules
    fed by its features, e.g. distillation adapters, whose input channels then follow).
    ``keep_outputs``: modules whose output channels are kept (adapters, whose outputs face the
    teacher).
    """
    if spec.empty:
        return
    was_training = root.training
    root.eval()
    pruner = _pruner(root, net, example_inputs, spec, keep_outputs, forward_fn)
    with torch.no_grad():
        pruner.step()
        fixes = _fix_collisions(net, pruner.DG, max(1, spec.round_to))
    if fixes:
        log.info("pruned %d extra channel(s) to keep block layouts unambiguous", fixes)
    root.train(was_training)


# A channel slice of one parameter: (parameter name under the pruned root, dim, indices).
Slice = tuple[str, int, list[int]]
# The root of one Torch-Pruning group: (module name under the root, pruning function, indices).
Root = tuple[str, str, list[int]]

_OUT_FNS = ("prune_conv_out_channels", "prune_linear_out_channels",
            "prune_batchnorm_out_channels", "prune_batchnorm_in_channels",
            "prune_depthwise_conv_out_channels", "prune_depthwise_conv_in_channels")
_IN_FNS = ("prune_conv_in_channels", "prune_linear_in_channels")


def _fn_name(fn: Any) -> str | None:
    import torch_pruning as tp

    return next((n for n in _OUT_FNS + _IN_FNS if getattr(tp, n) == fn), None)


def select_channels(root: nn.Module, net: SiameseNet, example_inputs: tuple[torch.Tensor, ...],
                    spec: PruneSpec, keep_outputs: Sequence[nn.Module] = ()
                    ) -> tuple[list[Root], list[Slice]]:
    """What :func:`prune_channels` would remove with the same arguments, without removing it:
    the root of every pruning group (for :func:`cut_channels`) and the slices of every coupled
    parameter (conv / linear / BatchNorm weights and biases, the consumers' input channels
    included).

    Scaling the slices to zero (:func:`scale_slices`) silences the channels, after which
    :func:`cut_channels` removes them without changing the network's function: the basis of
    gradual (decay-then-cut) pruning.
    """
    if spec.empty:
        return [], []
    was_training = root.training
    root.eval()
    pruner = _pruner(root, net, example_inputs, spec, keep_outputs)
    names = {m: n for n, m in root.named_modules()}
    roots: list[Root] = []
    found: dict[tuple[str, int], set[int]] = {}
    with torch.no_grad():
        for group in pruner.step(interactive=True):
            roots.append(_group_root(group, names))
            _add_group_slices(group, names, found)
    root.train(was_training)
    return roots, [(name, dim, sorted(idx)) for (name, dim), idx in sorted(found.items())]


def _group_root(group: Any, names: dict[nn.Module, str]) -> Root:
    """The root of a Torch-Pruning group: the module, function and indices it starts from."""
    dep0, idxs0 = group[0]
    fn0 = _fn_name(dep0.handler)
    if fn0 is None:
        raise RuntimeError(f"unexpected pruning root {dep0}")
    return names[dep0.target.module], fn0, sorted(int(i) for i in idxs0)


def _add_group_slices(group: Any, names: dict[nn.Module, str],
                      found: dict[tuple[str, int], set[int]]) -> None:
    """Add the parameter slices the group removes to ``found`` ((name, dim) -> indices):
    output channels of weights and biases, input channels of the consumers' weights."""
    for dep, idxs in group:
        fn = _fn_name(dep.handler)
        if fn is None:
            continue
        params = [("weight", 0), ("bias", 0)] if fn in _OUT_FNS else [("weight", 1)]
        module = dep.target.module
        for pname, dim in params:
            if getattr(module, pname, None) is None:
                continue
            key = (f"{names[module]}.{pname}", dim)
            found.setdefault(key, set()).update(int(i) for i in idxs)


def cut_channels(root: nn.Module, net: SiameseNet, example_inputs: tuple[torch.Tensor, ...],
                 roots: Sequence[Root], round_to: int = 0) -> None:
    """Remove exactly the groups :func:`select_channels` chose (in place)."""
    import torch_pruning as tp

    was_training = root.training
    root.eval()
    dg = tp.DependencyGraph().build_dependency(root, example_inputs)
    modules = dict(root.named_modules())
    with torch.no_grad():
        for name, fn, idxs in roots:
            dg.get_pruning_group(modules[name], getattr(tp, fn), list(idxs)).prune()
        fixes = _fix_collisions(net, dg, max(1, round_to))
    if fixes:
        log.info("pruned %d extra channel(s) to keep block layouts unambiguous", fixes)
    root.train(was_training)


@torch.no_grad()
def scale_slices(root: nn.Module, slices: Sequence[Slice], factor: float) -> None:
    """Multiply every slice of :func:`select_channels` by ``factor`` in place."""
    params = dict(root.named_parameters())
    for name, dim, idxs in slices:
        p = params[name]
        index = torch.as_tensor(idxs, dtype=torch.long, device=p.device)
        p.index_copy_(dim, index, p.index_select(dim, index) * factor)


def example_inputs(cfg: ModelConfig, device: torch.device | str = "cpu"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero template and search crops of ``cfg``'s sizes (the pruner's trace inputs)."""
    z = torch.zeros(1, 3, cfg.exemplar_size, cfg.exemplar_size, device=device)
    x = torch.zeros(1, 3, cfg.instance_size, cfg.instance_size, device=device)
    return z, x


def prune_model(net: SiameseNet, spec: PruneSpec) -> SiameseNet:
    """Prune a ``SiameseNet`` alone and return the rebuilt (Torch-Pruning-free) network."""
    prune_channels(net, net, example_inputs(net.cfg), spec)
    return rebuild(net)


def stage_ratio(total: float, stages: int, k: int) -> float:
    """Fraction of the *current* channels to remove at stage ``k`` (1-based) so that after
    ``stages`` stages ``total`` of the original channels are gone, in equal steps."""
    before = total * (k - 1) / stages
    after = total * k / stages
    return 1.0 - (1.0 - after) / (1.0 - before)


def stage_spec(cfg: PruneConfig, k: int) -> PruneSpec:
    """The Torch-Pruning step of stage ``k`` (1-based) of the schedule ``cfg``: its ratios
    are :func:`stage_ratio` of the configured totals."""
    return PruneSpec(
        ratio=stage_ratio(cfg.ratio, cfg.stages, k), importance=cfg.importance,
        global_pruning=cfg.global_pruning, ignore=tuple(cfg.ignore), round_to=cfg.round_to,
        max_layer_ratio=cfg.max_layer_ratio,
        layer_ratios={n: stage_ratio(v, cfg.stages, k) for n, v in cfg.layer_ratios.items()})
