"""The ``auto`` backend (backends/auto.py): the fastest backend this machine can run."""

from __future__ import annotations

import pytest

from tir_tracker_core.backends import auto as auto_mod
from tir_tracker_core.backends import auto_backend, build_backend, tensorrt_status
from tir_tracker_core.errors import ConfigError


def _has_real_tensorrt() -> bool:
    return tensorrt_status()[0]


def test_auto_choice(monkeypatch):
    if not _has_real_tensorrt():
        assert auto_backend() == ("onnxruntime", "cpu")
    monkeypatch.setattr(auto_mod, "tensorrt_status", lambda: (True, "ok"))
    assert auto_backend() == ("tensorrt", "cuda")
    monkeypatch.setattr(auto_mod, "tensorrt_status", lambda: (False, "no"))
    real = auto_mod.importlib.util.find_spec
    monkeypatch.setattr(auto_mod.importlib.util, "find_spec",
                        lambda name: None if name == "onnxruntime" else real(name))
    assert auto_backend() == ("torch", "cpu")


def test_auto_backend_builds_onnxruntime_and_filters_options(tiny_model, onnx_cache, monkeypatch):
    monkeypatch.setattr(auto_mod, "tensorrt_status", lambda: (False, "no"))
    be = build_backend("auto", tiny_model, "auto", cache_dir=onnx_cache, threads=1,
                       precision="fp16")  # a TensorRT option, dropped on this machine
    assert be.name == "onnxruntime" and be.device == "cpu"
    with pytest.raises(ConfigError, match="unknown backend option.*colour"):
        build_backend("auto", tiny_model, "auto", colour="red")


def test_auto_with_cpu_device_never_picks_tensorrt(tiny_model, onnx_cache, monkeypatch):
    monkeypatch.setattr(auto_mod, "tensorrt_status", lambda: (True, "ok"))
    be = build_backend("auto", tiny_model, "cpu", cache_dir=onnx_cache)
    assert be.name == "onnxruntime"
