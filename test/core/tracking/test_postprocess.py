"""Post-processing steps (tracking/postprocess.py): each a pure function on score maps."""

from __future__ import annotations

import numpy as np
import pytest

from tir_tracker_core.tracking.postprocess import (Candidates, ScoreGrid, change_penalty,
                                                   cosine_windows, decode,
                                                   exclusive_assignment, neighbour_mask,
                                                   peak_to_sidelobe, penalised_score, place)

S, STRIDE = 5, 8
GRID = ScoreGrid.build(S, STRIDE)


def test_score_grid_is_centred_on_the_search_centre():
    assert GRID.offsets.tolist() == [-16, -8, 0, 8, 16]
    assert GRID.points[S * S // 2].tolist() == [0, 0]
    assert GRID.points[1].tolist() == [-8, -16]  # row-major: x varies fastest
    assert GRID.window.argmax() == S * S // 2 and GRID.window.max() == 1.0


def test_decode_gives_softmax_score_and_the_box_of_each_cell():
    cls = np.zeros((1, 2, S, S), np.float32)
    cls[0, 1, 1, 3] = 4.0  # foreground logit at row 1, column 3
    loc = np.zeros((1, 4, S, S), np.float32)
    loc[0, :, 1, 3] = (2.0, 3.0, 6.0, 5.0)  # left, top, right, bottom distances
    score, cand = decode(cls, loc, GRID.points)
    cell = 1 * S + 3
    assert score[0, cell] == pytest.approx(1 / (1 + np.exp(-4.0)))
    assert score[0, 0] == pytest.approx(0.5)
    x, y = GRID.points[cell]
    assert (cand.cx[0, cell], cand.cy[0, cell]) == (x + 2.0, y + 1.0)
    assert (cand.w[0, cell], cand.h[0, cell]) == (8.0, 8.0)


def test_change_penalty_is_one_for_the_same_box_and_less_for_other_scales_and_shapes():
    size, scale_z = np.array([[20.0, 10.0]]), np.array([2.0])
    w = np.array([[40.0, 80.0, 20.0]])  # same size, twice as large, other aspect
    h = np.array([[20.0, 40.0, 40.0]])
    p = change_penalty(Candidates(w * 0, h * 0, w, h), size, scale_z, penalty_k=0.15)
    assert p[0, 0] == pytest.approx(1.0)
    assert p[0, 1] < 1.0 and p[0, 2] < p[0, 1]


def test_cosine_window_follows_the_previous_position():
    np.testing.assert_array_equal(cosine_windows(np.zeros((2, 2)), np.ones(2), GRID),
                                  GRID.window[None])
    # previous centre one cell (STRIDE crop px = STRIDE / 2 image px at zoom 2) to the right
    shifted = cosine_windows(np.array([[STRIDE / 2, 0.0]]), np.array([2.0]), GRID)
    w = shifted.reshape(S, S)
    base = GRID.window.reshape(S, S)
    np.testing.assert_allclose(w[:, 1:], base[:, :-1], atol=1e-12)
    np.testing.assert_allclose(w[:, 0], 0.0)
    blended = penalised_score(np.ones((1, S * S)), np.ones((1, S * S)), GRID.window[None], 0.5)
    np.testing.assert_allclose(blended, 0.5 + 0.5 * GRID.window[None])


def test_neighbour_mask_marks_cells_inside_other_targets_boxes_only():
    centers = np.array([[100.0, 100.0], [108.0, 100.0]])  # search centres = previous centres
    size = np.array([[6.0, 6.0], [6.0, 6.0]])
    mask = neighbour_mask(centers, centers, size, GRID.offsets, np.ones(2)).reshape(2, S, S)
    # target 0's map: the other target sits one cell (8 px) to the right of the centre
    assert mask[0].sum() == 1 and mask[0, 2, 3]
    assert mask[1].sum() == 1 and mask[1, 2, 1]
    assert not mask[0, 2, 2]  # its own box is never masked


def test_peak_to_sidelobe_ignores_masked_cells():
    # a map with a second, stronger peak: ignoring the cells of that peak raises the PSR of
    # the remaining one, and ignoring every cell falls back to the whole map
    s = np.full((1, 8, 8), 0.1)
    s[0, 2, 2], s[0, 6, 6] = 0.8, 0.9
    ignore = np.zeros((1, 64), bool)
    ignore[0, 6 * 8 + 6] = True
    whole = peak_to_sidelobe(s.reshape(1, -1), 8)
    part = peak_to_sidelobe(s.reshape(1, -1), 8, ignore=ignore)
    assert part[0] > 2 * whole[0]
    everything = np.ones((1, 64), bool)
    np.testing.assert_allclose(peak_to_sidelobe(s.reshape(1, -1), 8, ignore=everything), whole)


def test_peak_to_sidelobe_and_windows_match_their_definitions_cell_by_cell():
    # the fast forms (a sidelobe table per peak, separable windows) against the formulas
    # written out one cell at a time, on maps with the peak at corners, edges and inside
    rng = np.random.default_rng(0)
    size = 7
    maps = rng.random((6, size * size))
    maps[0, 0] = maps[1, size - 1] = maps[2, 3 * size + 3] = maps[3, size * size - 1] = 2.0
    ignore = rng.random((6, size * size)) < 0.2
    for exclude in (1, 2):
        for mask in (None, ignore):
            got = peak_to_sidelobe(maps, size, exclude, mask)
            for k in range(len(maps)):
                valid = np.ones(size * size, bool) if mask is None else ~mask[k]
                peak = int(np.argmax(np.where(valid, maps[k], -np.inf)))
                side = [c for c in range(size * size) if valid[c] and (
                    abs(c // size - peak // size) > exclude or abs(c % size - peak % size) > exclude)]
                vals = maps[k, side]
                want = (maps[k, peak] - vals.mean()) / (vals.std() + 1e-6)
                assert got[k] == pytest.approx(want, rel=1e-9)
    offsets, scale_z = np.array([[3.0, -5.0], [0.5, 0.25]]), np.array([2.0, 1.0])
    w = cosine_windows(offsets, scale_z, GRID)
    for k in range(2):
        for c, (px, py) in enumerate(GRID.points):
            kx = (px - offsets[k, 0] * scale_z[k] + (S // 2) * STRIDE) / STRIDE
            ky = (py - offsets[k, 1] * scale_z[k] + (S // 2) * STRIDE) / STRIDE
            hx, hy = (0.5 - 0.5 * np.cos(2 * np.pi * v / (S - 1)) if 0 <= v <= S - 1 else 0.0
                      for v in (kx, ky))
            assert w[k, c] == pytest.approx(hx * hy, abs=1e-12)


def test_place_smooths_the_size_and_clips_to_the_image():
    n = S * S
    cand = Candidates(np.full((2, n), 10.0), np.full((2, n), -10.0), np.full((2, n), 40.0),
                      np.full((2, n), 1.0))
    centers = np.array([[50.0, 50.0], [95.0, 3.0]])
    size = np.array([[20.0, 20.0], [20.0, 2.0]])
    peak, center, new_size = place(cand, np.array([0, 0]), centers, size, np.array([2.0, 2.0]),
                                   np.array([0.5, 0.0]), width=100, height=80, min_size=4.0)
    np.testing.assert_allclose(peak, [[55.0, 45.0], [100.0, -2.0]])
    np.testing.assert_allclose(center, [[55.0, 45.0], [100.0, 0.0]])  # clipped to the image
    # lr 0.5: halfway to the cell's box (20 x 0.5 image px); lr 0: kept, but at least min_size
    np.testing.assert_allclose(new_size, [[20.0, 10.25], [20.0, 4.0]])


def test_exclusive_assignment_holds_a_target_that_would_take_a_placed_one():
    box = np.array([[50.0, 50.0], [50.0, 50.0], [57.0, 50.0]])
    size = np.full((3, 2), 20.0)
    # target 0 scores best and is placed first; target 1's peak is on the same spot (held);
    # target 2 overlaps by IoU 13/27 (contested at exclusion_iou 0.8: moved, but a miss)
    miss, held = exclusive_assignment(box, size, box, size, np.array([0.9, 0.8, 0.7]),
                                      [False, False, False], [0, 0, 0], 0.8, 3)
    assert held == [False, True, False] and miss == [False, True, True]
    # a target that this frame makes lost does not count as placed: nobody is held behind it
    miss, held = exclusive_assignment(box, size, box, size, np.array([0.9, 0.8, 0.7]),
                                      [True, False, False], [2, 0, 0], 0.8, 3)
    assert held == [False, False, False] and miss == [True, False, True]
