"""Datasets: one module per family of data.

- ``io``: reading files: images (natural order, 8/16-bit kept), box text files, VOC XML.
- ``video``: frame sources that are not image folders: video files (decoded on demand, grey
  when asked), raw 16-bit ``.cptv`` thermal video, ``open_frame_source``.
- ``sequence``: the types readers return (``Sequence``, ``PairedSequence``), the
  frames-vs-ground-truth length rule and sparse ground truth (``NaN`` rows, ``gt_frames``).
- ``benchmarks``: single-modality tracking layouts (OTB, VOT, LSOTB-TIR, PTB-TIR, pysot JSON,
  video + box file, VTUAV's thermal half) and their detection, ``load_sequences``.
- ``paired``: registered visible + thermal layouts (LLVIP, RGBT234 / LasHeR, GTOT, VTUAV,
  paired videos, still pairs by name) and their detection, ``load_paired``.
- ``tracks``: pseudo-labelled tracks over video files (``tracks.json``, written by
  ``tir-tracker pseudolabel``), read back by ``load_sequences`` and ``load_paired``.
- ``stills``: detection records (COCO JSON, YOLO, VOC, LLVIP), ``load_detections``, and
  annotated (image, box) items for ``probe``, ``load_stills``.
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
from .stills import AnnotatedImage, load_detections, load_stills
from .synthetic import (
    SyntheticConfig,
    SyntheticSequence,
    generate_sequence,
    write_sequence,
)
from .video import CptvFrameLoader, VideoFrameLoader, open_frame_source

__all__ = [
    "LSOTB_TIR_ATTRIBUTES",
    "PTB_TIR_ATTRIBUTES",
    "AnnotatedImage",
    "CptvFrameLoader",
    "DatasetError",
    "PairedImage",
    "PairedSequence",
    "Sequence",
    "SyntheticConfig",
    "SyntheticSequence",
    "VideoFrameLoader",
    "detect_layout",
    "detect_paired_layout",
    "generate_sequence",
    "load_detections",
    "load_paired",
    "load_sequences",
    "load_stills",
    "open_frame_source",
    "write_sequence",
]
