"""Datasets: one module per family of data.

- ``io``: reading files: images (natural order, 8/16-bit kept), box text files, VOC XML.
- ``sequence``: the types readers return (``Sequence``, ``PairedSequence``) and the
  frames-vs-ground-truth length rule.
- ``benchmarks``: single-modality tracking layouts (OTB, VOT, LSOTB-TIR, PTB-TIR, pysot JSON)
  and their detection, ``load_sequences``.
- ``paired``: registered visible + thermal layouts (LLVIP, RGBT234 / LasHeR, GTOT) and their
  detection, ``load_paired``.
- ``stills``: annotated still images as (image, box) items (LLVIP, YOLO, sampled sequence
  frames), ``load_stills``.
- ``synthetic``: generated paired thermal + visible sequences.

Bad input raises :class:`~tir_tracker_core.errors.DatasetError`.
"""

from ..errors import DatasetError
from .benchmarks import (
    LSOTB_TIR_ATTRIBUTES,
    PTB_TIR_ATTRIBUTES,
    detect_layout,
    load_sequences,
)
from .paired import PairedImage, detect_paired_layout, load_paired
from .sequence import PairedSequence, Sequence
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
