"""Evaluation: LSOTB-TIR metrics, OpenCV peer trackers, the one-pass runner, latency bench."""

from .bench import BenchReport, BenchResult, MultiFromSingle, bench
from .metrics import (
    Scores,
    SequenceScores,
    aggregate,
    aggregate_by_attribute,
    center_error,
    evaluate_sequence,
    iou,
    normalized_center_error,
)
from .peers import PEER_NAMES, OpenCVTracker, SingleTargetTracker, build_peer
from .runner import EvalReport, SequenceRun, evaluate, run_sequence

__all__ = [
    "PEER_NAMES",
    "BenchReport",
    "BenchResult",
    "EvalReport",
    "MultiFromSingle",
    "OpenCVTracker",
    "Scores",
    "SequenceRun",
    "SequenceScores",
    "SingleTargetTracker",
    "aggregate",
    "aggregate_by_attribute",
    "bench",
    "build_peer",
    "center_error",
    "evaluate",
    "evaluate_sequence",
    "iou",
    "normalized_center_error",
    "run_sequence",
]
