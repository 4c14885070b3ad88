"""Leave-one-sequence-out tuning of tracker settings (``eval.tune``)."""

from __future__ import annotations

import numpy as np
import pytest

from tir_tracker_core.checkpoint import load_checkpoint
from tir_tracker_core.data.sequence import Sequence
from tir_tracker_core.eval.tune import (cached_sequences, grid_configs, loso, setting_name,
                                        tune, write_tuned_checkpoint)


def test_grid_drops_base_values_and_duplicates():
    s = grid_configs({"lr": [0.3, 0.385], "penalty_k": [0.15, 0.2]}, [{"min_size": 10.0}],
                     base={"lr": 0.385, "penalty_k": 0.15, "min_size": 4.0})
    names = [setting_name(x) for x in s]
    assert names == ["base", "lr=0.3", "lr=0.3,penalty_k=0.2", "penalty_k=0.2", "min_size=10"]


def test_loso_picks_on_the_other_sequences_only():
    scores = {"base": {"a": 0.5, "b": 0.5, "c": 0.5},
              "x": {"a": 0.9, "b": 0.4, "c": 0.4},     # great on a only
              "y": {"a": 0.2, "b": 0.6, "c": 0.6}}
    folds = {f["held_out"]: f for f in loso(scores, ["a", "b", "c"])}
    assert folds["a"]["chosen"] == "y" and folds["a"]["score"] == 0.2  # a never picks for a
    assert folds["a"]["base"] == 0.5
    # b held out: x on (a, c) 0.65 > base 0.5 > y 0.4, though x is the worst on b
    assert folds["b"]["chosen"] == "x" and folds["b"]["score"] == 0.4


def test_loso_ties_go_to_the_base():
    scores = {"base": {"a": 0.5, "b": 0.5}, "z": {"a": 0.5, "b": 0.5}}
    assert all(f["chosen"] == "base" for f in loso(scores, ["a", "b"]))


def _blob_sequence(name: str, n: int = 12, dx: float = 2.0) -> Sequence:
    gt = np.array([[40 + dx * i, 40, 16, 16] for i in range(n)], float)

    def frame(i: int) -> np.ndarray:
        img = np.full((128, 160), 40, np.uint8)
        x, y, w, h = gt[i].astype(int)
        img[y:y + h, x:x + w] = 220
        return img

    return Sequence(name, "memory", gt, frame_loader=frame)


def test_cached_sequences_decode_once():
    calls = []
    base = _blob_sequence("s")
    seq = Sequence("s", "memory", base.gt,
                   frame_loader=lambda i: (calls.append(i), base.frame(i))[1])
    cached = cached_sequences([seq])[0]
    assert len(calls) == len(seq)
    for i in range(len(seq)):
        np.testing.assert_array_equal(cached.frame(i), base.frame(i))
    assert len(calls) == len(seq)


def test_tune_end_to_end_and_tuned_checkpoint(tmp_path, tiny_init):
    seqs = cached_sequences([_blob_sequence("a"), _blob_sequence("b", dx=-2.0),
                             _blob_sequence("c", dx=1.0)])
    settings = [{}, {"lr": 0.9}, {"window_influence": 0.2}]
    res = tune(str(tiny_init), seqs, settings, backend="torch", threads=1)
    assert set(res.scores) == {"base", "lr=0.9", "window_influence=0.2"}
    assert [f["held_out"] for f in res.folds] == ["a", "b", "c"]
    for f in res.folds:
        assert f["score"] == pytest.approx(res.scores[f["chosen"]][f["held_out"]])
    assert "held-out" in res.markdown()
    out = write_tuned_checkpoint(str(tiny_init), {"lr": 0.9}, tmp_path / "tuned.safetensors",
                                 res)
    ck = load_checkpoint(out)
    assert ck.tracker.lr == 0.9 and ck.provenance["tuned"]["setting"] == {"lr": 0.9}


def test_tune_on_sre_scores_the_perturbed_starts(tiny_init):
    seqs = cached_sequences([_blob_sequence("a"), _blob_sequence("b", dx=-2.0)])
    settings = [{}, {"lr": 0.9}]
    plain = tune(str(tiny_init), seqs, settings, backend="torch", threads=1)
    res = tune(str(tiny_init), seqs, settings, backend="torch", threads=1, sre=True)
    assert res.objective == "sre" and "objective: SRE success" in res.markdown()
    assert res.to_dict()["objective"] == "sre" and plain.objective == "success"
    # the objective is the mean over the twelve perturbed starts, not the annotated start
    assert res.scores != plain.scores
    for f in res.folds:
        assert f["score"] == pytest.approx(res.scores[f["chosen"]][f["held_out"]])
