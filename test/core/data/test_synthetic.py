"""Synthetic paired thermal + visible sequences: determinism, geometry, knobs, round trips."""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tir_tracker_core.data import load_sequences
from tir_tracker_core.data.synthetic import (
    TIR_MAX_COUNT,
    SyntheticConfig,
    generate_sequence,
    write_sequence,
)
from tir_tracker_core.errors import ConfigError

SMALL = SyntheticConfig(seed=7, num_frames=60, height=128, width=160, num_targets=2)
# No noise, blur or clutter: pixel changes between frames come from moving objects only.
CLEAN = replace(SMALL, noise_std=0.0, rgb_noise_std=0.0, blur_sigma=0.0, num_distractors=0,
                num_targets=1, num_occluders=0, clutter=0.0, scale_change=0.0)


def box_mask(shape: tuple[int, int], box: np.ndarray, pad: int = 2) -> np.ndarray:
    x, y, w, h = box
    mask = np.zeros(shape, bool)
    mask[max(0, int(np.floor(y)) - pad): int(np.ceil(y + h)) + pad,
         max(0, int(np.floor(x)) - pad): int(np.ceil(x + w)) + pad] = True
    return mask


def test_frames_are_deterministic_and_randomly_accessible() -> None:
    a, b = generate_sequence(SMALL), generate_sequence(SMALL)
    for i in (37, 3, 59, 0):  # any order
        np.testing.assert_array_equal(a.tir_frame(i), b.tir_frame(i))
        np.testing.assert_array_equal(a.rgb_frame(i), b.rgb_frame(i))
    first = a.tir_frame(10)
    for i in range(20):
        a.tir_frame(i)
    np.testing.assert_array_equal(a.tir_frame(10), first)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    other = generate_sequence(replace(SMALL, seed=8))
    assert not np.array_equal(other.tir_frame(10), first)
    assert not np.allclose(other.boxes, a.boxes)
    # Temporal noise differs from frame to frame.
    assert not np.array_equal(a.tir_frame(11), a.tir_frame(12))


def test_output_types_ranges_and_annotations() -> None:
    seq = generate_sequence(SMALL)
    tir, rgb = seq.tir_frame(5), seq.rgb_frame(5)
    assert tir.dtype == np.uint16 and tir.shape == (128, 160)
    assert rgb.dtype == np.uint8 and rgb.shape == (128, 160, 3)
    assert 6000 < np.median(tir) < 9000 and tir.max() <= TIR_MAX_COUNT
    assert rgb.mean() < 90  # night-time brightness
    assert len(seq) == 60
    assert seq.boxes.shape == (2, 60, 4) and seq.boxes.dtype == np.float64
    assert seq.visible.shape == (2, 60) and seq.visible.dtype == bool
    assert (seq.boxes[..., 2:] > 0).all()
    assert set(seq.target_kinds) <= {"person", "vehicle"}
    with pytest.raises(IndexError):
        seq.tir_frame(60)
    with pytest.raises(ValueError):
        seq.boxes[0, 0, 0] = 1.0


def test_targets_are_warm_and_visible_in_both_modalities() -> None:
    cfg = replace(CLEAN, target_contrast=(400.0, 400.0), target_kinds=("person",))
    seq = generate_sequence(cfg)
    x, y, w, h = seq.boxes[0, 0]
    tir = seq.tir_frame(0).astype(np.float64)
    torso = tir[int(y + 0.35 * h): int(y + 0.5 * h), int(x + 0.35 * w): int(x + 0.65 * w)]
    surround = tir[~box_mask(tir.shape, seq.boxes[0, 0], pad=4)]
    assert torso.mean() - np.median(surround) > 250


def test_moving_target_is_the_only_change_with_shared_geometry() -> None:
    seq = generate_sequence(CLEAN)
    b0, b1 = seq.boxes[0, 0], seq.boxes[0, 40]
    assert np.linalg.norm(b0[:2] - b1[:2]) > 5  # the target moved
    allowed = box_mask((128, 160), b0) | box_mask((128, 160), b1)
    for frame in (seq.tir_frame, seq.rgb_frame):
        diff = np.abs(frame(0).astype(np.int32) - frame(40).astype(np.int32))
        changed = diff.max(axis=2) > 2 if diff.ndim == 3 else diff > 2
        assert changed.any()
        assert not changed[~allowed].any(), frame.__name__
    # Same place, different appearance: the rgb target is not a copy of the thermal one.
    tir_patch = seq.tir_frame(0)[box_mask((128, 160), b0, pad=0)].astype(float)
    rgb_patch = seq.rgb_frame(0)[box_mask((128, 160), b0, pad=0)].mean(axis=1)
    assert abs(np.corrcoef(tir_patch, rgb_patch)[0, 1]) < 0.95


def test_motion_is_smooth_with_velocity_changes() -> None:
    cfg = replace(SMALL, num_frames=300, max_speed=3.0)
    seq = generate_sequence(cfg)
    boxes = seq.boxes
    anchor = np.stack([boxes[..., 0] + boxes[..., 2] / 2, boxes[..., 1] + boxes[..., 3]], axis=-1)
    steps = np.diff(anchor, axis=1)
    assert np.linalg.norm(steps, axis=-1).max() <= cfg.max_speed + 1e-9
    heading = np.unwrap(np.arctan2(steps[..., 1], steps[..., 0]), axis=1)
    assert (heading.max(axis=1) - heading.min(axis=1) > 0.5).all()  # they turn


def test_scale_change_knob() -> None:
    fixed = generate_sequence(replace(SMALL, scale_change=0.0, target_kinds=("vehicle",)))
    widths = fixed.boxes[..., 2]
    np.testing.assert_allclose(widths, widths[:, :1].repeat(60, axis=1))
    varying = generate_sequence(replace(SMALL, num_frames=200, scale_change=0.4))
    w = varying.boxes[..., 2]
    assert (w.max(axis=1) / w.min(axis=1) > 1.2).all()


def test_thermal_crossover_fades_the_target() -> None:
    cfg = replace(CLEAN, num_frames=120, thermal_crossover=1.0, target_kinds=("person",),
                  target_contrast=(500.0, 500.0))
    seq = generate_sequence(cfg)
    flags = seq.frame_attributes(0)["thermal_crossover"]
    assert flags.any() and not flags.all()

    def torso_contrast(i: int) -> float:
        x, y, w, h = seq.boxes[0, i]
        tir = seq.tir_frame(i).astype(np.float64)
        torso = tir[int(y + 0.35 * h): int(y + 0.5 * h), int(x + 0.35 * w): int(x + 0.65 * w)]
        return float(torso.mean() - cfg.background_level)

    crossing = int(np.flatnonzero(flags)[len(np.flatnonzero(flags)) // 2])
    normal = int(np.flatnonzero(~flags)[0])
    assert torso_contrast(normal) > 300
    assert abs(torso_contrast(crossing)) < 0.3 * 500


def test_occluders_stay_in_front_and_hide_targets() -> None:
    cfg = SyntheticConfig(seed=3, num_frames=300, height=256, width=640, num_targets=3,
                          num_occluders=4, noise_std=0.0, num_distractors=0)
    seq = generate_sequence(cfg)
    assert seq.occluders.shape == (4, 4)
    hits = []
    for t in range(300):
        for n in range(3):
            x, y, w, h = seq.boxes[n, t]
            for x0, y0, x1, y1 in seq.occluders:
                if min(x + w, x1) - max(x, x0) >= 2 and min(y + h, y1) - max(y, y0) >= 2:
                    hits.append((t, int(x0), int(y0), int(x1), int(y1)))
    assert hits, "some target must pass an occluder with this seed"
    t, x0, y0, x1, y1 = max(hits, key=lambda hit: hit[3] - hit[1])
    assert x1 - x0 >= 8
    # The occluder's pixels do not change while a target passes behind it (noise is off and
    # the fixed pattern is static; the blur kernel only reaches 3 pixels into its border).
    inner = (slice(y0, y1), slice(x0 + 3, x1 - 3))
    quiet = next(
        s for s in range(300)
        if all(min(b[0] + b[2], x1) <= max(b[0], x0) - 3 or min(b[1] + b[3], y1) <= max(b[1], y0)
               for b in seq.boxes[:, s])
    )
    np.testing.assert_array_equal(seq.tir_frame(t)[inner], seq.tir_frame(quiet)[inner])
    # Fully hidden or mostly outside targets are flagged not visible somewhere in 300 frames.
    attrs = [seq.frame_attributes(n) for n in range(3)]
    assert any(a["occlusion"].any() for a in attrs)
    assert not seq.visible.all()


def test_generation_is_lazy_and_fast() -> None:
    cfg = SyntheticConfig(seed=1, num_frames=1000, height=512, width=640)
    tracemalloc.start()
    try:
        seq = generate_sequence(cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 60 * 2**20  # 1000 frames of 640x512 uint16 alone would be 625 MB
    seq.tir_frame(0)
    start = time.perf_counter()
    for i in range(10):
        seq.tir_frame(i)
    per_frame = (time.perf_counter() - start) / 10
    assert per_frame < 0.03, f"{per_frame * 1e3:.1f} ms per 640x512 thermal frame"


def test_as_sequence_and_as_paired() -> None:
    seq = generate_sequence(SMALL)
    tir = seq.as_sequence("tir", target=1)
    assert tir.layout == "synthetic" and len(tir) == 60 and tir.frame_paths is None
    np.testing.assert_array_equal(tir.gt, seq.boxes[1])
    np.testing.assert_array_equal(tir.frame(4), seq.tir_frame(4))
    assert set(tir.attributes) == {"occlusion", "out_of_view", "thermal_crossover"}
    rgb = seq.as_sequence("rgb")
    np.testing.assert_array_equal(rgb.frame(4), seq.rgb_frame(4))
    paired = seq.as_paired(0)
    np.testing.assert_array_equal(paired.tir_frame(2), seq.tir_frame(2))
    np.testing.assert_array_equal(paired.rgb_frame(2), seq.rgb_frame(2))
    with pytest.raises(IndexError):
        seq.as_sequence("tir", target=2)
    with pytest.raises(ValueError, match="modality"):
        seq.as_sequence("depth")  # type: ignore[arg-type]


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    single = generate_sequence(replace(SMALL, num_frames=5, num_targets=1))
    write_sequence(single, tmp_path / "otb_tir", layout="otb", modality="tir")
    (loaded,) = load_sequences(tmp_path / "otb_tir")
    assert loaded.layout == "otb" and len(loaded) == 5
    for i in range(5):
        frame = loaded.frame(i)
        assert frame.dtype == np.uint16
        np.testing.assert_array_equal(frame, single.tir_frame(i))
    np.testing.assert_allclose(loaded.gt, single.boxes[0], atol=1e-6)
    for key, flags in single.frame_attributes(0).items():
        np.testing.assert_array_equal(loaded.attributes[key], flags)

    write_sequence(single, tmp_path / "vot_rgb", layout="vot", modality="rgb")
    (vot,) = load_sequences(tmp_path / "vot_rgb")
    assert vot.layout == "vot"
    np.testing.assert_array_equal(vot.frame(3), single.rgb_frame(3))

    multi = generate_sequence(replace(SMALL, num_frames=3))
    write_sequence(multi, tmp_path / "multi")
    names = sorted(s.name for s in load_sequences(tmp_path / "multi"))
    assert names == ["multi-1", "multi-2"]
    with pytest.raises(ValueError, match="layout must be one of"):
        write_sequence(multi, tmp_path / "x", layout="lasot")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("num_frames", 0), ("height", 8), ("noise_std", -1.0), ("thermal_crossover", 1.5),
     ("target_kinds", ("person", "horse")), ("target_contrast", (500.0, 100.0)),
     ("scale_change", 0.95), ("num_targets", 1.5)],
)
def test_invalid_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"SyntheticConfig.{field}"):
        replace(SMALL, **{field: value})


def test_dropouts_hide_targets_and_show_them_again_elsewhere() -> None:
    cfg = SyntheticConfig(seed=3, num_frames=160, height=128, width=160, num_targets=2,
                          dropouts=2, dropout_frames=(8, 12))
    seq = generate_sequence(cfg)
    hidden = seq.hidden
    assert hidden.shape == (2, 160) and hidden.any(1).all()
    assert not (seq.visible & hidden).any()
    plain = generate_sequence(replace(cfg, dropouts=0))
    assert not plain.hidden.any()
    np.testing.assert_array_equal(plain.boxes[:, :20], seq.boxes[:, :20])  # same scene
    for k in range(2):
        attrs = seq.frame_attributes(k)
        assert np.all(attrs["occlusion"][hidden[k]] | attrs["out_of_view"][hidden[k]])
        d = np.diff(hidden[k].astype(int))
        for gone, back in zip(np.flatnonzero(d == 1) + 1, np.flatnonzero(d == -1) + 1):
            assert 8 <= back - gone <= 12
            a, b = seq.boxes[k, gone - 1], seq.boxes[k, back]
            moved = np.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2)
            assert moved >= 0.25 * 128 - 1e-6
            # not drawn while hidden: the frame matches the scene without the target there
            box = seq.boxes[k, gone + 2]
            if box[0] >= 0 and box[0] + box[2] <= 160:
                assert attrs["occlusion"][gone + 2]
    with pytest.raises(ConfigError, match="dropout_frames"):
        SyntheticConfig(dropout_frames=(5, 2))
    with pytest.raises(ConfigError, match="dropout_kind"):
        SyntheticConfig(dropout_kind="teleport")  # type: ignore[arg-type]
