"""Datasets: benchmark sequence readers, paired visible + thermal readers, synthetic data."""

from .sequences import (
    LSOTB_TIR_ATTRIBUTES,
    PTB_TIR_ATTRIBUTES,
    DatasetError,
    PairedImage,
    PairedSequence,
    Sequence,
    detect_layout,
    detect_paired_layout,
    load_paired,
    load_sequences,
)
from .synthetic import (
    SyntheticConfig,
    SyntheticSequence,
    generate_sequence,
    write_sequence,
)

__all__ = [
    "LSOTB_TIR_ATTRIBUTES",
    "PTB_TIR_ATTRIBUTES",
    "DatasetError",
    "PairedImage",
    "PairedSequence",
    "Sequence",
    "SyntheticConfig",
    "SyntheticSequence",
    "detect_layout",
    "detect_paired_layout",
    "generate_sequence",
    "load_paired",
    "load_sequences",
    "write_sequence",
]
