"""Pair sampler geometry and determinism; point labels; box losses."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tir_tracker_core.config import ModelConfig
from tir_tracker_core.errors import ConfigError
from tir_tracker_core.geometry import box_center, context_side, crop, mean_colour
from tir_tracker_core.training.config import DataSource, LossConfig, SamplerConfig
from tir_tracker_core.training.data import (NEGATIVE, POSITIVE, Clip, ClipSet, PairSampler,
                                            StepBatches)
from tir_tracker_core.training.losses import box_loss, ltrb_iou, point_targets, score_points

SRC = DataSource(kind="synthetic", count=2, seed=5, frames=20, width=160, height=128, targets=1)


def _sampler(model: ModelConfig, **kw) -> PairSampler:
    cfg = SamplerConfig(**{"search_shift": 24.0, **kw})
    return PairSampler(ClipSet([SRC]), cfg, model, ("tir", "rgb"), seed=1)


def test_samples_are_a_function_of_step_and_index(tiny_cfg):
    a, b = _sampler(tiny_cfg), _sampler(tiny_cfg)
    s1, s2 = a.sample(3, 1), b.sample(3, 1)
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])
    assert not np.array_equal(a.sample(3, 2)["x_tir"], s1["x_tir"])
    # a 2-process split of a batch is the single-process batch
    full = StepBatches(a, 4)(7)
    parts = [StepBatches(b, 4, rank=r, world=2)(7) for r in range(2)]
    np.testing.assert_array_equal(full["x_tir"][0::2].numpy(), parts[0]["x_tir"].numpy())
    np.testing.assert_array_equal(full["x_tir"][1::2].numpy(), parts[1]["x_tir"].numpy())


def test_template_is_centred_on_the_target_and_modalities_share_geometry(tiny_cfg):
    s = _sampler(tiny_cfg, template_shift=0.0, template_scale=0.0, negative=0.0, blur=0.0,
                 color=0.0)
    out = s.sample(0, 0)
    assert out["z_tir"].shape == (3, 63, 63) and out["x_tir"].shape == (3, 127, 127)
    assert out["z_rgb"].shape == out["z_tir"].shape and out["kind"] == POSITIVE
    x1, y1, x2, y2 = out["box"]
    assert 0 <= x1 < x2 <= 127 and 0 <= y1 < y2 <= 127


def test_thermal_tone_curve_changes_only_the_thermal_crops(tiny_cfg):
    plain, agc = _sampler(tiny_cfg), _sampler(tiny_cfg, thermal_agc=1.0)
    a, b = plain.sample(2, 0), agc.sample(2, 0)
    for k in ("z_rgb", "x_rgb", "box", "kind"):  # same geometry, RGB untouched
        np.testing.assert_array_equal(a[k], b[k])
    for k in ("z_tir", "x_tir"):
        assert b[k].shape == a[k].shape and b[k].dtype == np.float32
        assert not np.allclose(a[k], b[k]) and 0.0 <= b[k].min() <= b[k].max() <= 255.0
    # one monotonic curve for template and search: pixel order is kept in both crops
    for k in ("z_tir", "x_tir"):
        order = np.argsort(a[k].ravel(), kind="stable")
        assert np.all(np.diff(b[k].ravel()[order]) >= -1e-3)


def test_visible_as_thermal_swaps_only_the_chosen_pairs(tiny_cfg):
    plain, half = _sampler(tiny_cfg), _sampler(tiny_cfg, visible_as_thermal=0.5)
    swapped = 0
    for i in range(16):
        a, b = plain.sample(4, i), half.sample(4, i)
        for k in ("z_rgb", "x_rgb", "box", "kind"):  # the other draws are unchanged
            np.testing.assert_array_equal(a[k], b[k])
        if np.array_equal(b["x_tir"], b["x_rgb"]):
            np.testing.assert_array_equal(b["z_tir"], b["z_rgb"])
            assert not np.array_equal(a["x_tir"], a["x_rgb"])
            swapped += 1
        else:
            for k in ("z_tir", "x_tir"):
                np.testing.assert_array_equal(a[k], b[k])
    assert 3 <= swapped <= 13
    with pytest.raises(ConfigError, match="visible_as_thermal"):
        PairSampler(ClipSet([SRC]), SamplerConfig(visible_as_thermal=0.5), tiny_cfg, ("tir",))


def test_cross_modal_pairs_take_one_crop_from_the_greyed_visible_image(tiny_cfg):
    plain, cross = _sampler(tiny_cfg), _sampler(tiny_cfg, cross_modal=0.5)
    kinds = {"z": 0, "x": 0}
    for i in range(24):
        a, b = plain.sample(5, i), cross.sample(5, i)
        for k in ("z_rgb", "x_rgb", "box", "kind"):  # the other draws are unchanged
            np.testing.assert_array_equal(a[k], b[k])
        changed = [c for c in ("z", "x") if not np.array_equal(a[f"{c}_tir"], b[f"{c}_tir"])]
        assert len(changed) <= 1  # never both: the other crop stays thermal
        for c in changed:
            kinds[c] += 1
            crop_ = b[f"{c}_tir"]
            np.testing.assert_array_equal(crop_[0], crop_[1])  # grey, like the runtime's
            # the visible crop's luminance, not the thermal picture
            lum = a[f"{c}_rgb"].transpose(1, 2, 0) @ np.array([0.114, 0.587, 0.299])
            assert np.abs(crop_[0] - lum).mean() < np.abs(a[f"{c}_tir"][0] - lum).mean()
    assert kinds["z"] >= 2 and kinds["x"] >= 2 and kinds["z"] + kinds["x"] <= 20
    with pytest.raises(ConfigError, match="cross_modal"):
        PairSampler(ClipSet([SRC]), SamplerConfig(cross_modal=0.5), tiny_cfg, ("tir",))


BOX = (90.0, 84.0, 20.0, 24.0)  # x, y, w, h of a white target on a black 200x200 frame


def _still_sampler(model: ModelConfig, **kw) -> PairSampler:
    """A sampler whose only clip is one still frame with the target at ``BOX``."""
    img = np.zeros((200, 200, 3), np.uint8)
    x, y, w, h = (int(v) for v in BOX)
    img[y:y + h, x:x + w] = 255
    clip = Clip("still", 2, np.array([BOX, BOX]), np.ones(2, bool), lambda i: img,
                lambda i: img)
    clips = ClipSet([SRC])
    clips._groups = [[clip]]  # the still clip instead of the source's
    cfg = SamplerConfig(**{"template_shift": 0.0, "template_scale": 0.0, "search_shift": 0.0,
                           "search_scale": 0.0, "blur": 0.0, "color": 0.0, "negative": 0.0,
                           **kw})
    return PairSampler(clips, cfg, model, ("tir",), seed=1)


def _assert_box_on_target(crop_chw: np.ndarray, box: np.ndarray, atol: float = 0.05) -> None:
    """``box`` (``x1, y1, x2, y2``; pixel ``i`` covers ``[i - 0.5, i + 0.5)``) is where the
    target is: white inside it, black outside it (1 px margins for the bilinear edge), and
    the white mass centred on the box centre."""
    img = crop_chw[0].astype(np.float64)
    x1, y1, x2, y2 = box
    ys, xs = np.mgrid[: img.shape[0], : img.shape[1]]
    inside = (xs >= x1 + 1.5) & (xs <= x2 - 1.5) & (ys >= y1 + 1.5) & (ys <= y2 - 1.5)
    outside = (xs <= x1 - 1.5) | (xs >= x2 + 1.5) | (ys <= y1 - 1.5) | (ys >= y2 + 1.5)
    assert inside.any() and img[inside].min() == 255
    assert img[outside].max() == 0
    centroid = [(xs * img).sum() / img.sum(), (ys * img).sum() / img.sum()]
    np.testing.assert_allclose(centroid, [(x1 + x2) / 2, (y1 + y2) / 2], atol=atol)


@pytest.mark.parametrize("flip,aspect", [(0.0, 0.0), (1.0, 0.0), (1.0, 0.4)])
def test_search_box_label_lies_on_the_target(tiny_cfg, flip, aspect):
    for index in range(3):
        out = _still_sampler(tiny_cfg, flip=flip, aspect=aspect).sample(0, index)
        assert out["kind"] == POSITIVE
        _assert_box_on_target(out["x_tir"], out["box"])
        if aspect == 0:  # the search side is the context side x instance / exemplar
            x1, y1, x2, y2 = out["box"]
            scale = tiny_cfg.instance_size / (context_side(20, 24, 0.5) * 127 / 63)
            np.testing.assert_allclose([x2 - x1, y2 - y1], [20 * scale, 24 * scale], rtol=1e-5)


def test_a_lower_resolution_network_sees_the_same_area_smaller(tiny_cfg):
    """At ``zoom`` 0.5 the crops cover twice the image side at the same pixel count: the
    target's label is half as large, still on the target, and search jitter (pixels of
    zoom-1 crops) moves it by the same image distance."""
    low = replace(tiny_cfg, zoom=0.5)
    full, half = _still_sampler(tiny_cfg).sample(0, 0), _still_sampler(low).sample(0, 0)
    _assert_box_on_target(half["x_tir"], half["box"], atol=0.1)  # edges blur over 2x the box
    size = lambda b: np.array([b[2] - b[0], b[3] - b[1]])  # noqa: E731
    np.testing.assert_allclose(size(half["box"]), size(full["box"]) / 2, rtol=1e-5)
    shifted = [_still_sampler(m, search_shift=20.0).sample(0, 1)["box"] for m in (tiny_cfg, low)]
    centre = lambda b: np.array([b[0] + b[2], b[1] + b[3]]) / 2  # noqa: E731
    c = (tiny_cfg.instance_size - 1) / 2
    # an image shift of d px moves the label by d x (crop px per image px): half at zoom 0.5
    # (give or take each window's snap to whole image pixels: < 0.75 crop px here)
    moved = centre(shifted[0]) - c
    assert np.abs(moved).max() > 3
    np.testing.assert_allclose(centre(shifted[1]) - c, moved / 2, atol=0.75)


def test_training_crops_are_the_runtime_crops(tiny_cfg):
    """Without augmentation the template crop is the runtime's crop of the same box
    (geometry.crop: same window, same padding colour), pixel for pixel."""
    sampler = _still_sampler(tiny_cfg)
    img = sampler.clips.groups()[0][0].tir(0)
    out = sampler.sample(0, 0)
    cx, cy = box_center(BOX)
    z = crop(img, cx, cy, context_side(20, 24, 0.5), tiny_cfg.exemplar_size, mean_colour(img))
    np.testing.assert_array_equal(out["z_tir"], z.transpose(2, 0, 1))


def test_point_targets(tiny_cfg):
    pts = score_points(tiny_cfg)
    c = (tiny_cfg.instance_size - 1) / 2
    assert pts.shape == (8, 8, 2) and pts[4, 4, 0] == c  # the runtime's grid: ori = -(S//2)*stride
    box = torch.tensor([[c - 20, c - 30, c + 20, c + 30], [0, 0, 1, 1]], dtype=torch.float32)
    kind = torch.tensor([POSITIVE, NEGATIVE])
    label, ltrb = point_targets(box, kind, tiny_cfg, LossConfig())
    assert label[0, 4, 4] == 1 and label[0, 0, 0] == 0
    assert (label[1] == 0).all()
    torch.testing.assert_close(ltrb[0, :, 4, 4], torch.tensor([20.0, 30.0, 20.0, 30.0]))


def test_iou_losses():
    t = torch.tensor([[10.0, 10.0, 10.0, 10.0]])
    iou, giou = ltrb_iou(t, t, "giou")
    assert iou.item() == 1.0 and giou.item() == 1.0
    p = torch.tensor([[5.0, 10.0, 5.0, 10.0]])
    iou, _ = ltrb_iou(p, t)
    assert abs(iou.item() - 0.5) < 1e-6
    loc = t.view(1, 4, 1, 1).expand(1, 4, 2, 2)
    loss, miou = box_loss(loc, loc, torch.ones(1, 2, 2))
    assert loss.item() < 1e-6 and abs(miou.item() - 1) < 1e-6
    loss, _ = box_loss(loc, loc, torch.zeros(1, 2, 2))
    assert loss.item() == 0.0
