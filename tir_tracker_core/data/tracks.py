"""Pseudo-labelled tracks over video files (or raw ``.cptv`` clips): the ``tracks`` layout (a folder holding
``tracks.json``).

``tir-tracker pseudolabel`` writes it; the sequence readers read it back, so pseudo-labels
train and evaluate like any other layout:

- ``load_sequences(FOLDER)`` (``kind: sequences``, ``tir-tracker eval``): one thermal
  :class:`~tir_tracker_core.data.sequence.Sequence` per track (``modality="rgb"``: the visible
  frames, where the clips have them).
- ``load_paired(FOLDER)`` (``kind: paired``, distillation): one
  :class:`~tir_tracker_core.data.sequence.PairedSequence` per track, when the clips are
  paired videos.

A track covers frames ``start .. start + len(boxes) - 1`` of its clip; a ``null`` box is a
frame whose label was rejected (``NaN`` row: never sampled, never scored). Frame 0 of a
track is always labelled. The file names the videos by paths relative to its own folder
(absolute when no relative path exists), so a tracks folder moves together with its data.

File format (``format: tir-tracker/tracks``, ``version: 1``)::

    {"format": "tir-tracker/tracks", "version": 1,
     "clips": {"CLIP": {"tir": "PATH", "rgb": "PATH" | null, "frames": N}},
     "tracks": [{"name": "CLIP#000", "clip": "CLIP", "start": S,
                 "boxes": [[x, y, w, h] | null, ...]}],
     "provenance": {...}}
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .io import atomic_write_bytes
from .sequence import FrameLoader, Modality, PairedSequence, Sequence
from .video import CPTV_EXTENSIONS, CptvFrameLoader, VideoFrameLoader

__all__ = [
    "TRACKS_FILE",
    "TrackLabel",
    "TracksClip",
    "is_tracks_folder",
    "load_track_pairs",
    "load_track_sequences",
    "read_tracks",
    "thermal_loader",
    "write_tracks",
]

TRACKS_FILE = "tracks.json"
FORMAT = "tir-tracker/tracks"
VERSION = 1


@dataclass(frozen=True)
class TracksClip:
    """One video (or registered video pair) that tracks refer to."""

    name: str
    tir: Path
    rgb: Path | None
    frames: int


@dataclass(frozen=True, eq=False)
class TrackLabel:
    """One pseudo-labelled track: ``boxes[i]`` is the box on frame ``start + i`` of ``clip``
    (``NaN`` row: rejected). Row 0 is always a box."""

    name: str
    clip: str
    start: int
    boxes: np.ndarray

    @property
    def labelled(self) -> int:
        """Frames carrying a box."""
        return int((~np.isnan(self.boxes).any(axis=1)).sum())


@dataclass(frozen=True)
class _Offset:
    """``loader(start + i)``: a track's frames inside its clip (picklable for workers)."""

    loader: FrameLoader
    start: int

    def __call__(self, index: int) -> np.ndarray:
        return self.loader(self.start + index)


def is_tracks_folder(folder: Path) -> bool:
    """``folder`` holds a ``tracks.json`` written by ``tir-tracker pseudolabel``."""
    return (Path(folder) / TRACKS_FILE).is_file()


def _portable(path: Path, folder: Path) -> str:
    path, folder = Path(path).resolve(), Path(folder).resolve()
    try:
        return os.path.relpath(path, folder)
    except ValueError:  # another drive (Windows)
        return str(path)


def write_tracks(folder: Path, clips: Mapping[str, TracksClip], tracks: list[TrackLabel],
                 provenance: Mapping[str, Any] | None = None) -> Path:
    """Write ``folder/tracks.json`` atomically (a temporary file renamed into place)."""
    folder = Path(folder)
    for t in tracks:
        if t.clip not in clips:
            raise ValueError(f"track {t.name!r} refers to unknown clip {t.clip!r}")
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "clips": {name: {"tir": _portable(c.tir, folder),
                         "rgb": None if c.rgb is None else _portable(c.rgb, folder),
                         "frames": int(c.frames)} for name, c in clips.items()},
        "tracks": [{"name": t.name, "clip": t.clip, "start": int(t.start),
                    "boxes": [None if np.isnan(b).any() else [round(float(v), 2) for v in b]
                              for b in np.asarray(t.boxes, np.float64)]}
                   for t in tracks],
        "provenance": dict(provenance or {}),
    }
    path = folder / TRACKS_FILE
    atomic_write_bytes(path, (json.dumps(doc) + "\n").encode("utf-8"))
    return path


def _resolve(folder: Path, value: Any, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise DatasetError(f"{folder / TRACKS_FILE}: {what} must be a path string, got "
                           f"{value!r}; re-run tir-tracker pseudolabel")
    path = Path(value)
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        raise DatasetError(f"{folder / TRACKS_FILE}: {what} {path} does not exist; the tracks "
                           "folder was moved without its videos (re-run tir-tracker "
                           "pseudolabel, or restore the videos)")
    return path


def _box_rows(raw: Any, where: str) -> np.ndarray:
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{where}: boxes must be a non-empty list")
    rows = np.full((len(raw), 4), np.nan)
    for i, b in enumerate(raw):
        if b is None:
            continue
        if not (isinstance(b, list) and len(b) == 4
                and all(isinstance(v, int | float) and math.isfinite(v) for v in b)):
            raise DatasetError(f"{where}: box {i} must be null or [x, y, w, h], got {b!r}")
        rows[i] = b
    if np.isnan(rows[0]).any():
        raise DatasetError(f"{where}: the first box must be labelled (a track starts with one)")
    return rows


def read_tracks(folder: Path) -> tuple[dict[str, TracksClip], list[TrackLabel], dict[str, Any]]:
    """``(clips, tracks, provenance)`` of a tracks folder, every path and range checked."""
    folder = Path(folder)
    path = folder / TRACKS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{folder} has no {TRACKS_FILE}; write one with tir-tracker "
                           "pseudolabel") from None
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path} cannot be read ({e}); re-run tir-tracker pseudolabel") \
            from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DatasetError(f"{path} is not a tir-tracker tracks file (format {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise DatasetError(f"{path}: tracks file version {doc.get('version')!r}, this reader "
                           f"knows {VERSION}; re-run tir-tracker pseudolabel")
    clips: dict[str, TracksClip] = {}
    for name, c in (doc.get("clips") or {}).items():
        where = f"{path}: clip {name!r}"
        if not isinstance(c, dict) or not isinstance(c.get("frames"), int) or c["frames"] < 1:
            raise DatasetError(f"{where} needs tir, rgb and a positive frame count")
        rgb = c.get("rgb")
        clips[name] = TracksClip(name, _resolve(folder, c.get("tir"), f"clip {name!r} tir"),
                                 None if rgb is None else _resolve(folder, rgb,
                                                                   f"clip {name!r} rgb"),
                                 c["frames"])
    tracks: list[TrackLabel] = []
    for i, t in enumerate(doc.get("tracks") or []):
        where = f"{path}: track {i}"
        if not isinstance(t, dict) or t.get("clip") not in clips:
            raise DatasetError(f"{where} refers to no clip of the file")
        clip = clips[t["clip"]]
        start = t.get("start")
        boxes = _box_rows(t.get("boxes"), where)
        if not isinstance(start, int) or start < 0 or start + len(boxes) > clip.frames:
            raise DatasetError(f"{where}: frames {start}..{start}+{len(boxes)} outside clip "
                               f"{clip.name!r} ({clip.frames} frames)")
        tracks.append(TrackLabel(str(t.get("name") or f"{clip.name}#{i:03d}"), clip.name, start,
                                 boxes))
    return clips, tracks, dict(doc.get("provenance") or {})


def thermal_loader(path: Path, frames: int | None = None) -> FrameLoader:
    """Frames of a thermal clip: a raw ``.cptv`` file (16-bit, as stored) or a video file
    (decoded to grey)."""
    path = Path(path)
    if path.suffix.lower() in CPTV_EXTENSIONS:
        return CptvFrameLoader(path)
    return VideoFrameLoader(path, grey=True, num_frames=frames)


def _loaders(clips: Mapping[str, TracksClip]) -> dict[str, tuple[FrameLoader,
                                                                  VideoFrameLoader | None]]:
    """One loader per video, shared by every track of the clip (its cache serves them all)."""
    return {name: (thermal_loader(c.tir, c.frames),
                   None if c.rgb is None else VideoFrameLoader(c.rgb, grey=False,
                                                               num_frames=c.frames))
            for name, c in clips.items()}


def load_track_sequences(folder: Path, modality: Modality = "tir") -> list[Sequence]:
    """One :class:`Sequence` per track (layout ``tracks``): its thermal frames, or its visible
    frames with ``modality="rgb"`` (an error for thermal-only clips)."""
    clips, tracks, _ = read_tracks(folder)
    loaders = _loaders(clips)
    out = []
    for t in tracks:
        tir, rgb = loaders[t.clip]
        if modality == "rgb" and rgb is None:
            raise DatasetError(f"{folder}: clip {t.clip!r} has no visible video; evaluate the "
                               "thermal frames (--modality tir)")
        loader = tir if modality == "tir" else rgb
        assert loader is not None
        out.append(Sequence(t.name, "tracks", t.boxes, {}, None, _Offset(loader, t.start)))
    return out


def load_track_pairs(folder: Path) -> list[PairedSequence]:
    """One :class:`PairedSequence` per track of a tracks folder over paired videos."""
    clips, tracks, _ = read_tracks(folder)
    unpaired = sorted(name for name, c in clips.items() if c.rgb is None)
    if unpaired:
        raise DatasetError(f"{folder}: clips {', '.join(unpaired[:5])} have no visible video; "
                           "read the folder as thermal sequences (kind: sequences)")
    loaders = _loaders(clips)
    out = []
    for t in tracks:
        tir, rgb = loaders[t.clip]
        assert rgb is not None
        out.append(PairedSequence(t.name, "tracks", len(t.boxes), _Offset(rgb, t.start),
                                  _Offset(tir, t.start), t.boxes))
    return out

