"""The node as users run it: `ros2 launch` of the package's launch files, the `ros2` command
line for services, topics and parameters, Ctrl-C / SIGTERM to the launch process group
while images stream, the lifecycle without autostart. Needs ../shared/ros2_extras in the
venv (scripts/bootstrap.sh --ros installs it)."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest
import yaml
from ros_helpers import (
    MOVING_BOX_0,
    MODEL,
    PARAMS,
    actor_command,
    ros2,
    run_client,
    status,
    wait_for_log,
)

ACTIVE = "activate: done"


@pytest.fixture
def launch_env(env):
    result = subprocess.run(["bash", "-c", "command -v ros2 && python -c 'import launch_ros, "
                             "vision_msgs'"], env=env, capture_output=True, text=True,
                            timeout=60)
    if result.returncode:
        pytest.skip("ros2 launch / vision_msgs not installed: run scripts/bootstrap.sh --ros "
                    f"(installs ../shared/ros2_extras) ({result.stderr.strip()[-300:]})")
    return env


def _params_file(tmp_path, **values):
    data = yaml.safe_load(PARAMS.read_text())
    data["/**"]["ros__parameters"].update(model=MODEL, **values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _first_box() -> str:
    x, y, w, h = MOVING_BOX_0
    return f"{{boxes: [{{x: {x}, y: {y}, width: {w}, height: {h}}}], replace: true}}"


def _echo(env, topic: str, msg_type: str) -> dict:
    """One message of ``topic`` as ``ros2 topic echo --once`` prints it."""
    text = ros2(env, "topic", "echo", "--once", "--no-daemon", topic, msg_type, timeout=60)
    return yaml.safe_load(text.split("\n---")[0])


def _assert_clean(log: str) -> None:
    assert "Traceback" not in log and "RCLError" not in log, log[-6000:]


def test_two_namespaced_nodes_streaming_with_the_ros2_command_line(launch_env, procs,
                                                                   tmp_path):
    env = launch_env
    params = _params_file(tmp_path, **{"tracker.max_targets": 7})
    launch = procs.start("launch", ["ros2", "launch", "tir_tracker_ros", "two_cameras.launch.py",
                                    f"params_file:={params}"], env, new_session=True)
    wait_for_log(procs, launch, ACTIVE, count=2, timeout=180)
    for side in ("left", "right"):
        procs.start(f"camera-{side}", actor_command(
            "camera", "--frames", "90", "--rate", "30", "--loop", "--no-gt-wait",
            "--pattern", "moving-box",
            "--node", f"/{side}/tir_tracker", "--image", f"/{side}/image"), env)
    # both nodes got the file's parameters, although neither is called /tir_tracker
    for side in ("left", "right"):
        out = ros2(env, "param", "get", "--no-daemon", "--spin-time", "5",
                   f"/{side}/tir_tracker", "tracker.max_targets")
        assert "Integer value is: 7" in out, out

    def set_targets() -> str:
        for _ in range(20):  # until the first image has reached the node
            out = ros2(env, "service", "call", "/left/tir_tracker/set_targets",
                       "tir_tracker_ros/srv/SetTargets", _first_box())
            if "success=True" in out:
                return out
        pytest.fail(f"set_targets never succeeded: {out}\n{procs.logs()}")

    assert re.search(r"ids=(array\('I', )?\[1\]", set_targets())
    tracks = _echo(env, "/left/tir_tracker/tracks", "tir_tracker_ros/msg/TrackArray")
    assert [t["id"] for t in tracks["tracks"]] == [1], tracks
    detections = _echo(env, "/left/tir_tracker/detections", "vision_msgs/msg/Detection2DArray")
    (det,) = detections["detections"]
    assert det["id"] == "1" and det["results"][0]["hypothesis"]["class_id"] == "target"
    assert 0 < det["results"][0]["hypothesis"]["score"] <= 1
    assert det["bbox"]["size_x"] > 0 and det["bbox"]["size_y"] > 0
    assert det["header"]["stamp"] == detections["header"]["stamp"]

    # a parameter change rebuilds the tracker; ids go on, never reused
    out = ros2(env, "param", "set", "--no-daemon", "--spin-time", "5", "/left/tir_tracker",
               "tracker.lost_threshold", "0.3")
    assert "Set parameter successful" in out, out
    assert re.search(r"ids=(array\('I', )?\[2\]", set_targets())

    # Ctrl-C from a terminal: SIGINT to the whole process group, mid-stream
    os.killpg(launch.pid, signal.SIGINT)
    assert procs.wait(launch, 60) == 0, procs.log(launch)
    log = procs.log(launch)
    _assert_clean(log)
    assert log.count("process has finished cleanly") == 2, log[-4000:]
    assert "[tir_tracker_core.api] tracker ready" in log  # core logging reaches the node log


def test_lifecycle_without_autostart_and_vision_msgs_output(launch_env, procs, tmp_path):
    env = launch_env
    launch = procs.start("launch", [
        "ros2", "launch", "tir_tracker_ros", "tracker.launch.py", "autostart:=false",
        "namespace:=lc", "name:=tracker", f"params_file:={_params_file(tmp_path)}"], env,
        new_session=True)
    r = run_client(procs, env, "lifecycle", "--node", "/lc/tracker", "--image", "/lc/image",
                   timeout=180)
    assert r["initial"] == "unconfigured"
    assert not r["set_targets_unconfigured"]["success"]
    assert "no model loaded" in r["set_targets_unconfigured"]["message"]
    assert r["configure"] and r["after_configure"] == "inactive"
    assert r["tracks_while_inactive"] == 0
    assert "not active" in r["set_targets_inactive"]["message"], r["set_targets_inactive"]
    assert r["activate"] and r["after_activate"] == "active"
    assert r["set_targets_active"]["success"], r["set_targets_active"]
    assert r["tracks_while_active"] > 10
    det = r["detection"]
    assert det and det["id"] == str(r["set_targets_active"]["ids"][0]), det
    # the warm rectangle 300..380 x 200..260: centre-size box
    assert abs(det["cx"] - 340) < 15 and abs(det["cy"] - 230) < 15, det
    assert det["w"] > 0 and det["h"] > 0 and 0 < det["score"] <= 1 and det["same_header"]
    assert r["deactivate"] and r["after_deactivate"] == "inactive"
    assert r["tracks_after_deactivate"] == 0
    assert r["cleanup"] and r["after_cleanup"] == "unconfigured"
    assert status(r["diagnostics"], "model")["values"]["lifecycle_state"] == "unconfigured"
    # SIGTERM to the launch process only (`docker stop` of a container whose PID 1 is
    # `ros2 launch`): shut down as on SIGINT, the node stops cleanly, exit 0
    launch.send_signal(signal.SIGTERM)
    assert procs.wait(launch, 60) == 0, procs.log(launch)
    _assert_clean(procs.log(launch))
    assert "SIGTERM received: shutting down" in procs.log(launch)
    assert "process has finished cleanly" in procs.log(launch)
