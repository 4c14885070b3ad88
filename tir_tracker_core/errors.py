"""Exceptions raised for bad input. Each message names the problem and the fix."""

from __future__ import annotations


class TrackerError(Exception):
    """Base class of every error raised on purpose by ``tir_tracker_core``."""


class ConfigError(TrackerError, ValueError):
    """A configuration value or file is invalid (unknown key, wrong type, out of range)."""


class ModelLoadError(TrackerError, RuntimeError):
    """A model or checkpoint file is missing, corrupt or does not match its config."""


class TrackerInputError(TrackerError, ValueError):
    """Bad input given to a tracker at run time; the tracker state is left unchanged."""


class InvalidFrameError(TrackerInputError):
    """A frame has an unsupported dtype/shape/encoding, or its size changed mid-sequence."""


class InvalidBoxError(TrackerInputError):
    """A target box is NaN, of zero or negative size, or lies outside the image."""


class UnknownTargetError(TrackerInputError):
    """A target id that the tracker does not hold."""


class BackendUnavailableError(TrackerError, RuntimeError):
    """An inference backend cannot run on this machine (missing package or device)."""


class ExportError(TrackerError, RuntimeError):
    """An ONNX export failed, or its outputs do not match PyTorch within tolerance."""


class DatasetError(TrackerError, ValueError):
    """A dataset folder or annotation file is missing, malformed or of an unknown layout."""
