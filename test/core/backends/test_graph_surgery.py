"""ONNX graph surgery (backends/graph_surgery.py): grey-crop variants of exported graphs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from backend_helpers import random_crops
from tir_tracker_core.backends.export import cached_export
from tir_tracker_core.backends.graph_surgery import mono_variant


def _run(model, **feeds):
    return ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feeds)


def test_mono_variant_equals_the_graph_on_replicated_channels(tiny_model, onnx_cache):
    exp = cached_export(tiny_model, onnx_cache)
    grey = random_crops(2, 127, 3)[:, :1]
    data = mono_variant(exp.template, "z")
    assert data is not None
    (one,) = _run(data, z=grey)
    (three,) = _run(str(exp.template), z=np.repeat(grey, 3, axis=1))
    np.testing.assert_allclose(one, three, rtol=1e-4, atol=1e-4)
    assert onnx.load_from_string(data).graph.input[0].type.tensor_type.shape.dim[1].dim_value == 1


def test_mono_variant_refuses_inputs_not_read_by_a_plain_convolution(tmp_path):
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 4, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert mono_variant(path, "x") is None
    assert mono_variant(path, "absent") is None
