"""pip install of the two Python packages (``tir_tracker_core`` and ``tir_tracker_ros``).

ROS 2 builds (colcon) use ``CMakeLists.txt`` instead: the root is an ament_cmake package that
generates the message/service interfaces and installs the same Python packages.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def requirements(name: str) -> list[str]:
    lines = (HERE / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


setup(
    name="tir_tracker_ros",
    version="0.1.0",
    description="Thermal-infrared object tracking with cross-modal compression distillation, "
                "as a pure-Python core and a ROS 2 node",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["tir_tracker_core", "tir_tracker_core.*",
                                    "tir_tracker_ros", "tir_tracker_ros.*"]),
    package_data={"tir_tracker_core": ["weights/*.safetensors", "weights/*.json",
                                       "weights/*.md"]},
    install_requires=requirements("requirements.txt"),
    extras_require={"dev": requirements("requirements-dev.txt")},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/tir_tracker_ros"]),
        ("share/tir_tracker_ros", ["package.xml"]),
        ("share/tir_tracker_ros/launch", ["launch/tracker.launch.py",
                                          "launch/two_cameras.launch.py"]),
        ("share/tir_tracker_ros/config", ["config/tracker.yaml", "config/fastdds_shm.xml"]),
        ("share/tir_tracker_ros/msg", ["msg/Box.msg", "msg/Track.msg", "msg/TrackArray.msg"]),
        ("share/tir_tracker_ros/srv", ["srv/SetTargets.srv", "srv/RemoveTargets.srv"]),
    ],
    entry_points={
        "console_scripts": [
            "tir-tracker = tir_tracker_core.cli:main",
            "tir-tracker-node = tir_tracker_ros.node:main",
            "tir-tracker-bag = tir_tracker_ros.bag:main",
        ],
    },
)
