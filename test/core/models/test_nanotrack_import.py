"""Our NanoTrack re-implementation matches the shipped ONNX graphs run by onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tir_tracker_core.errors import ModelLoadError
from tir_tracker_core.models.nanotrack_import import load_nanotrack

ONNX_NAMES = {"v1": "_sim", "v2": "_sim", "v3": ""}


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))


def _session(path, relax_spatial: bool = False) -> ort.InferenceSession:
    m = onnx.load(str(path))
    if relax_spatial:  # let the fixed 1x3x255x255 input take a 127x127 template crop
        for d, name in zip(m.graph.input[0].type.tensor_type.shape.dim, "NCHW"):
            if name in "HW":
                d.dim_param = name
        for out in m.graph.output:
            for d in out.type.tensor_type.shape.dim[2:]:
                d.dim_param = "S"
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_backbone_and_head_match_onnx(shared_data, version):
    d = shared_data / "weights" / "nanotrack" / version
    model = load_nanotrack(d / f"nanotrack{version}.pth")
    sfx = ONNX_NAMES[version]
    backbone = _session(d / f"nanotrack_backbone{sfx}.onnx")
    head = _session(d / f"nanotrack_head{sfx}.onnx")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 255, 255, generator=g) * 255
    with torch.no_grad():
        xf = model.backbone(x)
    xf_ref = backbone.run(None, {"input": x.numpy()})[0]
    assert _rel(xf.numpy(), xf_ref) < 1e-4

    zf = torch.randn(1, xf.shape[1], 8, 8, generator=g)
    with torch.no_grad():
        cls, loc = model.head(zf, xf)
    cls_ref, loc_ref = head.run(None, {"input1": zf.numpy(), "input2": xf.numpy()})
    assert cls.shape == cls_ref.shape and loc.shape == loc_ref.shape
    assert _rel(cls.numpy(), cls_ref) < 1e-4
    assert _rel(loc.numpy(), loc_ref) < 1e-4


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_template_path_matches_shape_relaxed_onnx(shared_data, version):
    """Template branch (127x127 -> 8x8): the shipped backbone graph with its spatial input
    dims relaxed, run by onnxruntime on the same crop."""
    d = shared_data / "weights" / "nanotrack" / version
    model = load_nanotrack(d / f"nanotrack{version}.pth")
    backbone = _session(d / f"nanotrack_backbone{ONNX_NAMES[version]}.onnx", relax_spatial=True)
    z = torch.rand(1, 3, 127, 127, generator=torch.Generator().manual_seed(1)) * 255
    with torch.no_grad():
        zf = model.backbone(z)
    zf_ref = backbone.run(None, {"input": z.numpy()})[0]
    assert zf.shape[-2:] == (8, 8)
    assert _rel(zf.numpy(), zf_ref) < 1e-4


def test_missing_and_corrupt_files_raise_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_nanotrack(tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"conv.weight": torch.zeros(2)}}, other)
    for path in (bad, other):
        with pytest.raises(ModelLoadError) as err:
            load_nanotrack(path)
        # one line: what the file is not, what we expect, where to get one; never torch's
        # advice to load with weights_only=False (unsafe)
        text = str(err.value)
        assert "\n" not in text and "weights_only" not in text
        assert f"{path} is not a NanoTrack checkpoint" in text
        assert "nanotrackv1/v2/v3 .pth" in text and "HonglinChu/SiamTrackers" in text
