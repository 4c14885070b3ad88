#!/usr/bin/env python3
"""Benchmark of the tracker node under a camera's load: 640x512 mono16 at 30 Hz.

    scripts/ros_bench.py [--targets 1 4 16] [--duration 30] [--rate 30] [--model default]
                         [--backend auto] [--json out.json]

For each target count: the tracker's own FPS on the same frames (in this process, before
the node starts, 1 thread), then the node (`python -m tir_tracker_ros.node`, its own
process, config/tracker.yaml) fed by a camera in this process for ``--duration`` seconds:
frames tracked per second (tracks messages with targets), the ratio to min(rate, tracker
FPS) (goal >= 90 %), latency image stamp -> tracks received p50/p99, the node's CPU (% of
one core) and resident memory at the end. Needs the built interfaces on the path (source
the colcon install, or run through scripts/ros_bench.sh-style env as the tests do) and a
private ROS_DOMAIN_ID; uses the repository's Fast DDS profile.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
W, H = 640, 512


def scene(n_targets: int, frames: int, seed: int = 0) -> tuple[list[np.ndarray], list]:
    """``frames`` mono16 frames with ``n_targets`` warm 36x28 blobs drifting on a grid."""
    rng = np.random.default_rng(seed)
    background = (7500 + rng.normal(0, 40, (H, W))).astype(np.uint16)
    cols = math.ceil(math.sqrt(n_targets))
    rows = math.ceil(n_targets / cols)
    starts = [(60 + (W - 160) * (i % cols) / max(cols, 1), 60 + (H - 160) * (i // cols)
               / max(rows, 1)) for i in range(n_targets)]
    out, first = [], []
    for f in range(frames):
        frame = background.copy()
        for k, (x0, y0) in enumerate(starts):
            x = int(x0 + 12 * math.sin(f / 20 + k))
            y = int(y0 + 8 * math.cos(f / 25 + k))
            frame[y:y + 28, x:x + 36] = 9000 + 100 * k
            if f == 0:
                first.append((float(x), float(y), 36.0, 28.0))
        out.append(frame)
    return out, first


def tracker_fps(frames: list[np.ndarray], boxes: list, model: str, backend: str) -> float:
    from tir_tracker_core.api import load_tracker

    tracker = load_tracker(model, backend, "cpu", tracker={"max_targets": max(16, len(boxes))},
                           backend_options={"threads": 1})
    tracker.init(frames[0], boxes)
    for f in frames[1:6]:
        tracker.update(f)  # warm-up
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < 8.0 and n < 200:
        tracker.update(frames[1 + n % (len(frames) - 1)])
        n += 1
    return n / (time.perf_counter() - start)


def proc_cpu_rss(pid: int) -> tuple[float, float]:
    """(user+system CPU seconds, RSS MiB) of a process from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text()
               .splitlines() if line.startswith("VmRSS")) / 1024
    return cpu, rss


def run_node_bench(frames: list[np.ndarray], boxes: list, args: argparse.Namespace) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from tir_tracker_ros import conversions as conv
    from tir_tracker_ros.msg import Box, TrackArray
    from tir_tracker_ros.srv import SetTargets

    node_proc = subprocess.Popen(
        [sys.executable, "-m", "tir_tracker_ros.node", "--ros-args", "--params-file",
         str(ROOT / "config" / "tracker.yaml"), "-p", f"model:={args.model}",
         "-p", f"backend:={args.backend}",
         "-p", "tracker.max_targets:=16", "-p", "image_topic:=/bench/image"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rclpy.init()
    ros = Node("tir_tracker_bench")
    executor = SingleThreadedExecutor()
    executor.add_node(ros)
    received: list[tuple[int, int, int]] = []  # (stamp ns, receive ns, tracks)

    def on_tracks(msg: TrackArray) -> None:
        received.append((conv.stamp_to_ns(msg.header.stamp), time.time_ns(), len(msg.tracks)))

    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                     reliability=ReliabilityPolicy.BEST_EFFORT)
    pub = ros.create_publisher(Image, "/bench/image", qos)
    ros.create_subscription(TrackArray, "/tir_tracker/tracks", on_tracks, 100)
    client = ros.create_client(SetTargets, "/tir_tracker/set_targets")
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        deadline = time.monotonic() + 120
        while pub.get_subscription_count() == 0 or not client.service_is_ready():
            if time.monotonic() > deadline or node_proc.poll() is not None:
                raise RuntimeError("the node did not come up")
            time.sleep(0.1)
        period = 1.0 / args.rate

        def publish(i: int) -> int:
            msg = conv.fill_image(Image(), frames[i], "mono16")
            stamp = time.time_ns()
            conv.ns_to_stamp(stamp, msg.header.stamp)
            pub.publish(msg)
            return stamp

        answer = None
        while answer is None or not answer.success:  # until frame 0 reached the node
            stamp = publish(0)
            time.sleep(0.2)
            request = SetTargets.Request(boxes=[conv.fill_box(Box(), b) for b in boxes],
                                         replace=True)
            conv.ns_to_stamp(stamp, request.stamp)
            future = client.call_async(request)
            while not future.done():
                time.sleep(0.01)
            answer = future.result()
            if time.monotonic() > deadline:
                raise RuntimeError(f"set_targets failed: {answer.message}")
        order = list(range(1, len(frames))) + list(range(len(frames) - 2, 0, -1))
        warm_end = time.monotonic() + 3.0  # settle before measuring
        n = 0
        start = time.monotonic()
        measuring_from = None
        cpu0 = None
        published = 0
        while True:
            now = time.monotonic()
            if measuring_from is None and now >= warm_end:
                measuring_from = time.time_ns()
                cpu0 = proc_cpu_rss(node_proc.pid)[0]
                t_cpu0 = now
                published = 0
            if measuring_from is not None and now - t_cpu0 >= args.duration:
                break
            publish(order[n % len(order)])
            published += 1
            n += 1
            wait = start + n * period - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        wall = time.monotonic() - t_cpu0
        cpu1, rss = proc_cpu_rss(node_proc.pid)
        time.sleep(0.5)
        window = [(s, r, k) for s, r, k in received if s >= measuring_from]
        tracked = [(s, r) for s, r, k in window if k]
        lat = np.array([(r - s) * 1e-6 for s, r in tracked]) if tracked else np.array([np.nan])
        return {"published_hz": published / wall, "tracked_fps": len(tracked) / wall,
                "latency_ms_p50": float(np.percentile(lat, 50)),
                "latency_ms_p99": float(np.percentile(lat, 99)),
                "node_cpu_percent": 100 * (cpu1 - cpu0) / wall, "node_rss_mib": rss,
                "duration_s": wall}
    finally:
        executor.shutdown(timeout_sec=1.0)
        ros.destroy_node()
        rclpy.try_shutdown()
        node_proc.send_signal(2)
        try:
            node_proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node_proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per setting")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="auto",
                        help="the node's and the tracker's backend (default: %(default)s, as "
                             "config/tracker.yaml)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE",
                          str(ROOT / "config" / "fastdds_shm.xml"))
    if "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        print("set FASTDDS_DEFAULT_PROFILES_FILE", file=sys.stderr)
    rows = []
    for n in args.targets:
        frames, boxes = scene(n, 120, seed=n)
        fps = tracker_fps(frames, boxes, args.model, args.backend)
        result = run_node_bench(frames, boxes, args)
        goal = min(args.rate, fps)
        rows.append({"targets": n, "tracker_fps": fps, **result,
                     "ratio": result["tracked_fps"] / goal})
        print(json.dumps(rows[-1]), flush=True)
    print("\n| targets | tracker FPS | node tracked FPS | of min(rate, tracker) | latency p50 / "
          "p99 ms | node CPU % | node RSS MiB |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['targets']} | {r['tracker_fps']:.1f} | {r['tracked_fps']:.1f} | "
              f"{100 * r['ratio']:.0f} % | {r['latency_ms_p50']:.0f} / "
              f"{r['latency_ms_p99']:.0f} | {r['node_cpu_percent']:.0f} | "
              f"{r['node_rss_mib']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
