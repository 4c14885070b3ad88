"""`colcon build` of a workspace holding this repository, and the installed package started
with `ros2 launch` under another name and a namespace, stopped with SIGTERM to the launch
process group while it works (exit 0)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ros_helpers import SITE, actor_command, ros_env, status


def test_colcon_build_installs_interfaces_python_and_data(ros_install):
    share = ros_install / "share" / "tir_tracker_ros"
    site = ros_install / SITE
    for path in (share / "package.xml", share / "launch" / "tracker.launch.py",
                 share / "launch" / "two_cameras.launch.py",
                 share / "config" / "tracker.yaml", share / "config" / "fastdds_shm.xml",
                 share / "msg" / "TrackArray.msg", share / "srv" / "SetTargets.srv",
                 site / "tir_tracker_ros" / "msg" / "_track_array.py",
                 site / "tir_tracker_ros" / "srv" / "_set_targets.py",
                 site / "tir_tracker_ros" / "node.py", site / "tir_tracker_core" / "api.py",
                 ros_install / "lib" / "tir_tracker_ros" / "tracker_bag",
                 ros_install / "share" / "ament_index" / "resource_index" / "packages"
                 / "tir_tracker_ros"):
        assert path.is_file(), path
    assert (site / "tir_tracker_core" / "weights").is_dir()


def test_installed_launch_renamed_and_namespaced_gets_its_parameters(ros_install, procs,
                                                                     tmp_path):
    env = ros_env(ros_install, source_tree=False)
    if subprocess.run(["bash", "-c", "command -v ros2"], env=env,
                      capture_output=True).returncode:
        pytest.skip("ros2 launch not installed: run scripts/bootstrap.sh --ros")
    env["ROS_LOG_DIR"] = str(tmp_path / "ros_log")
    where = subprocess.run([sys.executable, "-c", "import tir_tracker_ros.node as n, "
                            "tir_tracker_core as c; print(n.__file__); print(c.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(ros_install)) for line in where.stdout.split()), where.stdout

    launch = procs.start("launch", ["ros2", "launch", "tir_tracker_ros", "tracker.launch.py",
                                    "image:=/thermal/image", "name:=thermal_tracker",
                                    "namespace:=robot1"], env, new_session=True)
    names = ["model", "image_topic", "image_reliability", "tracker.max_targets",
             "max_latency_ms", "publish_debug_image", "expected_rate"]
    out = tmp_path / "params.json"
    client = procs.start("client", actor_command(
        "client", "params", "--node", "/robot1/thermal_tracker", "--out", str(out),
        "--names", *names), env)
    assert procs.wait(client, 120) == 0, procs.logs()
    result = json.loads(out.read_text())
    expected = yaml.safe_load((ros_install / "share" / "tir_tracker_ros" / "config"
                               / "tracker.yaml").read_text())["/**"]["ros__parameters"]
    assert result["parameters"] == {name: expected[name] for name in names}
    input_status = status(result["diagnostics"], "input")
    assert input_status["name"].startswith("robot1/thermal_tracker: ")
    assert input_status["values"]["topic"] == "/thermal/image"  # the launch remapping
    assert input_status["hardware_id"] == "/thermal/image"
    assert status(result["diagnostics"], "model")["level"] == 0

    # SIGTERM to the process group (systemd, docker stop) while images stream
    procs.start("camera", actor_command("camera", "--frames", "60", "--loop",
                                                 "--pattern", "moving-box",
                                                 "--no-gt-wait", "--image", "/thermal/image",
                                                 "--node", "/robot1/thermal_tracker"), env)
    time.sleep(4)
    pid = int(re.search(r"tracker_node-1\]: process started with pid \[(\d+)\]",
                        procs.log(launch)).group(1))
    os.killpg(launch.pid, signal.SIGTERM)
    # tracker.launch.py makes SIGTERM shut launch down as SIGINT does (launch_signals.py)
    assert procs.wait(launch, 30) == 0, procs.log(launch)
    assert "process has finished cleanly" in procs.log(launch), procs.log(launch)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "the node outlived SIGTERM"
    (node_log,) = (tmp_path / "ros_log").glob(f"*_{pid}_*.log")
    text = node_log.read_text()
    assert "signal received: shutting down" in text and "shutdown: done" in text, text[-3000:]
    assert "Traceback" not in procs.log(launch), procs.log(launch)
