"""Multi-target evaluation on synthetic sequences (``tir-tracker multitarget``)."""

from __future__ import annotations

import numpy as np
import pytest

from tir_tracker_core.api import load_tracker
from tir_tracker_core.cli import main
from tir_tracker_core.eval.multitarget import collapsed_pairs, evaluate_multitarget


def test_collapsed_pairs_counts_two_tracks_on_one_object_only():
    gt = np.array([[[0, 0, 10, 10]] * 3, [[50, 0, 10, 10]] * 3], float)  # apart in every frame
    pred = gt.copy()
    pred[1, 1] = (1, 0, 10, 10)  # frame 1: track 2 sits on object 1
    pred[1, 2] = (1, 0, 10, 10)  # frame 2: too, but it is reported lost
    tracked = np.ones((2, 3), bool)
    tracked[1, 2] = False
    assert collapsed_pairs(pred, gt, tracked) == 1
    # true boxes that overlap (a real crossing) are not counted
    assert collapsed_pairs(pred, pred, tracked) == 0


def test_evaluate_multitarget_runs_each_variant_on_the_same_sequences():
    variants = {name: (lambda ov=ov: load_tracker("default", backend="onnxruntime", tracker=ov))
                for name, ov in {"on": {}, "off": {"exclusion_iou": 1.0}}.items()}
    results = evaluate_multitarget(variants, seeds=[3], targets=2, frames=20)
    assert [r.name for r in results] == ["on", "off"]
    for r in results:
        assert r.targets == 2 and 0.0 <= r.success <= 1.0 and r.collapsed >= 0 and r.fps > 0


def test_cli_multitarget_prints_one_row_per_variant(capsys):
    assert main(["multitarget", "--seeds", "3", "--targets", "2", "--frames", "15",
                 "--variant", "off:exclusion_iou=1.0"]) == 0
    out = capsys.readouterr().out
    assert "| model's config |" in out and "| off |" in out


@pytest.mark.parametrize("variant, msg", [("exclusion_iou=1.0", "NAME:key=value"),
                                          ("off:exclusion_iou", "not key=value")])
def test_cli_multitarget_rejects_bad_variants(variant, msg, capsys):
    with pytest.raises(SystemExit):
        main(["multitarget", "--variant", variant])
    assert msg in capsys.readouterr().err


def test_cli_multitarget_rejects_unknown_config_fields(capsys):
    assert main(["multitarget", "--seeds", "3", "--frames", "5",
                 "--variant", "x:exclusoin_iou=1"]) != 0
    err = capsys.readouterr().err
    assert "unknown key(s) exclusoin_iou" in err and "exclusion_iou" in err
