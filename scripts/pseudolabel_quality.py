#!/usr/bin/env python3
"""How good are pseudo-labels? The labeller of ``tir-tracker pseudolabel`` on generated paired
sequences whose every target has a box, with and without the forward-backward filter.

    W=../shared/data/weights/nanotrack
    python scripts/pseudolabel_quality.py --tracker nanotrack:$W/v2/nanotrackv2.pth \
        [--modality rgb] [--seeds 7000-7011]

The ground truth only measures: proposals and labels come from the frames and the tracker.
A label's IoU is against the annotated target its track started on; tracks that started on
no annotated target (the scenes' unannotated moving distractors, or background) are counted
apart, their labels unchecked. Seeds 7000+ are used by no training recipe.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tir_tracker_core.data.synthetic import SyntheticConfig, generate_sequence  # noqa: E402
from tir_tracker_core.eval.resolve import resolve  # noqa: E402
from tir_tracker_core.pseudolabel import (ClipFrames, PseudoLabelConfig,  # noqa: E402
                                          PseudoLabelStats, pseudo_label_clip)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tracker", required=True, help="the labeller SPEC")
    p.add_argument("--modality", choices=("rgb", "tir"), default="rgb")
    p.add_argument("--seeds", default="7000-7011", help="FIRST-LAST synthetic seeds")
    p.add_argument("--frames", type=int, default=150)
    args = p.parse_args()
    first, _, last = args.seeds.partition("-")
    seeds = range(int(first), int(last or first) + 1)
    make = resolve(args.tracker, count_ops=False).multi
    shipped = PseudoLabelConfig(modality=args.modality)
    settings = {"forward-backward filter (shipped)": shipped,
                "no filter (every forward box)": dataclasses.replace(shipped, fb_iou=1e-9,
                                                                     min_frames=2)}
    rows = []
    for name, cfg in settings.items():
        stats = PseudoLabelStats()
        for seed in seeds:
            seq = generate_sequence(SyntheticConfig(seed=seed, num_frames=args.frames,
                                                    width=320, height=256, num_targets=3))
            clip = ClipFrames(f"s{seed}", len(seq), seq.tir_frame, seq.rgb_frame,
                              np.transpose(np.asarray(seq.boxes), (1, 0, 2)))
            stats.add(pseudo_label_clip(make, clip, cfg)[1])
        d = stats.as_dict()
        q = d.get("label_iou", {"n": 0, "mean": float("nan"), "above_0.5": float("nan")})
        r = d.get("rejected_iou", {"n": 0, "mean": float("nan")})
        rows.append(f"| {name} | {d['proposed']} | {d['kept']} | {d['unchecked']} | {q['n']} | "
                    f"{q['mean']:.3f} | {q['above_0.5']:.3f} | {r['n']} | {r['mean']:.3f} |")
    print(f"labeller {args.tracker} ({args.modality} frames), synthetic seeds "
          f"{seeds.start}-{seeds.stop - 1}, {args.frames} frames, 3 annotated targets each\n")
    print("| setting | proposals | tracks kept | of them unchecked | labels checked | label IoU "
          "| labels IoU >= 0.5 | frames rejected | their IoU |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
