"""Fixtures of the ROS 2 tests: the package built with colcon, the environment of ROS
processes (private ROS_DOMAIN_ID, Fast DDS profile) and per-test subprocesses.

The package is built once per session with scripts/ros_build.sh into build/ros/ws
(git-ignored; incremental, a few seconds when nothing changed). Tests that need ROS skip
only when rclpy cannot be imported.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ros_helpers import REPO_ROOT, WORKSPACE, Procs, ros_env

try:
    import rclpy  # noqa: F401

    RCLPY_ERROR = ""
except ImportError as e:
    RCLPY_ERROR = str(e)


@pytest.fixture(scope="session")
def ros_install() -> Path:
    """Install prefix of the package as ``colcon build`` built it (interfaces included)."""
    if RCLPY_ERROR:
        pytest.skip(f"rclpy is not importable ({RCLPY_ERROR}); install the ROS 2 wheels: "
                    "pip install -r requirements-ros.txt")
    WORKSPACE.parent.mkdir(parents=True, exist_ok=True)
    with open(WORKSPACE.parent / "ws.lock", "w") as lock:  # concurrent test runs
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run([str(REPO_ROOT / "scripts" / "ros_build.sh"), str(WORKSPACE)],
                                env=dict(os.environ, PYTHON=sys.executable),
                                capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"colcon build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return WORKSPACE / "install" / "tir_tracker_ros"


def _shm_files() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("fastdds_*")}


def _shm_in_use() -> set[str]:
    """fastdds_* files some process maps or holds open (any user of the host)."""
    used = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            used.update(line.rsplit("/", 1)[-1] for line in
                        (proc / "maps").read_text().splitlines() if "/dev/shm/fastdds_" in line)
            used.update(os.readlink(fd).rsplit("/", 1)[-1] for fd in (proc / "fd").iterdir()
                        if "/dev/shm/fastdds_" in os.readlink(fd))
        except OSError:
            continue
    return used


@pytest.fixture(scope="session")
def env(ros_install: Path) -> Iterator[dict[str, str]]:
    """Environment of the ROS processes of this test run."""
    before = _shm_files()
    yield ros_env(ros_install)
    # Fast DDS removes its segments on a clean exit; a killed process leaves its own behind.
    for name in _shm_files() - before - _shm_in_use():
        (Path("/dev/shm") / name).unlink(missing_ok=True)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    yield p
    p.stop_all()
