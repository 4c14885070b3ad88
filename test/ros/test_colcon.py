"""`colcon build` of a workspace holding this repository, and the installed node started
the way launch/tracker.launch.py starts it (launch_ros itself is not installable here: the
launch description is read with stand-ins for the launch classes)."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
import types
from pathlib import Path

import yaml
from ros_helpers import SITE, actor_command, ros_env, status


class _Entity:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(_Entity):
    pass


def _launch_modules() -> dict[str, types.ModuleType]:
    classes = {"launch": ["LaunchDescription"],
               "launch.actions": ["DeclareLaunchArgument", "SetEnvironmentVariable"],
               "launch_ros.actions": ["Node"]}
    modules = {"launch_ros": types.ModuleType("launch_ros")}
    for name, members in classes.items():
        module = modules.setdefault(name, types.ModuleType(name))
        for member in members:
            setattr(module, member, type(member, (_Entity,), {}))
    modules["launch.substitutions"] = types.ModuleType("launch.substitutions")
    modules["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    return modules


def launch_command(launch_file: Path, prefix: Path, arguments: dict[str, str]):
    """The node command line and environment the launch file asks for (as launch_ros
    builds them), with launch ``arguments`` over the declared defaults."""
    description = runpy.run_path(str(launch_file))["generate_launch_description"]()
    entities = description.args[0]
    values = {e.args[0]: e.kwargs["default_value"] for e in entities
              if type(e).__name__ == "DeclareLaunchArgument"}
    values.update(arguments)

    def resolve(value):
        return values[value.args[0]] if isinstance(value, LaunchConfiguration) else value

    environment = {resolve(e.args[0]): resolve(e.args[1]) for e in entities
                   if type(e).__name__ == "SetEnvironmentVariable"}
    (node,) = [e.kwargs for e in entities if type(e).__name__ == "Node"]
    cmd = [str(prefix / "lib" / node["package"] / node["executable"]), "--ros-args",
           "-r", f"__node:={node['name']}"]
    if resolve(node["namespace"]):
        cmd += ["-r", f"__ns:={resolve(node['namespace'])}"]
    for params in node["parameters"]:
        cmd += ["--params-file", resolve(params)]
    for source, target in node["remappings"]:
        cmd += ["-r", f"{source}:={resolve(target)}"]
    return cmd, environment


def test_colcon_build_installs_interfaces_python_and_data(ros_install):
    share = ros_install / "share" / "tir_tracker_ros"
    site = ros_install / SITE
    for path in (share / "package.xml", share / "launch" / "tracker.launch.py",
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


def test_installed_node_starts_with_the_launch_files_parameters(ros_install, procs,
                                                                 monkeypatch, tmp_path):
    share = ros_install / "share" / "tir_tracker_ros"
    for name, module in _launch_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(ros_install))
    cmd, launch_env = launch_command(share / "launch" / "tracker.launch.py", ros_install,
                                     {"image": "/thermal/image"})
    assert launch_env == {"FASTDDS_DEFAULT_PROFILES_FILE": str(share / "config"
                                                               / "fastdds_shm.xml")}
    env = {**ros_env(ros_install, source_tree=False), **launch_env}

    where = subprocess.run([sys.executable, "-c", "import tir_tracker_ros.node as n, "
                            "tir_tracker_core as c; print(n.__file__); print(c.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(ros_install)) for line in where.stdout.split()), where.stdout

    node = procs.start("installed-node", cmd, env)
    names = ["model", "image_topic", "image_reliability", "tracker.max_targets",
             "max_latency_ms", "publish_debug_image"]
    out = tmp_path / "params.json"
    client = procs.start("client", actor_command("client", "params", "--out", str(out),
                                                 "--names", *names), env)
    assert procs.wait(client, 120) == 0, procs.logs()
    result = json.loads(out.read_text())
    expected = yaml.safe_load((share / "config" / "tracker.yaml").read_text())
    expected = expected["tir_tracker"]["ros__parameters"]
    assert result["parameters"] == {name: expected[name] for name in names}
    input_status = status(result["diagnostics"], "input")
    assert input_status["values"]["topic"] == "/thermal/image"  # the launch remapping
    assert input_status["hardware_id"] == "/thermal/image"
    model = status(result["diagnostics"], "model")
    assert model["level"] == 0, model
    assert procs.interrupt(node) == 0, procs.log(node)
