"""OTB's spatial robustness evaluation: the perturbed first boxes, their runs in the same
lockstep pass as the annotated one, and their scores against the unchanged ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tir_tracker_core.cli import main
from tir_tracker_core.data import Sequence
from tir_tracker_core.data.synthetic import SyntheticConfig, generate_sequence, write_sequence
from tir_tracker_core.eval.runner import evaluate
from tir_tracker_core.eval.sre import OTB_SRE, Perturbation, perturb_box


def test_otb_sre_is_twelve_distinct_perturbations():
    assert len(OTB_SRE) == 12 and len({p.name for p in OTB_SRE}) == 12
    starts = {tuple(perturb_box([10, 20, 40, 30], p)) for p in OTB_SRE}
    assert len(starts) == 12 and (10, 20, 40, 30) not in starts


def test_perturb_box_shifts_by_box_fractions_and_scales_about_the_centre():
    np.testing.assert_allclose(perturb_box([10, 20, 40, 30], Perturbation("l", dx=-0.1)),
                               [6, 20, 40, 30])
    np.testing.assert_allclose(perturb_box([10, 20, 40, 30], Perturbation("ud", dx=0.1, dy=0.1)),
                               [14, 23, 40, 30])
    np.testing.assert_allclose(perturb_box([10, 20, 40, 30], Perturbation("s", scale=1.2)),
                               [6, 17, 48, 36])  # centre (30, 35) kept
    with pytest.raises(ValueError, match="scale"):
        Perturbation("bad", scale=0.0)


class _Hold:
    """Reports the box it was started from on every frame (a tracker that never moves)."""

    def init(self, frame, box) -> None:
        self.box = tuple(float(v) for v in box)

    def track(self, frame):
        return self.box, 1.0


def test_perturbed_runs_start_from_their_boxes_and_are_scored_on_the_true_boxes():
    n = 6
    truth = np.tile([20.0, 20.0, 20.0, 20.0], (n, 1))
    seqs = [Sequence(name, "memory", truth.copy(),
                     frame_loader=lambda i: np.zeros((64, 64), np.uint8)) for name in ("a", "b")]
    perts = (Perturbation("same"), Perturbation("right", dx=0.5), Perturbation("big", scale=2.0))
    report = evaluate({"hold": _Hold}, seqs, perturbations=perts)
    for seq in ("a", "b"):
        runs = report.sre_scores["hold"][seq]
        assert list(runs) == ["same", "right", "big"]
        # the unperturbed start matches the plain run; IoU 1/3 at a half-box shift and 1/4 at
        # twice the size fail every threshold from 0.35 / 0.25 up (frame 0 is the truth)
        assert runs["same"].success == report.sequence_scores["hold"][seq].success
        assert runs["right"].success < runs["same"].success
        assert runs["big"].success < runs["right"].success
    table = report.sre_tables()
    assert "| big |" in table and "**mean (2)**" in table
    d = report.to_dict()
    assert [p["name"] for p in d["perturbations"]] == ["same", "right", "big"]
    sre = d["trackers"]["hold"]["sre"]
    assert sre["success"] == pytest.approx(np.mean(
        [report.sre_scores["hold"]["a"][p].success for p in ("same", "right", "big")]), abs=1e-6)
    with pytest.raises(ValueError, match="unique"):
        evaluate({"hold": _Hold}, seqs, perturbations=(Perturbation("x"), Perturbation("x")))


def test_plain_evaluation_has_no_sre():
    truth = np.tile([20.0, 20.0, 20.0, 20.0], (3, 1))
    seq = Sequence("a", "memory", truth, frame_loader=lambda i: np.zeros((64, 64), np.uint8))
    report = evaluate({"hold": _Hold}, [seq])
    assert report.sre_tables() == "" and "sre" not in report.to_dict()["trackers"]["hold"]


def test_cli_eval_sre(tmp_path, capsys):
    seq = generate_sequence(SyntheticConfig(seed=3, num_frames=8, height=128, width=160))
    data = write_sequence(seq, tmp_path / "data" / "syn3", layout="otb", modality="tir")
    out = tmp_path / "eval"
    assert main(["eval", str(data), "--tracker", "opencv:kcf", "--sre", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "SRE success (mean over 12 perturbed first boxes)" in printed
    assert "| scale 1.2 |" in printed and "| worst run |" in printed
    res = json.loads((out / "results.json").read_text())
    per_p = res["trackers"]["opencv:kcf"]["sre"]["sequences"]["syn3"]["perturbations"]
    assert set(per_p) == {p.name for p in OTB_SRE}
    assert "SRE success" in (out / "results.md").read_text()
    kept = (out / "predictions" / "opencv_kcf" / "sre" / "syn3_scale_1.2.txt").read_text()
    first = np.loadtxt(data / "groundtruth_rect.txt", delimiter=",", ndmin=2)[0]
    rows = np.loadtxt(kept.splitlines(), delimiter=",", ndmin=2)
    assert len(rows) == 8  # the run from the 1.2x first box, which it starts from
    np.testing.assert_allclose(rows[0], perturb_box(first, OTB_SRE[-1]), atol=1e-3)
