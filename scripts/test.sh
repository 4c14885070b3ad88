#!/usr/bin/env bash
# Fresh machine -> the whole test suite (core + ROS 2 node tests over real rclpy/Fast DDS).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh" --dev --ros
cd "$root"
exec "$root/.venv/bin/python" -m pytest -q "$@"
