"""TensorRT backend on a machine without it: a clear BackendUnavailableError, and the backend's
CPU-side logic run through a stand-in compiler."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from backend_helpers import assert_outputs_close, random_crops
from tir_tracker_core.backends import BACKENDS, build_backend, tensorrt_status
from tir_tracker_core.backends import tensorrt_backend as trt_mod
from tir_tracker_core.errors import BackendUnavailableError, ConfigError


def _has_real_tensorrt() -> bool:
    return tensorrt_status()[0]


@pytest.mark.skipif(_has_real_tensorrt(), reason="CUDA and torch_tensorrt are present here")
def test_unavailable_here_with_clear_message(tiny_model):
    assert "tensorrt" in BACKENDS
    ok, reason = tensorrt_status()
    assert not ok and reason
    with pytest.raises(BackendUnavailableError) as e:
        build_backend("tensorrt", tiny_model, "cuda")
    msg = str(e.value)
    assert "backend 'tensorrt' cannot run here" in msg
    assert "pip install torch-tensorrt" in msg
    assert f"torch {torch.__version__.split('+')[0]}" in msg
    assert "NVIDIA GPU" in msg
    assert "'onnxruntime'" in msg  # names the alternative
    if not torch.cuda.is_available():
        assert "CUDA is not available" in msg


def test_status_names_each_missing_part(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(trt_mod.importlib.util, "find_spec",
                        lambda name: None if name == "torch_tensorrt" else object())
    ok, reason = tensorrt_status()
    assert not ok and reason == "the torch_tensorrt package is not installed"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(trt_mod.importlib.util, "find_spec", lambda name: object())
    ok, reason = tensorrt_status()
    assert not ok and "CUDA is not available" in reason and "torch_tensorrt" not in reason


def test_int8_needs_calibration_and_valid_options(tiny_model):
    with pytest.raises(ConfigError, match="calibration"):
        build_backend("tensorrt", tiny_model, "cuda", precision="int8")
    with pytest.raises(ConfigError, match="precision 'fp8'"):
        build_backend("tensorrt", tiny_model, "cuda", precision="fp8")


class _FakeInput:
    def __init__(self, min_shape, opt_shape, max_shape, dtype):
        self.min_shape, self.opt_shape, self.max_shape, self.dtype = (min_shape, opt_shape,
                                                                      max_shape, dtype)


@pytest.fixture
def fake_torch_tensorrt(monkeypatch):
    """A stand-in torch_tensorrt whose compile returns the module unchanged, on the CPU: runs
    the backend's own logic (export-ready modules, shapes, batching, output conversion)."""
    calls = []

    def compile(module, ir, inputs, enabled_precisions, **kw):
        calls.append(dict(ir=ir, inputs=inputs, precisions=enabled_precisions, **kw))
        return module

    fake = types.SimpleNamespace(compile=compile, Input=_FakeInput)
    monkeypatch.setitem(sys.modules, "torch_tensorrt", fake)
    monkeypatch.setattr(trt_mod, "tensorrt_status", lambda: (True, "ok"))
    monkeypatch.setattr(trt_mod, "_torch_device", lambda device: torch.device("cpu"))
    return calls


def test_backend_logic_with_stand_in_compiler(tiny_pwdw_model, fake_torch_tensorrt):
    be = build_backend("tensorrt", tiny_pwdw_model, "cuda", max_batch=8, opt_batch=2)
    assert be.name == "tensorrt" and be.precision == "fp16"
    tpl_call, trk_call = fake_torch_tensorrt
    assert tpl_call["ir"] == "dynamo" and torch.float16 in tpl_call["precisions"]
    assert tpl_call["inputs"][0].min_shape == (1, 3, 127, 127)
    assert tpl_call["inputs"][0].max_shape == (8, 3, 127, 127)
    assert trk_call["inputs"][0].opt_shape == (2, *be.feature_shape)
    torch_be = build_backend("torch", tiny_pwdw_model, "cpu")
    z, x = random_crops(5, 127, 1), random_crops(5, 255, 2)
    assert_outputs_close(be.track(be.template(z), x), torch_be.track(torch_be.template(z), x))
    grey = x[:, :1]  # grey crops are expanded to three channels on the device
    assert_outputs_close(be.track(be.template(z), grey),
                         be.track(be.template(z), np.repeat(grey, 3, axis=1)))
    with pytest.raises(ConfigError, match="max_batch 8"):
        be.template(random_crops(9, 127))
