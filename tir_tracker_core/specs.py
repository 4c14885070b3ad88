"""What a tracker SPEC names: the grammar (its one home) and the network (``load_model``).

SPEC grammar (stable, scripts drive it)::

    default                      the checkpoint shipped in the package
    PATH.safetensors             a checkpoint of ours (its .json beside it)
    nanotrack:FILE.pth           an off-the-shelf NanoTrack v1/v2/v3 checkpoint, our runtime
    opencv:csrt | opencv:kcf | opencv:mil
    opencv:nano:DIR              OpenCV's TrackerNano on the NanoTrack ONNX files in DIR

Our specs (the first three) take an optional ``@BACKEND`` suffix (``default@onnxruntime``)
choosing the inference backend; without it the ``backend`` argument applies. Parsing checks the
grammar only; files are checked when they are loaded (``load_model``, ``eval.peers``).
Trackers are built by ``api.build_trackers``; ``eval.resolve`` turns any SPEC, OpenCV peers
included, into evaluation factories.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from .checkpoint import build_from_checkpoint, load_checkpoint
from .config import FrameConfig, TrackerConfig
from .errors import ConfigError, ModelLoadError
from .models import SiameseNet
from .models.nanotrack_import import load_nanotrack, nanotrack_tracker_config

DEFAULT_MODEL = "default"
NANOTRACK_PREFIX = "nanotrack:"
OPENCV_PREFIX = "opencv:"
OPENCV_CLASSIC: tuple[str, ...] = ("csrt", "kcf", "mil")
OPENCV_NANO_PREFIX = "nano:"

MODEL_SPECS: tuple[str, ...] = (DEFAULT_MODEL, "PATH.safetensors", f"{NANOTRACK_PREFIX}FILE.pth")
"""The specs of our own models (``load_model`` and ``api.load_tracker`` take these)."""
PEER_SPECS: tuple[str, ...] = (*(f"{OPENCV_PREFIX}{n}" for n in OPENCV_CLASSIC),
                               f"{OPENCV_PREFIX}{OPENCV_NANO_PREFIX}DIR")
"""The OpenCV peer trackers (``eval``, ``bench`` and ``track`` run them, one per target)."""
VALID_SPECS: tuple[str, ...] = MODEL_SPECS + PEER_SPECS

SpecKind = Literal["default", "checkpoint", "nanotrack", "opencv"]


def default_checkpoint_path() -> Path:
    """The checkpoint shipped inside the package (the ``default`` spec)."""
    return Path(str(resources.files("tir_tracker_core") / "weights" / "default.safetensors"))


@dataclass(frozen=True)
class TrackerSpec:
    """A parsed SPEC.

    Attributes:
        text: the SPEC as given.
        kind: ``default``, ``checkpoint`` (PATH.safetensors), ``nanotrack`` or ``opencv``.
        target: the file of a ``checkpoint`` / ``nanotrack`` spec, the OpenCV tracker of an
            ``opencv`` one (``kcf``, ``nano:DIR``); empty for ``default``.
        backend: inference backend of our models; ``None`` for OpenCV peers.
    """

    text: str
    kind: SpecKind
    target: str
    backend: str | None

    @property
    def is_ours(self) -> bool:
        return self.kind != "opencv"

    @property
    def model(self) -> str:
        """The SPEC without its ``@BACKEND`` suffix."""
        return self.text.partition("@")[0] if self.is_ours else self.text

    @property
    def path(self) -> Path | None:
        """The weights file of our models (``default``: the shipped checkpoint)."""
        if self.kind == "default":
            return default_checkpoint_path()
        return Path(self.target) if self.is_ours else None

    @property
    def name(self) -> str:
        """Name in result tables: ``default@torch``, ``nanotrackv2@onnxruntime``, ``opencv:kcf``."""
        if not self.is_ours:
            return self.text
        base = DEFAULT_MODEL if self.kind == "default" else Path(self.target).stem
        return f"{base}@{self.backend}"


def _invalid(spec: str, why: str) -> ConfigError:
    return ConfigError(f"tracker spec {spec!r} {why}; valid specs: {', '.join(VALID_SPECS)} "
                       "(ours take an optional @BACKEND suffix)")


def _parse_opencv(spec: str) -> TrackerSpec:
    name = spec[len(OPENCV_PREFIX):]
    nano_dir = name.removeprefix(OPENCV_NANO_PREFIX) if name.startswith(OPENCV_NANO_PREFIX) else ""
    if name not in OPENCV_CLASSIC and not nano_dir:
        raise _invalid(spec, "names an unknown OpenCV tracker")
    return TrackerSpec(spec, "opencv", name, None)


def parse_spec(spec: str, backend: str = "torch") -> TrackerSpec:
    """Parse a SPEC (grammar in the module docstring); ``backend`` applies without ``@BACKEND``.

    Raises:
        ConfigError: ``spec`` is outside the grammar (the message lists the valid specs).
    """
    if not isinstance(spec, str):
        raise _invalid(str(spec), "is not a string")
    if spec.startswith(OPENCV_PREFIX):
        return _parse_opencv(spec)
    model, at, spec_backend = spec.partition("@")
    if at and not spec_backend:
        raise _invalid(spec, "names no backend after '@'")
    if not model:
        raise _invalid(spec, "names no model")
    backend = spec_backend or backend
    if model == DEFAULT_MODEL:
        return TrackerSpec(spec, "default", "", backend)
    if model.startswith(NANOTRACK_PREFIX):
        file = model[len(NANOTRACK_PREFIX):]
        if not file:
            raise _invalid(spec, "names no NanoTrack .pth file")
        return TrackerSpec(spec, "nanotrack", file, backend)
    return TrackerSpec(spec, "checkpoint", model, backend)


# --------------------------------------------------------------------------- load


ModelInfo = dict[str, Any]  # "source", "name" and, for our checkpoints, "provenance"


def model_spec(model: str | TrackerSpec, backend: str = "torch") -> TrackerSpec:
    """``model`` parsed, and checked to name one of our models (not an OpenCV peer)."""
    spec = model if isinstance(model, TrackerSpec) else parse_spec(model, backend)
    if not spec.is_ours:
        raise ConfigError(f"{spec.text!r} is an OpenCV peer tracker, not one of our networks "
                          "(eval, bench and track run peers; demo, multitarget and the ROS "
                          f"node need one of ours); our models are {', '.join(MODEL_SPECS)}")
    return spec


def _load_ours(spec: TrackerSpec) -> tuple[SiameseNet, TrackerConfig, FrameConfig, ModelInfo]:
    path = spec.path
    assert path is not None  # our specs name a file
    if path.suffix == ".pth":
        raise ModelLoadError(f"{path} is a PyTorch pickle; for NanoTrack files use the spec "
                             f"'nanotrack:{path}', our own checkpoints are .safetensors")
    if not path.exists():
        raise ModelLoadError(f"model {spec.model!r}: file {path} does not exist; models are "
                             f"{', '.join(MODEL_SPECS)}")
    ckpt = load_checkpoint(path)
    net = build_from_checkpoint(ckpt)
    return net, ckpt.tracker, ckpt.frame, {"source": str(path), "name": ckpt.model.name,
                                           "provenance": ckpt.provenance}


def load_model(spec: str | TrackerSpec = DEFAULT_MODEL
               ) -> tuple[SiameseNet, TrackerConfig, FrameConfig, ModelInfo]:
    """Resolve a model SPEC to (network, recommended tracker config, frame config, info).

    ``spec``: ``default`` (the shipped checkpoint), ``PATH.safetensors`` (a checkpoint of
    ours) or ``nanotrack:FILE.pth`` (an off-the-shelf NanoTrack v1/v2/v3 checkpoint); an
    ``@BACKEND`` suffix is allowed and plays no part here.

    Raises:
        ConfigError: ``spec`` is outside the grammar or names an OpenCV peer.
        ModelLoadError: the file is missing, of the wrong kind or corrupt.
    """
    spec = model_spec(spec)
    if spec.kind != "nanotrack":
        return _load_ours(spec)
    net = load_nanotrack(spec.target)
    return (net, nanotrack_tracker_config(net.cfg.name), FrameConfig(),
            {"source": spec.model, "name": net.cfg.name})


__all__ = ["DEFAULT_MODEL", "MODEL_SPECS", "PEER_SPECS", "VALID_SPECS", "ModelInfo",
           "TrackerSpec", "default_checkpoint_path", "load_model", "model_spec", "parse_spec"]
