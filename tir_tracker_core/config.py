"""Frozen dataclass configs, and strict conversion from YAML / dicts at the edges.

Every config is a frozen dataclass passed into the constructor that needs it; there is no
global config. ``from_dict`` rejects unknown keys and wrong types and names the valid keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from .errors import ConfigError

T = TypeVar("T")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual block of the backbone, with explicit channel counts.

    Explicit counts (rather than a width multiplier alone) let a structurally pruned network
    be described, saved and rebuilt by the same code.
    """

    kernel: int
    hidden: int  # expansion channels (== input channels means no expansion conv)
    out: int
    se: int  # squeeze-excite bottleneck channels; 0 disables SE
    hswish: bool
    stride: int


@dataclass(frozen=True)
class BackboneConfig:
    stem: int = 16
    blocks: tuple[BlockSpec, ...] = ()

    @property
    def out_channels(self) -> int:
        return self.blocks[-1].out if self.blocks else self.stem


@dataclass(frozen=True)
class TowerLayer:
    kernel: int
    channels: int


@dataclass(frozen=True)
class HeadConfig:
    """Anchor-free (BAN) head on top of pixel-wise (and optionally depth-wise) correlation.

    ``style``: ``"pw"`` pixel-wise correlation only (NanoTrack v1/v2 style) or ``"pwdw"``
    pixel-wise + depth-wise correlation fused by 1x1 convs (NanoTrack v3 style).
    """

    style: Literal["pw", "pwdw"] = "pw"
    in_channels: int = 48
    corr_channels: int = 48  # 1x1 projections before correlation; 0 = none (v1)
    shared_corr: bool = False  # one correlation branch feeds both towers (v1)
    template_positions: int = 64  # template feature map h*w = pixel-wise corr channels
    pw_post_conv: bool = False  # dw2x2 + pw conv after the channel attention (v3)
    tower_style: Literal["dw_pw_bn", "dw_bn_pw_bn"] = "dw_pw_bn"
    cls_tower: tuple[TowerLayer, ...] = ()
    bbox_tower: tuple[TowerLayer, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a Siamese tracker network."""

    name: str = "siamese"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    exemplar_size: int = 127
    instance_size: int = 255
    stride: int = 16
    score_size: int = 16
    # pixel scale of network input: images are fed as float BGR in [0, input_scale]
    input_scale: float = 255.0
    # crop resolution against pysot's geometry: the template crop shows the target's context
    # square (geometry.context_side) divided by zoom, the search crop instance_size /
    # exemplar_size times that, so a network with instance_size 255 * zoom searches the area
    # pysot's 255 px crop covers, at zoom times its resolution (models.with_search_size)
    zoom: float = 1.0


# --------------------------------------------------------------------------- runtime


@dataclass(frozen=True)
class FrameConfig:
    """How incoming frames are turned into the 8-bit 3-channel image the network sees."""

    mono16_mode: Literal["percentile", "fixed"] = field(default="percentile", metadata={
        "help": "16-bit to 8-bit normalisation: percentile (per frame, percentile_low.."
                "percentile_high) or fixed (fixed_min..fixed_max)"})
    percentile_low: float = field(default=1.0, metadata={
        "help": "lower percentile mapped to 0 in mono16_mode percentile", "range": (0.0, 100.0)})
    percentile_high: float = field(default=99.5, metadata={
        "help": "upper percentile mapped to 255 in mono16_mode percentile",
        "range": (0.0, 100.0)})
    fixed_min: float = field(default=0.0, metadata={
        "help": "raw value mapped to 0 in mono16_mode fixed"})
    fixed_max: float = field(default=65535.0, metadata={
        "help": "raw value mapped to 255 in mono16_mode fixed"})
    float_mode: Literal["percentile", "unit"] = "percentile"  # "unit": floats already in [0,1]
    rgb_order: Literal["bgr", "rgb"] = "bgr"  # channel order of 3-channel input frames


@dataclass(frozen=True)
class TrackerConfig:
    """Siamese post-processing and multi-target bookkeeping."""

    window_influence: float = 0.490
    penalty_k: float = 0.150
    lr: float = 0.385
    context_amount: float = 0.5
    # A frame is a miss when the peak score is under ``lost_threshold`` or the score map's
    # peak-to-sidelobe ratio (peak minus mean of the map outside the peak's 5x5 cells, over
    # their std) is under ``lost_psr``: a Siamese network's softmax score stays high on
    # clutter when the target is gone, but its response then spreads out.
    lost_threshold: float = field(default=0.25, metadata={
        "help": "peak score under which a frame counts as a miss", "range": (0.0, 1.0)})
    lost_psr: float = field(default=8.0, metadata={
        "help": "peak-to-sidelobe ratio under which a frame counts as a miss (0: off)",
        "range": (0.0, 1000.0)})
    lost_patience: int = field(default=5, metadata={
        "help": "consecutive misses before a target is reported lost", "range": (1, 100000)})
    max_targets: int = field(default=32, metadata={
        "help": "most targets tracked at once", "range": (1, 4096)})
    # Two targets never take the same object: targets are placed in order of their best
    # (penalised) score and a later one may not move onto a box overlapping one already placed
    # this frame by this IoU or more; half this IoU still counts the frame as a miss (1.0
    # turns the rules off).
    exclusion_iou: float = field(default=0.5, metadata={
        "help": "a target may not move onto a box another target took in the same frame "
                "with this IoU or more (1.0: off)", "range": (0.0, 1.0)})
    # Below about 10 px a Siamese box head cannot measure a target's size (its boxes keep the
    # first box's size however fast they may adapt), so the size is held at this floor: the
    # value of pysot, NanoTrack's own tracker and OpenCV's TrackerNano, and the setting
    # leave-one-sequence-out tuning chose on every fold of the dev suite (RESULTS.md).
    min_size: float = field(default=10.0, metadata={
        "help": "tracked boxes never get a side under this many pixels (the first box is "
                "used as given)", "range": (1.0, 10000.0)})
    # Where a reported box sits around the tracked centre. The first box's centre is taken
    # as ``x + (w - 1) / 2`` (pysot's convention); pysot, NanoTrack's own tracker and OpenCV's
    # TrackerNano report ``x = cx - w / 2``, half a pixel up-left of that convention's
    # inverse. On the drone videos the boxes of NanoTrack v2, v3 and our students sat 0.1-0.9 px
    # down-right of the ground truth with the exact inverse (RESULTS.md, "Reporting boxes as
    # pysot does"); probably learnt from pysot's training crops (``crop_like_SiamFC`` puts a
    # box's continuous centre on the crop's middle pixel), which the distilled students copy.
    pysot_report: bool = field(default=True, metadata={
        "help": "report boxes as pysot, NanoTrack and OpenCV's TrackerNano do (x = cx - w/2, "
                "half a pixel up-left of the first box's convention; false: its exact "
                "inverse, x = cx - (w - 1)/2)"})
    # Targets whose search regions overlap at a similar scale share one backbone pass over
    # the union of their regions (a "canvas") instead of one pass per target.
    share_search: bool = True
    share_scale_tolerance: float = 0.1  # relative zoom difference allowed inside one canvas
    # Re-detection (long-term tracking): a lost target is also searched in tiles at its own
    # zoom, ring by ring outwards from where it was lost until the whole frame is covered,
    # at most ``redetect_crops`` extra crops per frame over all lost targets. It comes back
    # (same id) after ``redetect_confirm`` consecutive frames that pass the lost test.
    redetect: bool = field(default=True, metadata={
        "help": "search the whole frame, in tiles over several frames, for lost targets and "
                "re-acquire them with the same id (false: a lost target is searched at its "
                "last box only)"})
    redetect_crops: int = field(default=2, metadata={
        "help": "most extra search crops per frame for lost targets, all of them together",
        "range": (1, 256)})
    redetect_psr_share: float = field(default=0.5, metadata={
        "help": "a lost target's response counts towards re-acquisition when its peak-to-"
                "sidelobe ratio is this share of the way from lost_psr to the median of the "
                "target's last tracked frames, on a log scale (0: lost_psr)",
        "range": (0.0, 1.0)})
    redetect_confirm: int = field(default=5, metadata={
        "help": "consecutive frames passing the lost test (lost_threshold, lost_psr) before "
                "a lost target is tracked again (with redetect on)", "range": (1, 1000)})


# --------------------------------------------------------------------------- conversion


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError("; ".join(errors))
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
    return _convert_scalar(value, tp, where)


# scalar type -> (accepted Python types, what the error says was expected, converter)
_SCALARS: dict[Any, tuple[tuple[type, ...], str, Any]] = {
    bool: ((bool,), "true/false", bool),
    int: ((int,), "an integer", int),
    float: ((int, float), "a number", float),
    str: ((str,), "a string", str),
    Path: ((str, Path), "a path", Path),
}


def _convert_scalar(value: Any, tp: Any, where: str) -> Any:
    if tp not in _SCALARS:
        raise ConfigError(f"{where}: unsupported config type {_type_name(tp)}")
    accepted, expected, convert = _SCALARS[tp]
    if (isinstance(value, bool) and tp is not bool) or not isinstance(value, accepted):
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")
    return convert(value)


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str | None = None) -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types."""
    where = where or cls.__name__
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(fields)}"
        )
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:  # missing required fields
        raise ConfigError(f"{where}: {e}") from None


def to_dict(cfg: Any) -> Any:
    """Plain JSON/YAML-serialisable form of a (nested) config dataclass."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def replace(cfg: T, overrides: dict[str, Any] | None) -> T:
    """``dataclasses.replace`` with the same validation as ``from_dict``."""
    if not overrides:
        return cfg
    merged = to_dict(cfg)
    merged.update(overrides)
    return from_dict(type(cfg), merged)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with an error naming the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse a CLI override ``a.b.c=value`` (value read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.sub=value")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw)

