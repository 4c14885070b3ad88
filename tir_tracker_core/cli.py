"""``tir-tracker``: one command, thin subcommands over library functions.

Argument parsing lives here only; every handler calls into the library and prints results.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .specs import DEFAULT_MODEL, MODEL_SPECS, VALID_SPECS

_MODEL_HELP = " | ".join(MODEL_SPECS)

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from .api import load_tracker
    from .data.synthetic import SyntheticConfig, generate_sequence
    from .draw import VideoSink, annotate, given_tracks, label
    from .eval.metrics import evaluate_sequence

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seq = generate_sequence(SyntheticConfig(seed=args.seed, num_frames=args.frames,
                                            height=256, width=320, num_targets=args.targets))
    tracker = load_tracker(args.model, backend=args.backend, device=args.device)
    print(f"demo: synthetic thermal sequence, {len(seq)} frames of 320x256 mono16, "
          f"{args.targets} targets, model {args.model!r} on backend {tracker.backend_name}")
    first = seq.tir_frame(0)
    boxes = seq.boxes  # (targets, frames, 4)
    ids = tracker.init(first, [tuple(b) for b in boxes[:, 0]])
    preds = {i: [boxes[k, 0]] for k, i in enumerate(ids)}
    sink = VideoSink(out)
    sink.write(annotate(first, given_tracks(ids, boxes[:, 0]), boxes[:, 0],
                        tracker.frame_cfg), 0)
    times = []
    for f in range(1, len(seq)):
        frame = seq.tir_frame(f)
        t0 = time.perf_counter()
        tracks = tracker.update(frame)
        times.append(time.perf_counter() - t0)
        for t in tracks:
            preds[t.id].append(np.array(t.box))
        if f % args.print_every == 0 or f == len(seq) - 1:
            desc = "  ".join(f"#{t.id} ({t.box[0]:.0f},{t.box[1]:.0f},{t.box[2]:.0f},"
                             f"{t.box[3]:.0f}) {label(t).partition(' ')[2]}" for t in tracks)
            print(f"frame {f:4d}: {desc}")
        sink.write(annotate(frame, tracks, boxes[:, f], tracker.frame_cfg), f)
    sink.close()
    results = {"fps": float(1.0 / np.mean(times)), "frames": len(seq), "targets": {}}
    for k, i in enumerate(ids):
        s = evaluate_sequence(np.array(preds[i]), boxes[k])
        results["targets"][str(i)] = {"success": s.success, "precision": s.precision,
                                      "norm_precision": s.norm_precision}
        print(f"target {i}: success {s.success:.3f}  precision {s.precision:.3f}  "
              f"norm. precision {s.norm_precision:.3f}")
    print(f"FPS {results['fps']:.1f} ({len(ids)} targets per frame, "
          f"{1e3 * np.mean(times):.1f} ms/frame, {tracker.backend_name} on {tracker.device})")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"annotated video: {sink.path}")
    print(f"results: {out / 'results.json'}")
    return 0


# --------------------------------------------------------------------------- track


def _floats(text: str) -> tuple[float, ...]:
    """Comma-separated numbers (spaces ignored); ValueError if one is not a number."""
    return tuple(float(v) for v in text.replace(" ", "").split(","))


def _parse_box(text: str) -> tuple[float, float, float, float]:
    try:
        vals = _floats(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"box {text!r} must be x,y,w,h numbers") from None
    if len(vals) != 4:
        raise argparse.ArgumentTypeError(f"box {text!r} must have 4 values x,y,w,h")
    return vals  # type: ignore[return-value]


def _parse_scales(text: str) -> tuple[float, ...]:
    try:
        vals = _floats(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"scales {text!r} must be numbers, e.g. 0.8,1,1.2") from None
    if min(vals) <= 0:
        raise argparse.ArgumentTypeError(f"scales {text!r} must be positive, e.g. 0.8,1,1.2")
    return vals


def _iter_source(src: str):
    """Frames of an image folder (natural order), a video file (grey when its content is grey)
    or a raw ``.cptv`` thermal video, as read (16-bit kept)."""
    from .data.video import open_frame_source

    yield from open_frame_source(Path(src))


def _announced_frames(src: str) -> int | None:
    """The number of frames ``src`` announces: a video container's claim (``None`` when it
    gives none), the images of a folder, the frames of a ``.cptv`` file. Raises
    ``DatasetError`` (exit 2) when the source cannot be opened."""
    from .data.video import VideoFrameLoader, open_frame_source

    source = open_frame_source(Path(src))
    if isinstance(source, VideoFrameLoader):
        return source.container_frames() or None
    return len(source)


def _track_tracker(args: argparse.Namespace) -> Any:
    """The multi-target tracker of ``track``: one of our models, or an OpenCV peer (one
    single-target OpenCV tracker per box) to compare with."""
    from .api import load_tracker
    from .specs import parse_spec

    if parse_spec(args.model, args.backend).is_ours:
        return load_tracker(args.model, backend=args.backend, device=args.device)
    from .eval.resolve import resolve

    return resolve(args.model, count_ops=False).multi()


def cmd_track(args: argparse.Namespace) -> int:
    from .draw import VideoSink, annotate, given_tracks
    from .errors import TrackerInputError
    from .progress import bar, on_terminal

    announced = _announced_frames(args.source)
    tracker = _track_tracker(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sink = VideoSink(out)
    frame_cfg = getattr(tracker, "frame_cfg", None)  # ours; OpenCV peers see the default view
    rows = []
    skipped = 0
    read = 0
    times = []
    frames = bar(_iter_source(args.source), total=announced, desc="track", enabled=on_terminal())
    for i, frame in enumerate(frames):
        read += 1
        try:
            if i == 0:
                ids = tracker.init(frame, args.box)
                tracks = given_tracks(ids, args.box)
            else:
                t0 = time.perf_counter()
                tracks = tracker.update(frame)
                times.append(time.perf_counter() - t0)
        except TrackerInputError as e:
            if i == 0:
                frames.close()
                raise  # the given boxes or the first frame are unusable: error, exit 2
            skipped += 1
            log.warning("frame %d skipped: %s", i, e)
            continue
        for t in tracks:
            rows.append({"frame": i, "id": t.id, "box": list(t.box), "score": t.score,
                         "state": t.state.value})
        if not args.no_video:
            sink.write(annotate(frame, tracks, cfg=frame_cfg), i)
    frames.close()
    sink.close()
    if read == 0:
        from .errors import DatasetError

        raise DatasetError(f"no frame could be read from {args.source}; the file is empty or "
                           "damaged")
    (out / "tracks.json").write_text(json.dumps(rows) + "\n")
    fps = 1.0 / np.mean(times) if times else float("nan")
    of = f" of the {announced} announced" if announced and announced != read else ""
    print(f"{read}{of} frames read, {len(rows)} track records, {skipped} frames skipped, "
          f"FPS {fps:.1f}")
    if announced and read < announced:
        print(f"warning: {args.source} announces {announced} frames but only {read} could be "
              f"read: the file is truncated or damaged; tracks cover frames 0-{read - 1}",
              file=sys.stderr)
    print(f"tracks: {out / 'tracks.json'}" + ("" if args.no_video else f"  video: {sink.path}"))
    return 0


# --------------------------------------------------------------------------- eval / bench


def _add_tracker_args(sp: argparse.ArgumentParser, tracker_help: str, out: str,
                      writes: str) -> None:
    """``--tracker`` (repeated), ``--out`` and the backend options of eval / bench / probe."""
    sp.add_argument("--tracker", action="append", required=True, metavar="SPEC", help=tracker_help)
    sp.add_argument("--out", default=out, help=f"output folder ({writes}) (default: %(default)s)")
    _add_backend_args(sp, "inference backend of our models without @BACKEND")
    sp.add_argument("--threads", type=int, default=None,
                    help="inference threads of every tracker in the run: our backends' "
                         "(per network run, one run at a time) and OpenCV's "
                         "(cv2.setNumThreads) for the peers (default: each library's own: "
                         "ours 1 per run, with many targets up to one run per core side by "
                         "side; OpenCV one per core)")


def _add_variant_arg(sp: argparse.ArgumentParser) -> None:
    """``--variant`` of eval / bench / probe: our trackers run again with TrackerConfig
    overrides."""
    sp.add_argument("--variant", type=_parse_variant, action="append", default=[],
                    help="NAME:key=value[,...]: also run each of our --tracker SPECs with "
                    "these TrackerConfig fields, named 'SPEC-NAME NAME' (repeatable), e.g. "
                    "off:redetect=false")


def _add_backend_args(sp: argparse.ArgumentParser, what: str) -> None:
    """``--backend`` and ``--device``: the same defaults in every subcommand."""
    from .backends.auto import cpu_backend

    sp.add_argument("--backend", default=cpu_backend(),
                    help=f"{what}: torch | onnxruntime | tensorrt | auto (default: %(default)s, "
                         "the fastest installed for the CPU)")
    sp.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: %(default)s)")


def _resolve_all(specs: list[str], args: argparse.Namespace,
                 base: dict[str, Any] | None = None) -> list:
    """Each SPEC resolved, followed (ours only) by one tracker per ``--variant``, named
    ``NAME VARIANT``. ``base``: tracker-config overrides of ours, under the variants'."""
    from .backends import thread_options
    from .eval.resolve import resolve
    from .specs import parse_spec

    out = []  # (parsed spec, resolved tracker)
    for s in specs:
        p = parse_spec(s, args.backend)
        opts = thread_options(p.backend, getattr(args, "threads", None))
        out.append((p, resolve(s, backend=args.backend, device=args.device,
                               backend_options=opts,
                               tracker_overrides=base if p.is_ours else None)))
        if not p.is_ours:
            continue
        for name, fields in getattr(args, "variant", None) or []:
            r = resolve(s, backend=args.backend, device=args.device, backend_options=opts,
                        tracker_overrides={**(base or {}), **fields})
            r.name = f"{r.name} {name}"
            out.append((p, r))
    _tell_apart(out)
    return [r for _, r in out]


def _tell_apart(resolved: list) -> None:
    """Checkpoints of one file name in different folders (``runs/a/final.safetensors``,
    ``runs/b/final.safetensors``) get their folder in their name, so no result overwrites
    another; names still equal after that are an error."""
    from .errors import ConfigError

    names = [r.name for _, r in resolved]
    for p, r in resolved:
        if names.count(r.name) > 1 and p.kind in ("checkpoint", "nanotrack"):
            r.name = f"{p.path.parent.name}/{r.name}"
    names = [r.name for _, r in resolved]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"trackers {twice} would share one name in the results; give each "
                          "--tracker a different file name or folder")


def cmd_eval(args: argparse.Namespace) -> int:
    from .data.benchmarks import load_sequences
    from .eval.runner import evaluate
    from .eval.sre import OTB_SRE
    from .progress import on_terminal

    sequences = load_sequences(Path(args.data), gt=args.gt, modality=args.modality)
    if args.max_frames:
        sequences = [s.head(args.max_frames) for s in sequences]
    resolved = _resolve_all(args.tracker, args)
    extra = {r.name: {"params (M)": None if r.params is None else round(r.params / 1e6, 3),
                      "MACs (G)": None if r.macs is None else round(r.macs / 1e9, 3)}
             for r in resolved}
    out = Path(args.out)
    report = evaluate({r.name: r.single for r in resolved}, sequences, out_dir=out,
                      extra_columns=extra, progress=on_terminal(),
                      perturbations=OTB_SRE if args.sre else ())
    print(report.markdown_table())
    table = report.sequence_table()
    if table:
        print(f"Success per sequence:\n\n{table}")
    if args.sre:
        print(report.sre_tables())
    print(f"results: {out / 'results.json'}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .data.benchmarks import load_sequences
    from .errors import ConfigError
    from .eval.bench import bench
    from .progress import on_terminal
    from .specs import parse_spec

    seqs = load_sequences(Path(args.data))
    seq = seqs[0]
    if len(seqs) > 1:
        log.info("bench uses the first sequence, %s", seq.name)
    try:
        counts = tuple(int(v) for v in args.targets.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise ConfigError(f"--targets {args.targets!r} must be comma-separated positive whole "
                          "numbers, e.g. 1,4,16")
    if args.rounds < 1:
        raise ConfigError(f"--rounds {args.rounds} must be at least 1")
    # the bench's targets are jittered copies of one object, not distinct objects: the
    # exclusive-assignment rule would report all but one lost (and time their re-detection),
    # so it is off unless a --variant sets it
    base = {"exclusion_iou": 1.0}
    resolved = _resolve_all(args.tracker, args, base)
    reference = args.reference  # a tracker's name or SPEC; a new SPEC is benchmarked too
    if reference is not None and reference not in {r.name for r in resolved}:
        if reference in args.tracker:
            reference = parse_spec(reference, args.backend).name
        else:
            added = _resolve_all([reference], args, base)
            resolved += added
            reference = added[0].name
    result = bench({r.name: r.multi for r in resolved}, seq, target_counts=counts,
                   out_dir=Path(args.out), reference=reference,
                   max_frames=args.max_frames, warmup=args.warmup, rounds=args.rounds,
                   progress=on_terminal(), lost=args.lost)
    print(result.markdown_table())
    print(f"results: {Path(args.out) / 'bench.json'}")
    return 0


def _parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    import yaml

    name, sep, rest = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(
            f"variant {text!r} must be NAME:key=value[,key=value...] (TrackerConfig fields), "
            "e.g. off:exclusion_iou=1.0")
    fields: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise argparse.ArgumentTypeError(f"variant {text!r}: {item!r} is not key=value")
        fields[key.strip()] = yaml.safe_load(value)
    return name, fields


def _parse_seeds(text: str) -> range:
    lo, sep, hi = text.partition("-")
    try:
        return range(int(lo), int(hi) + 1) if sep else range(int(lo), int(lo) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds {text!r} must be N or FIRST-LAST") from None


def _config_variants(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """``--model``'s tracker builder, and one builder per ``--variant`` beside the model's own
    config: every variant makes fresh Trackers over the same backend (the network holds no
    state)."""
    from .api import build_trackers

    trackers = build_trackers(args.model, backend=args.backend, device=args.device)
    variants = {"model's config": trackers}
    variants.update((name, trackers.with_overrides(fields)) for name, fields in args.variant)
    return trackers, variants


def cmd_multitarget(args: argparse.Namespace) -> int:
    from .eval.multitarget import evaluate_multitarget, markdown_table
    from .progress import on_terminal

    trackers, variants = _config_variants(args)
    print(f"multitarget: {len(args.seeds)} synthetic sequences of {args.frames} frames, "
          f"{args.targets} targets each, model {args.model!r} on {trackers.backend.name}")
    results = evaluate_multitarget(variants, args.seeds, targets=args.targets,
                                   frames=args.frames, progress=on_terminal())
    print(markdown_table(results))
    return 0


def cmd_redetect(args: argparse.Namespace) -> int:
    from .eval.redetect import evaluate_redetect, markdown_table

    trackers, variants = _config_variants(args)
    print(f"redetect: {len(args.seeds)} synthetic sequences of {args.frames} frames, "
          f"{args.targets} targets with {args.dropouts} dropouts each, model {args.model!r} "
          f"on {trackers.backend.name}")
    print(markdown_table(evaluate_redetect(variants, args.seeds, targets=args.targets,
                                           frames=args.frames, dropouts=args.dropouts)))
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from .data.stills import load_stills
    from .eval.probe import DEFAULT_SCALES, markdown_table, save_json, scale_probe

    items = load_stills(Path(args.data), min_side=args.min_side, max_boxes=args.max_boxes,
                        every=args.every)
    resolved = _resolve_all(args.tracker, args)
    scales = args.scales or DEFAULT_SCALES
    results = [scale_probe(r.name, r.multi, items, scales=scales, updates=args.updates,
                           template=args.template) for r in resolved]
    print(markdown_table(results))
    print(f"results: {save_json(results, Path(args.out) / 'probe.json')}")
    return 0


# --------------------------------------------------------------------------- models


def cmd_info(args: argparse.Namespace) -> int:
    from .api import load_model
    from .config import to_dict
    from .models import count_macs, count_params

    net, tcfg, fcfg, info = load_model(args.model)
    print(json.dumps({"model": to_dict(net.cfg), "tracker": to_dict(tcfg),
                      "frame": to_dict(fcfg), "info": info, "params": count_params(net),
                      "macs": count_macs(net)}, indent=2, default=str))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .api import nanotrack_tracker_config
    from .checkpoint import Checkpoint, save_checkpoint
    from .config import FrameConfig
    from .models.nanotrack_import import load_nanotrack

    net = load_nanotrack(args.pth)
    path = save_checkpoint(Checkpoint(net.cfg, net.state_dict(),
                                      nanotrack_tracker_config(net.cfg.name), FrameConfig(),
                                      {"imported_from": str(args.pth), "source": "NanoTrack "
                                       "(HonglinChu/SiamTrackers, Apache-2.0)"}), args.out)
    print(path)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``tir-tracker export``: export a model spec's networks; prints the export folder."""
    from .api import load_model
    from .backends.export import cached_export, export_onnx

    model, _, _, info = load_model(args.model)
    kw = dict(opset=args.opset, dynamic_batch=not args.static_batch, fold_bn=not args.no_fold_bn,
              verify=not args.no_verify)
    if args.out:
        exp = export_onnx(model, args.out, force=args.force, **kw)
    else:
        exp = cached_export(model, args.cache_dir, force=args.force, **kw)
    log.info("%s exported: %s, %s (parity %s)", info["name"], exp.template, exp.track,
             exp.parity)
    print(exp.directory)
    return 0


# --------------------------------------------------------------------------- train / distill


def _print_on_rank0(path: Path) -> None:
    """The final path as the last line, printed once under torchrun (by rank 0)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(path)


def cmd_train(args: argparse.Namespace) -> int:
    from .training import load_train_config, train

    _print_on_rank0(train(load_train_config(args.config, args.overrides), args.out,
                          resume=args.resume))
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from .distill import distill, load_distill_config

    _print_on_rank0(distill(load_distill_config(args.config, args.overrides), args.out,
                            resume=args.resume))
    return 0


def _add_run_args(sp: argparse.ArgumentParser) -> None:
    """``--config``, ``--out``, ``--set`` and ``--resume`` of train / distill."""
    sp.add_argument("--config", default=None, help="YAML config file")
    sp.add_argument("--out", required=True,
                    help="output folder (checkpoints, logs, final model)")
    sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value, e.g. --set optim.steps=500 or "
                         "--set data.0.count=8 (repeatable; values are read as YAML)")
    sp.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                    help="resume from the newest checkpoint in --out (default: on)")


# --------------------------------------------------------------------------- main


DESCRIPTION = ("Track targets in thermal infrared video with small Siamese trackers; evaluate, "
               "benchmark, train, distil and export them. New here? Run 'tir-tracker demo'.")
EPILOG = ("Run 'tir-tracker COMMAND -h' for a command's options. Exit status: 0 done, 2 bad "
          "input (the message says what and how to fix it).")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tir-tracker", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_tracking_commands, _add_evaluation_commands, _add_synthetic_commands,
                _add_tune_command, _add_probe_command, _add_model_commands, _add_run_commands,
                _add_pseudolabel_command, _add_export_command):
        add(sub)
    return p


def _parse_grid(items: list[str]) -> dict[str, list[Any]]:
    import yaml

    grid = {}
    for it in items:
        k, _, vals = it.partition("=")
        grid[k.strip()] = [yaml.safe_load(v) for v in vals.split(",")]
    return grid


def cmd_tune(args: argparse.Namespace) -> int:
    from .config import to_dict
    from .data.benchmarks import load_sequences
    from .errors import ConfigError
    from .eval.tune import (DEFAULT_EXTRA, DEFAULT_GRID, cached_sequences, grid_configs,
                            setting_name, tune, write_tuned_checkpoint)
    from .progress import on_terminal
    from .specs import load_model, model_spec

    grid = _parse_grid(args.grid) if args.grid else DEFAULT_GRID
    extra = ([fields for _, fields in args.extra] if args.extra
             else ([] if args.grid else DEFAULT_EXTRA))
    seqs = cached_sequences(load_sequences(Path(args.data)))
    results = []
    for model in args.model or [DEFAULT_MODEL]:
        _, tcfg, _, _ = load_model(model_spec(model, args.backend))
        settings = grid_configs(grid, extra, to_dict(tcfg))
        if len(settings) > args.max_settings:
            raise ConfigError(f"{len(settings)} settings exceed --max-settings "
                              f"{args.max_settings}; shrink --grid or raise --max-settings")
        res = tune(model, seqs, settings, args.backend, args.threads, on_terminal(),
                   sre=args.sre)
        print(res.markdown(), flush=True)
        results.append(res)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.json").write_text(json.dumps([r.to_dict() for r in results], indent=2))
    (out / "tune.md").write_text("\n".join(r.markdown() for r in results))
    if args.write_tuned:
        if len(results) != 1:
            raise ConfigError("--write-tuned needs exactly one --model")
        best = results[0].settings[results[0].best_overall()]
        path = write_tuned_checkpoint(results[0].model, best, args.write_tuned, results[0])
        print(f"tuned checkpoint ({setting_name(best)}): {path}")
    print(f"results: {out / 'tune.json'}")
    return 0


def _add_tune_command(sub: Any) -> None:
    """``tune``: leave-one-sequence-out search of tracker settings."""
    sp = sub.add_parser(
        "tune", help="leave-one-sequence-out search of tracker settings",
        description="Each held-out sequence gets the setting with the best mean success over "
                    "the other sequences; its held-out success is printed beside the model's "
                    "own setting, with the spread over folds.")
    sp.add_argument("data", help="a folder of sequences (any eval layout), e.g. a dev suite")
    sp.add_argument("--model", action="append", default=None,
                    help=f"model SPEC of ours, repeatable ({_MODEL_HELP}; default: default)")
    sp.add_argument("--grid", action="append", default=None, metavar="KEY=V1,V2,...",
                    help="a TrackerConfig field and its values, full factorial over every "
                         "--grid (default: penalty_k, window_influence, lr: 27 settings)")
    sp.add_argument("--extra", type=_parse_variant, action="append", default=None,
                    metavar="NAME:K=V[,K=V]", help="one more setting beside the grid "
                    "(default: min_size=4, context_amount=0.45, context_amount=0.55)")
    sp.add_argument("--max-settings", type=int, default=30,
                    help="refuse grids larger than this (default: %(default)s)")
    from .backends.auto import cpu_backend

    sp.add_argument("--backend", default=cpu_backend(),
                    help="inference backend on the CPU: torch | onnxruntime (default: "
                         "%(default)s, the fastest installed)")
    sp.add_argument("--threads", type=int, default=1,
                    help="inference threads per tracker (default: %(default)s)")
    sp.add_argument("--out", default="out/tune",
                    help="output folder (tune.json, tune.md) (default: %(default)s)")
    sp.add_argument("--sre", action="store_true",
                    help="choose on OTB's spatial robustness (SRE) success: every setting also "
                         "runs from the 12 perturbed first boxes of `eval --sre` (13x the time)")
    sp.add_argument("--write-tuned", type=Path, default=None, metavar="OUT.safetensors",
                    help="(one checkpoint model) write a copy carrying the setting best on all "
                         "sequences as its tracker config")
    sp.set_defaults(func=cmd_tune)


def _add_model_args(sp: argparse.ArgumentParser, specs: str = _MODEL_HELP) -> None:
    sp.add_argument("--model", default=DEFAULT_MODEL, help=f"{specs} (default: %(default)s)")
    _add_backend_args(sp, "inference backend")


def _add_tracking_commands(sub: Any) -> None:
    """``demo`` and ``track``."""
    sp = sub.add_parser("demo", help="track a synthetic thermal sequence with the shipped model")
    _add_model_args(sp)
    sp.add_argument("--out", default="out/demo",
                    help="output folder (annotated video, results.json) (default: %(default)s)")
    sp.add_argument("--frames", type=int, default=150,
                    help="length of the synthetic sequence (default: %(default)s)")
    sp.add_argument("--targets", type=int, default=2,
                    help="moving targets in it, tracked at once (default: %(default)s)")
    sp.add_argument("--seed", type=int, default=7,
                    help="random seed of the sequence (default: %(default)s)")
    sp.add_argument("--print-every", type=int, default=15,
                    help="print the tracks every N frames (default: %(default)s)")
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("track", help="track targets in a video file or image folder")
    sp.add_argument("source", help="image folder, video file (.avi, .mp4, .mkv, ...) or raw "
                    "16-bit .cptv thermal video")
    sp.add_argument("--box", type=_parse_box, action="append", required=True,
                    help="initial box x,y,w,h on the first frame (repeat for several targets)")
    _add_model_args(sp, " | ".join(VALID_SPECS) + "; an OpenCV peer runs one tracker per box")
    sp.add_argument("--out", default="out/track",
                    help="output folder (tracks.json, annotated video) (default: %(default)s)")
    sp.add_argument("--no-video", action="store_true", help="do not write the annotated video")
    sp.set_defaults(func=cmd_track)


def _add_evaluation_commands(sub: Any) -> None:
    """``eval`` and ``bench``: several trackers on the same frames."""
    tracker_help = " | ".join(VALID_SPECS) + "; ours take an optional @BACKEND suffix"
    sp = sub.add_parser("eval", help="one-pass evaluation (LSOTB-TIR rules) of several trackers")
    sp.add_argument("data", help="a sequence folder, a folder of sequences (layout detected) "
                    "or a video file")
    _add_tracker_args(sp, tracker_help, "out/eval",
                      "results.json / .md, plots, predictions")
    sp.add_argument("--gt", type=Path, default=None, metavar="FILE",
                    help="box file of a video file DATA (default: groundtruth.txt beside it)")
    sp.add_argument("--max-frames", type=int, default=None, help="cut sequences (quick checks)")
    sp.add_argument("--modality", choices=("tir", "rgb"), default="tir",
                    help="which half of a paired visible + thermal sequence (VTUAV layout) is "
                         "tracked and scored (default: %(default)s)")
    sp.add_argument("--sre", action="store_true",
                    help="also run every tracker from OTB's 12 perturbed first boxes (centre "
                         "shifted 10 %% of the box, size x0.8-1.2) in the same pass and report "
                         "the spatial robustness (SRE) success; 13x the tracking time")
    _add_variant_arg(sp)
    sp.set_defaults(func=cmd_eval)

    sp = sub.add_parser("bench", help="per-frame latency / FPS for 1, 4, 16 ... targets")
    sp.add_argument("data", help="a sequence folder (the first sequence is used)")
    _add_tracker_args(sp, tracker_help, "out/bench", "bench.json, latency plot")
    sp.add_argument("--targets", default="1,4,16", help="comma-separated target counts")
    sp.add_argument("--reference", default=None,
                    help="tracker (name or SPEC) the ratios refer to; benchmarked even if it "
                         "is not a --tracker")
    sp.add_argument("--max-frames", type=int, default=100, help="timed frames per run")
    sp.add_argument("--warmup", type=int, default=5, help="untimed frames per run")
    sp.add_argument("--rounds", type=int, default=1,
                    help="repeat every run this many times, interleaved; frames are pooled")
    sp.add_argument("--lost", type=int, default=0,
                    help="also run every target count above N with N of its targets lost for "
                         "good (the cost of searching for lost targets; default: 0, none)")
    _add_variant_arg(sp)
    sp.set_defaults(func=cmd_bench)


def _add_synthetic_commands(sub: Any) -> None:
    """``multitarget`` and ``redetect``: rules measured on synthetic sequences."""
    sp = sub.add_parser("multitarget", help="multi-target rules on synthetic sequences: mean "
                        "success and collapsed tracks, for tracker-config variants")
    _add_synthetic_args(sp, "200-214", 4, 150, "off:exclusion_iou=1.0")
    sp.set_defaults(func=cmd_multitarget)

    sp = sub.add_parser("redetect", help="re-acquisition of lost targets on synthetic "
                        "sequences where targets vanish and show again elsewhere")
    _add_synthetic_args(sp, "300-305", 3, 200, "off:redetect=false")
    sp.add_argument("--dropouts", type=int, default=2,
                    help="times each target vanishes (default: 2)")
    sp.set_defaults(func=cmd_redetect)


def _add_synthetic_args(sp: argparse.ArgumentParser, seeds: str, targets: int, frames: int,
                        example: str) -> None:
    """The model, sequences and config variants of a synthetic-sequence command."""
    _add_model_args(sp)
    sp.add_argument("--seeds", type=_parse_seeds, default=_parse_seeds(seeds),
                    help=f"synthetic sequence seeds, N or FIRST-LAST (default: {seeds})")
    sp.add_argument("--targets", type=int, default=targets,
                    help="targets per sequence (default: %(default)s)")
    sp.add_argument("--frames", type=int, default=frames,
                    help="frames per sequence (default: %(default)s)")
    sp.add_argument("--variant", type=_parse_variant, action="append", default=[],
                    help="NAME:key=value[,...]: also run with these TrackerConfig fields "
                    f"(repeatable), e.g. {example}")


def _add_probe_command(sub: Any) -> None:
    """``probe``: the scale-convergence probe on still images."""
    sp = sub.add_parser("probe", help="scale-convergence probe on annotated thermal images "
                        "(does the tracker correct a wrong box size?)")
    sp.add_argument("data", help="annotated thermal stills: COCO JSON (a file, or a folder "
                    "with annotations/*.json, e.g. HIT-UAV), LLVIP layout (infrared/ + "
                    "Annotations/), YOLO layout (images/ + labels_yolo/ or labels/), Pascal VOC "
                    "(Annotations/ + JPEGImages/), or a tracking sequence / benchmark (every "
                    "--every-th frame as a still)")
    _add_tracker_args(sp, f"ours only ({_MODEL_HELP})[@BACKEND]", "out/probe", "probe.json")
    sp.add_argument("--updates", type=int, default=8, help="updates on each still image")
    sp.add_argument("--scales", type=_parse_scales, default=None,
                    help="box sizes tried, times the true box (comma-separated; default "
                    "0.8,1,1.25)")
    sp.add_argument("--template", action="store_true",
                    help="initialise on the scaled box (a loose or tight first box: the "
                    "template is cut around it) instead of resetting the size of a tracker "
                    "initialised on the true box")
    sp.add_argument("--min-side", type=float, default=20.0, help="smallest box side used, px")
    sp.add_argument("--max-boxes", type=int, default=None, help="use at most N boxes")
    sp.add_argument("--every", type=int, default=15,
                    help="tracking sequences: probe every N-th annotated frame")
    _add_variant_arg(sp)
    sp.set_defaults(func=cmd_probe)


def _add_model_commands(sub: Any) -> None:
    """``info`` and ``import-nanotrack``."""
    sp = sub.add_parser("info", help="print a model's config, parameters and MACs")
    sp.add_argument("model", help=_MODEL_HELP)
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("import-nanotrack", help="convert a NanoTrack .pth to our checkpoint")
    sp.add_argument("pth", help="a NanoTrack v1/v2/v3 checkpoint (nanotrackv*.pth from "
                    "HonglinChu/SiamTrackers)")
    sp.add_argument("--out", required=True, help="output .safetensors path")
    sp.set_defaults(func=cmd_import)


def _add_run_commands(sub: Any) -> None:
    """``train`` and ``distill`` (resumable runs)."""
    sp = sub.add_parser(
        "train", help="train a Siamese tracker on thermal sequences",
        description="Supervised Siamese training (template/search pairs, anchor-free labels). "
                    "Resumes from OUT/checkpoints after a kill; run under torchrun for several "
                    "processes. Prints the final checkpoint's path as the last line.")
    _add_run_args(sp)
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser(
        "distill", help="distil an RGB tracker into a pruned thermal tracker",
        description="Cross-modal compression distillation: a frozen RGB teacher on visible "
                    "crops teaches a (pruned) student on the paired thermal crops. Resumes "
                    "after a kill; run under torchrun for several processes. Prints the final "
                    "student checkpoint's path as the last line.")
    _add_run_args(sp)
    sp.set_defaults(func=cmd_distill)


def cmd_pseudolabel(args: argparse.Namespace) -> int:
    import dataclasses

    from .backends import thread_options
    from .data.paired import find_video_clips
    from .data.tracks import write_tracks
    from .errors import ConfigError
    from .eval.resolve import resolve
    from .progress import on_terminal
    from .specs import parse_spec
    from .pseudolabel import PseudoLabelConfig, pseudo_label_videos

    cfg = PseudoLabelConfig(modality=args.modality, window=args.window,
                            proposals=args.proposals, contrast=args.contrast,
                            fb_iou=args.fb_iou, min_frames=args.min_frames)
    clips = find_video_clips(Path(args.data))
    if args.modality == "rgb" and any(c.rgb is None for c in clips):
        raise ConfigError(f"{args.data} holds thermal video only; cross-modal labels need "
                          "paired video (infrared/ + visible/), or pass --modality tir")
    opts = thread_options(parse_spec(args.tracker, args.backend).backend, args.threads)
    tracker = resolve(args.tracker, backend=args.backend, device=args.device,
                      backend_options=opts, count_ops=False)
    t0 = time.perf_counter()
    tracks, stats = pseudo_label_videos(tracker.multi, clips, cfg, progress=on_terminal())
    seconds = time.perf_counter() - t0
    provenance = {"command": "pseudolabel", "data": str(args.data), "tracker": args.tracker,
                  "config": dataclasses.asdict(cfg), "stats": stats.as_dict(),
                  "seconds": round(seconds, 1)}
    path = write_tracks(Path(args.out), {c.name: c for c in clips}, tracks, provenance)
    frames = sum(c.frames for c in clips)
    print(f"{len(clips)} clips, {frames} frames, {stats.windows} windows: {stats.proposed} "
          f"proposals, {stats.kept} tracks kept, {stats.frames_labelled} frames labelled "
          f"({stats.frames_rejected} rejected by forward-backward disagreement) in "
          f"{seconds:.0f} s")
    print(f"tracks: {path}")
    return 0


def _add_pseudolabel_command(sub: Any) -> None:
    """``pseudolabel``: forward-backward-consistent tracks as training labels."""
    from .pseudolabel import PseudoLabelConfig

    d = PseudoLabelConfig()
    sp = sub.add_parser(
        "pseudolabel", help="label unlabelled video with forward-backward-consistent tracks",
        description="Objects that move (each window's first thermal frame against the "
                    "median of frames spread over the window) are proposed every --window "
                    "frames, tracked forward and back by --tracker (on the visible half of paired "
                    "video with --modality rgb: cross-modal labels for the thermal frames; "
                    "on the thermal frames with --modality tir: self-training), and kept "
                    "where both directions agree. Writes OUT/tracks.json, which train and "
                    "distill read as kind: sequences (thermal) or kind: paired.")
    sp.add_argument("data", help="paired videos (infrared/ + visible/, e.g. M3SVD), a folder "
                    "of thermal videos or raw .cptv clips, or one such file")
    sp.add_argument("--tracker", required=True, metavar="SPEC",
                    help=" | ".join(VALID_SPECS) + "; the labeller (the RGB teacher for "
                    "--modality rgb)")
    sp.add_argument("--modality", choices=("rgb", "tir"), default=d.modality,
                    help="the frames the tracker follows (default: %(default)s)")
    sp.add_argument("--window", type=int, default=d.window,
                    help="frames per forward / backward pass (default: %(default)s)")
    sp.add_argument("--proposals", type=int, default=d.proposals,
                    help="objects started per window, at most (default: %(default)s)")
    sp.add_argument("--contrast", type=float, default=d.contrast,
                    help="proposal contrast against the background (the window's median "
                         "frame), in robust standard deviations (default: %(default)s)")
    sp.add_argument("--fb-iou", type=float, default=d.fb_iou,
                    help="forward / backward IoU to keep a frame (default: %(default)s)")
    sp.add_argument("--min-frames", type=int, default=d.min_frames,
                    help="labelled frames a kept track needs (default: %(default)s)")
    sp.add_argument("--out", required=True, help="output folder (tracks.json)")
    _add_backend_args(sp, "inference backend of our labeller without @BACKEND")
    sp.add_argument("--threads", type=int, default=None, help="inference threads")
    sp.set_defaults(func=cmd_pseudolabel)


def _add_export_command(sub: Any) -> None:
    """``export``: ONNX graphs."""
    from .backends.export import DEFAULT_OPSET, default_cache_dir

    sp = sub.add_parser(
        "export", help="export a model to ONNX (template, track, backbone and head graphs)",
        description="Export a model to four ONNX graphs with a dynamic batch axis (template; "
                    "search backbone + head; and, for shared search canvases, the backbone and "
                    "the head apart), check them with onnx.checker and against PyTorch in ONNX "
                    "Runtime. Without --out the export goes to the cache the onnxruntime "
                    "backend reads. Prints the export folder.")
    sp.add_argument("model", help=_MODEL_HELP)
    sp.add_argument("--out", help="export folder (default: the cache, keyed by the weights)")
    sp.add_argument("--cache-dir", help=f"cache root (default: {default_cache_dir()})")
    sp.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                    help="ONNX opset (default: %(default)s)")
    sp.add_argument("--static-batch", action="store_true", help="fix the batch axis at 1")
    sp.add_argument("--no-fold-bn", action="store_true", help="keep BatchNorm layers")
    sp.add_argument("--no-verify", action="store_true", help="skip the parity run")
    sp.add_argument("--force", action="store_true", help="export even if the folder is current")
    sp.set_defaults(func=cmd_export)


def _missing_dirs(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    return missing


def _remove_if_empty(dirs: list[Path]) -> None:
    """Remove the folders of ``dirs`` (deepest first) that a failed run created and left empty."""
    for d in dirs:
        if not d.is_dir() or any(d.iterdir()):
            return
        d.rmdir()


def main(argv: list[str] | None = None) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .errors import TrackerError

    args = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose >= 2:  # FFmpeg's own decoder warnings too (data.video silences them)
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "24")
    out = getattr(args, "out", None)
    created = _missing_dirs(Path(out)) if out else []
    rc = 1
    try:
        with logging_redirect_tqdm():  # log lines print above a progress bar, not through it
            rc = int(args.func(args) or 0)
    except TrackerError as e:
        print(f"error: {e}", file=sys.stderr)
        rc = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        rc = 130
    finally:
        if rc != 0:
            _remove_if_empty(created)
    return rc


if __name__ == "__main__":
    sys.exit(main())
