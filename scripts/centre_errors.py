#!/usr/bin/env python3
"""Where a model's centre errors come from, per sequence (LAB_NOTES.md, "Centre errors on the
drones"): the mean error (a bias that stays for the whole sequence), its spread, how much one
frame's error predicts the next (lag-1 autocorrelation of the error minus its mean), and the
success the same boxes would score with their centres smoothed afterwards by a causal
alpha-beta filter (whether a motion filter in the tracker could pay).

    python scripts/centre_errors.py ../shared/data/tir [--model default] [--filter 0.8,0.0 ...]

Each sequence is tracked once by the evaluation runner (``eval.runner.run_sequence``: one
target from its first ground-truth box, the model's own settings, ONNX Runtime); the filters are applied to the recorded boxes, so they show what a
filter would change without its effect on the next frame's search window.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tir_tracker_core.data import load_sequences  # noqa: E402
from tir_tracker_core.eval.metrics import evaluate_sequence, valid_gt_mask  # noqa: E402
from tir_tracker_core.eval.resolve import resolve  # noqa: E402
from tir_tracker_core.eval.runner import run_sequence  # noqa: E402


def alpha_beta(boxes: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Centres filtered causally (constant velocity, gains ``alpha`` / ``beta``); sizes kept."""
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    x, v, out = centres[0].copy(), np.zeros(2), centres.copy()
    for i in range(1, len(centres)):
        predicted = x + v
        residual = centres[i] - predicted
        x, v = predicted + alpha * residual, v + beta * residual
        out[i] = x
    filtered = boxes.copy()
    filtered[:, :2] = out - boxes[:, 2:] / 2
    return filtered


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="a folder of sequences (e.g. ../shared/data/tir)")
    ap.add_argument("--model", default="default")
    ap.add_argument("--filter", action="append", default=None, metavar="ALPHA,BETA",
                    help="alpha-beta gains to try (repeatable; default 0.8,0 0.5,0 0.8,0.1)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    filters = [tuple(float(v) for v in f.split(",")) for f in
               (args.filter or ["0.8,0", "0.5,0", "0.8,0.1"])]
    tracker = resolve(args.model, backend="onnxruntime", count_ops=False)
    print("| sequence | mean error x, y (px) | std x, y | lag-1 autocorr. x, y | median |error| "
          "| success | " + " | ".join(f"filtered a={a:g} b={b:g}" for a, b in filters) + " |")
    print("|---|---|---|---|---:|---:|" + "---:|" * len(filters))
    means: list[list[float]] = []
    for seq in load_sequences(args.data):
        gt = np.asarray(seq.gt, np.float64)
        boxes = np.asarray(run_sequence(tracker.single, seq, tracker.name).boxes, np.float64)
        ok = valid_gt_mask(gt)
        ok[0] = False  # the given box
        err = (boxes[:, :2] + boxes[:, 2:] / 2 - gt[:, :2] - gt[:, 2:] / 2)[ok]
        dev = err - err.mean(0)
        lag1 = (dev[:-1] * dev[1:]).mean(0) / dev.var(0)
        scores = [evaluate_sequence(boxes, gt).success]
        scores += [evaluate_sequence(alpha_beta(boxes, a, b), gt).success for a, b in filters]
        means.append(scores)
        print(f"| {seq.name} | {err[:, 0].mean():+.2f}, {err[:, 1].mean():+.2f} | "
              f"{err[:, 0].std():.2f}, {err[:, 1].std():.2f} | {lag1[0]:.2f}, {lag1[1]:.2f} | "
              f"{np.median(np.hypot(err[:, 0], err[:, 1])):.2f} | "
              + " | ".join(f"{s:.3f}" for s in scores) + " |")
    mean = np.mean(means, axis=0)
    print("| **mean** | | | | | " + " | ".join(f"{s:.3f}" for s in mean) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
