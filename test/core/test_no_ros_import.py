"""The core never imports ROS: importing every core module leaves rclpy out of sys.modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_core_modules_do_not_import_ros():
    code = (
        "import pkgutil, importlib, sys\n"
        "import tir_tracker_core\n"
        "for m in pkgutil.walk_packages(tir_tracker_core.__path__, 'tir_tracker_core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in "
        "('rclpy', 'rosidl_runtime_py', 'sensor_msgs', 'std_msgs', 'tir_tracker_ros'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
