"""Launch the tir_tracker node with config/tracker.yaml and the Fast DDS profile.

    ros2 launch tir_tracker_ros tracker.launch.py image:=/camera/thermal/image_raw
    ros2 launch tir_tracker_ros tracker.launch.py params_file:=/path/my_tracker.yaml

Arguments: image (input topic, remapped onto the node's `image`), params_file (model,
device and every other parameter), namespace, fastdds_profile (Fast DDS XML profile file,
default config/fastdds_shm.xml; pass your own to replace it).
Without the ROS command line the same node runs as
    tir-tracker-node --ros-args --params-file config/tracker.yaml -r image:=/camera/image
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("tir_tracker_ros")
    return LaunchDescription([
        DeclareLaunchArgument("image", default_value="image",
                              description="input sensor_msgs/Image topic"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "tracker.yaml"),
                              description="node parameter file"),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=os.path.join(share, "config", "fastdds_shm.xml"),
                              description="Fast DDS XML profile: a shared-memory segment "
                                          "large enough for 640x512 16-bit frames"),
        # Every process started by this launch uses the profile; camera drivers and other
        # processes on the host exchanging such frames need it (or one like it) too.
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                               LaunchConfiguration("fastdds_profile")),
        Node(
            package="tir_tracker_ros",
            executable="tracker_node",
            name="tir_tracker",
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file")],
            remappings=[("image", LaunchConfiguration("image"))],
            output="screen",
            emulate_tty=True,
        ),
    ])
