"""ROS 2 tracker node: thermal images in, targets set by service, tracked boxes out.

A lifecycle node (``rclpy.lifecycle``): *configure* loads the model and creates the
publishers, *activate* subscribes to images, *deactivate* unsubscribes, *cleanup* drops the
model. With the parameter ``autostart`` (default true) it configures and activates itself
at start.

Topics (relative names, remap them in launch or with ``--ros-args -r``):
  sub  ``image_topic`` parameter (sensor_msgs/Image: mono8, mono16, 8UC1, 16UC1, 32FC1,
       bgr8, rgb8), QoS KEEP_LAST 1 with ``image_reliability``
  pub  ``~/tracks`` (tir_tracker_ros/TrackArray, header copied from the image),
       ``~/detections`` (vision_msgs/Detection2DArray: tracked targets, id = track id,
       centre-size box, score), ``/diagnostics`` (diagnostic_msgs/DiagnosticArray),
       ``~/debug_image`` (sensor_msgs/Image bgr8, when ``publish_debug_image`` is true)
Services: ``~/set_targets`` (SetTargets), ``~/remove_targets`` (RemoveTargets),
``~/clear_targets`` (std_srvs/Trigger), and the lifecycle services (``~/change_state``...).

One thread does everything (a single-threaded executor): the image callback converts the
message, runs the core's ``Tracker`` and publishes. Images that arrive meanwhile replace
each other in the KEEP_LAST 1 queue, so the next callback gets the newest image; the ones
replaced are counted from gaps in the header stamps (``expected_rate``). See docs/ros.md.
"""

from __future__ import annotations

import logging
import signal
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
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from tir_tracker_core.api import load_tracker
from tir_tracker_core.draw import annotate
from tir_tracker_core.errors import TrackerError, TrackerInputError

from . import conversions as conv
from .diagnostics import FrameStats, Limits, ModelStatus, statuses
from .params import LIMIT_PARAMS, MODEL_PARAMS, ParamSpec, all_parameters, help_text

try:
    from .msg import Track as TrackMsg
    from .msg import TrackArray
    from .srv import RemoveTargets, SetTargets
except ImportError as e:  # pragma: no cover - depends on the build
    raise ImportError(
        f"the tir_tracker_ros interfaces are not built or not on the path ({e}); build them "
        "with `colcon build` (or scripts/ros_build.sh) and source the install's setup.bash"
    ) from e

try:  # a ROS distribution has it (package.xml); a bare wheel venv may not
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
except ImportError as e:  # pragma: no cover - depends on the install
    Detection2DArray = None
    VISION_MSGS_ERROR = str(e)
else:
    VISION_MSGS_ERROR = ""

NODE_NAME = "tir_tracker"
RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT,
               "reliable": ReliabilityPolicy.RELIABLE}
_PARAM_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER,
                float: Parameter.Type.DOUBLE, str: Parameter.Type.STRING}
SPECS: dict[str, ParamSpec] = {p.name: p for p in all_parameters()}
CORE_OVERRIDES = [name for name, p in SPECS.items() if p.default is None]
RELOAD_PARAMS = set(MODEL_PARAMS) | set(CORE_OVERRIDES)


class _Refused(Exception):
    """A service request that cannot be done; the message says why."""


@dataclass(frozen=True)
class _Frame:
    """A converted image (kept for SetTargets requests on a stamp)."""

    pixels: np.ndarray
    header: Header
    stamp_ns: int
    received: float  # time.monotonic() at arrival


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    extra: dict[str, Any] = {}
    if spec.range and spec.kind is float:
        extra["floating_point_range"] = [FloatingPointRange(
            from_value=float(spec.range[0]), to_value=float(spec.range[1]))]
    elif spec.range and spec.kind is int:
        extra["integer_range"] = [IntegerRange(
            from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
    return ParameterDescriptor(
        description=spec.description, read_only=spec.read_only,
        additional_constraints=f"one of {', '.join(spec.choices)}" if spec.choices else "",
        **extra)


class RosLogHandler(logging.Handler):
    """Python ``logging`` records (the core's) -> the node's logger, hence /rosout."""

    def __init__(self, logger: Any) -> None:
        super().__init__(logging.DEBUG)
        self._logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"[{record.name}] {record.getMessage()}"
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            if record.levelno >= logging.CRITICAL:
                self._logger.fatal(text)
            elif record.levelno >= logging.ERROR:
                self._logger.error(text)
            elif record.levelno >= logging.WARNING:
                self._logger.warning(text)
            elif record.levelno >= logging.INFO:
                self._logger.info(text)
            else:
                self._logger.debug(text)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


class TrackerNode(LifecycleNode):
    """Runs a ``tir_tracker_core`` Tracker on an image topic (see the module docstring)."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        for spec in SPECS.values():
            if spec.default is None:
                self.declare_parameter(spec.name, _PARAM_TYPES[spec.kind], _descriptor(spec))
            else:
                self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        get = self._value
        self.autostart = bool(get("autostart"))
        self._image_topic = get("image_topic")
        reliability = get("image_reliability")
        if reliability not in RELIABILITY:
            self.get_logger().error(
                f"image_reliability {reliability!r} is not one of {sorted(RELIABILITY)}; "
                "using best_effort")
            reliability = "best_effort"
        self._qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                               reliability=RELIABILITY[reliability],
                               durability=DurabilityPolicy.VOLATILE)
        self._reliability = reliability
        self._publish_debug = get("publish_debug_image")
        self._class_id = get("detection_class_id")
        self._limits = Limits(**{name: get(name) for name in LIMIT_PARAMS})
        self._stats = FrameStats(window=get("statistics_window"),
                                 expected_rate=get("expected_rate"),
                                 max_gap=max(self._limits.stale_timeout, 0.5))
        self._tracker: Any = None
        self._preloaded: Any = None  # a tracker loaded while unconfigured, for configure
        self._model = ModelStatus(get("model"), get("backend"), get("device"), loaded=False)
        self._recent: deque[_Frame] = deque(maxlen=get("frame_buffer_size"))
        self._last_rejection = ("", 0.0)  # reason and time last logged
        # The lowest id a rebuilt core Tracker may give (Tracker.continue_ids), so that ids
        # are never reused within a run.
        self._next_id = 1
        # Re-acquisitions of trackers replaced or dropped before (a rebuilt core Tracker
        # counts from 0 again); the diagnostics report this plus the running tracker's.
        self._reacquired_before = 0
        self._retry_timer: Any = None
        self._autostart_failed = False
        self._image_sub: Any = None
        self._tracks_pub: Any = None
        self._detections_pub: Any = None
        self._debug_pub: Any = None

        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(SetTargets, "~/set_targets", self._on_set_targets)
        self.create_service(RemoveTargets, "~/remove_targets", self._on_remove_targets)
        self.create_service(Trigger, "~/clear_targets", self._on_clear_targets)
        self.create_timer(get("diagnostic_period"), self._publish_diagnostics)
        self._hardware_id = get("hardware_id") or self.resolve_topic_name(self._image_topic)
        self._diag_prefix = self.get_fully_qualified_name().lstrip("/")
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if VISION_MSGS_ERROR:
            self.get_logger().warning(f"vision_msgs is not importable ({VISION_MSGS_ERROR}): "
                                      "~/detections is not published")

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> bool:
        """configure + activate (autostart); True when active."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            self._autostart_failed = True
            self.get_logger().error("autostart: configure failed; setting a model parameter "
                                    "retries it")
            return False
        self._autostart_failed = False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def _state(self) -> str:
        return self._state_machine.current_state[1]

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("configure", self._configure)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("activate", self._activate)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("deactivate", self._deactivate)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("cleanup", self._cleanup)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("shutdown", self._cleanup)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS  # back to unconfigured

    def _transition(self, name: str, step: Callable[[], bool]) -> TransitionCallbackReturn:
        try:
            ok = step()
        except Exception:  # noqa: BLE001 - rclpy would swallow it without a word
            self.get_logger().error(f"{name} failed:\n{traceback.format_exc()}")
            return TransitionCallbackReturn.ERROR
        if ok:
            self.get_logger().info(f"{name}: done")
        return TransitionCallbackReturn.SUCCESS if ok else TransitionCallbackReturn.FAILURE

    def _configure(self) -> bool:
        tracker, self._preloaded = self._preloaded, None
        if tracker is None:
            if self._load(self._model_spec({})):
                return False  # logged, in diagnostics; stays unconfigured
        else:
            self._swap(tracker, self._model_spec({}))
        self._tracks_pub = self.create_publisher(TrackArray, "~/tracks", 10)
        if Detection2DArray is not None:
            self._detections_pub = self.create_publisher(Detection2DArray, "~/detections", 10)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", self._qos)
        return True

    def _activate(self) -> bool:
        self._image_sub = self.create_subscription(Image, self._image_topic, self._on_image,
                                                   self._qos)
        self.get_logger().info(
            f"tracking images of {self.resolve_topic_name(self._image_topic)} "
            f"({self._reliability}), tracks on {self.resolve_topic_name('~/tracks')}")
        return True

    def _deactivate(self) -> bool:
        if self._image_sub is not None:
            self.destroy_subscription(self._image_sub)
            self._image_sub = None
        return True

    def _cleanup(self) -> bool:
        self._deactivate()
        for pub in (self._tracks_pub, self._detections_pub, self._debug_pub):
            if pub is not None:
                self.destroy_publisher(pub)
        self._tracks_pub = self._detections_pub = self._debug_pub = None
        if self._tracker is not None:
            self._next_id = max(self._next_id, self._tracker.next_id)
            self._reacquired_before += self._tracker.reacquisitions
        self._tracker = None
        self._recent.clear()
        self._model = replace(self._model, loaded=False, error="")
        return True

    def close(self) -> None:
        """Leave the lifecycle (shutdown transition) before the node is destroyed."""
        if self._retry_timer is not None:
            self.destroy_timer(self._retry_timer)
        if self._state() in ("unconfigured", "inactive", "active"):
            self.trigger_shutdown()

    # ------------------------------------------------------------------ parameters
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
                successful=False, reason=f"expected_min_rate {new_limits.expected_min_rate:g} "
                f"is above expected_max_rate {new_limits.expected_max_rate:g}")
        if RELOAD_PARAMS & set(changes):
            if self._tracker is not None:  # configured: rebuild now, refuse what fails
                error = self._load(self._model_spec(changes))
                if error:
                    return SetParametersResult(successful=False, reason=error)
            elif self.autostart and self._autostart_failed:  # retry the failed autostart
                error = self._load(self._model_spec(changes), keep=True)
                if error:
                    return SetParametersResult(successful=False, reason=error)
                self._retry_timer = self.create_timer(0.0, self._retry_start)
        self._limits = new_limits
        self._stats.max_gap = max(new_limits.stale_timeout, 0.5)
        self._stats.expected_rate = changes.get("expected_rate", self._stats.expected_rate)
        self._publish_debug = changes.get("publish_debug_image", self._publish_debug)
        self._class_id = changes.get("detection_class_id", self._class_id)
        return SetParametersResult(successful=True)

    def _retry_start(self) -> None:
        self.destroy_timer(self._retry_timer)
        self._retry_timer = None
        if self._state() == "unconfigured":
            self.start()

    # ------------------------------------------------------------------ model
    def _load(self, spec: dict[str, Any], keep: bool = False) -> str:
        """Build a tracker for ``spec`` and swap it in (``keep``: hold it for configure);
        returns "" or the reason it failed. A failure keeps the previous tracker."""
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
            if keep:
                self._preloaded = tracker
                self._model = replace(self._model, model=spec["model"], error="")
            else:
                self._swap(tracker, spec)
            return ""
        error = (f"loading model {spec['model']!r} on {spec['backend']}/{spec['device']} "
                 f"failed: {error}")
        log.error(error)
        self._model = replace(self._model, error=error, failures=self._model.failures + 1)
        return error

    def _swap(self, tracker: Any, spec: dict[str, Any]) -> None:
        replaced = self._tracker is not None and self._tracker.num_targets
        if self._tracker is not None:
            self._next_id = max(self._next_id, self._tracker.next_id)
            self._reacquired_before += self._tracker.reacquisitions
        tracker.continue_ids(self._next_id)  # ids start above every id given before
        self._tracker = tracker
        self._model = ModelStatus(spec["model"], tracker.backend_name, tracker.device,
                                  loaded=True, failures=self._model.failures)
        self.get_logger().info(
            f"model {spec['model']!r} ready on {tracker.backend_name}/{tracker.device}"
            + ("; previous targets cleared" if replaced else "")
            + (f"; new target ids start at {self._next_id}" if self._next_id > 1 else ""))

    # ------------------------------------------------------------------ images
    def _on_image(self, msg: Image) -> None:
        received = time.monotonic()
        stamp_ns = conv.stamp_to_ns(msg.header.stamp)
        self._stats.received(stamp_ns)
        try:
            pixels = conv.image_to_array(msg)
        except conv.ImageConversionError as e:
            self._reject(str(e))
            return
        frame = _Frame(pixels, msg.header, stamp_ns, received)
        self._recent.append(frame)
        self._process(frame)

    def _reject(self, reason: str) -> None:
        """Count a rejected image; log each new reason, a repeated one every 5 s."""
        self._stats.rejected(reason)
        now = time.monotonic()
        last_reason, last_time = self._last_rejection
        if reason != last_reason or now - last_time > 5.0:
            self._last_rejection = (reason, now)
            self.get_logger().warning(f"image rejected: {reason}")

    def _process(self, frame: _Frame) -> None:
        tracks: tuple = ()
        tracker = self._tracker
        if tracker is None or self._tracks_pub is None:
            return
        if tracker.num_targets:
            try:
                tracks = tracker.update(frame.pixels)
            except TrackerInputError as e:
                self._reject(str(e))
                return
            except Exception:  # noqa: BLE001 - keep the node alive, log the bug
                self.get_logger().error(f"tracker update failed:\n{traceback.format_exc()}",
                                        throttle_duration_sec=5.0)
                self._reject("tracker update failed (see the node log)")
                return
        self._tracks_pub.publish(TrackArray(header=frame.header, tracks=[
            conv.fill_track(TrackMsg(), t) for t in tracks]))
        if self._detections_pub is not None:
            self._detections_pub.publish(Detection2DArray(header=frame.header, detections=[
                conv.fill_detection(Detection2D(header=frame.header), ObjectHypothesisWithPose(),
                                    t, self._class_id)
                for t in tracks if not t.lost]))
        now_ns = self.get_clock().now().nanoseconds
        latency = (now_ns - frame.stamp_ns) * 1e-9 if frame.stamp_ns else None
        lost = sum(t.lost for t in tracks)
        self._stats.processed(latency, time.monotonic() - frame.received, tracker.num_targets,
                              len(tracks) - lost, lost,
                              self._reacquired_before + tracker.reacquisitions)
        if self._publish_debug and self._debug_pub.get_subscription_count():
            debug = conv.fill_image(Image(header=frame.header),
                                    annotate(frame.pixels, tracks, cfg=tracker.frame_cfg),
                                    "bgr8")
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
        recent = list(self._recent)
        topic = self.resolve_topic_name(self._image_topic)
        if not recent:
            if self._image_sub is None:
                raise _Refused(f"the node is {self._state()}, not active: it takes no images "
                               "(activate it)")
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
        """Run ``call(tracker)``; answer success + message."""
        tracker = self._tracker
        if tracker is None:
            reason = self._model.error or f"the node is {self._state()} (configure it)"
            return self._fail(response, service, f"no model loaded: {reason}")
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
            ids = [int(i) for i in action(frame.pixels, boxes)]
            response.ids = ids
            verb = "tracking" if request.replace else "added"
            return (f"{verb} {len(boxes)} target(s), ids {ids}, on the image stamped "
                    f"{frame.stamp_ns * 1e-9:.9f}; {tracker.num_targets} held")

        return self._with_tracker(response, "set_targets", set_targets)

    def _on_remove_targets(self, request: RemoveTargets.Request,
                           response: RemoveTargets.Response) -> RemoveTargets.Response:
        ids = [int(i) for i in request.ids]
        if not ids:
            return self._fail(response, "remove_targets",
                              "no ids given; call ~/clear_targets to remove every target")

        def remove(tracker: Any) -> str:
            tracker.remove(ids)  # UnknownTargetError names the unknown and the held ids
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
        state = self._state()
        for status in statuses(self._diag_prefix, topic, self._stats.snapshot(), self._model,
                               self._limits):
            values = dict(status.values, lifecycle_state=state)
            message = status.message
            if state != "active" and not status.level:
                message = f"{message} (node {state})"
            array.status.append(DiagnosticStatus(
                level=bytes([status.level]), name=status.name, message=message,
                hardware_id=self._hardware_id,
                values=[KeyValue(key=k, value=v) for k, v in values.items()]))
        self._diag_pub.publish(array)


# ---------------------------------------------------------------------------- main
USAGE = """usage: tir-tracker-node [-h] [--ros-args ...]

ROS 2 node tracking thermal-infrared targets (tir_tracker_ros). Targets are set with the
~/set_targets service; tracks are published on ~/tracks and ~/detections. Examples:

  tir-tracker-node --ros-args --params-file config/tracker.yaml -r image:=/camera/image_raw
  ros2 launch tir_tracker_ros tracker.launch.py image:=/camera/image_raw namespace:=cam1

Parameters (set them in a params file under `/**:` -> `ros__parameters:`, or -p name:=value):
"""


def _wants_help(argv: list[str]) -> bool:
    own = argv[1:argv.index("--ros-args")] if "--ros-args" in argv else argv[1:]
    return any(a in ("-h", "--help") for a in own)


def _forward_python_logging(node: LifecycleNode) -> tuple[list[logging.Logger], RosLogHandler]:
    handler = RosLogHandler(node.get_logger())
    loggers = [logging.getLogger(name) for name in ("tir_tracker_core", "tir_tracker_ros")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return loggers, handler


def main(args: Iterable[str] | None = None) -> int:
    """Console script ``tir-tracker-node``: ``tir-tracker-node --ros-args --params-file
    config/tracker.yaml [-r image:=/camera/image_raw]``.

    SIGINT and SIGTERM (once or repeatedly) end the spin loop; the node then leaves its
    lifecycle, is destroyed, and ROS shuts down, in this order: exit code 0.
    """
    argv = list(args) if args is not None else list(sys.argv)
    if _wants_help(argv):
        print(USAGE + help_text())
        return 0
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()  # only a flag: safe at any point, also during shutdown

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    executor = SingleThreadedExecutor()
    forwarded: tuple[list[logging.Logger], RosLogHandler] | None = None
    try:
        node = TrackerNode()
        forwarded = _forward_python_logging(node)
        executor.add_node(node)
        if node.autostart and not stop.is_set():
            node.start()
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
        if stop.is_set():
            node.get_logger().info("signal received: shutting down")
    except ExternalShutdownException:
        pass
    finally:
        if node is not None:
            node.close()
            executor.remove_node(node)
            node.destroy_node()
        if forwarded is not None:
            for logger in forwarded[0]:
                logger.removeHandler(forwarded[1])
                logger.propagate = True
        executor.shutdown(timeout_sec=1.0)
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
