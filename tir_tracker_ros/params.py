"""The node's parameters as data (no rclpy): its own, and the core's config fields.

The core's overrides (``tracker.*``, ``frame.*``) are derived from the fields of
``tir_tracker_core.config.TrackerConfig`` / ``FrameConfig`` that carry ``help`` metadata:
name, type, range (``metadata["range"]``), choices (``Literal`` types) and text come from
the dataclass, so the node never restates them. They are declared without a default: unset
means the model's own recommended value, and the core validates what is set.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal

from tir_tracker_core.config import FrameConfig, TrackerConfig

CORE_SECTIONS: dict[str, type] = {"tracker": TrackerConfig, "frame": FrameConfig}


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: ``default`` None means declared unset (core overrides)."""

    name: str
    kind: type  # bool, int, float, str
    default: Any
    description: str
    read_only: bool = False
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()

    def help_line(self) -> str:
        default = "unset: the model's own value" if self.default is None else repr(self.default)
        extra = []
        if self.range:
            extra.append(f"{self.range[0]:g}..{self.range[1]:g}")
        if self.choices:
            extra.append("|".join(self.choices))
        if self.read_only:
            extra.append("read-only")
        return (f"  {self.name} ({self.kind.__name__}, {default}"
                + (f"; {', '.join(extra)}" if extra else "") + f")\n      {self.description}")


def core_parameters() -> list[ParamSpec]:
    """``tracker.*`` / ``frame.*`` parameters from the config fields with ``help`` metadata."""
    specs = []
    for section, cls in CORE_SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if "help" not in f.metadata:
                continue
            tp = hints[f.name]
            choices: tuple[str, ...] = ()
            if typing.get_origin(tp) is Literal:
                choices = tuple(str(a) for a in typing.get_args(tp))
                kind: type = str
            elif tp in (bool, int, float, str):
                kind = tp
            else:  # not expressible as a ROS parameter
                continue
            rng = f.metadata.get("range")
            description = f.metadata["help"] + f" ({cls.__name__}.{f.name}; default of the " \
                f"dataclass {f.default!r}; unset: the model's own value)"
            specs.append(ParamSpec(f"{section}.{f.name}", kind, None, description,
                                   range=tuple(rng) if rng else None, choices=choices))
    return specs


NODE_PARAMETERS: list[ParamSpec] = [
    ParamSpec("model", str, "default", "'default' (shipped checkpoint), a .safetensors "
              "checkpoint path (with its .json beside it) or 'nanotrack:FILE.pth'; changing it "
              "reloads the tracker (targets are cleared, ids are not reused)"),
    ParamSpec("backend", str, "auto", "inference backend of the core: auto (the fastest "
              "installed for the device: onnxruntime on a CPU, tensorrt on a GPU where "
              "installed, else torch), torch, onnxruntime or tensorrt"),
    ParamSpec("device", str, "cpu", "inference device (cpu, cuda, cuda:0, ...)"),
    ParamSpec("threads", int, 1, "CPU threads of each network run (0: the backend's "
              "default, all cores); the tracker's small networks gain little from more, and a "
              "robot's CPU is shared (with more than 4 targets, onnxruntime also runs their "
              "batches side by side, up to one per core)", range=(0, 1024)),
    ParamSpec("autostart", bool, True, "configure and activate at start (false: wait for "
              "lifecycle transitions on ~/change_state)", read_only=True),
    ParamSpec("image_topic", str, "image", "input sensor_msgs/Image topic", read_only=True),
    ParamSpec("image_reliability", str, "best_effort", "image QoS reliability; history is "
              "KEEP_LAST 1 (the newest image wins)", read_only=True,
              choices=("best_effort", "reliable")),
    ParamSpec("publish_debug_image", bool, False, "publish ~/debug_image (bgr8, boxes drawn) "
              "while it has subscribers"),
    ParamSpec("frame_buffer_size", int, 30, "recent images kept for SetTargets requests with "
              "a stamp", read_only=True, range=(1, 1000)),
    ParamSpec("detection_class_id", str, "target", "class_id of the hypothesis in each "
              "~/detections entry"),
    ParamSpec("diagnostic_period", float, 1.0, "seconds between /diagnostics messages",
              read_only=True, range=(0.01, 3600.0)),
    ParamSpec("statistics_window", float, 5.0, "seconds over which rates and latency are "
              "computed", read_only=True, range=(0.1, 3600.0)),
    ParamSpec("hardware_id", str, "", "hardware_id of the diagnostic statuses (default: the "
              "image topic)", read_only=True),
    ParamSpec("expected_rate", float, 30.0, "the camera's frame rate (Hz): gaps in image "
              "stamps longer than one period count as missed frames (0: estimate the period "
              "from the shortest gap seen)", range=(0.0, 10000.0)),
    ParamSpec("expected_min_rate", float, 0.0, "camera rate (Hz, frames seen plus missed) "
              "below which input is WARN; 0: no check", range=(0.0, 10000.0)),
    ParamSpec("expected_max_rate", float, 0.0, "camera rate (Hz) above which input is WARN; "
              "0: no check", range=(0.0, 10000.0)),
    ParamSpec("max_latency_ms", float, 0.0, "median latency (image stamp to tracks) above "
              "which tracking is WARN; 0: no check", range=(0.0, 1e6)),
    ParamSpec("stale_timeout", float, 2.0, "seconds without images before input is WARN",
              range=(0.0, 3600.0)),
]

MODEL_PARAMS = ("model", "backend", "device", "threads")
LIMIT_PARAMS = ("expected_min_rate", "expected_max_rate", "max_latency_ms", "stale_timeout")


def all_parameters() -> list[ParamSpec]:
    return NODE_PARAMETERS + core_parameters()


def help_text() -> str:
    return "\n".join(p.help_line() for p in all_parameters())
