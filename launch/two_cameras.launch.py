"""Two thermal cameras, one tracker each: tracker.launch.py included per camera namespace.

    ros2 launch tir_tracker_ros two_cameras.launch.py \
        left_image:=/left/thermal/image_raw right_image:=/right/thermal/image_raw

The nodes are /left/tir_tracker and /right/tir_tracker, both with params_file (top key
`/**`, so one file serves both; give each its own file to differ). Images default to
`<namespace>/image`; services and topics are under each node (/left/tir_tracker/tracks...).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("tir_tracker_ros")
    tracker = os.path.join(share, "launch", "tracker.launch.py")
    actions = [
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "tracker.yaml"),
                              description="parameter file of both nodes (top key /**)"),
        DeclareLaunchArgument("autostart", default_value="true"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="both nodes take time from /clock (bag replay)"),
    ]
    for side in ("left", "right"):
        actions.append(DeclareLaunchArgument(f"{side}_image", default_value="image",
                                             description=f"image topic of the {side} camera"))
        actions.append(GroupAction([IncludeLaunchDescription(
            PythonLaunchDescriptionSource(tracker),
            launch_arguments={"namespace": side,
                              "image": LaunchConfiguration(f"{side}_image"),
                              "params_file": LaunchConfiguration("params_file"),
                              "autostart": LaunchConfiguration("autostart"),
                              "use_sim_time": LaunchConfiguration("use_sim_time")}.items())]))
    return LaunchDescription(actions)
