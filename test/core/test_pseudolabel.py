"""Pseudo-labels: thermal proposals, the forward-backward filter (with scripted trackers whose
errors are known), the real labeller on generated video, and the ``pseudolabel`` command."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from tir_tracker_core.api import build_trackers
from tir_tracker_core.cli import main
from tir_tracker_core.data import load_paired, load_sequences
from tir_tracker_core.data.tracks import read_tracks
from tir_tracker_core.pseudolabel import (ClipFrames, PseudoLabelConfig, pseudo_label_clip,
                                          thermal_proposals)
from tir_tracker_core.tracking.types import Track, TrackState

H, W = 96, 128


def scene(i: int, seed: int = 0) -> np.ndarray:
    """A textured thermal frame: a warm 14 x 20 blob walking right (x = 20 + i), a static warm
    square at (90, 10) and a cold square at (90, 60)."""
    rng = np.random.default_rng(seed)
    img = 90 + 25 * cv2.GaussianBlur(rng.standard_normal((H, W)), (0, 0), 3)
    img += np.random.default_rng(1000 + i).normal(0, 1.5, (H, W))
    img[40:60, 20 + i:34 + i] += 90
    img[10:22, 90:102] += 80
    img[60:72, 90:102] -= 70
    return np.clip(img, 0, 255).astype(np.uint8)


def moving_box(i: int) -> np.ndarray:
    return np.array([20.0 + i, 40, 14, 20])


def test_blurred_background_proposes_warm_and_cold_blobs() -> None:
    cfg = PseudoLabelConfig(background_frames=1, proposals=5)
    boxes = thermal_proposals(scene(0), cfg)
    found = {tuple(b) for b in boxes.astype(int)}
    assert (20, 40, 14, 20) in found and (90, 10, 12, 12) in found and (90, 60, 12, 12) in found
    assert len(thermal_proposals(scene(0), dataclasses.replace(cfg, proposals=1))) == 1
    # what is already tracked is not proposed again
    rest = thermal_proposals(scene(0), cfg, exclude=np.array([[20, 40, 14, 20]]))
    assert (20, 40, 14, 20) not in {tuple(b) for b in rest.astype(int)}


def test_temporal_background_proposes_only_what_moves() -> None:
    cfg = PseudoLabelConfig()
    boxes = thermal_proposals(scene(0), cfg, others=[scene(i) for i in (15, 30, 45)])
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0], moving_box(0), atol=1)


class Scripted:
    """A tracker whose boxes move by ``step`` px per update whatever the frames show: 0 is
    a tracker that holds still, anything else drifts the same way forward and backward."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.boxes: list[np.ndarray] = []

    def init(self, frame: np.ndarray, boxes: list) -> list[int]:
        self.boxes = [np.asarray(b, float) for b in boxes]
        return list(range(1, len(boxes) + 1))

    def update(self, frame: np.ndarray) -> tuple[Track, ...]:
        for b in self.boxes:
            b[0] += self.step
        return tuple(Track(k + 1, tuple(b), 1.0, TrackState.TRACKED, 1)
                     for k, b in enumerate(self.boxes))


def still_clip(n: int) -> ClipFrames:
    frames = [scene(0)] * n  # nothing moves: a tracker that holds still is right
    return ClipFrames("still", n, lambda i: frames[i], lambda i: frames[i])


def test_forward_backward_filter_keeps_agreement_and_drops_drift() -> None:
    cfg = PseudoLabelConfig(window=20, background_frames=1, proposals=3, min_frames=5)
    tracks, stats = pseudo_label_clip(lambda: Scripted(0.0), still_clip(41), cfg)
    assert stats.windows == 2 and stats.proposed == 6 and stats.kept == 6
    assert all(len(t.boxes) == 21 and t.labelled == 21 for t in tracks)
    assert [t.start for t in tracks] == [0, 0, 0, 20, 20, 20]
    # 1 px a frame: forward and backward part by 2 px a frame; only the frames near the far
    # end (where the backward pass starts) agree, and the loop never closes
    tracks, stats = pseudo_label_clip(lambda: Scripted(1.0), still_clip(41), cfg)
    assert stats.proposed == 6 and stats.kept == 0 and tracks == []


def test_partial_disagreement_leaves_frames_unlabelled() -> None:
    """A tracker that jumps away for frames 5-8 of the forward pass only: those frames are
    unlabelled, the rest of the track is kept."""

    class Glitch(Scripted):
        calls = 0

        def __init__(self) -> None:
            super().__init__(0.0)
            Glitch.calls += 1
            self.forward, self.t = Glitch.calls % 2 == 1, 0

        def update(self, frame: np.ndarray) -> tuple[Track, ...]:
            self.t += 1
            out = super().update(frame)
            if self.forward and 5 <= self.t <= 8:
                return tuple(dataclasses.replace(t, box=(t.box[0] + 30, *t.box[1:]))
                             for t in out)
            return out

    cfg = PseudoLabelConfig(window=20, background_frames=1, proposals=1, min_frames=5)
    tracks, stats = pseudo_label_clip(Glitch, still_clip(21), cfg)
    assert stats.kept == 1 and stats.frames_rejected == 4
    np.testing.assert_array_equal(np.flatnonzero(np.isnan(tracks[0].boxes[:, 0])), [5, 6, 7, 8])


def test_cross_modal_needs_visible_frames() -> None:
    clip = ClipFrames("t", 20, lambda i: scene(0))
    with pytest.raises(ValueError, match="has no visible frames"):
        pseudo_label_clip(lambda: Scripted(0.0), clip, PseudoLabelConfig())


def test_shipped_model_labels_the_moving_blob_accurately() -> None:
    """The real labeller on the generated scene: one track, on the moving blob, its kept labels
    close to the truth (the ground truth only measures, it is never used to label)."""
    n = 41
    frames = [scene(i) for i in range(n)]
    gt = np.stack([moving_box(i) for i in range(n)])[:, None, :]
    clip = ClipFrames("walk", n, frames.__getitem__, lambda i: cv2.cvtColor(
        frames[i], cv2.COLOR_GRAY2BGR), gt)
    make = build_trackers("default")
    tracks, stats = pseudo_label_clip(make, clip, PseudoLabelConfig(window=40))
    assert stats.kept == 1, stats
    assert tracks[0].labelled >= 30
    quality = stats.as_dict()["label_iou"]
    assert quality["mean"] > 0.6 and quality["above_0.5"] > 0.9, quality


def write_pair_videos(root: Path, n: int) -> None:
    for sub in ("infrared", "visible"):
        (root / sub).mkdir(parents=True)
        w = cv2.VideoWriter(str(root / sub / "walk.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10,
                            (W, H))
        for i in range(n):
            w.write(cv2.cvtColor(scene(i), cv2.COLOR_GRAY2BGR))
        w.release()


def test_pseudolabel_command_writes_tracks_the_readers_load(tmp_path: Path, capsys) -> None:
    data = tmp_path / "pairs"
    write_pair_videos(data, 41)
    out = tmp_path / "labels"
    assert main(["pseudolabel", str(data), "--tracker", "default", "--window", "40",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 clips, 41 frames, 1 windows: " in printed and "1 tracks kept" in printed
    _, tracks, provenance = read_tracks(out)
    assert provenance["tracker"] == "default" and provenance["config"]["window"] == 40
    assert len(load_sequences(out)) == len(load_paired(out)) == len(tracks) == 1
    x, y, w, h = tracks[0].boxes[0]  # the blob as the codec left it
    inter = max(0, min(x + w, 34) - max(x, 20)) * max(0, min(y + h, 60) - max(y, 40))
    assert inter / (w * h + 280 - inter) > 0.5

    # thermal-only video cannot give cross-modal labels: a one-line error, exit 2
    assert main(["pseudolabel", str(data / "infrared"), "--tracker", "default",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pass --modality tir" in err
    assert not (tmp_path / "x").exists()
    assert main(["pseudolabel", str(data), "--tracker", "default", "--window", "1",
                 "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == "error: window must be >= 2 frames, got 1"


def test_raw_16bit_lepton_clips_are_labelled_and_stay_16_bit(shared_data: Path, tmp_path: Path,
                                                             capsys) -> None:
    """Self-training labels on the real ``.cptv`` clips (raw radiometric Lepton video)."""
    from tir_tracker_core.data.paired import find_video_clips

    cptv = shared_data / "thermal_raw" / "cptv"
    assert [(c.name, c.frames) for c in find_video_clips(cptv)] == [("hedgehog", 119),
                                                                    ("possum", 161)]
    out = tmp_path / "raw"
    assert main(["pseudolabel", str(cptv), "--modality", "tir", "--tracker", "default",
                 "--window", "40", "--out", str(out)]) == 0
    assert "2 clips, 280 frames, 7 windows" in capsys.readouterr().out
    seqs = load_sequences(out)
    assert seqs, "no track kept on the two clips"
    frame = seqs[0].frame(0)
    assert frame.dtype == np.uint16 and frame.shape == (120, 160)
