"""Helpers of the ROS 2 tests: environment of ROS processes, subprocess handling, commands.

Every ROS process is a separate subprocess whose environment puts the source tree first on
PYTHONPATH and the built interfaces after it (the package's ``extend_path`` finds the
generated ``msg``/``srv`` modules there), uses this run's own ROS_DOMAIN_ID, discovery
limited to localhost, and the repository's Fast DDS profile.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ACTORS = Path(__file__).with_name("actors.py")
WORKSPACE = REPO_ROOT / "build" / "ros" / "ws"
PROFILE = REPO_ROOT / "config" / "fastdds_shm.xml"
PARAMS = REPO_ROOT / "config" / "tracker.yaml"
SITE = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
DOMAIN_ID = 1 + os.getpid() % 101  # private per test run (1..101 work with Fast DDS)
MOVING_BOX_0 = (200.0, 200.0, 80.0, 60.0)  # actors.py camera --pattern moving-box, frame 0
EXTRAS = Path(sys.prefix) / "ros2_extras"  # ../shared/ros2_extras/install.sh .venv
# The model the node tracks with: the shipped default unless a developer points elsewhere.
MODEL = os.environ.get("TIR_ROS_TEST_MODEL", "default")


def _prepend(env: dict[str, str], key: str, *paths: object) -> None:
    parts = [str(p) for p in paths] + [p for p in env.get(key, "").split(os.pathsep) if p]
    env[key] = os.pathsep.join(dict.fromkeys(parts))


def ros_env(prefix: Path, *, source_tree: bool = True) -> dict[str, str]:
    """Environment of a ROS process of this test run; ``prefix`` is the install prefix of
    the built package; ``source_tree`` puts the checkout first on PYTHONPATH. With
    ../shared/ros2_extras installed into the venv (scripts/bootstrap.sh --ros), it has what
    its env.sh sets: ``ros2``, launch, vision_msgs."""
    env = dict(os.environ)
    if (EXTRAS / "env.sh").is_file():
        _prepend(env, "PATH", Path(sys.prefix) / "bin")
        _prepend(env, "AMENT_PREFIX_PATH", EXTRAS)
        _prepend(env, "PYTHONPATH", EXTRAS / SITE)
        _prepend(env, "LD_LIBRARY_PATH", EXTRAS / "lib")
    _prepend(env, "PYTHONPATH", prefix / SITE)
    if source_tree:
        _prepend(env, "PYTHONPATH", REPO_ROOT)
    _prepend(env, "LD_LIBRARY_PATH", prefix / "lib")
    _prepend(env, "AMENT_PREFIX_PATH", prefix, sys.prefix)
    env.update(ROS_DOMAIN_ID=str(DOMAIN_ID),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               FASTDDS_DEFAULT_PROFILES_FILE=str(PROFILE),
               RMW_IMPLEMENTATION="rmw_fastrtps_cpp",
               PYTHONUNBUFFERED="1")
    env.pop("ROS_LOCALHOST_ONLY", None)
    return env


class Procs:
    """Subprocesses of one test, each logging to a file; stopped with SIGINT at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, name: str, cmd: list[str], env: dict[str, str], *,
              new_session: bool = False) -> subprocess.Popen:
        """``new_session``: its own process group, like a job started from a terminal."""
        log = self.tmp_path / f"{name}.log"
        with open(log, "w") as handle:
            proc = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                    cwd=self.tmp_path, start_new_session=new_session)
        self.procs.append((name, proc, log))
        return proc

    def log(self, proc: subprocess.Popen) -> str:
        return next(log.read_text() for _, p, log in self.procs if p is proc)

    def logs(self) -> str:
        return "\n".join(f"----- {name} (rc={p.poll()}):\n{log.read_text()[-6000:]}"
                         for name, p, log in self.procs)

    def wait(self, proc: subprocess.Popen, timeout: float) -> int:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{proc.args} still running after {timeout} s\n{self.logs()}")

    def interrupt(self, proc: subprocess.Popen, timeout: float = 15.0) -> int:
        """Ctrl-C, as a user would; returns the exit code (-9 if it had to be killed)."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def stop_all(self) -> None:
        for _, proc, _ in reversed(self.procs):
            self.interrupt(proc, timeout=10.0)


def node_command(*params: str, params_file: Path = PARAMS) -> list[str]:
    """The node as its console script runs it, with ``name:=value`` parameter overrides."""
    cmd = [sys.executable, "-m", "tir_tracker_ros.node", "--ros-args",
           "--params-file", str(params_file)]
    for param in params:
        cmd += ["-p", param]  # overrides the YAML's `/**` key
    return cmd


def actor_command(*args: str) -> list[str]:
    return [sys.executable, str(ACTORS), *args]


def run_client(procs: Procs, env: dict[str, str], scenario: str, *args: str,
               timeout: float = 120.0) -> dict:
    """Run a client scenario of actors.py to its end; returns its JSON report."""
    out = procs.tmp_path / f"{scenario}.json"
    proc = procs.start(f"client-{scenario}",
                       actor_command("client", scenario, "--out", str(out), *args), env)
    rc = procs.wait(proc, timeout)
    assert rc == 0, f"client {scenario} failed\n{procs.logs()}"
    return json.loads(out.read_text())


def status(statuses: list[dict], concern: str) -> dict:
    """The diagnostic status of ``concern`` (model, input, tracking)."""
    found = [s for s in statuses if s["name"].endswith(f": {concern}")]
    assert found, f"no {concern} status in {statuses}"
    return found[0]


def wait_for_log(procs: Procs, proc: subprocess.Popen, text: str, count: int = 1,
                 timeout: float = 120.0) -> None:
    """Wait until ``proc``'s output holds ``text`` ``count`` times."""
    deadline = time.monotonic() + timeout
    while procs.log(proc).count(text) < count:
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no {count}x {text!r} in the output of {proc.args}\n{procs.logs()}")
        time.sleep(0.2)


def ros2(env: dict[str, str], *args: str, timeout: float = 60.0, attempts: int = 4) -> str:
    """Run the ``ros2`` command line (as a user types it); returns its output.

    Without the daemon, ``ros2 param`` discovers the node within ``--spin-time``; on a busy
    machine discovery can take longer ("Node not found"), which a user answers by running the
    command again: so does this, up to ``attempts`` times. Any other failure fails at once.
    """
    for attempt in range(attempts):
        result = subprocess.run(["ros2", *args], env=env, capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode == 0 or "Node not found" not in result.stderr:
            break
        time.sleep(1.0 + attempt)
    assert result.returncode == 0, (args, result.stdout[-3000:], result.stderr[-3000:])
    return result.stdout
