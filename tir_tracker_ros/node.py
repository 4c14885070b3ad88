"""ROS 2 tracker node: thermal images in, targets set by service, tracked boxes out.

Topics (relative names, remap them in launch or with ``--ros-args -r``):
  sub  ``image_topic`` parameter (sensor_msgs/Image: mono8, mono16, 8UC1, 16UC1, 32FC1,
       bgr8, rgb8), QoS KEEP_LAST 1 with ``image_reliability``
  pub  ``~/tracks`` (tir_tracker_ros/TrackArray, header copied from the image),
       ``/diagnostics`` (diagnostic_msgs/DiagnosticArray),
       ``~/debug_image`` (sensor_msgs/Image bgr8, when ``publish_debug_image`` is true)
Services: ``~/set_targets`` (SetTargets), ``~/remove_targets`` (RemoveTargets),
``~/clear_targets`` (std_srvs/Trigger).

Callbacks stay short: the image callback converts the message and hands the frame to a
worker thread that runs the core's ``Tracker``; when images come faster than they are
processed the newest one wins and the skipped ones are counted as dropped. See docs/ros.md.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from tir_tracker_core.api import load_tracker
from tir_tracker_core.errors import TrackerError, TrackerInputError

from . import conversions as conv
from .diagnostics import FrameStats, Limits, ModelStatus, statuses

try:
    from .msg import Track as TrackMsg
    from .msg import TrackArray
    from .srv import RemoveTargets, SetTargets
except ImportError as e:  # pragma: no cover - depends on the build
    raise ImportError(
        f"the tir_tracker_ros interfaces are not built or not on the path ({e}); build them "
        "with `colcon build` (or scripts/ros_build.sh) and source the install's setup.bash"
    ) from e

NODE_NAME = "tir_tracker"
RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT,
               "reliable": ReliabilityPolicy.RELIABLE}

_T = Parameter.Type


def _range(lo: float, hi: float) -> dict[str, Any]:
    return {"floating_point_range": [FloatingPointRange(from_value=lo, to_value=hi)]}


def _irange(lo: int, hi: int) -> dict[str, Any]:
    return {"integer_range": [IntegerRange(from_value=lo, to_value=hi, step=1)]}


# Overrides of the core's TrackerConfig / FrameConfig fields. Declared without a default:
# unset means the model's own recommended value; the core validates what is set.
CORE_OVERRIDES: dict[str, tuple[Parameter.Type, str, dict[str, Any]]] = {
    "tracker.max_targets": (_T.INTEGER, "most targets tracked at once", _irange(1, 4096)),
    "tracker.lost_threshold": (_T.DOUBLE, "score under which a frame counts as a miss",
                               _range(0.0, 1.0)),
    "tracker.lost_patience": (_T.INTEGER, "consecutive misses before a target is lost",
                              _irange(1, 100000)),
    "tracker.exclusion_iou": (_T.DOUBLE, "a target may not move onto a box another target took "
                              "in the same frame with this IoU or more (1.0: off)",
                              _range(0.0, 1.0)),
    "frame.mono16_mode": (_T.STRING, "16-bit to 8-bit normalisation: 'percentile' (per "
                          "frame) or 'fixed' (fixed_min..fixed_max)", {}),
    "frame.percentile_low": (_T.DOUBLE, "lower percentile for mono16_mode percentile",
                             _range(0.0, 100.0)),
    "frame.percentile_high": (_T.DOUBLE, "upper percentile for mono16_mode percentile",
                              _range(0.0, 100.0)),
    "frame.fixed_min": (_T.DOUBLE, "raw value mapped to 0 in mono16_mode fixed", {}),
    "frame.fixed_max": (_T.DOUBLE, "raw value mapped to 255 in mono16_mode fixed", {}),
}
MODEL_PARAMS = ("model", "backend", "device", "threads")
LIMIT_PARAMS = ("expected_min_rate", "expected_max_rate", "max_latency_ms", "stale_timeout")


class _Refused(Exception):
    """A service request that cannot be done; the message says why."""


@dataclass(frozen=True)
class _Frame:
    """A converted image waiting for (or used by) the tracker."""

    pixels: np.ndarray
    header: Header
    stamp_ns: int
    received: float  # time.monotonic() at arrival


class TrackerNode(Node):
    """Runs a ``tir_tracker_core`` Tracker on an image topic (see the module docstring)."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._declare_parameters()
        get = self._value
        self._image_topic = get("image_topic")
        reliability = get("image_reliability")
        if reliability not in RELIABILITY:
            self.get_logger().error(
                f"image_reliability {reliability!r} is not one of {sorted(RELIABILITY)}; "
                "using best_effort")
            reliability = "best_effort"
        self._publish_debug = get("publish_debug_image")
        self._limits = Limits(**{name: get(name) for name in LIMIT_PARAMS})

        self._stats = FrameStats(window=get("statistics_window"))
        self._tracker = None
        self._tracker_lock = threading.Lock()  # the Tracker is used by worker and services
        self._model = ModelStatus(get("model"), get("backend"), get("device"), loaded=False)
        self._frames_lock = threading.Condition()
        self._pending: _Frame | None = None  # newest frame not yet taken by the worker
        self._recent: deque[_Frame] = deque(maxlen=get("frame_buffer_size"))
        self._stop = threading.Event()
        self._last_rejection = ("", 0.0)  # reason and time last logged

        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=RELIABILITY[reliability],
                         durability=DurabilityPolicy.VOLATILE)
        self._tracks_pub = self.create_publisher(TrackArray, "~/tracks", 10)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", qos)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(Image, self._image_topic, self._on_image, qos,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self.create_service(SetTargets, "~/set_targets", self._on_set_targets)
        self.create_service(RemoveTargets, "~/remove_targets", self._on_remove_targets)
        self.create_service(Trigger, "~/clear_targets", self._on_clear_targets)
        self.create_timer(get("diagnostic_period"), self._publish_diagnostics)
        self._hardware_id = get("hardware_id") or self.resolve_topic_name(self._image_topic)
        self._diag_prefix = self.get_fully_qualified_name().lstrip("/")
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._load(self._model_spec({}))
        self._worker = threading.Thread(target=self._work, name="tir_tracker_worker",
                                        daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"tracking images of {self.resolve_topic_name(self._image_topic)} "
            f"({reliability}), tracks on {self.resolve_topic_name('~/tracks')}")

    # ------------------------------------------------------------------ parameters
    def _declare_parameters(self) -> None:
        def declare(name: str, default: Any, description: str, read_only: bool = False,
                    **extra: Any) -> None:
            self.declare_parameter(name, default, ParameterDescriptor(
                description=description, read_only=read_only, **extra))

        declare("model", "default", "'default' (shipped checkpoint), a .safetensors "
                "checkpoint path (with its .json beside it) or 'nanotrack:FILE.pth'; "
                "changing it reloads the tracker (targets are cleared)")
        declare("backend", "torch", "inference backend of the core (e.g. torch, onnxruntime)")
        declare("device", "cpu", "inference device (cpu, cuda, cuda:0, ...)")
        declare("threads", 1, "CPU threads of the inference backend (0: the backend's "
                "default, all cores); the tracker's small networks gain little from more, "
                "and a robot's CPU is shared", **_irange(0, 1024))
        declare("image_topic", "image", "input sensor_msgs/Image topic", read_only=True)
        declare("image_reliability", "best_effort", "image QoS reliability: best_effort "
                "(sensor data) or reliable; history is KEEP_LAST 1", read_only=True)
        declare("publish_debug_image", False, "publish ~/debug_image (bgr8, boxes drawn) "
                "while it has subscribers")
        declare("frame_buffer_size", 30, "recent images kept for SetTargets requests with "
                "a stamp", read_only=True, **_irange(1, 1000))
        declare("diagnostic_period", 1.0, "seconds between /diagnostics messages",
                read_only=True, **_range(0.01, 3600.0))
        declare("statistics_window", 5.0, "seconds over which rates and latency are "
                "computed", read_only=True, **_range(0.1, 3600.0))
        declare("hardware_id", "", "hardware_id of the diagnostic statuses (default: the "
                "image topic)", read_only=True)
        declare("expected_min_rate", 0.0, "input rate (Hz) below which input is WARN; 0: "
                "no check", **_range(0.0, 10000.0))
        declare("expected_max_rate", 0.0, "input rate (Hz) above which input is WARN; 0: "
                "no check", **_range(0.0, 10000.0))
        declare("max_latency_ms", 0.0, "median latency (image stamp to tracks) above which "
                "tracking is WARN; 0: no check", **_range(0.0, 1e6))
        declare("stale_timeout", 2.0, "seconds without images before input is WARN",
                **_range(0.0, 3600.0))
        for name, (ptype, description, extra) in CORE_OVERRIDES.items():
            self.declare_parameter(name, ptype, ParameterDescriptor(
                description=description + " (unset: the model's own value)", **extra))

    def _value(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _model_spec(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Arguments of ``load_tracker`` from the parameters, with ``changes`` applied."""
        values = {name: self._value(name) for name in MODEL_PARAMS}
        for section in ("tracker", "frame"):
            for key, param in self.get_parameters_by_prefix(section).items():
                values[f"{section}.{key}"] = param.value  # None while unset
        values.update((k, v) for k, v in changes.items() if k in values)
        threads = values.pop("threads")
        spec: dict[str, Any] = {"tracker": {}, "frame": {},
                                "backend_options": {"threads": threads} if threads else {}}
        for name, value in values.items():
            section, _, key = name.partition(".")
            if not key:
                spec[name] = value
            elif value is not None:
                spec[section][key] = value
        return spec

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in params}
        limits = {k: v for k, v in changes.items() if k in LIMIT_PARAMS}
        new_limits = replace(self._limits, **limits)
        if (new_limits.expected_min_rate and new_limits.expected_max_rate
                and new_limits.expected_min_rate > new_limits.expected_max_rate):
            return SetParametersResult(
                successful=False, reason=f"expected_min_rate {new_limits.expected_min_rate} "
                f"is above expected_max_rate {new_limits.expected_max_rate}")
        if any(name in MODEL_PARAMS or name in CORE_OVERRIDES for name in changes):
            error = self._load(self._model_spec(changes))
            if error:
                return SetParametersResult(successful=False, reason=error)
        self._limits = new_limits
        self._publish_debug = changes.get("publish_debug_image", self._publish_debug)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ model
    def _load(self, spec: dict[str, Any]) -> str:
        """Build a tracker for ``spec`` and swap it in; returns "" or the reason it failed.

        A failure keeps the previous tracker (WARN in diagnostics) or, without one, leaves
        tracking off (ERROR) until a model parameter change loads a model.
        """
        log = self.get_logger()
        log.info(f"loading model {spec['model']!r} on {spec['backend']}/{spec['device']}"
                 + (f" with {spec['tracker']} {spec['frame']}"
                    if spec["tracker"] or spec["frame"] else ""))
        try:
            tracker = load_tracker(**spec)
        except TrackerError as e:
            error = f"{type(e).__name__}: {e}"
        except Exception as e:  # noqa: BLE001 - the node must survive any broken model
            log.error(f"unexpected error loading model {spec['model']!r}:\n"
                      f"{traceback.format_exc()}")
            error = f"{type(e).__name__}: {e}"
        else:
            with self._tracker_lock:
                replaced = self._tracker is not None and self._tracker.num_targets
                self._tracker = tracker
            self._model = ModelStatus(spec["model"], tracker.backend_name, tracker.device,
                                      loaded=True, failures=self._model.failures)
            log.info(f"model {spec['model']!r} ready on {tracker.backend_name}/"
                     f"{tracker.device}" + ("; previous targets cleared" if replaced else ""))
            return ""
        error = (f"loading model {spec['model']!r} on {spec['backend']}/{spec['device']} "
                 f"failed: {error}")
        log.error(error)
        self._model = replace(self._model, error=error, failures=self._model.failures + 1)
        return error

    # ------------------------------------------------------------------ images
    def _on_image(self, msg: Image) -> None:
        received = time.monotonic()
        self._stats.received()
        try:
            pixels = conv.image_to_array(msg)
        except conv.ImageConversionError as e:
            self._reject(str(e))
            return
        frame = _Frame(pixels, msg.header, conv.stamp_to_ns(msg.header.stamp), received)
        with self._frames_lock:
            self._recent.append(frame)
            if self._pending is not None:
                self._stats.dropped()
            self._pending = frame
            self._frames_lock.notify()

    def _reject(self, reason: str) -> None:
        """Count a rejected image; log each new reason, a repeated one every 5 s."""
        self._stats.rejected(reason)
        now = time.monotonic()
        last_reason, last_time = self._last_rejection
        if reason != last_reason or now - last_time > 5.0:
            self._last_rejection = (reason, now)
            self.get_logger().warning(f"image rejected: {reason}")

    def _work(self) -> None:
        """Worker thread: track the newest frame, publish, repeat."""
        while not self._stop.is_set():
            with self._frames_lock:
                if self._pending is None:
                    self._frames_lock.wait(0.2)
                frame, self._pending = self._pending, None
            if frame is not None:
                self._process(frame)

    def _process(self, frame: _Frame) -> None:
        tracks: tuple = ()
        with self._tracker_lock:
            tracker = self._tracker
            if tracker is not None and tracker.num_targets:
                try:
                    tracks = tracker.update(frame.pixels)
                except TrackerInputError as e:
                    self._reject(str(e))
                    return
                except Exception:  # noqa: BLE001 - keep the node alive, log the bug
                    self.get_logger().error(
                        f"tracker update failed:\n{traceback.format_exc()}",
                        throttle_duration_sec=5.0)
                    self._reject("tracker update failed (see the node log)")
                    return
            targets = tracker.num_targets if tracker is not None else 0
        out = TrackArray(header=frame.header,
                         tracks=[conv.fill_track(TrackMsg(), t) for t in tracks])
        self._tracks_pub.publish(out)
        now_ns = self.get_clock().now().nanoseconds
        latency = (now_ns - frame.stamp_ns) * 1e-9 if frame.stamp_ns else None
        lost = sum(t.state.value == "lost" for t in tracks)
        self._stats.processed(latency, time.monotonic() - frame.received, targets,
                              len(tracks) - lost, lost)
        if self._publish_debug and self._debug_pub.get_subscription_count():
            debug = conv.fill_image(Image(header=frame.header),
                                    conv.annotate(frame.pixels, tracks), "bgr8")
            self._debug_pub.publish(debug)

    # ------------------------------------------------------------------ services
    def _fail(self, response: Any, service: str, reason: str) -> Any:
        response.success = False
        response.message = reason
        self._stats.request_rejected(f"{service}: {reason}")
        self.get_logger().warning(f"{service} refused: {reason}")
        return response

    def _frame_for(self, stamp_ns: int) -> _Frame:
        """The recent frame with ``stamp_ns`` (0: the newest); raises _Refused if none."""
        with self._frames_lock:
            recent = list(self._recent)
        topic = self.resolve_topic_name(self._image_topic)
        if not recent:
            raise _Refused(f"no image received yet on {topic}; targets are set on a "
                           "received image")
        if not stamp_ns:
            return recent[-1]
        for frame in reversed(recent):
            if frame.stamp_ns == stamp_ns:
                return frame
        raise _Refused(f"no recent image with stamp {stamp_ns * 1e-9:.9f}; the last "
                       f"{len(recent)} image(s) span {recent[0].stamp_ns * 1e-9:.9f}.."
                       f"{recent[-1].stamp_ns * 1e-9:.9f} (give one of these stamps, or 0 "
                       "for the newest image)")

    def _with_tracker(self, response: Any, service: str,
                      call: Callable[[Any], str]) -> Any:
        """Run ``call(tracker)`` under the tracker lock; answer success + message."""
        with self._tracker_lock:
            tracker = self._tracker
            if tracker is None:
                return self._fail(response, service, "no model loaded: "
                                  f"{self._model.error or 'still loading'}")
            try:
                message = call(tracker)
            except (_Refused, TrackerInputError) as e:
                return self._fail(response, service, str(e))
            except Exception as e:  # noqa: BLE001 - answer instead of killing the executor
                self.get_logger().error(f"{service} failed:\n{traceback.format_exc()}")
                return self._fail(response, service, f"internal error {type(e).__name__}: {e}")
        response.success = True
        response.message = message
        self.get_logger().info(f"{service}: {message}")
        return response

    def _on_set_targets(self, request: SetTargets.Request,
                        response: SetTargets.Response) -> SetTargets.Response:
        boxes = conv.boxes_from_msgs(request.boxes)
        if not boxes:
            return self._fail(response, "set_targets", "no boxes given")

        def set_targets(tracker: Any) -> str:
            frame = self._frame_for(conv.stamp_to_ns(request.stamp))
            action = tracker.init if request.replace else tracker.add
            response.ids = action(frame.pixels, boxes)
            verb = "tracking" if request.replace else "added"
            return (f"{verb} {len(boxes)} target(s), ids {list(response.ids)}, on the image "
                    f"stamped {frame.stamp_ns * 1e-9:.9f}; {tracker.num_targets} held")

        return self._with_tracker(response, "set_targets", set_targets)

    def _on_remove_targets(self, request: RemoveTargets.Request,
                           response: RemoveTargets.Response) -> RemoveTargets.Response:
        ids = [int(i) for i in request.ids]
        if not ids:
            return self._fail(response, "remove_targets",
                              "no ids given; call ~/clear_targets to remove every target")

        def remove(tracker: Any) -> str:
            tracker.remove(ids)
            return f"removed target(s) {ids}; {tracker.num_targets} held"

        return self._with_tracker(response, "remove_targets", remove)

    def _on_clear_targets(self, request: Trigger.Request,
                          response: Trigger.Response) -> Trigger.Response:
        def clear(tracker: Any) -> str:
            count = tracker.num_targets
            tracker.reset()
            return f"removed {count} target(s)"

        return self._with_tracker(response, "clear_targets", clear)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        topic = self.resolve_topic_name(self._image_topic)
        for status in statuses(self._diag_prefix, topic, self._stats.snapshot(), self._model,
                               self._limits):
            array.status.append(DiagnosticStatus(
                level=bytes([status.level]), name=status.name, message=status.message,
                hardware_id=self._hardware_id,
                values=[KeyValue(key=k, value=v) for k, v in status.values.items()]))
        self._diag_pub.publish(array)

    # ------------------------------------------------------------------ shutdown
    def destroy_node(self) -> None:
        self._stop.set()
        with self._frames_lock:
            self._frames_lock.notify_all()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: Iterable[str] | None = None) -> int:
    """Console script ``tir-tracker-node``: ``tir-tracker-node --ros-args --params-file
    config/tracker.yaml [-r image:=/camera/image_raw]``."""
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] [%(name)s]: %(message)s")
    rclpy.init(args=list(args) if args is not None else sys.argv)
    node = None
    try:
        node = TrackerNode()
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
