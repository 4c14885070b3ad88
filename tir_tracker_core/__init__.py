"""TIR tracker core: pure-Python thermal-infrared Siamese tracking (never imports ROS)."""

__version__ = "0.1.0"
