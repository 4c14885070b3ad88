"""Frame sources that are not image folders: video files and raw 16-bit CPTV thermal video.

- :class:`VideoFrameLoader`: ``loader(i) -> frame`` over a video file (``.avi``, ``.mp4``,
  ``.mkv``, ... anything OpenCV's FFmpeg backend opens). Frames are decoded on demand,
  forward from the last one read, with a small cache of recent frames; a backward or long
  forward jump seeks (and falls back to decoding from the start when the seek is inexact).
  Reading frames in order, as evaluation does, decodes every frame once and holds at most
  ``cache_size`` of them. ``grey=True`` turns 3-channel video with grey content (thermal
  cameras, Anti-UAV, M3SVD infrared) into single-channel uint8; ``grey="auto"`` does so only
  when the first frame's channels agree.
- :class:`CptvFrameLoader` / :func:`read_cptv_header`: Cacophony Project Thermal Video
  (``.cptv``, FLIR Lepton): frames stay ``uint16`` (radiometric counts) until the tracker's
  own normalisation.
- :func:`open_frame_source`: an image folder, a video file or a ``.cptv`` file as one
  ``FrameSource`` (``len()``, ``source(i)``, iteration in order).

No layout knowledge lives here: the layout readers (``benchmarks``, ``paired``) pair these
loaders with ground truth. The number of frames a video really decodes is counted
(:func:`count_video_frames`, a fast ``grab()`` pass, about 0.1 s per 500 frames of 640x512) and
compared with what the container claims; a difference is logged with both counts, never
hidden.
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ..errors import DatasetError
from .io import PathFrameLoader, list_images

# FFmpeg's own messages ("[h264 @ 0x...] ...") would otherwise go to stderr for every damaged
# packet; decode failures are reported by this module instead. A value the user set wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402  (after the FFmpeg log level is set)

logger = logging.getLogger(__name__)

__all__ = [
    "CPTV_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "CptvFrameLoader",
    "CptvHeader",
    "FrameSource",
    "VideoFrameLoader",
    "count_video_frames",
    "is_video_file",
    "open_frame_source",
    "read_cptv_header",
]

VIDEO_EXTENSIONS: tuple[str, ...] = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg",
                                     ".wmv", ".webm")
CPTV_EXTENSIONS: tuple[str, ...] = (".cptv",)

GreyMode = bool | Literal["auto"]

_GREY_TOLERANCE = 4.0
"""Largest 99th-percentile deviation of a pixel's channels from their mean for ``grey="auto"``
to call a frame grey (codec chroma noise on grey content is below 2 grey levels)."""


class FrameSource(Protocol):
    """What :func:`open_frame_source` returns: indexable, sized, iterable frames."""

    def __call__(self, index: int) -> np.ndarray: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[np.ndarray]: ...


def is_video_file(path: Path) -> bool:
    """``path`` is a file with one of :data:`VIDEO_EXTENSIONS`."""
    path = Path(path)
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


# --------------------------------------------------------------------------------------------
# Video files (OpenCV)
# --------------------------------------------------------------------------------------------


def _open_capture(path: Path) -> Any:
    if not Path(path).is_file():
        raise DatasetError(f"video {path} does not exist")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DatasetError(
            f"OpenCV cannot open video {path}; the file is corrupt or its codec is not in "
            f"this OpenCV build (backend FFMPEG; formats: {', '.join(VIDEO_EXTENSIONS)})"
        )
    return cap


def count_video_frames(path: Path) -> int:
    """Frames the video really decodes (one ``grab()`` pass; the container's count can lie)."""
    cap = _open_capture(Path(path))
    try:
        count = 0
        while cap.grab():
            count += 1
        return count
    finally:
        cap.release()


def _is_grey(frame: np.ndarray) -> bool:
    if frame.ndim == 2:
        return True
    pixels = frame.reshape(-1, frame.shape[2]).astype(np.float32)
    spread = np.abs(pixels - pixels.mean(axis=1, keepdims=True)).max(axis=1)
    return float(np.percentile(spread, 99)) <= _GREY_TOLERANCE


def _to_grey(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[:, :, 0]
    return frame


@dataclass(eq=False)
class VideoFrameLoader:
    """``loader(i) -> frame`` over a video file, decoding forward and caching a few frames.

    Args:
        path: the video file.
        grey: ``True``: single-channel uint8 frames (``BGR -> GRAY``); ``False``: frames as
            decoded (BGR); ``"auto"``: grey when the first frame's channels agree (within codec
            noise), else BGR.
        cache_size: recent frames kept (a template/search pair a few frames apart costs no
            second decode).
        num_frames: frames the video decodes, when already known; else counted on first use
            of ``len()``.

    Frame ``i`` is the ``i``-th decoded frame (0-based). Reading a frame past the decodable end
    raises :class:`DatasetError` with the counts. Safe to use from several threads (one lock)
    and to pickle or fork into data-loader workers: the capture is reopened in the new
    process.
    """

    path: Path
    grey: GreyMode = "auto"
    cache_size: int = 16
    num_frames: int | None = None
    _cap: Any = field(default=None, init=False, repr=False)
    _pid: int = field(default=-1, init=False, repr=False)
    _next: int = field(default=0, init=False, repr=False)
    _cache: OrderedDict[int, np.ndarray] = field(default_factory=OrderedDict, init=False,
                                                 repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    _SEEK_AHEAD = 32
    """A forward jump longer than this seeks instead of decoding the frames in between."""

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.grey not in (True, False, "auto"):
            raise ValueError(f"grey must be True, False or 'auto', got {self.grey!r}")
        if self.cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {self.cache_size}")
        if not self.path.is_file():
            raise DatasetError(f"video {self.path} does not exist")

    # -- pickling / forking: a capture never crosses a process boundary
    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "grey": self.grey, "cache_size": self.cache_size,
                "num_frames": self.num_frames}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __len__(self) -> int:
        if self.num_frames is None:
            self.num_frames = count_video_frames(self.path)
        return self.num_frames

    def container_frames(self) -> int:
        """The frame count the container claims (``CAP_PROP_FRAME_COUNT``; 0 if unknown)."""
        cap = _open_capture(self.path)
        try:
            return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        finally:
            cap.release()

    def _convert(self, frame: np.ndarray) -> np.ndarray:
        if self.grey == "auto":
            self.grey = _is_grey(frame)
        return _to_grey(frame) if self.grey else frame

    def _capture(self) -> Any:
        if self._cap is None or self._pid != os.getpid():
            self._cap = _open_capture(self.path)
            self._pid = os.getpid()
            self._next = 0
        return self._cap

    def _seek(self, index: int) -> None:
        cap = self._capture()
        if cap.set(cv2.CAP_PROP_POS_FRAMES, index) and int(cap.get(cv2.CAP_PROP_POS_FRAMES)) \
                == index:
            self._next = index
            return
        logger.debug("video %s: inexact seek to frame %d; decoding from the start",
                     self.path, index)
        self.close()
        self._capture()

    def _decode(self, index: int) -> np.ndarray:
        cap = self._capture()
        if index < self._next or index - self._next > self._SEEK_AHEAD:
            self._seek(index)
            cap = self._capture()
        while self._next < index:
            if not cap.grab():
                self._short(index)
            self._next += 1
        ok, frame = cap.read()
        if not ok or frame is None:
            self._short(index)
        self._next += 1
        return self._convert(frame)

    def _short(self, index: int) -> None:
        decoded = self._next
        self.close()
        raise DatasetError(
            f"video {self.path}: frame {index} cannot be decoded; the decoder stopped after "
            f"{decoded} frames (the sequence expects {self.num_frames}); the file is truncated "
            "or damaged"
        )

    def __call__(self, index: int) -> np.ndarray:
        if index < 0:
            raise IndexError(f"frame index {index} must be >= 0")
        with self._lock:
            cached = self._cache.get(index)
            if cached is None:
                cached = self._decode(index)
                self._cache[index] = cached
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(index)
            return cached.copy()

    def __iter__(self) -> Iterator[np.ndarray]:
        """All decodable frames in order, on a capture of their own (streaming, no cache)."""
        cap = _open_capture(self.path)
        try:
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    return
                yield self._convert(frame)
        finally:
            cap.release()

    def close(self) -> None:
        """Release the capture (it reopens on the next read)."""
        if self._cap is not None:
            self._cap.release()
        self._cap = None
        self._next = 0


# --------------------------------------------------------------------------------------------
# CPTV (Cacophony Project Thermal Video)
# --------------------------------------------------------------------------------------------
#
# Format (versions 1 and 2), as written by the Cacophony Project's recorders and read by their
# Apache-2.0 ``cptv`` package; this is an independent implementation of it:
#   gzip stream: b"CPTV", version byte, then sections.
#   section: type byte (b"H" header, b"F" frame), field count byte, fields.
#   field: data length byte, type byte, data (little-endian; see _FIELD_KINDS).
#   frame data (``f`` = FRAME_SIZE bytes after the frame section): int32 first value, then
#   W*H-1 signed deltas of ``w`` (BIT_WIDTH) bits, packed most significant bit first. Their
#   running sum is the change from the previous frame (zeros before the first) in "snake"
#   order: even rows left to right, odd rows right to left. Pixels are uint16 (mod 2**16).

_FIELD_KINDS: dict[bytes, str] = {
    # header
    b"T": "u64", b"X": "u32", b"Y": "u32", b"C": "u8", b"D": "str", b"I": "u32",
    b"P": "u8", b"M": "str", b"L": "f32", b"O": "f32", b"S": "u64", b"A": "f32",
    b"U": "f32", b"Z": "u8", b"E": "str", b"B": "str", b"V": "str", b"N": "u32",
    b"g": "u8", b"Q": "u16", b"K": "u16", b"J": "u16",
    # frame
    b"w": "u8", b"f": "u32", b"t": "u32", b"c": "u32", b"a": "f32", b"b": "f32",
}
_FIELD_FORMATS = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q", "f32": "<f"}
_HEADER_NAMES = {
    b"T": "timestamp_us", b"X": "width", b"Y": "height", b"C": "compression",
    b"D": "device_name", b"I": "device_id", b"P": "preview_secs", b"M": "motion_config",
    b"L": "latitude", b"O": "longitude", b"S": "loc_timestamp_us", b"A": "altitude",
    b"U": "accuracy", b"Z": "fps", b"E": "model", b"B": "brand", b"V": "firmware",
    b"N": "camera_serial", b"g": "background_frame", b"Q": "min_value", b"K": "max_value",
    b"J": "num_frames",
}


@dataclass(frozen=True)
class CptvHeader:
    """The header of a ``.cptv`` file: ``width``, ``height``, ``version``, ``fps`` (0 if not
    recorded), ``num_frames`` (the header's claim, ``None`` if absent) and every other header
    field by name in ``fields``."""

    version: int
    width: int
    height: int
    fps: int
    num_frames: int | None
    fields: dict[str, Any]


class _Reader:
    """Cursor over the decompressed bytes of a CPTV file."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DatasetError(f"CPTV file {self.path} ends inside a section (truncated at byte "
                               f"{len(self.data)} of the decompressed stream)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def section(self) -> tuple[bytes, dict[bytes, Any]] | None:
        if self.pos >= len(self.data):
            return None
        kind = self.take(1)
        count = self.take(1)[0]
        fields: dict[bytes, Any] = {}
        for _ in range(count):
            length, ftype = self.take(1)[0], self.take(1)
            raw = self.take(length)
            fmt = _FIELD_FORMATS.get(_FIELD_KINDS.get(ftype, ""))
            if fmt is not None and len(raw) >= struct.calcsize(fmt):
                fields[ftype] = struct.unpack_from(fmt, raw)[0]
            elif _FIELD_KINDS.get(ftype) == "str":
                fields[ftype] = raw.decode("utf-8", "replace")
            else:
                fields[ftype] = raw
        return kind, fields


def _decompress_cptv(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise DatasetError(f"CPTV file {path} does not exist") from None
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable CPTV file (gzip stream): {exc}") from exc


def _parse_header(reader: _Reader) -> CptvHeader:
    magic = reader.take(4) if len(reader.data) >= 5 else b""
    if magic != b"CPTV":
        raise DatasetError(f"{reader.path} is not a CPTV file (no 'CPTV' magic)")
    version = reader.take(1)[0]
    if version not in (1, 2):
        raise DatasetError(f"CPTV file {reader.path}: unsupported version {version} (1, 2 known)")
    section = reader.section()
    if section is None or section[0] != b"H":
        raise DatasetError(f"CPTV file {reader.path}: the header section is missing")
    fields = section[1]
    if fields.get(b"C", 1) != 1:
        raise DatasetError(f"CPTV file {reader.path}: unsupported compression {fields[b'C']}")
    if b"X" not in fields or b"Y" not in fields:
        raise DatasetError(f"CPTV file {reader.path}: the header has no frame size (X, Y)")
    named = {_HEADER_NAMES.get(k, k.decode("latin-1")): v for k, v in fields.items()}
    return CptvHeader(version, int(fields[b"X"]), int(fields[b"Y"]), int(fields.get(b"Z", 0)),
                      None if b"J" not in fields else int(fields[b"J"]), named)


def read_cptv_header(path: Path) -> CptvHeader:
    """Header of a ``.cptv`` file (see :class:`CptvHeader`)."""
    path = Path(path)
    return _parse_header(_Reader(_decompress_cptv(path), path))


def _snake_order(width: int, height: int) -> np.ndarray:
    """``(H, W)`` index into the snake-ordered pixel stream of each image pixel."""
    linear = np.arange(width * height).reshape(height, width)
    linear[1::2] = linear[1::2, ::-1]
    return linear


def _unpack_deltas(packed: bytes, count: int, bits: int, where: str) -> np.ndarray:
    """``count`` signed ``bits``-bit integers packed most significant bit first."""
    if not 1 <= bits <= 32:
        raise DatasetError(f"{where}: bit width {bits} is out of range 1..32")
    nbytes = (count * bits + 7) // 8
    if len(packed) < nbytes:
        raise DatasetError(f"{where}: {len(packed)} bytes of deltas, {nbytes} needed")
    if bits == 8:
        return np.frombuffer(packed, np.int8, count).astype(np.int64)
    all_bits = np.unpackbits(np.frombuffer(packed, np.uint8, nbytes))[: count * bits]
    weights = (1 << np.arange(bits - 1, -1, -1, dtype=np.int64))
    values = all_bits.reshape(count, bits).astype(np.int64) @ weights
    return values - ((values >> (bits - 1)) & 1) * (1 << bits)


@dataclass(eq=False)
class CptvFrameLoader:
    """``loader(i) -> (H, W) uint16`` frame of a ``.cptv`` file (FLIR Lepton radiometric counts).

    The file is decompressed once into memory (about 15 KB per 160x120 frame). Frames are
    delta-coded from the previous one, so the loader keeps a decoded frame every
    ``keyframe_every`` frames and decodes forward from the nearest one: any frame costs at most
    that many small decodes. ``len()`` is the number of frames actually in the file; a header
    that claims another number is logged.
    """

    path: Path
    keyframe_every: int = 32
    header: CptvHeader = field(init=False)
    _data: bytes = field(init=False, repr=False)
    _offsets: list[tuple[int, int, int]] = field(init=False, repr=False)  # (pos, size, bits)
    _keyframes: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _snake: np.ndarray = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.keyframe_every < 1:
            raise ValueError(f"keyframe_every must be >= 1, got {self.keyframe_every}")
        reader = _Reader(_decompress_cptv(self.path), self.path)
        self.header = _parse_header(reader)
        self._data = reader.data
        self._offsets = self._index_frames(reader)
        self._snake = _snake_order(self.header.width, self.header.height)
        claimed = self.header.num_frames
        if claimed and claimed != len(self._offsets):
            logger.warning("CPTV file %s: the header says %d frames but %d are stored",
                           self.path, claimed, len(self._offsets))
        if not self._offsets:
            raise DatasetError(f"CPTV file {self.path} holds no frames")

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "keyframe_every": self.keyframe_every}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def _index_frames(self, reader: _Reader) -> list[tuple[int, int, int]]:
        offsets = []
        while (section := reader.section()) is not None:
            kind, fields = section
            if kind != b"F":
                raise DatasetError(f"CPTV file {self.path}: unexpected section {kind!r} after "
                                   f"{len(offsets)} frames")
            if b"f" not in fields or b"w" not in fields:
                raise DatasetError(f"CPTV file {self.path}: frame {len(offsets)} has no size "
                                   "or bit width field")
            size, bits = int(fields[b"f"]), int(fields[b"w"])
            if reader.pos + size > len(reader.data):
                logger.warning("CPTV file %s: frame %d is truncated; %d complete frames kept",
                               self.path, len(offsets), len(offsets))
                break
            offsets.append((reader.pos, size, bits))
            reader.pos += size
        return offsets

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of every frame."""
        return (self.header.height, self.header.width)

    def _step(self, state: np.ndarray, index: int) -> np.ndarray:
        """The snake-ordered state after frame ``index``, from the state after ``index - 1``."""
        pos, size, bits = self._offsets[index]
        payload = self._data[pos : pos + size]
        where = f"CPTV file {self.path}, frame {index}"
        if size < 4:
            raise DatasetError(f"{where}: {size} bytes, too short")
        n = self.header.width * self.header.height
        deltas = np.empty(n, dtype=np.int64)
        deltas[0] = struct.unpack_from("<i", payload)[0]
        deltas[1:] = _unpack_deltas(payload[4:], n - 1, bits, where)
        return (state + np.cumsum(deltas)) & 0xFFFF

    def _state(self, index: int) -> np.ndarray:
        start = index - index % self.keyframe_every
        while start > 0 and start not in self._keyframes:
            start -= self.keyframe_every
        if start in self._keyframes:
            state = self._keyframes[start]
        else:
            state = self._step(np.zeros(self.header.width * self.header.height, np.int64), 0)
            self._keyframes[0] = state
        for i in range(start + 1, index + 1):
            state = self._step(state, i)
            if i % self.keyframe_every == 0:
                self._keyframes[i] = state
        return state

    def __call__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"frame index {index} out of range for {len(self)} frames")
        with self._lock:
            state = self._state(index)
        return state[self._snake].astype(np.uint16)

    def __iter__(self) -> Iterator[np.ndarray]:
        """All frames in order (each decoded once)."""
        state = np.zeros(self.header.width * self.header.height, np.int64)
        for i in range(len(self)):
            state = self._step(state, i)
            yield state[self._snake].astype(np.uint16)


# --------------------------------------------------------------------------------------------
# Any frame source
# --------------------------------------------------------------------------------------------


class _ImageFolderSource(PathFrameLoader):
    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self(i)


def open_frame_source(path: Path, *, grey: GreyMode = "auto") -> FrameSource:
    """Frames of an image folder (``img/`` inside it if present), a video file or a ``.cptv``
    file: ``len()``, ``source(i)`` and in-order iteration.

    Image folders and ``.cptv`` frames come as stored (8/16-bit kept); video frames follow
    ``grey`` (see :class:`VideoFrameLoader`).
    """
    path = Path(path)
    if path.is_dir():
        images = list_images(path / "img" if (path / "img").is_dir() else path)
        if not images:
            raise DatasetError(f"no images in {path}; give an image folder, a video file "
                               f"({', '.join(VIDEO_EXTENSIONS)}) or a .cptv file")
        return _ImageFolderSource(images)
    if not path.is_file():
        raise DatasetError(f"frame source {path} does not exist")
    if path.suffix.lower() in CPTV_EXTENSIONS:
        return CptvFrameLoader(path)
    return VideoFrameLoader(path, grey=grey)
