"""Launch one tir_tracker node with a parameter file and the Fast DDS profile.

    ros2 launch tir_tracker_ros tracker.launch.py image:=/camera/thermal/image_raw
    ros2 launch tir_tracker_ros tracker.launch.py namespace:=cam1 name:=tracker \
        params_file:=/path/my_tracker.yaml autostart:=false

Arguments: image (input topic, remapped onto the node's relative `image`, so the default
follows the namespace), params_file (model, device and every other parameter; its top key
`/**` matches any node name and namespace), name, namespace, autostart (true: the lifecycle
node configures and activates itself; false: it waits in `unconfigured` for
`~/change_state`), use_sim_time (time from /clock: bag replay), log_level,
fastdds_profile (Fast DDS XML profile, default
config/fastdds_shm.xml; pass your own to replace it). launch/two_cameras.launch.py includes
this file once per camera. SIGTERM to the launch process (systemd, docker stop) shuts it down
as SIGINT does (tir_tracker_ros.launch_signals): the nodes get SIGINT, exit code 0.
Without the ROS command line the same node runs as
    tir-tracker-node --ros-args --params-file config/tracker.yaml -r image:=/camera/image
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from tir_tracker_ros.launch_signals import stop_on_sigterm


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("tir_tracker_ros")
    arg = LaunchConfiguration
    return LaunchDescription([
        # SIGTERM (systemd, docker stop) stops the launch like Ctrl-C: exit 0, nodes stopped
        OpaqueFunction(function=stop_on_sigterm),
        DeclareLaunchArgument("image", default_value="image",
                              description="input sensor_msgs/Image topic (relative: in the "
                                          "namespace)"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "tracker.yaml"),
                              description="node parameter file (top key /**)"),
        DeclareLaunchArgument("name", default_value="tir_tracker", description="node name"),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="configure and activate the lifecycle node at "
                                          "start"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="take time from /clock (bag replay: `ros2 bag "
                                          "play --clock`, `tir-tracker-bag replay`)"),
        DeclareLaunchArgument("log_level", default_value="info",
                              description="debug, info, warn, error"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=os.path.join(share, "config", "fastdds_shm.xml"),
                              description="Fast DDS XML profile: a shared-memory segment "
                                          "large enough for 640x512 16-bit frames"),
        # Every process started by this launch uses the profile; camera drivers and other
        # processes on the host exchanging such frames need it (or one like it) too.
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", arg("fastdds_profile")),
        Node(
            package="tir_tracker_ros",
            executable="tracker_node",
            name=arg("name"),
            namespace=arg("namespace"),
            parameters=[arg("params_file"),
                        {"autostart": ParameterValue(arg("autostart"), value_type=bool),
                         "use_sim_time": ParameterValue(arg("use_sim_time"),
                                                        value_type=bool)}],
            remappings=[("image", arg("image"))],
            arguments=["--ros-args", "--log-level", arg("log_level")],
            output="screen",
            emulate_tty=True,
        ),
    ])
