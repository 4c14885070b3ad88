"""Tracker settings searched by leave-one-sequence-out (LOSO) cross-validation.

Every configuration of a small grid of ``TrackerConfig`` overrides runs on every sequence once
(all configurations in lockstep on each sequence, the sequence's frames decoded once and kept
in memory, so further models reuse them). Then, for each held-out sequence, the configuration
with the best mean success over the *other* sequences is chosen and its success on the held-out
sequence is reported: the mean of those held-out scores estimates what choosing settings on
this suite is worth on a sequence it has not seen, against the model's own settings (the
``base`` configuration, always evaluated). With ``sre`` the objective is OTB's spatial
robustness (:mod:`tir_tracker_core.eval.sre`): each setting's success on a sequence is its
mean over the twelve perturbed first boxes (13x the tracking time).

Library: :func:`tune` -> :class:`TuneResult`; command: ``tir-tracker tune``.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.sequence import Sequence
from .resolve import resolve
from .runner import evaluate
from .sre import OTB_SRE

log = logging.getLogger(__name__)

__all__ = ["TuneResult", "cached_sequences", "grid_configs", "loso", "setting_name", "tune",
           "write_tuned_checkpoint"]

Setting = dict[str, Any]

# the default grid: window x penalty x lr around the shipped settings (27), plus one-factor
# changes of min_size and context_amount (3): 30 configurations with the base
DEFAULT_GRID: dict[str, list[Any]] = {
    "penalty_k": [0.08, 0.15, 0.25],
    "window_influence": [0.35, 0.49, 0.6],
    "lr": [0.3, 0.385, 0.5],
}
DEFAULT_EXTRA: list[Setting] = [{"min_size": 4.0}, {"context_amount": 0.45},
                                {"context_amount": 0.55}]


class _CachedFrames:
    """``loader(i)`` over frames decoded once (picklable enough for one process)."""

    def __init__(self, seq: Sequence) -> None:
        self.frames = [seq.frame(i) for i in range(len(seq))]

    def __call__(self, index: int) -> np.ndarray:
        return self.frames[index]


def cached_sequences(seqs: Iterable[Sequence]) -> list[Sequence]:
    """The sequences with every frame decoded once and kept in memory."""
    out = []
    for s in seqs:
        out.append(Sequence(s.name, s.layout, s.gt, dict(s.attributes), None, _CachedFrames(s)))
    return out


def setting_name(setting: Mapping[str, Any]) -> str:
    """``k=v,k=v`` (sorted keys), ``base`` for no override."""
    return ",".join(f"{k}={setting[k]:g}" if isinstance(setting[k], float) else f"{k}={setting[k]}"
                    for k in sorted(setting)) or "base"


def grid_configs(grid: Mapping[str, list[Any]], extra: Iterable[Setting] = (),
                 base: Mapping[str, Any] | None = None) -> list[Setting]:
    """The full factorial of ``grid`` plus the ``extra`` settings; values equal to ``base``
    (the model's own settings) are dropped from each setting, duplicates removed, ``{}`` (the
    base) first."""
    base = dict(base or {})
    keys = list(grid)
    out: list[Setting] = [{}]
    seen = {"base"}
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]
    for s in [*combos, *extra]:
        s = {k: v for k, v in s.items() if k not in base or base[k] != v}
        name = setting_name(s)
        if name not in seen:
            seen.add(name)
            out.append(s)
    return out


@dataclass
class TuneResult:
    """Success of every setting on every sequence, and the LOSO folds.

    ``scores[setting_name][sequence]``; ``folds``: one dict per held-out sequence with
    ``held_out``, ``chosen`` (setting name), ``train_mean`` (its mean on the other sequences),
    ``score`` (its success on the held-out one) and ``base`` (the base setting's success there).
    ``objective``: ``"success"`` (annotated first box) or ``"sre"`` (OTB's perturbed ones).
    """

    model: str
    settings: dict[str, Setting]
    sequences: list[str]
    scores: dict[str, dict[str, float]]
    folds: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    objective: str = "success"

    def mean(self, name: str, seqs: Iterable[str] | None = None) -> float:
        seqs = list(seqs) if seqs is not None else self.sequences
        return float(np.mean([self.scores[name][s] for s in seqs]))

    def best_overall(self) -> str:
        """The setting with the best mean over all sequences (what a tuned checkpoint stores;
        its LOSO score, not its in-sample mean, says what it is worth)."""
        return max(self.settings, key=lambda n: (self.mean(n), n == "base"))

    def summary(self) -> dict[str, Any]:
        held = np.array([f["score"] for f in self.folds])
        base = np.array([f["base"] for f in self.folds])
        diff = held - base
        return {"loso_mean": float(held.mean()), "base_mean": float(base.mean()),
                "loso_minus_base_mean": float(diff.mean()),
                "loso_minus_base_min": float(diff.min()),
                "loso_minus_base_max": float(diff.max()),
                "folds_improved": int((diff > 1e-9).sum()),
                "folds_worse": int((diff < -1e-9).sum()),
                "distinct_choices": len({f["chosen"] for f in self.folds}),
                "best_overall": self.best_overall(),
                "best_overall_mean": self.mean(self.best_overall())}

    def markdown(self) -> str:
        what = "SRE success" if self.objective == "sre" else "success"
        lines = [f"LOSO tuning of {self.model} ({len(self.settings)} settings, "
                 f"{len(self.sequences)} sequences, objective: {what}, "
                 f"{self.seconds:.0f} s)", "",
                 "| held-out | chosen setting (mean on the others) | held-out success | "
                 "base setting | difference |", "|---|---|---:|---:|---:|"]
        for f in self.folds:
            lines.append(f"| {f['held_out']} | {f['chosen']} ({f['train_mean']:.3f}) | "
                         f"{f['score']:.3f} | {f['base']:.3f} | {f['score'] - f['base']:+.3f} |")
        s = self.summary()
        lines.append(f"| **mean** | | **{s['loso_mean']:.3f}** | {s['base_mean']:.3f} | "
                     f"{s['loso_minus_base_mean']:+.3f} |")
        lines += ["", f"Spread of held-out minus base: {s['loso_minus_base_min']:+.3f} .. "
                  f"{s['loso_minus_base_max']:+.3f} ({s['folds_improved']} folds better, "
                  f"{s['folds_worse']} worse); {s['distinct_choices']} distinct settings chosen.",
                  f"Best on all sequences (in-sample, optimistic): {s['best_overall']} "
                  f"({s['best_overall_mean']:.3f} vs base {self.mean('base'):.3f}).", "",
                  "Top 10 settings by mean over all sequences:", "",
                  "| setting | " + " | ".join(self.sequences) + " | mean |",
                  "|---|" + "---:|" * (len(self.sequences) + 1)]
        ranked = sorted(self.settings, key=self.mean, reverse=True)[:10]
        if "base" not in ranked:
            ranked.append("base")
        for n in ranked:
            lines.append(f"| {n} | " + " | ".join(f"{self.scores[n][q]:.3f}"
                                                  for q in self.sequences)
                         + f" | {self.mean(n):.3f} |")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "objective": self.objective,
                "settings": self.settings, "sequences": self.sequences,
                "scores": self.scores, "folds": self.folds, "summary": self.summary(),
                "seconds": self.seconds}


def loso(scores: Mapping[str, Mapping[str, float]], sequences: list[str],
         base: str = "base") -> list[dict[str, Any]]:
    """Leave-one-sequence-out folds over ``scores[setting][sequence]``: for each held-out
    sequence the setting with the best mean over the others (ties: the base, then by name)."""
    folds = []
    for held in sequences:
        rest = [s for s in sequences if s != held]

        def key(n: str) -> tuple[float, bool, str]:
            return (float(np.mean([scores[n][s] for s in rest])), n == base, n)

        chosen = max(scores, key=key)
        folds.append({"held_out": held, "chosen": chosen, "train_mean": key(chosen)[0],
                      "score": float(scores[chosen][held]), "base": float(scores[base][held])})
    return folds


def tune(model: str, sequences: list[Sequence], settings: list[Setting],
         backend: str = "onnxruntime", threads: int = 1, progress: bool = False,
         sre: bool = False) -> TuneResult:
    """Run every setting of ``model`` on every sequence (lockstep) and cross-validate; with
    ``sre`` on OTB's SRE success (every setting also from the twelve perturbed first boxes)."""
    t0 = time.perf_counter()
    opts = {"threads": threads} if threads else None
    names = {setting_name(s): s for s in settings}
    trackers = {}
    for name, s in names.items():
        r = resolve(model, backend=backend, backend_options=opts, count_ops=False,
                    tracker_overrides=s or None)
        trackers[name] = r.single
    report = evaluate(trackers, sequences, progress=progress,
                      perturbations=OTB_SRE if sre else ())
    seq_names = [s.name for s in sequences]
    scores = {n: report.sre_success(n) if sre else
              {q: float(report.sequence_scores[n][q].success) for q in seq_names} for n in names}
    result = TuneResult(model, names, seq_names, scores, seconds=time.perf_counter() - t0,
                        objective="sre" if sre else "success")
    result.folds = loso(scores, seq_names)
    return result


def write_tuned_checkpoint(model: str, setting: Setting, out: Path,
                           result: TuneResult | None = None) -> Path:
    """A copy of checkpoint ``model`` (ours, ``.safetensors``) whose recommended tracker
    settings carry ``setting``; the tuning summary goes into its provenance."""
    from ..checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from ..config import replace

    ck = load_checkpoint(model)
    prov = dict(ck.provenance)
    prov["tuned"] = {"from": str(model), "setting": setting,
                     **({"loso": result.summary(), "sequences": result.sequences}
                        if result is not None else {})}
    return save_checkpoint(Checkpoint(ck.model, ck.state_dict, replace(ck.tracker, setting),
                                      ck.frame, prov), out)
