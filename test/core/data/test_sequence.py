"""The sequence types: in-memory frames, validation, slicing, length reconciliation."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tir_tracker_core.data.sequence import PairedSequence, Sequence, reconcile_lengths
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
