"""Rosbag tools: benchmark sequence -> bag, offline bag evaluation, live replay evaluation.

    tir-tracker-bag convert SEQUENCE_DIR OUT_BAG [--storage mcap] [--fps 30]
    tir-tracker-bag evaluate BAG [--model default] [--results OUT_BAG] [--report FILE.json]
    tir-tracker-bag replay BAG [--node /tir_tracker] [--rate 1] [--record OUT_BAG]
                           [--report FILE.json] [--ros-args ...]

A converted bag holds ``sensor_msgs/Image`` frames on ``/thermal/image`` and the ground
truth as ``tir_tracker_ros/TrackArray`` (one track, id 0) on ``/thermal/ground_truth``, both
with the frame's stamp. ``convert`` and ``evaluate`` need rosbags only (no ROS install: the
package's message types are registered from its .msg files); ``replay`` needs rclpy and the
built interfaces. Scores follow the core's LSOTB-TIR rules (``evaluate_sequence``): the
first frame is the initialisation, later frames without a received track count as the
previous box.
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
class Report:
    """Accuracy and timing of one run over a bag (JSON-serialisable)."""

    mode: str
    bag: str
    frames: int
    success: float
    precision: float
    norm_precision: float
    fps: float | None = None
    frames_published: int | None = None
    tracks_received: int | None = None
    frames_without_tracks: int | None = None
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    latency_ms_max: float | None = None
    node_diagnostics: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def score(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    from tir_tracker_core.eval.metrics import evaluate_sequence

    scores = evaluate_sequence(pred, gt)
    return scores.success, scores.precision, scores.norm_precision


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
                     gt_topic: str = GT_TOPIC) -> int:
    """Write ``sequence`` (core ``Sequence``: name, gt, frame(i)) to a rosbag2 at ``out``.

    Frames are ``fps`` apart from ``start_ns`` (default: now). ``encoding`` ``auto`` keeps
    the frame's type (mono8, mono16, bgr8; grey frames stored as 3 equal channels become
    mono8). Returns the number of frames written.
    """
    store = make_typestore()
    start_ns = time.time_ns() if start_ns is None else start_ns
    period_ns = round(1e9 / fps)
    with Writer(out, version=9, storage_plugin=STORAGES[storage]) as writer:
        image_conn = writer.add_connection(image_topic, IMAGE_TYPE, typestore=store)
        gt_conn = writer.add_connection(gt_topic, TRACK_ARRAY_TYPE, typestore=store)
        for i in range(len(sequence)):
            stamp = start_ns + i * period_ns
            header = _header(store, stamp, frame_id)
            frame, enc = _frame_encoding(sequence.frame(i), encoding)
            writer.write(image_conn, stamp, store.serialize_cdr(
                _image(store, frame, header, enc), IMAGE_TYPE))
            gt = _track_array(store, header, [(0, sequence.gt[i], 1.0, 0, i)])
            writer.write(gt_conn, stamp, store.serialize_cdr(gt, TRACK_ARRAY_TYPE))
    return len(sequence)


# ---------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class BagFrame:
    index: int
    timestamp: int  # bag receive time, ns
    stamp_ns: int  # header stamp, ns
    image: Any  # rosbags sensor_msgs/Image
    gt: np.ndarray  # (4,) x, y, w, h; NaN when the bag has none for this stamp


def read_frames(bag: Path, *, image_topic: str = IMAGE_TOPIC,
                gt_topic: str = GT_TOPIC) -> tuple[list[BagFrame], Any]:
    """Image messages of ``bag`` in order, each with its ground truth (matched by stamp)."""
    store = make_typestore()
    with AnyReader([Path(bag)], default_typestore=store) as reader:
        by_topic = {c.topic: c for c in reader.connections}
        for topic in (image_topic, gt_topic):
            if topic not in by_topic:
                raise ValueError(f"{bag} has no topic {topic}; it has "
                                 f"{', '.join(sorted(by_topic)) or 'none'}")
        gts: dict[int, np.ndarray] = {}
        images = []
        for conn, timestamp, raw in reader.messages([by_topic[image_topic],
                                                     by_topic[gt_topic]]):
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = conv.stamp_to_ns(msg.header.stamp)
            if conn.topic == gt_topic:
                if msg.tracks:
                    b = msg.tracks[0].box
                    gts[stamp] = np.array([b.x, b.y, b.width, b.height])
            else:
                images.append((timestamp, stamp, msg))
    frames = [BagFrame(i, t, s, m, gts.get(s, np.full(4, np.nan)))
              for i, (t, s, m) in enumerate(sorted(images, key=lambda x: x[0]))]
    if not frames:
        raise ValueError(f"{bag} has no image on {image_topic}")
    if not np.all(np.isfinite(frames[0].gt)):
        raise ValueError(f"{bag}: the first image has no ground-truth box on {gt_topic}")
    return frames, store


# ---------------------------------------------------------------------------- offline
def evaluate_bag(bag: Path, tracker: Any, *, results: Path | None = None,
                 storage: str = "mcap", image_topic: str = IMAGE_TOPIC,
                 gt_topic: str = GT_TOPIC) -> Report:
    """Track the bag's frames with ``tracker`` (initialised on the first frame's ground
    truth), score against the ground truth and optionally write the tracks to ``results``."""
    frames, store = read_frames(bag, image_topic=image_topic, gt_topic=gt_topic)
    gt = np.stack([f.gt for f in frames])
    pred = np.full_like(gt, np.nan)
    per_frame: list[tuple[int, Any]] = []
    ids = tracker.init(conv.image_to_array(frames[0].image),
                       [tuple(float(v) for v in gt[0])])
    pred[0] = gt[0]
    per_frame.append((0, [(ids[0], gt[0], 1.0, 0, 0)]))
    start = time.perf_counter()
    for f in frames[1:]:
        tracks = tracker.update(conv.image_to_array(f.image))
        pred[f.index] = tracks[0].box
        per_frame.append((f.index, [(t.id, t.box, t.score, int(t.lost),
                                     t.age) for t in tracks]))
    elapsed = time.perf_counter() - start
    if results is not None:
        with Writer(results, version=9, storage_plugin=STORAGES[storage]) as writer:
            conn = writer.add_connection(TRACKS_TOPIC, TRACK_ARRAY_TYPE, typestore=store)
            for index, tracks in per_frame:
                f = frames[index]
                msg = _track_array(store, f.image.header, tracks)
                writer.write(conn, f.timestamp, store.serialize_cdr(msg, TRACK_ARRAY_TYPE))
    success, precision, norm_precision = score(pred, gt)
    return Report("offline", str(bag), len(frames), success, precision, norm_precision,
                  fps=(len(frames) - 1) / elapsed if elapsed > 0 else None)


# ---------------------------------------------------------------------------- live
def replay_bag(bag: Path, *, node: str = "/tir_tracker", rate: float = 1.0,
               record: Path | None = None, storage: str = "mcap",
               image_topic: str = "/image", reliability: str = "best_effort",
               timeout: float = 30.0, ros_args: Sequence[str] = (),
               bag_image_topic: str = IMAGE_TOPIC, gt_topic: str = GT_TOPIC) -> Report:
    """Replay ``bag`` in real time (times ``rate``) through DDS into a running tracker node.

    Publishes frame 0, waits until the node has it, sets the first ground-truth box with
    ``node``/set_targets (on that frame's stamp), then publishes the other frames on the
    bag's schedule, each stamped with its publication time, and records ``node``/tracks.
    Latency is the time from that stamp to receiving the tracks. Needs rclpy.
    """
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    from .msg import Box, TrackArray
    from .srv import SetTargets

    frames, store = read_frames(bag, image_topic=bag_image_topic, gt_topic=gt_topic)
    gt = np.stack([f.gt for f in frames])
    received: dict[int, tuple[int, bytes]] = {}  # stamp -> (receive ns, raw TrackArray)
    diagnostics: dict[str, str] = {}
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

    rclpy.init(args=["--ros-args", *ros_args] if ros_args else None)
    ros = Node("tir_tracker_replay")
    executor = SingleThreadedExecutor()
    executor.add_node(ros)
    spinner = None
    try:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=(ReliabilityPolicy.RELIABLE if reliability == "reliable"
                                      else ReliabilityPolicy.BEST_EFFORT))
        publisher = ros.create_publisher(Image, image_topic, qos)
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

        def message(f: BagFrame, stamp_ns: int) -> Image:
            msg = Image()
            conv.ns_to_stamp(stamp_ns, msg.header.stamp)
            msg.header.frame_id = f.image.header.frame_id
            return conv.fill_image(msg, conv.image_to_array(f.image))

        first_stamp = time.time_ns()
        first = message(frames[0], first_stamp)
        while first_stamp not in received:  # best effort: resend until the node has it
            if time.monotonic() > deadline:
                raise TimeoutError(f"the node did not publish tracks for the first frame "
                                   f"on {node}/tracks within {timeout:.0f} s")
            publisher.publish(first)
            time.sleep(0.2)
        request = SetTargets.Request(boxes=[conv.fill_box(Box(), gt[0])], replace=True)
        conv.ns_to_stamp(first_stamp, request.stamp)
        response = _call(client, request, timeout)
        if not response.success:
            raise RuntimeError(f"set_targets failed: {response.message}")
        target = response.ids[0]

        stamps = {}
        t0, b0 = time.monotonic(), frames[1].timestamp if len(frames) > 1 else 0
        for f in frames[1:]:
            wait = t0 + (f.timestamp - b0) * 1e-9 / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            stamp = time.time_ns()
            stamps[stamp] = f.index
            publisher.publish(message(f, stamp))
        last = max(stamps) if stamps else first_stamp
        settle = time.monotonic() + 2.0
        while last not in received and time.monotonic() < settle:
            time.sleep(0.05)
        time.sleep(min(1.5, max(0.0, settle - time.monotonic())))  # a diagnostics period
    finally:
        executor.shutdown(timeout_sec=1.0)
        if spinner is not None:
            spinner.join(timeout=2.0)
        ros.destroy_node()
        rclpy.try_shutdown()

    pred = np.full_like(gt, np.nan)
    pred[0] = gt[0]
    latencies = []
    for stamp, index in stamps.items():
        if stamp in received:
            tracks = deserialize_message(received[stamp][1], TrackArray).tracks
            box = next((t.box for t in tracks if t.id == target), None)
            if box is not None:
                pred[index] = (box.x, box.y, box.width, box.height)
            latencies.append((received[stamp][0] - stamp) * 1e-6)
    if record is not None:
        _record(record, storage, store, received)
    success, precision, norm_precision = score(pred, gt)
    p50, p99, pmax = (np.percentile(latencies, (50, 99, 100)).tolist() if latencies
                      else (math.nan,) * 3)
    return Report("live", str(bag), len(frames), success, precision, norm_precision,
                  frames_published=len(stamps) + 1,
                  tracks_received=sum(s in received for s in stamps) + 1,
                  frames_without_tracks=sum(s not in received for s in stamps),
                  latency_ms_p50=p50, latency_ms_p99=p99, latency_ms_max=pmax,
                  node_diagnostics=dict(diagnostics))


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
                   "reads) or a benchmark root")
    c.add_argument("out", type=Path, help="output bag folder (must not exist)")
    c.add_argument("--name", help="sequence name when the path holds several")
    c.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    c.add_argument("--fps", type=float, default=30.0)
    c.add_argument("--encoding", default="auto",
                   choices=["auto", "mono8", "mono16", "bgr8", "rgb8"])
    c.add_argument("--frame-id", default="thermal")

    e = sub.add_parser("evaluate", help="track a bag offline and score it")
    e.add_argument("bag", type=Path)
    e.add_argument("--model", default="default")
    e.add_argument("--backend", default="torch")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=int, default=1,
                   help="CPU threads of the backend (0: its default)")
    e.add_argument("--results", type=Path, help="write the tracks to this bag")
    e.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    e.add_argument("--report", type=Path, help="write the report as JSON here")

    r = sub.add_parser("replay", help="replay a bag through a running tracker node")
    r.add_argument("bag", type=Path)
    r.add_argument("--node", default="/tir_tracker", help="tracker node name")
    r.add_argument("--image-topic", default="/image",
                   help="topic the node subscribes to (its image_topic, resolved)")
    r.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    r.add_argument("--reliability", choices=["best_effort", "reliable"],
                   default="best_effort")
    r.add_argument("--timeout", type=float, default=30.0)
    r.add_argument("--record", type=Path, help="record the node's tracks to this bag")
    r.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    r.add_argument("--report", type=Path, help="write the report as JSON here")
    for p in (c, e, r):
        p.add_argument("--bag-image-topic", default=IMAGE_TOPIC, help="image topic in the bag")
        p.add_argument("--gt-topic", default=GT_TOPIC)
    return parser


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
            from tir_tracker_core.data import load_sequences

            sequences = load_sequences(args.sequence)
            chosen = [s for s in sequences if args.name in (None, s.name)]
            if len(chosen) != 1:
                names = ", ".join(s.name for s in sequences)
                raise ValueError(f"{args.sequence} holds {len(sequences)} sequence(s) "
                                 f"({names}); pick one with --name")
            n = convert_sequence(chosen[0], args.out, storage=args.storage, fps=args.fps,
                                 encoding=args.encoding, frame_id=args.frame_id,
                                 image_topic=args.bag_image_topic, gt_topic=args.gt_topic)
            print(f"wrote {n} frames of {chosen[0].name} to {args.out}")
            return 0
        if args.command == "evaluate":
            from tir_tracker_core.api import load_tracker

            tracker = load_tracker(args.model, backend=args.backend, device=args.device,
                                   backend_options={"threads": args.threads}
                                   if args.threads else None)
            report = evaluate_bag(args.bag, tracker, results=args.results,
                                  storage=args.storage, image_topic=args.bag_image_topic,
                                  gt_topic=args.gt_topic)
        else:
            report = replay_bag(args.bag, node=args.node, rate=args.rate, record=args.record,
                                storage=args.storage, image_topic=args.image_topic,
                                reliability=args.reliability, timeout=args.timeout,
                                ros_args=ros_args, bag_image_topic=args.bag_image_topic,
                                gt_topic=args.gt_topic)
    except (OSError, ValueError, RuntimeError, TimeoutError) as e:
        print(f"tir-tracker-bag {args.command}: {e}", file=sys.stderr)
        return 1
    if args.report:
        args.report.write_text(report.to_json() + "\n")
    print(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
