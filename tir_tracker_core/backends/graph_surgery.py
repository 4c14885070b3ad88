"""ONNX graph surgery on exported graphs (no PyTorch involved).

``mono_variant``: a graph that takes grey 1-channel crops instead of three equal channels.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["mono_variant"]


def mono_variant(path: str | Path, input_name: str) -> bytes | None:
    """The graph at ``path`` rewritten to take a 1-channel ``input_name`` (grey crops).

    Thermal crops have three equal channels, and a convolution over three equal channels equals
    one over a single channel with the weights summed over input channels. The rewrite sums the
    weights of the convolution(s) that read the input, so grey crops are cropped, copied and
    convolved once instead of three times. Returns the serialised model, or ``None`` when the
    input feeds anything other than ungrouped convolutions with constant weights.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    users = [n for n in g.node if input_name in n.input]
    if not users:
        return None
    for n in users:
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        if (n.op_type != "Conv" or list(n.input).index(input_name) != 0 or group != 1
                or n.input[1] not in inits):
            return None
        if sum(n.input[1] in other.input for other in g.node) != 1:
            return None  # weight shared with another node
    for n in users:
        w = numpy_helper.to_array(inits[n.input[1]])
        if w.ndim != 4 or w.shape[1] != 3:
            return None
        inits[n.input[1]].CopyFrom(numpy_helper.from_array(w.sum(axis=1, keepdims=True),
                                                           n.input[1]))
    for i in g.input:
        if i.name == input_name:
            i.type.tensor_type.shape.dim[1].dim_value = 1
    onnx.checker.check_model(model)
    return model.SerializeToString()
