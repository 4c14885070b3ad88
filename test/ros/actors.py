"""Processes that talk to a running tracker node over DDS, started by the tests.

    python actors.py camera --frames N [--rate 30] [--seed 3]
    python actors.py client track --frames N --out result.json
    python actors.py client bad-inputs --corrupt-model FILE --good-model SPEC --out result.json
    python actors.py client params --names a b --out result.json
    python actors.py client reacquire --frames 50 --out result.json

``camera`` publishes a synthetic 640x512 mono16 sequence on /image and its ground truth
(tir_tracker_ros/TrackArray, same stamp) on /camera/ground_truth; it shows the first frame
(a static scene, fresh stamps) until the node reports a target, so that every run starts
tracking on the same frame. The clients report what
they saw as JSON; the tests make the assertions. The environment (ROS_DOMAIN_ID, PYTHONPATH
to the built interfaces, Fast DDS profile) comes from the tests' fixtures.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from ros_helpers import MOVING_BOX_0

from tir_tracker_ros import conversions as conv
from tir_tracker_ros.msg import Box, Track, TrackArray
from tir_tracker_ros.srv import RemoveTargets, SetTargets

IMAGE_TOPIC = "/image"
GT_TOPIC = "/camera/ground_truth"
SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.BEST_EFFORT)


class Ros:
    """rclpy node spun in a background thread; calls block with a timeout."""

    def __init__(self, name: str) -> None:
        rclpy.init()
        self.node = Node(name)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def call(self, client: Any, request: Any, timeout: float = 60.0) -> Any:
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {client.srv_name} not available")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer from {client.srv_name}")
            time.sleep(0.005)
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.thread.join(timeout=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


# ---------------------------------------------------------------------------- camera
def moving_box(frames: int, seed: int = 3) -> tuple[list[np.ndarray], np.ndarray]:
    """A warm 80x60 rectangle gliding over a noisy 640x512 mono16 background (no core
    dependency): frames and the boxes (x, y, w, h); frame 0's box is MOVING_BOX_0."""
    rng = np.random.default_rng(seed)
    background = (7500 + rng.normal(0, 40, (512, 640))).astype(np.uint16)
    out, boxes = [], []
    for i in range(frames):
        x, y = MOVING_BOX_0[0] + 2.0 * i, MOVING_BOX_0[1] + 20 * math.sin(i / 15)
        frame = background.copy()
        frame[int(y):int(y) + 60, int(x):int(x) + 80] = 9000
        out.append(frame)
        boxes.append((float(int(x)), float(int(y)), 80.0, 60.0))
    return out, np.asarray(boxes)



def camera(args: argparse.Namespace) -> int:
    if args.pattern == "moving-box":
        frames, boxes = moving_box(args.frames, args.seed)
    else:
        from tir_tracker_core.data.synthetic import SyntheticConfig, generate_sequence

        seq = generate_sequence(SyntheticConfig(seed=args.seed, num_frames=args.frames,
                                                height=512, width=640, num_targets=1))
        frames = [seq.tir_frame(i) for i in range(len(seq))]  # render before timing starts
        boxes = np.asarray(seq.boxes[0])
    ros = Ros("test_camera")
    try:
        image_pub = ros.node.create_publisher(Image, args.image, SENSOR_QOS)
        gt_pub = ros.node.create_publisher(TrackArray, GT_TOPIC, 100)
        targets_set = threading.Event()
        ros.node.create_subscription(
            TrackArray, f"{args.node}/tracks",
            lambda msg: targets_set.set() if msg.tracks else None, 10)
        wait_for(lambda: image_pub.get_subscription_count() >= 1
                 and (args.no_gt_wait or gt_pub.get_subscription_count() >= 1), 60,
                 "image and gt subscribers")
        time.sleep(0.5)  # let the reliable gt reader's discovery settle both ways
        period = 1.0 / args.rate

        def show(i: int) -> None:
            msg = conv.fill_image(Image(), frames[i], "mono16")
            conv.ns_to_stamp(time.time_ns(), msg.header.stamp)
            msg.header.frame_id = "thermal"
            image_pub.publish(msg)
            gt_pub.publish(TrackArray(header=msg.header, tracks=[
                Track(id=0, box=conv.fill_box(Box(), boxes[i]))]))

        deadline = time.monotonic() + 60
        while not targets_set.is_set() and time.monotonic() < deadline:
            show(0)
            time.sleep(period)
        order = list(range(1, len(frames)))
        if args.loop:  # forth and back until stopped: the motion stays continuous
            order = order + order[-2::-1]
        start, n = time.monotonic(), 0
        while True:
            for i in order:
                n += 1
                wait = start + n * period - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                show(i)
            if not args.loop:
                break
            order.reverse()
        time.sleep(0.5)
    finally:
        ros.close()
    return 0


# ---------------------------------------------------------------------------- clients
def _statuses(array: DiagnosticArray | None) -> list[dict[str, Any]]:
    if array is None:
        return []
    return [{"name": s.name, "level": s.level[0] if isinstance(s.level, bytes) else s.level,
             "message": s.message, "hardware_id": s.hardware_id,
             "values": {kv.key: kv.value for kv in s.values}} for s in array.status]


class Client(Ros):
    def __init__(self, node: str) -> None:
        super().__init__("test_client")
        n = self.node
        self.prefix = node.rstrip("/")
        self.set_targets = n.create_client(SetTargets, f"{self.prefix}/set_targets")
        self.remove_targets = n.create_client(RemoveTargets, f"{self.prefix}/remove_targets")
        self.clear_targets = n.create_client(Trigger, f"{self.prefix}/clear_targets")
        self.set_params = n.create_client(SetParameters, f"{self.prefix}/set_parameters")
        self.get_params = n.create_client(GetParameters, f"{self.prefix}/get_parameters")
        self.tracks: dict[int, tuple[int, TrackArray]] = {}
        self.diagnostics: list[DiagnosticArray] = []
        self.lock = threading.Lock()
        n.create_subscription(TrackArray, f"{self.prefix}/tracks", self._on_tracks, 1000)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 100)

    def _on_tracks(self, msg: TrackArray) -> None:
        with self.lock:
            self.tracks.setdefault(conv.stamp_to_ns(msg.header.stamp), (time.time_ns(), msg))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.append(msg)

    def next_diagnostics(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        count = len(self.diagnostics)
        wait_for(lambda: len(self.diagnostics) > count, timeout, "/diagnostics")
        return _statuses(self.diagnostics[-1])

    def targets(self, boxes: list[tuple[float, float, float, float]], *, replace: bool = True,
                stamp_ns: int = 0) -> dict[str, Any]:
        request = SetTargets.Request(boxes=[conv.fill_box(Box(), b) for b in boxes],
                                     replace=replace)
        conv.ns_to_stamp(stamp_ns, request.stamp)
        r = self.call(self.set_targets, request)
        return {"success": r.success, "message": r.message, "ids": list(r.ids)}

    def parameter(self, name: str, value: Any) -> dict[str, Any]:
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        result = self.call(self.set_params, request).results[0]
        return {"success": result.successful, "message": result.reason}


def client_track(c: Client, args: argparse.Namespace) -> dict[str, Any]:
    gts: dict[int, np.ndarray] = {}
    last_gt = [time.monotonic()]

    def on_gt(msg: TrackArray) -> None:
        b = msg.tracks[0].box
        gts[conv.stamp_to_ns(msg.header.stamp)] = np.array([b.x, b.y, b.width, b.height])
        last_gt[0] = time.monotonic()

    c.node.create_subscription(TrackArray, GT_TOPIC, on_gt, 1000)
    c.set_targets.wait_for_service(timeout_sec=60)
    wait_for(lambda: len(gts) > 0, 60, "ground truth from the camera")
    attempts = []
    while True:  # the image with this stamp may not have reached the node yet: try newer ones
        init_stamp = max(gts)
        answer = c.targets([tuple(gts[init_stamp])], stamp_ns=init_stamp)
        attempts.append(answer)
        if answer["success"] or len(attempts) > 50:
            break
        time.sleep(0.02)
    target = answer["ids"][0] if answer["success"] else None
    wait_for(lambda: len(gts) >= args.frames and time.monotonic() - last_gt[0] > 1.0,
             args.frames / 10 + 60, "the camera's last frame")
    diagnostics = c.next_diagnostics()
    stamps = sorted(s for s in gts if s >= init_stamp)
    gt = np.stack([gts[s] for s in stamps])
    pred = np.full_like(gt, np.nan)
    latencies = []
    for i, stamp in enumerate(stamps):
        if stamp in c.tracks:
            received, msg = c.tracks[stamp]
            latencies.append((received - stamp) * 1e-6)
            for t in msg.tracks:
                if t.id == target:
                    pred[i] = (t.box.x, t.box.y, t.box.width, t.box.height)
    from tir_tracker_core.eval.metrics import evaluate_sequence

    scores = evaluate_sequence(pred, gt)
    p50, p99 = np.percentile(latencies, (50, 99)).tolist() if latencies else (math.nan,) * 2
    return {"set_targets": attempts, "frames_scored": len(stamps),
            "gt_received": len(gts), "tracks_received": sum(s in c.tracks for s in stamps),
            "success": scores.success, "precision": scores.precision,
            "latency_ms_p50": p50, "latency_ms_p99": p99, "diagnostics": diagnostics}


def client_bad_inputs(c: Client, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    c.set_targets.wait_for_service(timeout_sec=60)
    out["diagnostics_at_start"] = c.next_diagnostics()
    box = (100.0, 100.0, 40.0, 30.0)
    out["set_targets_without_model"] = c.targets([box])
    out["model_corrupt"] = c.parameter("model", args.corrupt_model)
    out["model_missing"] = c.parameter("model", "/nonexistent/model.safetensors")
    out["diagnostics_after_failures"] = c.next_diagnostics()
    out["model_good"] = c.parameter("model", args.good_model)
    out["backend_unknown"] = c.parameter("backend", "no_such_backend")
    out["backend_unavailable"] = c.parameter("backend", "tensorrt")  # no GPU / no threads
    out["max_targets_out_of_range"] = c.parameter("tracker.max_targets", 0)
    out["mono16_mode_invalid"] = c.parameter("frame.mono16_mode", "bogus")
    out["model_after_refused_changes"] = c.call(c.get_params, GetParameters.Request(
        names=["model", "backend"])).values[0].string_value
    out["set_targets_before_first_frame"] = c.targets([box])
    out["clear_before_first_frame"] = _trigger(c)

    publisher = c.node.create_publisher(Image, IMAGE_TOPIC, SENSOR_QOS)
    wait_for(lambda: publisher.get_subscription_count() >= 1, 30, "the node's image subscription")
    time.sleep(0.3)
    good = np.full((512, 640), 7500, np.uint16)
    good[200:260, 300:380] = 9000  # a warm rectangle to track
    bad_images = {
        "unknown_encoding": _image(good, "mono16", encoding="yuv422"),
        "truncated": _image(good, "mono16", data=conv.fill_image(Image(), good).data[:1000]),
        "step_too_small": _image(good, "mono16", step=100),
        "empty": _image(np.zeros((0, 0), np.uint16), "mono16"),
    }
    for name, msg in bad_images.items():
        for _ in range(3):
            publisher.publish(msg)
            time.sleep(0.05)
    time.sleep(0.3)
    stamp = time.time_ns()
    good_msg = _image(good, "mono16")
    conv.ns_to_stamp(stamp, good_msg.header.stamp)
    for _ in range(5):
        publisher.publish(good_msg)
        time.sleep(0.05)
    time.sleep(0.3)
    out["box_outside"] = c.targets([(2000.0, 2000.0, 10.0, 10.0)])
    out["box_zero_size"] = c.targets([(10.0, 10.0, 0.0, 5.0)])
    out["box_nan"] = c.targets([(math.nan, 10.0, 20.0, 20.0)])
    out["box_negative"] = c.targets([(10.0, 10.0, -20.0, 20.0)])
    out["no_boxes"] = c.targets([])
    out["unknown_stamp"] = c.targets([box], stamp_ns=12345)
    out["valid"] = c.targets([(300.0, 200.0, 80.0, 60.0)], stamp_ns=stamp)
    out["add"] = c.targets([(100.0, 100.0, 40.0, 30.0)], replace=False)
    out["remove_unknown"] = _remove(c, [999])
    out["remove_none"] = _remove(c, [])
    out["remove_first"] = _remove(c, out["valid"]["ids"][:1])
    for _ in range(3):
        publisher.publish(bad_images["truncated"])
        time.sleep(0.05)
    time.sleep(1.2)
    out["diagnostics_at_end"] = c.next_diagnostics()
    out["clear"] = _trigger(c)
    out["alive"] = c.targets([(300.0, 200.0, 80.0, 60.0)])
    return out


def _image(frame: np.ndarray, fill_as: str, **fields: Any) -> Image:
    """An image of ``frame`` (filled as ``fill_as``) with ``fields`` then overwritten."""
    msg = conv.fill_image(Image(), frame, fill_as) if frame.size else Image(encoding=fill_as)
    for key, value in fields.items():
        setattr(msg, key, value)
    conv.ns_to_stamp(time.time_ns(), msg.header.stamp)
    return msg


def _trigger(c: Client) -> dict[str, Any]:
    r = c.call(c.clear_targets, Trigger.Request())
    return {"success": r.success, "message": r.message}


def _remove(c: Client, ids: list[int]) -> dict[str, Any]:
    r = c.call(c.remove_targets, RemoveTargets.Request(ids=ids))
    return {"success": r.success, "message": r.message}


def client_lifecycle(c: Client, args: argparse.Namespace) -> dict[str, Any]:
    """autostart false: walk the lifecycle, feeding images, and see what comes out when."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from vision_msgs.msg import Detection2DArray

    change = c.node.create_client(ChangeState, f"{c.prefix}/change_state")
    get = c.node.create_client(GetState, f"{c.prefix}/get_state")
    detections: list[Detection2DArray] = []
    c.node.create_subscription(Detection2DArray, f"{c.prefix}/detections",
                               detections.append, 100)
    publisher = c.node.create_publisher(Image, args.image, SENSOR_QOS)
    frame = np.full((512, 640), 7500, np.uint16)
    frame[200:260, 300:380] = 9000  # a warm rectangle to track
    out: dict[str, Any] = {}

    def state() -> str:
        return c.call(get, GetState.Request()).current_state.label

    def transition(tid: int) -> bool:
        return c.call(change, ChangeState.Request(transition=Transition(id=tid))).success

    def feed(seconds: float) -> int:
        """Publish images at 30 Hz; returns how many tracks messages came meanwhile."""
        before = len(c.tracks)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            msg = _image(frame, "mono16")
            publisher.publish(msg)
            time.sleep(1 / 30)
        time.sleep(0.3)
        return len(c.tracks) - before

    out["initial"] = state()
    out["set_targets_unconfigured"] = c.targets([(300.0, 200.0, 80.0, 60.0)])
    out["configure"] = transition(Transition.TRANSITION_CONFIGURE)
    out["after_configure"] = state()
    out["tracks_while_inactive"] = feed(1.0)
    out["set_targets_inactive"] = c.targets([(300.0, 200.0, 80.0, 60.0)])
    out["activate"] = transition(Transition.TRANSITION_ACTIVATE)
    out["after_activate"] = state()
    wait_for(lambda: publisher.get_subscription_count() >= 1, 30, "the image subscription")
    feed(0.5)
    out["set_targets_active"] = c.targets([(300.0, 200.0, 80.0, 60.0)])
    out["tracks_while_active"] = feed(1.5)
    out["detection"] = None
    for array in reversed(detections):
        if array.detections:
            d = array.detections[0]
            out["detection"] = {
                "id": d.id, "cx": d.bbox.center.position.x, "cy": d.bbox.center.position.y,
                "w": d.bbox.size_x, "h": d.bbox.size_y,
                "class_id": d.results[0].hypothesis.class_id,
                "score": d.results[0].hypothesis.score,
                "same_header": (array.header.stamp.sec, array.header.stamp.nanosec) in
                {(t.header.stamp.sec, t.header.stamp.nanosec) for _, t in c.tracks.values()}}
            break
    out["deactivate"] = transition(Transition.TRANSITION_DEACTIVATE)
    out["after_deactivate"] = state()
    out["tracks_after_deactivate"] = feed(1.0)
    out["cleanup"] = transition(Transition.TRANSITION_CLEANUP)
    out["after_cleanup"] = state()
    out["diagnostics"] = c.next_diagnostics()
    return out


def vanishing_box(frames: int, hidden: range, jump: int = 40,
                  seed: int = 3) -> list[np.ndarray]:
    """A warm 40x30 rectangle moving right over a noisy 320x256 mono16 background, absent
    on the ``hidden`` frames and ``jump`` px further on after them (frame 0: 100, 100)."""
    rng = np.random.default_rng(seed)
    background = (7500 + rng.normal(0, 40, (256, 320))).astype(np.uint16)
    out = []
    for i in range(frames):
        frame = background.copy()
        if i not in hidden:
            x = 100 + i + (jump if i >= hidden.stop else 0)
            frame[100:130, x:x + 40] = 9000
        out.append(frame)
    return out


def client_reacquire(c: Client, args: argparse.Namespace) -> dict[str, Any]:
    """Feed a target that vanishes and shows again, one frame at a time (the next image goes
    out once the node has published the tracks of the previous one: no frame is dropped,
    whatever the machine's load); report each frame's track states and the diagnostics."""
    frames = vanishing_box(args.frames, range(10, 25))
    publisher = c.node.create_publisher(Image, args.image, SENSOR_QOS)
    debug: dict[int, Image] = {}  # the node's debug images by stamp (publish_debug_image)
    c.node.create_subscription(Image, f"{c.prefix}/debug_image", lambda m: debug.setdefault(
        conv.stamp_to_ns(m.header.stamp), m), SENSOR_QOS)  # the node's image QoS
    c.set_targets.wait_for_service(timeout_sec=60)
    wait_for(lambda: publisher.get_subscription_count() >= 1, 60, "the image subscription")

    def show(i: int) -> TrackArray:
        msg = _image(frames[i], "mono16")
        stamp = conv.stamp_to_ns(msg.header.stamp)
        for _ in range(100):  # best effort: send again until the node answers
            publisher.publish(msg)
            deadline = time.monotonic() + 0.5
            while stamp not in c.tracks and time.monotonic() < deadline:
                time.sleep(0.002)
            if stamp in c.tracks:
                return c.tracks[stamp][1]
        raise TimeoutError(f"no tracks for frame {i}")

    def corner(msg: TrackArray) -> dict[str, Any] | None:
        """The debug image of ``msg``'s frame: encoding, size and the colour (B, G, R) at
        the first track's top-left corner; None when none came (within a second once the
        subscription has matched)."""
        stamp = conv.stamp_to_ns(msg.header.stamp)
        end = time.monotonic() + (1.0 if debug else 0.05)  # none yet: not subscribed yet
        while stamp not in debug and time.monotonic() < end:
            time.sleep(0.002)
        if stamp not in debug:
            return None
        m, b = debug[stamp], msg.tracks[0].box
        img = np.frombuffer(bytes(m.data), np.uint8).reshape(m.height, m.step)
        img = img[:, :m.width * 3].reshape(m.height, m.width, 3)
        return {"encoding": m.encoding, "size": [m.width, m.height],
                "colour": img[int(round(b.y)), int(round(b.x))].tolist()}

    show(0)
    out: dict[str, Any] = {"set_targets": c.targets([(100.0, 100.0, 40.0, 30.0)])}
    out["frames"], out["debug"] = [], []
    for i in range(1, len(frames)):
        msg = show(i)
        out["frames"].append([{"id": t.id, "state": t.state, "x": t.box.x, "y": t.box.y}
                              for t in msg.tracks])
        out["debug"].append(corner(msg))
    out["diagnostics"] = c.next_diagnostics()
    return out


def client_params(c: Client, args: argparse.Namespace) -> dict[str, Any]:
    c.get_params.wait_for_service(timeout_sec=60)
    values = c.call(c.get_params, GetParameters.Request(names=args.names)).values
    return {"parameters": {name: Parameter.from_parameter_msg(
        ParameterMsg(name=name, value=v)).value for name, v in zip(args.names, values)},
        "diagnostics": c.next_diagnostics()}


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="actor", required=True)
    cam = sub.add_parser("camera")
    cam.add_argument("--frames", type=int, default=150)
    cam.add_argument("--rate", type=float, default=30.0)
    cam.add_argument("--seed", type=int, default=3)
    cam.add_argument("--node", default="/tir_tracker")
    cam.add_argument("--image", default=IMAGE_TOPIC)
    cam.add_argument("--loop", action="store_true", help="play forth and back until stopped")
    cam.add_argument("--pattern", choices=["synthetic", "moving-box"], default="synthetic")
    cam.add_argument("--no-gt-wait", action="store_true",
                     help="start without a ground-truth subscriber")
    cli = sub.add_parser("client")
    cli.add_argument("scenario", choices=["track", "bad-inputs", "params", "lifecycle",
                                          "reacquire"])
    cli.add_argument("--image", default=IMAGE_TOPIC)
    cli.add_argument("--node", default="/tir_tracker")
    cli.add_argument("--frames", type=int, default=150)
    cli.add_argument("--corrupt-model")
    cli.add_argument("--good-model", default="default")
    cli.add_argument("--names", nargs="*", default=[])
    cli.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.actor == "camera":
        return camera(args)
    c = Client(args.node)
    try:
        scenario = {"track": client_track, "bad-inputs": client_bad_inputs,
                    "params": client_params, "lifecycle": client_lifecycle,
                    "reacquire": client_reacquire}[args.scenario]
        result = scenario(c, args)
    finally:
        c.close()
    args.out.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
