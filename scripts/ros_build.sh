#!/usr/bin/env bash
# Build this repository as the ROS 2 package tir_tracker_ros with colcon, in a workspace
# whose src/ links to the repository:
#
#   scripts/ros_build.sh [WORKSPACE] [-- COLCON_BUILD_ARGS...]   default WORKSPACE: build/ros/ws (git-ignored)
#   source WORKSPACE/install/setup.bash    (or use the two export lines it prints)
#
# With a sourced ROS 2 distribution this is a plain `colcon build`. Without one, the ROS 2
# wheels of requirements-ros.txt in the interpreter $PYTHON (default: .venv/bin/python, else
# python3 on PATH; its
# environment must also hold colcon-common-extensions) provide ament, rosidl and rclpy: the
# interpreter's prefix is then put on AMENT_PREFIX_PATH / CMAKE_PREFIX_PATH. Repeated runs
# are incremental. Extra arguments after `--` go to `colcon build`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ws=$root/build/ros/ws
if [ $# -gt 0 ] && [ "$1" != "--" ]; then ws=$1; shift; fi
[ "${1:-}" = "--" ] && shift
# The interpreter: $PYTHON, else the project's venv (scripts/bootstrap.sh --ros), else python3.
if [ -z "${PYTHON:-}" ] && [ -x "$root/.venv/bin/python" ]; then PYTHON=$root/.venv/bin/python; fi
python=${PYTHON:-$(command -v python3)}
pybin=$(dirname "$python")
colcon=${COLCON:-$pybin/colcon}
[ -x "$colcon" ] || colcon=$(command -v colcon) \
  || { echo "colcon not found next to $python nor on PATH: scripts/bootstrap.sh --ros" \
            "(or pip install colcon-common-extensions)" >&2; exit 1; }

mkdir -p "$ws/src"
ws=$(cd "$ws" && pwd)
link=$ws/src/tir_tracker_ros
if [ ! -e "$link" ]; then
  ln -s "$root" "$link"
fi

if [ -z "${ROS_DISTRO:-}" ]; then
  pyprefix=$("$python" -c 'import sys; print(sys.prefix)')
  export AMENT_PREFIX_PATH=${AMENT_PREFIX_PATH:+$AMENT_PREFIX_PATH:}$pyprefix
  export CMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH:+$CMAKE_PREFIX_PATH:}$pyprefix
fi

cd "$ws"
"$colcon" --log-base "$ws/log" build \
  --base-paths src --build-base "$ws/build" --install-base "$ws/install" \
  --event-handlers console_cohesion- summary+ status- \
  --cmake-args -DPython3_EXECUTABLE="$python" -DBUILD_TESTING=OFF -Wno-dev \
  "$@"

site=$("$python" -c 'import sys; print(f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages")')
pkg=$ws/install/tir_tracker_ros
echo "# source $ws/install/setup.bash   or:"
echo "export PYTHONPATH=$pkg/$site\${PYTHONPATH:+:\$PYTHONPATH}"
echo "export LD_LIBRARY_PATH=$pkg/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
