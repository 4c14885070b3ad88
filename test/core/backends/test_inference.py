"""The network rewritten for inference (backends/inference.py): same outputs as the model,
BatchNorm folded, a batch-independent depth-wise correlation, the caller's model untouched."""

from __future__ import annotations

import pytest
import torch

from backend_helpers import random_crops
from tir_tracker_core.backends.inference import (HeadBranch, inference_modules,
                                                 xcorr_depthwise_shift_add)
from tir_tracker_core.models.head import DepthwiseCorr, xcorr_depthwise


def test_shift_add_depthwise_matches_grouped_conv():
    torch.manual_seed(0)
    search, kernel = torch.randn(3, 8, 16, 16), torch.randn(3, 8, 4, 4)
    torch.testing.assert_close(xcorr_depthwise_shift_add(search, kernel),
                               xcorr_depthwise(search, kernel), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_pwdw_model"])
def test_branches_match_the_model_with_batchnorm_folded(request, fixture):
    model = request.getfixturevalue(fixture)
    tpl, trk = inference_modules(model)
    for m in (tpl, trk):
        assert not any(isinstance(x, (torch.nn.BatchNorm2d, DepthwiseCorr)) for x in m.modules())
        assert not any(p.requires_grad for p in m.parameters())
    assert any(isinstance(x, torch.nn.BatchNorm2d) for x in model.modules())  # untouched
    z = torch.from_numpy(random_crops(3, 127, 1))
    x = torch.from_numpy(random_crops(3, 255, 2))
    with torch.inference_mode():
        zf_ref = model.backbone(z)
        xf_ref = model.backbone(x)
        cls_ref, loc_ref = model.head(zf_ref, xf_ref)
        zf = tpl(z)
        cls, loc = trk(zf, x)
        cls2, loc2 = HeadBranch(trk.head)(zf, tpl(x))  # the split path of shared canvases
    for out, ref in ((zf, zf_ref), (cls, cls_ref), (loc, loc_ref), (cls2, cls_ref),
                     (loc2, loc_ref)):
        torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-3)
