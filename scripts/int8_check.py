#!/usr/bin/env python3
"""Is static INT8 quantization worth it on this CPU? Times a model's fused search + head graph
(``track.onnx``) in ONNX Runtime in FP32 and in four quantized forms, and prints the largest
output error of each (LAB_NOTES.md, "ONNX Runtime settings").

    python scripts/int8_check.py ../shared/data/tir/vottir_horse [--model default] [--runs 300]

Calibration crops are cut from every 10th annotated frame of the sequence around its ground truth by the
tracker's own crop rule (``backends.calibration``). Needs ``onnxruntime`` (its
``quantization`` package); writes the quantized graphs to a temporary folder only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tir_tracker_core.api import build_trackers  # noqa: E402
from tir_tracker_core.backends.calibration import calibration_crops  # noqa: E402
from tir_tracker_core.data import load_sequences  # noqa: E402


def _time(session, feed: dict, runs: int) -> float:
    for _ in range(20):
        session.run(None, feed)
    start = time.perf_counter()
    for _ in range(runs):
        session.run(None, feed)
    return (time.perf_counter() - start) / runs * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sequence", help="a tracking sequence (calibration crops)")
    ap.add_argument("--model", default="default", help="model SPEC (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=300, help="timed runs per graph")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    ort.set_default_logger_severity(3)  # the quantizer's graph warnings
    logging.getLogger().setLevel(logging.ERROR)
    builder = build_trackers(args.model, backend="onnxruntime")
    exported = builder.backend.exported
    seq = load_sequences(Path(args.sequence))[0]
    idx = [int(i) for i in seq.gt_frames[::10]]  # every 10th annotated frame
    zs, xs = calibration_crops([seq.frame(i) for i in idx], [seq.gt[i] for i in idx],
                               exported.model)
    zf = np.stack(builder.backend.template(zs)).astype(np.float32)

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    fp32 = ort.InferenceSession(str(exported.track), so, providers=["CPUExecutionProvider"])
    inputs = fp32.get_inputs()  # "zf" (template features) and "x" (search crop)

    def feed(k: int) -> dict:
        return {i.name: (xs[k:k + 1] if i.name == "x" else zf[k:k + 1]) for i in inputs}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(range(len(xs)))

        def get_next(self) -> dict | None:
            k = next(self._it, None)
            return None if k is None else feed(k)

    probe = feed(0)
    reference = fp32.run(None, probe)
    print(f"CPU flags with VNNI: {_vnni()}; {len(xs)} calibration crops from {seq.name}")
    print("| graph | ms (FP32 in the same run) | largest error: cls, loc |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(exported.track), str(pre))
        forms = [("QDQ", str(exported.track), QuantFormat.QDQ, {}),
                 ("QOperator", str(exported.track), QuantFormat.QOperator, {}),
                 ("pre-processed, QDQ", str(pre), QuantFormat.QDQ, {}),
                 ("pre-processed, QDQ of Conv only", str(pre), QuantFormat.QDQ,
                  {"op_types_to_quantize": ["Conv"]})]
        for k, (name, src, fmt, extra) in enumerate(forms):
            out = Path(tmp) / f"q{k}.onnx"
            quantize_static(src, str(out), Reader(), quant_format=fmt,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            per_channel=True, **extra)
            q = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
            ms_fp32, ms_q = _time(fp32, probe, args.runs), _time(q, probe, args.runs)
            err = [float(np.abs(a - b).max()) for a, b in zip(reference, q.run(None, probe))]
            print(f"| {name} | {ms_q:.2f} ({ms_fp32:.2f}) | {err[0]:.2f}, {err[1]:.2f} |")
    return 0


def _vnni() -> str:
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n")[0].split()
    except (OSError, IndexError):
        return "unknown"
    found = sorted(f for f in flags if "vnni" in f)
    return ", ".join(found) or "none"


if __name__ == "__main__":
    sys.exit(main())
