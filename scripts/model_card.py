#!/usr/bin/env python3
"""Write the model card of a checkpoint from measured scores (nothing typed in by hand).

    python scripts/model_card.py CKPT.safetensors --out MODEL_CARD.md \
        [--baseline nanotrack:../shared/data/weights/nanotrack/v2/nanotrackv2.pth ...] \
        [--suite ../shared/data/tir] [--peer opencv:nano:DIR --peer opencv:csrt ...]

Scores: one-pass evaluation (LSOTB-TIR rules) of the checkpoint, the baselines and the peers
in one run: on the real thermal sequences of ``--suite`` (every sequence, each group, the
mean) and on held-out synthetic thermal sequences (seeds no training recipe uses; ours only).
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
KIND_WORDS = {"synthetic": "synthetic thermal sequences", "detections": "labelled thermal stills",
              "sequences": "thermal tracking sequences", "paired": "visible + thermal pairs"}


def _data_summary(data: list[dict]) -> str:
    kinds = []
    for d in data:
        word = KIND_WORDS.get(d.get("kind", "?"), d.get("kind", "?"))
        where = f" `{d['path']}`" if d.get("path") else ""
        kinds.append(f"{word}{where} (weight {d.get('weight', 1.0)})")
    return "; ".join(kinds) or "?"


def _origin(prov: dict, cfg: dict) -> str:
    """Where the weights come from: the initialisation of ``train``, the teacher(s) of
    ``distill``."""
    if prov.get("command") != "distill":
        return (f"- Initialisation: `{cfg.get('model', {}).get('init', '?')}` (NanoTrack, "
                "HonglinChu/SiamTrackers,\n  Apache-2.0, an RGB tracker).")
    members = "".join(f" + `{m}`" for m in cfg.get("ensemble", []))
    size = cfg.get("student_search_size")
    size = f"a {size} px search crop" if size else "the teacher's resolution"
    return (f"- Distilled from `{cfg.get('teacher', '?')}`{members} (NanoTrack,\n"
            "  HonglinChu/SiamTrackers, Apache-2.0, RGB trackers; their responses averaged) fed "
            "the visible\n  image of registered visible + thermal pairs, the student fed the "
            f"thermal image; student\n  initialised from the teacher, at {size}, "
            f"pruning ratio {cfg.get('prune', {}).get('ratio', '?')}.")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--recipe", default="config/distill_default.yaml",
                   help="the recipe named in the card (default: %(default)s)")
    p.add_argument("--baseline", action="append", default=[],
                   help="another model of ours to score beside it (repeatable)")
    p.add_argument("--peer", action="append", default=[],
                   help="a peer tracker (opencv:...) scored on the real sequences (repeatable)")
    p.add_argument("--suite", default=None,
                   help="a folder of real thermal sequences (the dev suite)")
    p.add_argument("--frames", type=int, default=150)
    args = p.parse_args()

    ours = [resolve(s, backend="onnxruntime") for s in [args.checkpoint, *args.baseline]]
    extra = {r.name: {"params (M)": round(r.params / 1e6, 3), "MACs (G)": round(r.macs / 1e9, 3)}
             for r in ours}
    tables = []
    if args.suite:
        peers = [resolve(s) for s in args.peer]
        seqs = load_sequences(Path(args.suite))
        rep = evaluate({r.name: r.single for r in ours + peers}, seqs, extra_columns=extra)
        tables.append(f"### Real thermal sequences (`{Path(args.suite).name}`: "
                      f"{len(seqs)} videos, one run)\n\n{rep.markdown_table()}\n"
                      f"Success per sequence:\n\n{rep.sequence_table()}")
    synthetic = [generate_sequence(SyntheticConfig(seed=s, num_frames=args.frames, height=256,
                                                   width=320)).as_sequence("tir", 0)
                 for s in HELD_OUT_SEEDS]
    rep_syn = evaluate({r.name: r.single for r in ours}, synthetic, extra_columns=extra)
    tables.append(f"### Held-out synthetic thermal sequences (seeds {HELD_OUT_SEEDS[0]}-"
                  f"{HELD_OUT_SEEDS[-1]}, {args.frames} frames, 320x256 mono16)\n\n"
                  + rep_syn.markdown_table())

    meta = read_metadata(args.checkpoint)
    prov = meta.get("provenance", {})
    cfg = prov.get("config", {})
    tracker = meta.get("tracker", {})
    data = cfg.get("data", [])
    only_synthetic = bool(data) and all(d.get("kind") == "synthetic" for d in data)
    card = f"""# Model card: `{Path(args.checkpoint).name}`

The default model of `tir_tracker_core` (used when no model is given).

## How it was made
- Architecture: `{meta['model']['name']}` (MobileNetV3-style backbone, pixel-wise correlation,
  anchor-free BAN head); {extra[ours[0].name]['params (M)']} M parameters,
  {extra[ours[0].name]['MACs (G)']} GMACs per template + search pass.
{_origin(prov, cfg)}
- Training data: {_data_summary(data)}; sources as trained:
  `{json.dumps(data)}`.
- Frozen parameter prefixes: `{cfg.get('optim', {}).get('freeze', [])}`; steps:
  {prov.get('steps', '?')}; seed {prov.get('seed', '?')}; git commit {prov.get('git_commit', '?')}.
- Command: `tir-tracker {prov.get('command', 'train')} --config {args.recipe}` (recipe in that file).
- Tracker settings stored with it: `{json.dumps(tracker)}` (other fields: the
  `TrackerConfig` defaults).

## Scores (measured by `scripts/model_card.py`, ONNX Runtime backend, {platform.machine()})

{chr(10).join(tables)}
FPS figures were measured on a shared 2-core CPU while other jobs ran; compare them only
within one table.

## Intended use and limits
Single- and multi-target tracking in 8/16-bit thermal video after the user gives the initial
boxes; a lost target is searched for over the whole frame and re-acquired with its id. Not a
detector: it never starts a track by itself.{" Trained on synthetic data only: expect lower accuracy on real footage whose targets look unlike the generator's people and vehicles." if only_synthetic else ""}
Boxes never get a side under `min_size` ({tracker.get('min_size', '?')} px): a target smaller
than that is boxed too large.
"""
    Path(args.out).write_text(card)
    print(card)
    return 0


if __name__ == "__main__":
    sys.exit(main())
