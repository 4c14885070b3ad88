"""The sequence types: in-memory frames, validation, slicing, length reconciliation."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tir_tracker_core.data.sequence import (
    PairedSequence,
    Sequence,
    expand_sparse_gt,
    infer_gt_stride,
    reconcile_lengths,
)
from tir_tracker_core.errors import DatasetError


def test_in_memory_sequence_and_validation() -> None:
    frames = [np.full((8, 8), i, np.uint16) for i in range(3)]
    gt = np.array([[1, 1, 4, 4]] * 3, float)
    seq = Sequence("mem", "memory", gt, {"occlusion": np.array([0, 1, 0], bool)},
                   frame_loader=frames.__getitem__)
    assert len(seq) == 3 and int(seq.frame(2)[0, 0]) == 2 and seq.frame_paths is None
    assert seq.has_attribute("occlusion") and not seq.has_attribute("drone")
    with pytest.raises(ValueError):
        seq.gt[0, 0] = 5  # read-only
    with pytest.raises(DatasetError, match="exactly one of frame_paths and frame_loader"):
        Sequence("bad", "memory", gt)
    with pytest.raises(DatasetError, match="per-frame attribute 'occlusion' has 2 values"):
        Sequence("bad", "memory", gt, {"occlusion": np.zeros(2)}, frame_loader=frames.__getitem__)
    with pytest.raises(DatasetError, match=r"\(N, 4\)"):
        Sequence("bad", "memory", np.zeros((3, 5)), frame_loader=frames.__getitem__)
    broken = Sequence("broken", "memory", gt, frame_loader=lambda i: np.zeros((4, 4, 2)))
    with pytest.raises(DatasetError, match="HxW or HxWx3"):
        broken.frame(0)


def test_reconcile_lengths(caplog: pytest.LogCaptureFixture) -> None:
    gt = np.zeros((4, 4))
    assert reconcile_lengths("s", 4, gt, "error") == 4
    with pytest.raises(DatasetError, match="4 ground-truth rows but 3 frames"):
        reconcile_lengths("s", 3, gt, "error")
    with caplog.at_level(logging.WARNING):
        assert reconcile_lengths("s", 6, gt, "truncate") == 4
    assert "truncating to 4" in caplog.text
    with pytest.raises(ValueError, match="length_mismatch must be one of"):
        reconcile_lengths("s", 3, gt, "pad")  # type: ignore[arg-type]


def test_paired_sequence_validation() -> None:
    frames = [np.full((4, 4), i, np.uint8) for i in range(2)]
    with pytest.raises(DatasetError, match="has no frames"):
        PairedSequence("p", "memory", 0, frames.__getitem__, frames.__getitem__)
    with pytest.raises(DatasetError, match="gt has 1 rows for 2 frames"):
        PairedSequence("p", "memory", 2, frames.__getitem__, frames.__getitem__,
                       np.zeros((1, 4)))
    unannotated = PairedSequence("p", "memory", 2, frames.__getitem__, frames.__getitem__)
    assert int(unannotated.tir_frame(1)[0, 0]) == 1
    with pytest.raises(DatasetError, match="no ground truth"):
        unannotated.as_sequence()


# --------------------------------------------------------------------------------------------
# Sparse ground truth
# --------------------------------------------------------------------------------------------


def test_infer_gt_stride():
    assert infer_gt_stride(11, 101) == 10  # VTUAV bus1: frames 0, 10, ..., 100
    assert infer_gt_stride(301, 3005) == 10  # last annotated frame 3000, 4 frames after it
    assert infer_gt_stride(50, 50) == 1
    assert infer_gt_stride(2, 101) is None  # any stride 51..100 fits
    assert infer_gt_stride(1, 10) is None
    assert infer_gt_stride(12, 10) is None


def test_expand_sparse_gt_and_sequence_gt_frames():
    rows = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]], float)
    dense = expand_sparse_gt("s", rows, 25, stride=10)
    assert dense.shape == (25, 4)
    np.testing.assert_array_equal(dense[[0, 10, 20]], rows)
    assert np.isnan(dense[1]).all() and np.isnan(dense[24]).all()
    seq = Sequence("s", "test", dense, frame_loader=lambda i: np.zeros((4, 4), np.uint8))
    np.testing.assert_array_equal(seq.gt_frames, [0, 10, 20])
    assert seq.gt_stride == 10 and seq.is_sparse and seq.annotated.sum() == 3
    np.testing.assert_array_equal(seq.head(15).gt_frames, [0, 10])
    with pytest.raises(DatasetError, match="fit no single annotation stride"):
        expand_sparse_gt("s", rows, 25)  # strides 9 to 12 all fit 3 rows in 25 frames
    with pytest.raises(DatasetError, match="reach frame 20 but the sequence has 15"):
        expand_sparse_gt("s", rows, 15, stride=10)
    with pytest.raises(DatasetError, match="frame 0 has no ground-truth box"):
        Sequence("s", "test", dense[1:], frame_loader=lambda i: np.zeros((4, 4), np.uint8))
    dense_seq = Sequence("d", "test", rows, frame_loader=lambda i: np.zeros((4, 4), np.uint8))
    assert not dense_seq.is_sparse and dense_seq.gt_stride == 1
