"""Evaluation: LSOTB-TIR metrics, OpenCV peer trackers, the one-pass runner, latency bench."""

from .adapters import MultiFromSingle, MultiTargetTracker, OursSingle, SingleTargetTracker
from .bench import BenchReport, BenchResult, bench
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
from .peers import PEER_NAMES, OpenCVTracker, build_peer
from .runner import EvalReport, SequenceRun, evaluate, run_sequence

__all__ = [
    "PEER_NAMES",
    "BenchReport",
    "BenchResult",
    "EvalReport",
    "MultiFromSingle",
    "MultiTargetTracker",
    "OpenCVTracker",
    "OursSingle",
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
