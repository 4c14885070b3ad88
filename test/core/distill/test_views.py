"""A lower-resolution student: crops, labels, responses and features on one grid."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tir_tracker_core.distill.views import StudentView
from tir_tracker_core.errors import ConfigError
from tir_tracker_core.models import PRESETS, with_search_size
from tir_tracker_core.training.config import DataSource, SamplerConfig
from tir_tracker_core.training.data import Clip, ClipSet, PairSampler, template_size
from tir_tracker_core.training.losses import score_points

V2 = PRESETS.get("nanotrack_v2")()
LOW = with_search_size(V2, 191)


def test_view_checks_the_geometry():
    view = StudentView.of(V2, LOW)
    assert not view.same and view.template_context == pytest.approx(255 / 191)
    assert view.template_out == 169 == template_size(V2, 255 / 191)  # 127 + 2 * 21
    assert StudentView.of(V2, V2).same
    with pytest.raises(ConfigError, match="make the higher-resolution network the teacher"):
        StudentView.of(LOW, V2)
    with pytest.raises(ConfigError, match="must search the teacher's area"):
        StudentView.of(V2, replace(V2, instance_size=191, score_size=12))
    with pytest.raises(ConfigError, match="exemplar_size"):
        StudentView.of(V2, replace(LOW, exemplar_size=95))


def test_crops_and_labels_show_the_same_image_points():
    view = StudentView.of(V2, LOW)
    z = torch.arange(169 * 169, dtype=torch.float32).view(1, 1, 169, 169).expand(2, 3, -1, -1)
    x = torch.rand(2, 3, 255, 255)
    tz, tx = view.teacher_crops(z, x)
    assert tz.shape[-1] == 127 and torch.equal(tz[0, 0, 0, 0], z[0, 0, 21, 21]) and tx is x
    sz, sx = view.student_crops(z, x)
    assert sz.shape[-2:] == (127, 127) and sx.shape[-2:] == (191, 191)
    # the crops' outer edges (-0.5 and 254.5 teacher px) are the student's (-0.5, 190.5)
    box = torch.tensor([[-0.5, -0.5, 254.5, 254.5], [127.0, 127.0, 127.0, 127.0]])
    np.testing.assert_allclose(view.box(box).numpy(),
                               [[-0.5, -0.5, 190.5, 190.5], [95.0, 95.0, 95.0, 95.0]], atol=1e-4)


def test_teacher_responses_resampled_on_the_student_map():
    """Every teacher cell predicts one target box and a logit linear in position: on the
    student's map every cell predicts that box (in student pixels) and the linear logit at
    the student's point."""
    view = StudentView.of(V2, LOW)
    tp = score_points(V2)  # (16, 16, 2) teacher crop px
    box = torch.tensor([100.0, 110.0, 160.0, 140.0])  # x1, y1, x2, y2 teacher px
    loc = torch.stack([tp[..., 0] - box[0], tp[..., 1] - box[1], box[2] - tp[..., 0],
                       box[3] - tp[..., 1]])[None]
    cls = torch.stack([torch.zeros(16, 16), 0.01 * tp[..., 0] - 0.02 * tp[..., 1]])[None]
    s_cls, s_loc = view.responses(cls, loc)
    assert s_cls.shape == (1, 2, 12, 12) and s_loc.shape == (1, 4, 12, 12)
    sp = score_points(LOW)
    edges = torch.stack([sp[..., 0] - s_loc[0, 0], sp[..., 1] - s_loc[0, 1],
                         sp[..., 0] + s_loc[0, 2], sp[..., 1] + s_loc[0, 3]], -1)
    want = view.box(box[None])[0]
    np.testing.assert_allclose(edges.reshape(-1, 4).numpy(),
                               want.expand(144, 4).numpy(), atol=1e-3)
    pt = (sp + 0.5) * 255 / 191 - 0.5  # student points in teacher px
    inside = (pt >= tp.min()) & (pt <= tp.max())
    inside = inside[..., 0] & inside[..., 1]  # outside the teacher's cells: its border value
    lin = 0.01 * pt[..., 0] - 0.02 * pt[..., 1]
    np.testing.assert_allclose(s_cls[0, 1][inside].numpy(), lin[inside].numpy(), atol=1e-4)
    assert inside.sum() >= 100


def test_student_with_another_score_map_at_the_teachers_resolution():
    """NanoTrack v3 (15 x 15 map) taught by v2 (16 x 16) on the same crops: the crops pass
    through unchanged and the teacher's boxes land on v3's points as the same image boxes."""
    v3 = PRESETS.get("nanotrack_v3")()
    view = StudentView.of(V2, v3)
    assert not view.same and view.template_context == 1.0 and view.template_out == 127
    z, x = torch.rand(2, 3, 127, 127), torch.rand(2, 3, 255, 255)
    tz, tx = view.teacher_crops(z, x)
    sz, sx = view.student_crops(z, x)
    assert torch.equal(tz, z) and torch.equal(tx, x)
    torch.testing.assert_close(sz, z)
    torch.testing.assert_close(sx, x)
    tp = score_points(V2)
    box = torch.tensor([90.0, 100.0, 150.0, 170.0])
    loc = torch.stack([tp[..., 0] - box[0], tp[..., 1] - box[1], box[2] - tp[..., 0],
                       box[3] - tp[..., 1]])[None]
    s_cls, s_loc = view.responses(torch.zeros(1, 2, 16, 16), loc)
    assert s_cls.shape == (1, 2, 15, 15) and s_loc.shape == (1, 4, 15, 15)
    sp = score_points(v3)
    edges = torch.stack([sp[..., 0] - s_loc[0, 0], sp[..., 1] - s_loc[0, 1],
                         sp[..., 0] + s_loc[0, 2], sp[..., 1] + s_loc[0, 3]], -1)
    np.testing.assert_allclose(edges.reshape(-1, 4).numpy(), box.expand(225, 4).numpy(),
                               atol=1e-3)
    feat = torch.rand(2, 4, 16, 16)
    (same,) = view.features([feat], [feat], template=False)
    torch.testing.assert_close(same, feat)


def test_student_features_sampled_at_the_teacher_cells():
    """A feature that is a linear ramp over the student's crop, sampled at the teacher's cells:
    the ramp over the teacher's area (all of it for search crops, the central 127 / 169 of the
    wider template)."""
    view = StudentView.of(V2, LOW)
    n_s, n_t = 12, 16
    u = (torch.arange(n_s) + 0.5) / n_s * 2 - 1  # student cell centres, -1..1 over its crop
    feat = u.view(1, 1, 1, n_s).expand(2, 4, n_s, n_s).contiguous()
    like = torch.zeros(2, 4, n_t, n_t)
    ut = (torch.arange(n_t) + 0.5) / n_t * 2 - 1
    (search,) = view.features([feat], [like], template=False)
    (tmpl,) = view.features([feat], [like], template=True)
    assert search.shape == like.shape
    inner = slice(1, -1)  # a ramp sampled bilinearly is exact away from the border cells
    np.testing.assert_allclose(search[0, 0, 0, inner].numpy(), ut[inner].numpy(), atol=1e-5)
    np.testing.assert_allclose(tmpl[0, 0, 0].numpy(), (ut * 127 / 169).numpy(), atol=1e-5)


def test_sampler_cuts_wide_templates_whose_centre_is_the_teachers():
    """With ``template_context`` the template is wider at about the same resolution: a target
    of the same size in pixels, centred, in a 169 px crop."""
    img = np.zeros((300, 300, 3), np.uint8)
    img[130:154, 140:160] = 255  # x 140..159, y 130..153: a 20 x 24 target
    box = np.array([140.0, 130.0, 20.0, 24.0])
    clip = Clip("still", 2, np.array([box, box]), np.ones(2, bool), lambda i: img,
                lambda i: img)
    cfg = SamplerConfig(template_shift=0.0, template_scale=0.0, search_shift=0.0,
                        search_scale=0.0, blur=0.0, color=0.0, negative=0.0)

    def template(context: float) -> np.ndarray:
        clips = ClipSet([DataSource()])
        clips._groups = [[clip]]  # the still clip instead of the source's
        return PairSampler(clips, cfg, V2, ("tir",), seed=1,
                           template_context=context).sample(0, 0)["z_tir"][0]

    plain, wide = template(1.0), template(255 / 191)
    assert plain.shape == (127, 127) and wide.shape == (169, 169)

    def extent(z: np.ndarray) -> tuple[float, float]:
        cols = np.flatnonzero(z.max(0) > 127)
        return cols.mean(), cols.max() - cols.min() + 1

    (c_plain, w_plain), (c_wide, w_wide) = extent(plain), extent(wide)
    assert c_plain == pytest.approx(63, abs=1) and c_wide == pytest.approx(84, abs=1)
    # same resolution within 0.5 %: the student's exact side spread over 169 px (1.3351 /
    # 1.3307 of the plain side per pixel)
    assert w_wide == pytest.approx(w_plain, abs=1)
    with pytest.raises(ConfigError, match="template_context must be >= 1"):
        PairSampler(ClipSet([]), cfg, V2, ("tir",), template_context=0.5)
