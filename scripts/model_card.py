#!/usr/bin/env python3
"""Write the model card of a checkpoint from measured scores (nothing typed in by hand).

    python scripts/model_card.py CKPT.safetensors --out MODEL_CARD.md \
        [--baseline nanotrack:../shared/data/weights/nanotrack/v2/nanotrackv2.pth] \
        [--real ../shared/data/tir/vottir_horse]

Scores: one-pass evaluation (LSOTB-TIR rules) on held-out synthetic thermal sequences (seeds
never used by the training recipes) and, when given, on a real thermal sequence, for the
checkpoint and an optional baseline, in one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tir_tracker_core.checkpoint import read_metadata  # noqa: E402
from tir_tracker_core.data import load_sequences  # noqa: E402
from tir_tracker_core.data.synthetic import SyntheticConfig, generate_sequence  # noqa: E402
from tir_tracker_core.eval.runner import evaluate  # noqa: E402
from tir_tracker_core.eval.resolve import resolve  # noqa: E402

HELD_OUT_SEEDS = (9001, 9002, 9003, 9004, 9005, 9006)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--baseline", default=None)
    p.add_argument("--real", default=None, help="a real thermal sequence folder")
    p.add_argument("--frames", type=int, default=150)
    args = p.parse_args()

    synthetic = [generate_sequence(SyntheticConfig(seed=s, num_frames=args.frames, height=256,
                                                   width=320)).as_sequence("tir", 0)
                 for s in HELD_OUT_SEEDS]
    trackers = [resolve(args.checkpoint, backend="onnxruntime")]
    if args.baseline:
        trackers.append(resolve(args.baseline, backend="onnxruntime"))
    extra = {r.name: {"params (M)": round(r.params / 1e6, 3), "MACs (G)": round(r.macs / 1e9, 3)}
             for r in trackers}
    rep_syn = evaluate({r.name: r.single for r in trackers}, synthetic, extra_columns=extra)
    tables = [f"### Held-out synthetic thermal sequences (seeds {HELD_OUT_SEEDS[0]}-"
              f"{HELD_OUT_SEEDS[-1]}, {args.frames} frames, 320x256 mono16)\n\n"
              + rep_syn.markdown_table()]
    if args.real:
        seqs = load_sequences(Path(args.real))
        rep_real = evaluate({r.name: r.single for r in trackers}, seqs, extra_columns=extra)
        tables.append(f"### Real thermal sequence `{Path(args.real).name}`\n\n"
                      + rep_real.markdown_table())

    meta = read_metadata(args.checkpoint)
    prov = meta.get("provenance", {})
    cfg = prov.get("config", {})
    card = f"""# Model card: `{Path(args.checkpoint).name}`

The default model of `tir_tracker_core` (used when no model is given).

## How it was made
- Architecture: `{meta['model']['name']}` (MobileNetV3-style backbone, pixel-wise correlation,
  anchor-free BAN head); {extra[trackers[0].name]['params (M)']} M parameters,
  {extra[trackers[0].name]['MACs (G)']} GMACs per template + search pass.
- Initialisation: `{cfg.get('model', {}).get('init', '?')}` — NanoTrack v2 (HonglinChu/SiamTrackers,
  Apache-2.0), an RGB tracker.
- Training data: synthetic thermal sequences only (`tir_tracker_core.data.synthetic`), sources:
  `{json.dumps(cfg.get('data', []))}`.
- Frozen parameter prefixes: `{cfg.get('optim', {}).get('freeze', [])}`; steps:
  {prov.get('steps', '?')}; seed {prov.get('seed', '?')}; git commit {prov.get('git_commit', '?')}.
- Command: `tir-tracker train --config config/train_default.yaml` (recipe in that file).

## Scores (measured by `scripts/model_card.py`, ONNX Runtime backend, {platform.machine()})

{chr(10).join(tables)}

FPS figures were measured on a shared 2-core CPU while other jobs ran; compare them only
within one table.

## Intended use and limits
Single- and multi-target tracking in 8/16-bit thermal video after the user gives the initial
boxes. Trained on synthetic data only: expect lower accuracy on real sequences whose targets
look unlike the generator's people and vehicles. Not a detector; it does not re-detect a target
after long occlusion.
"""
    Path(args.out).write_text(card)
    print(card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
