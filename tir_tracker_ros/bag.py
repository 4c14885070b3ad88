"""Rosbag tools: benchmark sequence -> bag, offline bag evaluation, live replay evaluation.

    tir-tracker-bag convert SEQUENCE_DIR OUT_BAG [--storage mcap] [--fps 30] [--start S]
    tir-tracker-bag evaluate BAG [--sequence DIR | --gt FILE ...] [--model default]
                           [--results OUT_BAG] [--report FILE.json]
    tir-tracker-bag replay BAG [--sequence DIR | --gt FILE ...] [--node /tir_tracker]
                           [--rate 1] [--record OUT_BAG] [--report FILE.json] [--ros-args ...]
    tir-tracker-bag score TRACKS_BAG --bag BAG [--sequence DIR | --gt FILE ...]

A converted bag holds ``sensor_msgs/Image`` frames on ``/thermal/image`` (and, for viewing,
the ground truth as ``tir_tracker_ros/TrackArray`` on ``/thermal/ground_truth``) and records
the sequence folder it came from in its metadata. Evaluation reads the ground truth from the
benchmark's text files (``tir_tracker_core.data.load_sequences`` on ``--sequence``, the
recorded folder by default, or ``--gt`` box files: any bag of images, also one recorded from
a camera) and scores every target (one row per target). ``convert``, ``evaluate`` and
``score`` need rosbags only (no ROS install: the package's message types are registered from
its .msg files); ``replay`` needs rclpy and the built interfaces: it keeps the images'
recorded stamps and publishes the bag's time on ``/clock`` (run the node with
``use_sim_time``). Scores follow the core's LSOTB-TIR rules (``evaluate_sequence``): a
target's first frame is its initialisation, later frames without a track for it count as
the previous box.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from . import conversions as conv

log = logging.getLogger(__name__)

PACKAGE = "tir_tracker_ros"
IMAGE_TOPIC = "/thermal/image"
GT_TOPIC = "/thermal/ground_truth"
TRACKS_TOPIC = "/tir_tracker/tracks"
IMAGE_TYPE = "sensor_msgs/msg/Image"
TRACK_ARRAY_TYPE = f"{PACKAGE}/msg/TrackArray"
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
INTERFACE_NAMES = ("Box", "Track", "TrackArray")  # dependency order
CUSTOM_SOURCE = "tir_tracker.sequence"  # bag custom_data: folder convert read
CUSTOM_TARGETS = "tir_tracker.targets"  # bag custom_data: JSON list of its sequence names


# ---------------------------------------------------------------------------- types
def interface_dir() -> Path:
    """Folder holding this package's .msg files: the source checkout's ``msg/``, else the
    installed ``share/tir_tracker_ros/msg`` (colcon install, or a pip install's data files)."""
    candidates = [Path(__file__).resolve().parent.parent / "msg",
                  Path(sys.prefix) / "share" / PACKAGE / "msg"]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.insert(1, Path(get_package_share_directory(PACKAGE)) / "msg")
    except (ImportError, LookupError, OSError):  # not installed, no AMENT_PREFIX_PATH
        pass
    for folder in candidates:
        if all((folder / f"{name}.msg").is_file() for name in INTERFACE_NAMES):
            return folder
    raise FileNotFoundError(
        f"the {PACKAGE} .msg files were not found in {', '.join(map(str, candidates))}; "
        "run from a source checkout or install the package (colcon build / pip install)")


def make_typestore() -> Any:
    """A rosbags typestore of ROS 2 Kilted plus this package's messages."""
    store = get_typestore(Stores.ROS2_KILTED)
    folder = interface_dir()
    types: dict[str, Any] = {}
    for name in INTERFACE_NAMES:
        types.update(get_types_from_msg((folder / f"{name}.msg").read_text(),
                                        f"{PACKAGE}/msg/{name}"))
    store.register(types)
    return store


# ---------------------------------------------------------------------------- results
@dataclass
class TargetScore:
    """Scores of one ground-truth target (one row of a report)."""

    target: int  # index in the ground truth
    name: str
    first_frame: int  # frame the target was set on (its first annotated frame)
    frames: int  # frames scored (first_frame to the end)
    track_id: int | None  # id the tracker gave it
    success: float
    precision: float
    norm_precision: float
    frames_without_track: int = 0  # frames after first_frame with no box for this target


@dataclass
class Report:
    """Accuracy and timing of one run over a bag (JSON-serialisable). ``success``,
    ``precision`` and ``norm_precision`` are means over ``targets`` (one row per target)."""

    mode: str
    bag: str
    frames: int
    success: float
    precision: float
    norm_precision: float
    gt_source: str = ""
    targets: list[TargetScore] = field(default_factory=list)
    fps: float | None = None
    reacquisitions: int | None = None
    frames_published: int | None = None
    tracks_received: int | None = None
    frames_without_tracks: int | None = None
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    latency_ms_max: float | None = None
    clock_published: bool | None = None
    node_diagnostics_stamp_ns: int | None = None
    node_diagnostics: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def table(self) -> str:
        """One line per target (and the mean), for people."""
        lines = [f"{'target':<24} {'first':>5} {'frames':>6} {'id':>4} {'success':>8} "
                 f"{'prec':>6} {'nprec':>6}"]
        for t in self.targets:
            lines.append(f"{t.name[:24]:<24} {t.first_frame:>5} {t.frames:>6} "
                         f"{'-' if t.track_id is None else t.track_id:>4} {t.success:>8.4f} "
                         f"{t.precision:>6.4f} {t.norm_precision:>6.4f}")
        lines.append(f"{'mean of ' + str(len(self.targets)):<24} {'':>5} {self.frames:>6} "
                     f"{'':>4} {self.success:>8.4f} {self.precision:>6.4f} "
                     f"{self.norm_precision:>6.4f}")
        return "\n".join(lines)


def score(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    from tir_tracker_core.eval.metrics import evaluate_sequence

    scores = evaluate_sequence(pred, gt)
    return scores.success, scores.precision, scores.norm_precision


def _report(mode: str, bag: Path, gt: GroundTruth, pred: np.ndarray,
            ids: list[int | None], **extra: Any) -> Report:
    """Score ``pred`` (K, N, 4) per target from its first frame on; means over targets."""
    rows = []
    for k, first in enumerate(gt.first_frames):
        p, g = pred[k, first:], gt.boxes[k, first:]
        success, precision, norm_precision = score(p, g)
        rows.append(TargetScore(k, gt.names[k], first, len(g), ids[k], success, precision,
                                norm_precision,
                                int(np.sum(~np.isfinite(p[1:]).all(axis=1)))))
    mean = [float(np.mean([getattr(r, m) for r in rows]))
            for m in ("success", "precision", "norm_precision")]
    return Report(mode, str(bag), gt.boxes.shape[1], *mean, gt_source=gt.source, targets=rows,
                  **extra)


# ---------------------------------------------------------------------------- writing
def _header(store: Any, stamp_ns: int, frame_id: str) -> Any:
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


def _image(store: Any, frame: np.ndarray, header: Any, encoding: str) -> Any:
    fields = conv.fill_image(argparse.Namespace(), frame, encoding)
    return store.types[IMAGE_TYPE](
        header=header, height=fields.height, width=fields.width, encoding=fields.encoding,
        is_bigendian=fields.is_bigendian, step=fields.step,
        data=np.frombuffer(fields.data, dtype=np.uint8))


def _track_array(store: Any, header: Any, tracks: Sequence[tuple[int, Sequence[float],
                                                                  float, int, int]]) -> Any:
    Box = store.types[f"{PACKAGE}/msg/Box"]
    Track = store.types[f"{PACKAGE}/msg/Track"]
    return store.types[TRACK_ARRAY_TYPE](header=header, tracks=[
        Track(id=i, box=Box(x=float(b[0]), y=float(b[1]), width=float(b[2]),
                            height=float(b[3])), score=float(s), state=st, age=a)
        for i, b, s, st, a in tracks])


def _frame_encoding(frame: np.ndarray, encoding: str) -> tuple[np.ndarray, str]:
    if encoding != "auto":
        return frame, encoding
    if frame.ndim == 3 and np.array_equal(frame[:, :, 0], frame[:, :, 1]) \
            and np.array_equal(frame[:, :, 0], frame[:, :, 2]):
        frame = frame[:, :, 0]  # thermal stored as 3 equal channels
    return frame, conv.encoding_for(frame)


def convert_sequence(sequence: Any, out: Path, *, storage: str = "mcap", fps: float = 30.0,
                     encoding: str = "auto", start_ns: int | None = None,
                     frame_id: str = "thermal", image_topic: str = IMAGE_TOPIC,
                     gt_topic: str | None = GT_TOPIC, targets: Sequence[Any] = (),
                     source: Path | None = None) -> int:
    """Write ``sequence`` (core ``Sequence``: name, gt, frame(i)) to a rosbag2 at ``out``.

    Frames are ``fps`` apart from ``start_ns`` (default: now). ``encoding`` ``auto`` keeps
    the frame's type (mono8, mono16, bgr8; grey frames stored as 3 equal channels become
    mono8). ``targets``: every sequence annotating these frames (OTB's
    ``groundtruth_rect.<k>.txt``; default ``[sequence]``); their boxes go to ``gt_topic``
    (one track per target, id = index; None: no such topic) and ``source`` (the folder the
    sequences were loaded from) and their names to the bag's ``custom_data``, where
    ``evaluate`` / ``replay`` find the ground truth again. Returns the number of frames.
    """
    store = make_typestore()
    targets = list(targets) or [sequence]
    start_ns = time.time_ns() if start_ns is None else start_ns
    period_ns = round(1e9 / fps)
    with Writer(out, version=9, storage_plugin=STORAGES[storage]) as writer:
        if source is not None:
            writer.set_custom_data(CUSTOM_SOURCE, str(Path(source).resolve()))
            writer.set_custom_data(CUSTOM_TARGETS, json.dumps([t.name for t in targets]))
        image_conn = writer.add_connection(image_topic, IMAGE_TYPE, typestore=store)
        gt_conn = (writer.add_connection(gt_topic, TRACK_ARRAY_TYPE, typestore=store)
                   if gt_topic else None)
        for i in range(len(sequence)):
            stamp = start_ns + i * period_ns
            header = _header(store, stamp, frame_id)
            frame, enc = _frame_encoding(sequence.frame(i), encoding)
            writer.write(image_conn, stamp, store.serialize_cdr(
                _image(store, frame, header, enc), IMAGE_TYPE))
            if gt_conn is not None:
                gt = _track_array(store, header, [(k, t.gt[i], 1.0, 0, i)
                                                  for k, t in enumerate(targets)
                                                  if np.all(np.isfinite(t.gt[i]))])
                writer.write(gt_conn, stamp, store.serialize_cdr(gt, TRACK_ARRAY_TYPE))
    return len(sequence)


# ---------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class BagFrame:
    index: int
    timestamp: int  # bag receive time, ns
    stamp_ns: int  # header stamp, ns
    image: Any  # rosbags sensor_msgs/Image


@dataclass(frozen=True)
class BagContents:
    frames: list[BagFrame]
    store: Any
    custom_data: dict[str, str]
    topic_gt: dict[int, dict[int, np.ndarray]] | None  # stamp -> {track id: box}; no topic


def read_bag(bag: Path, *, image_topic: str = IMAGE_TOPIC,
             gt_topic: str | None = GT_TOPIC) -> BagContents:
    """Image messages of ``bag`` in recording order, its ``custom_data``, and the boxes on
    ``gt_topic`` by stamp and id when the bag has that topic."""
    store = make_typestore()
    with AnyReader([Path(bag)], default_typestore=store) as reader:
        by_topic = {c.topic: c for c in reader.connections}
        if image_topic not in by_topic:
            raise ValueError(f"{bag} has no topic {image_topic}; it has "
                             f"{', '.join(sorted(by_topic)) or 'none'}")
        custom = _custom_data(Path(bag))
        wanted = [by_topic[image_topic]]
        topic_gt = None
        if gt_topic and gt_topic in by_topic:
            wanted.append(by_topic[gt_topic])
            topic_gt = {}
        images = []
        for conn, timestamp, raw in reader.messages(wanted):
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = conv.stamp_to_ns(msg.header.stamp)
            if conn.topic == image_topic:
                images.append((timestamp, stamp, msg))
            else:
                topic_gt[stamp] = {int(t.id): np.array([t.box.x, t.box.y, t.box.width,
                                                        t.box.height]) for t in msg.tracks}
    frames = [BagFrame(i, t, s, m)
              for i, (t, s, m) in enumerate(sorted(images, key=lambda x: x[0]))]
    if not frames:
        raise ValueError(f"{bag} has no image on {image_topic}")
    return BagContents(frames, store, custom, topic_gt)


def _custom_data(bag: Path) -> dict[str, str]:
    """The ``custom_data`` of a rosbag2 folder's metadata.yaml ({} for other bags)."""
    import yaml

    meta = bag / "metadata.yaml"
    if not meta.is_file():
        return {}
    info = (yaml.safe_load(meta.read_text()) or {}).get("rosbag2_bagfile_information", {})
    return {str(k): str(v) for k, v in (info.get("custom_data") or {}).items()}


# ---------------------------------------------------------------------------- ground truth
@dataclass(frozen=True)
class GroundTruth:
    """Boxes of every target, one row per image of the bag (in recording order)."""

    names: list[str]
    boxes: np.ndarray  # (K, N, 4) x, y, w, h; NaN rows where a target is not annotated
    source: str

    @property
    def first_frames(self) -> list[int]:
        """Each target's first annotated frame (it is set on the tracker there)."""
        return [int(np.argmax(_valid(b))) for b in self.boxes]


def _valid(boxes: np.ndarray) -> np.ndarray:
    return np.isfinite(boxes).all(axis=-1) & (boxes[..., 2] > 0) & (boxes[..., 3] > 0)


def _read_box_file(path: Path) -> np.ndarray:
    """x, y, w, h rows of a benchmark box file (commas, tabs or spaces; NaN rows kept)."""
    from tir_tracker_core.data.io import read_boxes

    return np.asarray(read_boxes(Path(path), allow_polygons=True), dtype=np.float64)


def load_ground_truth(contents: BagContents, *, sequences: Sequence[Path] = (),
                      gt_files: Sequence[Path] = (), name: str | None = None,
                      bag: Path | str = "") -> GroundTruth:
    """Ground truth of a bag's images, from (first that applies):

    1. ``sequences``: benchmark folders read with ``tir_tracker_core.data.load_sequences``,
       every sequence in them one target (an OTB folder with ``groundtruth_rect.<k>.txt``
       holds several; ``name`` keeps one);
    2. ``gt_files``: box files (one target each, ``x,y,w,h`` per line; ``NaN`` rows for
       frames where it is not annotated, e.g. before it appears);
    3. the sequence folder ``convert`` recorded in the bag's ``custom_data``;
    4. the bag's ground-truth topic (``TrackArray``, one track per target id).

    Row ``i`` belongs to the bag's ``i``-th image; the counts must match.
    """
    n = len(contents.frames)
    names: list[str] = []
    rows: list[np.ndarray] = []
    source = ""
    recorded = contents.custom_data.get(CUSTOM_SOURCE)
    if not sequences and not gt_files and recorded:
        if not Path(recorded).exists():
            raise ValueError(f"{bag} was converted from {recorded}, which is not there any "
                             "more; give the sequence folder with --sequence or box files "
                             "with --gt")
        sequences = [Path(recorded)]
        if name is None and CUSTOM_TARGETS in contents.custom_data:
            keep = set(json.loads(contents.custom_data[CUSTOM_TARGETS]))
        else:
            keep = None
    else:
        keep = None
    if sequences:
        from tir_tracker_core.data import load_sequences

        for folder in sequences:
            for seq in load_sequences(Path(folder)):
                if (name is None or seq.name == name) and (keep is None or seq.name in keep):
                    names.append(seq.name)
                    rows.append(np.asarray(seq.gt, dtype=np.float64))
        source = "sequence " + ", ".join(map(str, sequences))
        if not rows:
            raise ValueError(f"no sequence{f' named {name!r}' if name else ''} in "
                             f"{', '.join(map(str, sequences))}")
    for path in gt_files:
        names.append(Path(path).name)
        rows.append(_read_box_file(Path(path)))
        source = ", ".join(filter(None, [source, "box files"]))
    if not rows and contents.topic_gt is not None:
        ids = sorted({i for boxes in contents.topic_gt.values() for i in boxes})
        for i in ids:
            names.append(f"id {i}")
            rows.append(np.stack([contents.topic_gt.get(f.stamp_ns, {}).get(
                i, np.full(4, np.nan)) for f in contents.frames]))
        source = "topic"
    if not rows:
        raise ValueError(f"{bag}: no ground truth; give the benchmark sequence the bag was "
                         "made from (--sequence FOLDER) or box files (--gt FILE)")
    for target, boxes in zip(names, rows):
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"ground truth {target}: rows of 4 values (x, y, w, h) expected")
        if len(boxes) != n:
            raise ValueError(f"ground truth {target} has {len(boxes)} rows but {bag} has {n} "
                             "images; row i belongs to the bag's i-th image")
        if not _valid(boxes).any():
            raise ValueError(f"ground truth {target} has no valid box")
    return GroundTruth(names, np.stack(rows), source)


# ---------------------------------------------------------------------------- offline
def evaluate_bag(bag: Path, tracker: Any, *, sequences: Sequence[Path] = (),
                 gt_files: Sequence[Path] = (), name: str | None = None,
                 results: Path | None = None, storage: str = "mcap",
                 image_topic: str = IMAGE_TOPIC, gt_topic: str | None = GT_TOPIC) -> Report:
    """Track the bag's frames with ``tracker`` and score every target.

    Each target is set on its first annotated frame (``init`` for the first frame holding
    any, ``add`` after), tracked on every later frame, and scored from that frame on (its
    frame 1). The tracks are written to ``results`` (a bag, the images' stamps) if given.
    """
    contents = read_bag(bag, image_topic=image_topic, gt_topic=gt_topic)
    gt = load_ground_truth(contents, sequences=sequences, gt_files=gt_files, name=name,
                           bag=bag)
    frames, store = contents.frames, contents.store
    starts = gt.first_frames
    pred = np.full_like(gt.boxes, np.nan)
    ids: list[int | None] = [None] * len(starts)
    index_of: dict[int, int] = {}  # tracker id -> target
    per_frame: list[tuple[int, Any]] = []
    elapsed, updates = 0.0, 0
    for f in frames:
        tracks: tuple = ()
        if tracker.num_targets:
            t0 = time.perf_counter()
            tracks = tracker.update(conv.image_to_array(f.image))
            elapsed += time.perf_counter() - t0
            updates += 1
            for t in tracks:
                if t.id in index_of:
                    pred[index_of[t.id], f.index] = t.box
        new = [k for k, s in enumerate(starts) if s == f.index]
        out = [(t.id, t.box, t.score, int(t.lost), t.age) for t in tracks]
        if new:
            boxes = [tuple(float(v) for v in gt.boxes[k, f.index]) for k in new]
            action = tracker.add if tracker.num_targets else tracker.init
            for k, i in zip(new, action(conv.image_to_array(f.image), boxes)):
                ids[k], index_of[int(i)] = int(i), k
                pred[k, f.index] = gt.boxes[k, f.index]
                out.append((int(i), gt.boxes[k, f.index], 1.0, 0, 0))
        per_frame.append((f.index, out))
    if results is not None:
        with Writer(results, version=9, storage_plugin=STORAGES[storage]) as writer:
            conn = writer.add_connection(TRACKS_TOPIC, TRACK_ARRAY_TYPE, typestore=store)
            for index, tracks in per_frame:
                f = frames[index]
                msg = _track_array(store, f.image.header, tracks)
                writer.write(conn, f.timestamp, store.serialize_cdr(msg, TRACK_ARRAY_TYPE))
    return _report("offline", bag, gt, pred, ids,
                   fps=updates / elapsed if elapsed > 0 else None,
                   reacquisitions=getattr(tracker, "reacquisitions", None))


# ---------------------------------------------------------------------------- scoring
def score_tracks(tracks_bag: Path, bag: Path, *, sequences: Sequence[Path] = (),
                 gt_files: Sequence[Path] = (), name: str | None = None,
                 image_topic: str = IMAGE_TOPIC, gt_topic: str | None = GT_TOPIC,
                 tracks_topic: str | None = None) -> Report:
    """Score a bag of ``TrackArray`` messages (``ros2 bag record`` of a node's ``~/tracks``
    while ``ros2 bag play`` replayed ``bag``) against ``bag``'s ground truth.

    Tracks belong to the image with the same header stamp. Each target is the track id
    that overlaps its box most (IoU) on the first frame from its first annotated frame on
    where tracks were recorded; each id serves one target.
    """
    from tir_tracker_core.eval.metrics import iou

    contents = read_bag(bag, image_topic=image_topic, gt_topic=gt_topic)
    gt = load_ground_truth(contents, sequences=sequences, gt_files=gt_files, name=name,
                           bag=bag)
    by_stamp: dict[int, dict[int, np.ndarray]] = {}
    with AnyReader([Path(tracks_bag)], default_typestore=contents.store) as reader:
        conns = [c for c in reader.connections if c.msgtype == TRACK_ARRAY_TYPE
                 and (tracks_topic is None or c.topic == tracks_topic)]
        topics = sorted({c.topic for c in conns})
        if tracks_topic is None and len(topics) > 1:  # e.g. recorded with -a: gt copy too
            topics = [t for t in topics if t.endswith("/tracks")]
            conns = [c for c in conns if c.topic in topics]
        if len(topics) != 1:
            raise ValueError(f"{tracks_bag} has {len(topics) or 'no'} {TRACK_ARRAY_TYPE} "
                             f"topic(s) {' '.join(topics)}" + (
                                 f" named {tracks_topic}" if tracks_topic else
                                 "; pick one with --tracks-topic"))
        for conn, _, raw in reader.messages(conns):
            msg = reader.deserialize(raw, conn.msgtype)
            by_stamp.setdefault(conv.stamp_to_ns(msg.header.stamp), {
                int(t.id): np.array([t.box.x, t.box.y, t.box.width, t.box.height])
                for t in msg.tracks})
    stamps = [f.stamp_ns for f in contents.frames]
    pred = np.full_like(gt.boxes, np.nan)
    ids: list[int | None] = [None] * len(gt.names)
    taken: set[int] = set()
    for k, first in enumerate(gt.first_frames):
        for i in range(first, len(stamps)):
            tracks = {j: b for j, b in by_stamp.get(stamps[i], {}).items() if j not in taken}
            if tracks:
                best = max(tracks, key=lambda j: float(iou(tracks[j][None],
                                                           gt.boxes[k, i][None])[0]))
                ids[k] = best
                taken.add(best)
                break
        pred[k, first] = gt.boxes[k, first]
        for i in range(first + 1, len(stamps)):
            box = by_stamp.get(stamps[i], {}).get(ids[k]) if ids[k] is not None else None
            if box is not None:
                pred[k, i] = box
    return _report("recorded", bag, gt, pred, ids,
                   tracks_received=sum(s in by_stamp for s in stamps),
                   frames_without_tracks=sum(s not in by_stamp for s in stamps))


# ---------------------------------------------------------------------------- live
class _SimClock:
    """/clock from the bag's receive times: held at a frame while the replay waits on the
    node, running at ``rate`` from a frame on while the bag plays; never backwards."""

    def __init__(self, publisher: Any, clock_type: Any, period: float = 0.01) -> None:
        self._pub, self._type, self._period = publisher, clock_type, period
        self._lock = threading.Lock()
        self._base: tuple[int, float, float] | None = None  # bag ns, monotonic, rate
        self._last = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def hold(self, bag_ns: int) -> None:
        with self._lock:
            self._base = (bag_ns, time.monotonic(), 0.0)
        self.publish()

    def play(self, bag_ns: int, start: float, rate: float) -> None:
        with self._lock:
            self._base = (bag_ns, start, rate)

    def publish(self) -> None:
        with self._lock:
            if self._base is None:
                return
            bag_ns, start, rate = self._base
            now = max(self._last, bag_ns + int((time.monotonic() - start) * rate * 1e9))
            self._last = now
            msg = self._type()
            conv.ns_to_stamp(now, msg.clock)
            self._pub.publish(msg)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self.publish()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)


def replay_bag(bag: Path, *, node: str = "/tir_tracker", rate: float = 1.0,
               record: Path | None = None, storage: str = "mcap",
               image_topic: str = "/image", reliability: str = "best_effort",
               timeout: float = 30.0, ros_args: Sequence[str] = (),
               bag_image_topic: str = IMAGE_TOPIC, gt_topic: str | None = GT_TOPIC,
               sequences: Sequence[Path] = (), gt_files: Sequence[Path] = (),
               name: str | None = None, clock: bool = True) -> Report:
    """Replay ``bag`` in real time (times ``rate``) through DDS into a running tracker node.

    Images keep their recorded header stamps; with ``clock`` the bag's time is published on
    ``/clock`` (as ``ros2 bag play --clock``), so a node with ``use_sim_time`` sees the
    recording's time. On each target's first annotated frame the replay pauses: it publishes
    that frame until the node has processed it, sets the target(s) with ``node``/set_targets
    on that frame's stamp (replace for the first, add later), then plays on. It records
    ``node``/tracks and scores every target. Latency is publication to tracks received
    (wall time). Needs rclpy.
    """
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    from .msg import Box, TrackArray
    from .srv import SetTargets

    contents = read_bag(bag, image_topic=bag_image_topic, gt_topic=gt_topic)
    gt = load_ground_truth(contents, sequences=sequences, gt_files=gt_files, name=name,
                           bag=bag)
    frames, store = contents.frames, contents.store
    starts = gt.first_frames
    received: dict[int, tuple[int, bytes]] = {}  # stamp -> (receive ns, raw TrackArray)
    diagnostics: dict[str, str] = {}
    diagnostics_stamp = [0]
    node_name = node.strip("/")

    def on_tracks(raw: bytes) -> None:
        now = time.time_ns()
        msg = deserialize_message(raw, TrackArray)
        received.setdefault(conv.stamp_to_ns(msg.header.stamp), (now, raw))

    def on_diagnostics(msg: Any) -> None:
        for status in msg.status:
            if status.name == f"{node_name}: tracking":
                diagnostics.clear()
                diagnostics.update({kv.key: kv.value for kv in status.values})
                diagnostics_stamp[0] = conv.stamp_to_ns(msg.header.stamp)

    rclpy.init(args=["--ros-args", *ros_args] if ros_args else None)
    ros = Node("tir_tracker_replay")
    executor = SingleThreadedExecutor()
    executor.add_node(ros)
    spinner = None
    sim: _SimClock | None = None
    published: dict[int, int] = {}  # stamp -> wall ns of its (last) publication
    ids: list[int | None] = [None] * len(starts)
    try:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=(ReliabilityPolicy.RELIABLE if reliability == "reliable"
                                      else ReliabilityPolicy.BEST_EFFORT))
        publisher = ros.create_publisher(Image, image_topic, qos)
        if clock:
            sim = _SimClock(ros.create_publisher(Clock, "/clock", 10), Clock)
        ros.create_subscription(TrackArray, f"{node}/tracks", on_tracks, 1000, raw=True)
        ros.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
        client = ros.create_client(SetTargets, f"{node}/set_targets")
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()

        deadline = time.monotonic() + timeout
        while publisher.get_subscription_count() == 0 or not client.service_is_ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no node subscribed to {image_topic} with service "
                                   f"{node}/set_targets within {timeout:.0f} s")
            time.sleep(0.05)
        if sim is not None:
            sim.hold(frames[0].timestamp)
            sim.start()
            if not _uses_sim_time(ros, node, timeout=2.0):
                log.warning("%s does not use sim time (use_sim_time false or unknown): its "
                            "latency and drop diagnostics compare the bag's stamps with wall "
                            "time; start it with -p use_sim_time:=true", node)

        def message(f: BagFrame) -> Image:
            msg = Image()
            msg.header.stamp.sec = f.image.header.stamp.sec
            msg.header.stamp.nanosec = f.image.header.stamp.nanosec
            msg.header.frame_id = f.image.header.frame_id
            return conv.fill_image(msg, conv.image_to_array(f.image))

        def publish(f: BagFrame, msg: Image) -> None:
            published[f.stamp_ns] = time.time_ns()
            publisher.publish(msg)

        def set_on(f: BagFrame, new: list[int]) -> None:
            """Publish ``f`` until the node has it, then set the targets starting there."""
            if sim is not None:
                sim.hold(f.timestamp)
            msg = message(f)
            wait_until = time.monotonic() + timeout
            while f.stamp_ns not in received:  # best effort: resend until the node has it
                if time.monotonic() > wait_until:
                    raise TimeoutError(f"the node did not publish tracks for frame {f.index} "
                                       f"on {node}/tracks within {timeout:.0f} s")
                publish(f, msg)
                time.sleep(0.2)
            request = SetTargets.Request(
                boxes=[conv.fill_box(Box(), gt.boxes[k, f.index]) for k in new],
                replace=all(i is None for i in ids))
            request.stamp.sec = f.image.header.stamp.sec
            request.stamp.nanosec = f.image.header.stamp.nanosec
            response = _call(client, request, timeout)
            if not response.success:
                raise RuntimeError(f"set_targets on frame {f.index} failed: "
                                   f"{response.message}")
            for k, i in zip(new, response.ids):
                ids[k] = int(i)

        t0, b0 = time.monotonic(), frames[0].timestamp
        for f in frames:
            new = [k for k, s in enumerate(starts) if s == f.index]
            if new:
                set_on(f, new)
                t0, b0 = time.monotonic(), f.timestamp  # play on from here
                if sim is not None:
                    sim.play(b0, t0, rate)
                continue
            if all(i is None for i in ids):
                continue  # before the first annotated frame: nothing to track
            wait = t0 + (f.timestamp - b0) * 1e-9 / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if sim is not None:
                sim.publish()
            publish(f, message(f))
        last = frames[-1].stamp_ns
        settle = time.monotonic() + 2.0
        while last not in received and time.monotonic() < settle:
            time.sleep(0.05)
        # the node's last diagnostics after the last frame (its timer runs on /clock)
        settle = time.monotonic() + 1.5 + (1.0 / rate if clock else 0.0)
        while time.monotonic() < settle and not (
                diagnostics_stamp[0] and int(diagnostics.get("frames_processed", 0))
                >= sum(s in received for s in published)):
            time.sleep(0.05)
    finally:
        if sim is not None:
            sim.stop()
        executor.shutdown(timeout_sec=1.0)
        if spinner is not None:
            spinner.join(timeout=2.0)
        ros.destroy_node()
        rclpy.try_shutdown()

    pred = np.full_like(gt.boxes, np.nan)
    latencies = []
    index_of = {i: k for k, i in enumerate(ids) if i is not None}
    for f in frames:
        if f.stamp_ns not in received:
            continue
        receive_ns, raw = received[f.stamp_ns]
        for t in deserialize_message(raw, TrackArray).tracks:
            if t.id in index_of:
                pred[index_of[t.id], f.index] = (t.box.x, t.box.y, t.box.width, t.box.height)
        if f.stamp_ns in published:
            latencies.append((receive_ns - published[f.stamp_ns]) * 1e-6)
    for k, first in enumerate(starts):
        pred[k, first] = gt.boxes[k, first]
    if record is not None:
        _record(record, storage, store, received)
    p50, p99, pmax = (np.percentile(latencies, (50, 99, 100)).tolist() if latencies
                      else (math.nan,) * 3)
    return _report("live", bag, gt, pred, ids, frames_published=len(published),
                   tracks_received=sum(s in received for s in published),
                   frames_without_tracks=sum(s not in received for s in published),
                   latency_ms_p50=p50, latency_ms_p99=p99, latency_ms_max=pmax,
                   clock_published=clock, node_diagnostics_stamp_ns=diagnostics_stamp[0] or None,
                   node_diagnostics=dict(diagnostics))


def _uses_sim_time(ros: Any, node: str, timeout: float) -> bool:
    """Whether ``node``'s ``use_sim_time`` parameter is true (False when it cannot be read)."""
    from rcl_interfaces.srv import GetParameters

    client = ros.create_client(GetParameters, f"{node}/get_parameters")
    try:
        if not client.wait_for_service(timeout_sec=timeout):
            return False
        values = _call(client, GetParameters.Request(names=["use_sim_time"]), timeout).values
        return bool(values) and bool(values[0].bool_value)
    except TimeoutError:
        return False
    finally:
        ros.destroy_client(client)


def _call(client: Any, request: Any, timeout: float) -> Any:
    future = client.call_async(request)
    deadline = time.monotonic() + timeout
    while not future.done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {client.srv_name} within {timeout:.0f} s")
        time.sleep(0.01)
    return future.result()


def _record(path: Path, storage: str, store: Any, received: dict[int, tuple[int, bytes]]
            ) -> None:
    with Writer(path, version=9, storage_plugin=STORAGES[storage]) as writer:
        conn = writer.add_connection(TRACKS_TOPIC, TRACK_ARRAY_TYPE, typestore=store)
        for receive_ns, raw in sorted(received.values(), key=lambda x: x[0]):
            writer.write(conn, receive_ns, raw)


# ---------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tir-tracker-bag", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="benchmark sequence -> rosbag2")
    c.add_argument("sequence", type=Path, help="sequence folder (any layout load_sequences "
                   "reads; an OTB folder with groundtruth_rect.<k>.txt gives every target) "
                   "or a benchmark root (with --name)")
    c.add_argument("out", type=Path, help="output bag folder (must not exist)")
    c.add_argument("--name", help="sequence name when the path holds several")
    c.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    c.add_argument("--fps", type=float, default=30.0)
    c.add_argument("--start", type=float, help="stamp of the first frame, s since the epoch "
                   "(default: now)")
    c.add_argument("--encoding", default="auto",
                   choices=["auto", "mono8", "mono16", "bgr8", "rgb8"])
    c.add_argument("--frame-id", default="thermal")

    e = sub.add_parser("evaluate", help="track a bag offline and score every target")
    e.add_argument("bag", type=Path)
    e.add_argument("--model", default="default")
    e.add_argument("--backend", default="auto",
                   help="inference backend: auto (the fastest installed for --device), torch, "
                        "onnxruntime, tensorrt (default: %(default)s)")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=int, default=1,
                   help="CPU threads of the backend (0: its default)")
    e.add_argument("--results", type=Path, help="write the tracks to this bag")

    r = sub.add_parser("replay", help="replay a bag through a running tracker node (keeps "
                       "the stamps, publishes /clock)")
    r.add_argument("bag", type=Path)
    r.add_argument("--node", default="/tir_tracker", help="tracker node name")
    r.add_argument("--image-topic", default="/image",
                   help="topic the node subscribes to (its image_topic, resolved)")
    r.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    r.add_argument("--reliability", choices=["best_effort", "reliable"],
                   default="best_effort")
    r.add_argument("--timeout", type=float, default=30.0)
    r.add_argument("--no-clock", action="store_true",
                   help="do not publish /clock (another process does)")
    r.add_argument("--record", type=Path, help="record the node's tracks to this bag")

    s = sub.add_parser("score", help="score recorded tracks (ros2 bag record of ~/tracks "
                       "during ros2 bag play) against the bag's ground truth")
    s.add_argument("tracks", type=Path, help="bag holding the node's TrackArray messages")
    s.add_argument("--bag", type=Path, required=True, help="the bag that was played")
    s.add_argument("--tracks-topic", help="TrackArray topic (default: the only one)")
    for p in (e, r, s):
        p.add_argument("--sequence", type=Path, action="append", default=[],
                       help="benchmark folder the bag was made from (ground truth; default: "
                       "the one convert recorded in the bag); repeatable")
        p.add_argument("--gt", type=Path, action="append", default=[],
                       help="box file of one target, a row per image of the bag (x,y,w,h; "
                       "NaN rows before it appears); repeatable")
        p.add_argument("--name", help="keep only this sequence of --sequence")
    for p in (e, r):
        p.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    for p in (e, r, s):
        p.add_argument("--report", type=Path, help="write the report as JSON here")
    for p in (c, e, r, s):
        p.add_argument("--bag-image-topic", default=IMAGE_TOPIC, help="image topic in the bag")
        p.add_argument("--gt-topic", default=GT_TOPIC,
                       help="ground-truth TrackArray topic (written by convert; read when "
                       "no text ground truth is found)")
    return parser


def _convert(args: argparse.Namespace) -> int:
    from tir_tracker_core.data import load_sequences

    sequences = load_sequences(args.sequence)
    if args.name is not None:
        chosen = [s for s in sequences if s.name == args.name]
    elif len({s.frame_paths for s in sequences}) == 1 and sequences[0].frame_paths:
        chosen = sequences  # one sequence, or several targets on the same frames (OTB)
    else:
        chosen = sequences if len(sequences) == 1 else []
    if not chosen:
        names = ", ".join(s.name for s in sequences)
        raise ValueError(f"{args.sequence} holds {len(sequences)} sequence(s) "
                         f"({names}); pick one with --name")
    start_ns = None if args.start is None else round(args.start * 1e9)
    n = convert_sequence(chosen[0], args.out, storage=args.storage, fps=args.fps,
                         encoding=args.encoding, frame_id=args.frame_id, start_ns=start_ns,
                         image_topic=args.bag_image_topic, gt_topic=args.gt_topic,
                         targets=chosen, source=args.sequence)
    print(f"wrote {n} frames of {', '.join(s.name for s in chosen)} to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ros_args: list[str] = []
    if "--ros-args" in argv:
        cut = argv.index("--ros-args")
        argv, ros_args = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "convert":
            return _convert(args)
        truth = {"sequences": args.sequence, "gt_files": args.gt, "name": args.name,
                 "gt_topic": args.gt_topic}
        if args.command == "evaluate":
            from tir_tracker_core.api import load_tracker

            tracker = load_tracker(args.model, backend=args.backend, device=args.device,
                                   backend_options={"threads": args.threads}
                                   if args.threads else None)
            report = evaluate_bag(args.bag, tracker, results=args.results,
                                  storage=args.storage, image_topic=args.bag_image_topic,
                                  **truth)
        elif args.command == "score":
            report = score_tracks(args.tracks, args.bag, image_topic=args.bag_image_topic,
                                  tracks_topic=args.tracks_topic, **truth)
        else:
            report = replay_bag(args.bag, node=args.node, rate=args.rate, record=args.record,
                                storage=args.storage, image_topic=args.image_topic,
                                reliability=args.reliability, timeout=args.timeout,
                                ros_args=ros_args, bag_image_topic=args.bag_image_topic,
                                clock=not args.no_clock, **truth)
    except (OSError, ValueError, RuntimeError, TimeoutError) as e:  # core errors too
        print(f"tir-tracker-bag {args.command}: {e}", file=sys.stderr)
        return 1
    if args.report:
        args.report.write_text(report.to_json() + "\n")
    print(report.to_json())
    print(report.table(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
