"""Rosbag tools: a benchmark sequence converted to a bag, evaluated offline (rosbags only;
ground truth from the benchmark's text files, every target scored) and replayed at half
speed through DDS into a running node with use_sim_time (recorded stamps kept, /clock from
the bag; same metric within 0.02), and the recorded tracks scored again (`score`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ros_helpers import MODEL, REPO_ROOT, node_command

from tir_tracker_ros import bag

SEQUENCE = "tir/vottir_horse"
START_S = 1000.0  # stamps of the converted bag: far from today's, so a new stamp shows


def _bag_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    result = subprocess.run([sys.executable, "-m", "tir_tracker_ros.bag", *args], env=env,
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def horse_bag(shared_data: Path, tmp_path_factory) -> Path:
    if not (shared_data / SEQUENCE).is_dir():
        pytest.skip(f"{shared_data / SEQUENCE} not found")
    out = tmp_path_factory.mktemp("bags") / "horse"
    _bag_cli("convert", str(shared_data / SEQUENCE), str(out), "--fps", "30",
             "--start", str(START_S))
    return out


def test_convert_writes_frames_and_records_the_sequence(horse_bag, shared_data):
    contents = bag.read_bag(horse_bag)
    frames = contents.frames
    gt = np.loadtxt(shared_data / SEQUENCE / "groundtruth_rect.txt", delimiter=",")
    assert len(frames) == len(gt) == 348
    first = frames[0].image
    assert (first.encoding, first.width, first.height) == ("mono8", 324, 256)
    stamps = np.array([f.stamp_ns for f in frames])
    assert stamps[0] == START_S * 1e9
    np.testing.assert_allclose(np.diff(stamps), 1e9 / 30, atol=1)
    # the ground truth comes from the benchmark's text file, found from the bag's metadata
    assert contents.custom_data[bag.CUSTOM_SOURCE] == str((shared_data / SEQUENCE).resolve())
    truth = bag.load_ground_truth(contents)
    assert truth.names == ["vottir_horse"] and truth.source.startswith("sequence ")
    np.testing.assert_allclose(truth.boxes[0], gt)
    # the topic copy (for viewers) holds the same boxes
    topic = bag.load_ground_truth(bag.BagContents(frames, contents.store, {}, contents.topic_gt))
    assert topic.source == "topic"
    np.testing.assert_allclose(topic.boxes[0], gt)
    metadata = (horse_bag / "metadata.yaml").read_text()
    assert "tir_tracker_ros/msg/TrackArray" in metadata and "RIHS01_" in metadata


def test_evaluate_scores_every_target(tmp_path):
    """Two targets on the same frames (OTB's groundtruth_rect.<k>.txt): one row each; box
    files (--gt) with a target that appears on frame 5 (NaN rows before): set there."""
    from tir_tracker_core.api import load_tracker
    from tir_tracker_core.data import SyntheticConfig, generate_sequence, write_sequence

    seq = generate_sequence(SyntheticConfig(seed=5, num_frames=40, height=256, width=320,
                                            num_targets=2))
    write_sequence(seq, tmp_path / "two")
    _bag_cli("convert", str(tmp_path / "two"), str(tmp_path / "bag"), "--start", "2000")
    tracker = load_tracker(MODEL, backend_options={"threads": 1})
    report = bag.evaluate_bag(tmp_path / "bag", tracker, results=tmp_path / "tracks")
    assert [t.name for t in report.targets] == ["two-1", "two-2"]
    assert [t.first_frame for t in report.targets] == [0, 0]
    assert sorted(t.track_id for t in report.targets) == [1, 2]
    assert all(t.frames == 40 and t.success > 0.2 for t in report.targets), report.table()
    assert report.success == pytest.approx(np.mean([t.success for t in report.targets]))
    # the tracks written hold both targets
    with bag.AnyReader([tmp_path / "tracks"], default_typestore=bag.make_typestore()) as r:
        ids = {t.id for _, _, raw in r.messages()
               for t in r.deserialize(raw, bag.TRACK_ARRAY_TYPE).tracks}
    assert ids == {1, 2}

    late = np.array(seq.boxes[1], dtype=float)
    late[:5] = np.nan
    np.savetxt(tmp_path / "late.txt", late, delimiter=",")
    np.savetxt(tmp_path / "first.txt", seq.boxes[0], delimiter=",")
    tracker.reset()
    report = bag.evaluate_bag(tmp_path / "bag", tracker, gt_files=[tmp_path / "first.txt",
                                                                  tmp_path / "late.txt"])
    assert [(t.name, t.first_frame, t.frames) for t in report.targets] == [
        ("first.txt", 0, 40), ("late.txt", 5, 35)], report.table()
    assert all(t.success > 0.2 for t in report.targets), report.table()


def test_convert_of_a_missing_sequence_fails_with_a_message(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tir_tracker_ros.bag", "convert",
                             str(tmp_path / "missing"), str(tmp_path / "out")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "tir-tracker-bag convert:" in result.stderr


def test_live_replay_keeps_stamps_and_matches_offline_evaluation(horse_bag, env, procs,
                                                                   tmp_path):
    """The live pipeline (bag -> DDS -> node -> DDS -> recorder) tracks like the offline one,
    with the recorded stamps (the node runs on the bag's /clock).

    Correctness, not speed: the offline run finishes before the node starts and the bag plays
    at half speed, so that a busy 2-core machine does not make the node drop frames (a dropped
    frame changes the trajectory; one run with both at once on a loaded machine dropped 2 and
    moved success by 0.023). Real-time figures are the replay report's latency and the bench.
    """
    offline = subprocess.run(
        [sys.executable, "-m", "tir_tracker_ros.bag", "evaluate", str(horse_bag), "--model",
         MODEL, "--threads", "1", "--results", str(tmp_path / "offline_tracks"), "--report",
         str(tmp_path / "offline.json")], cwd=REPO_ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=300)
    assert offline.returncode == 0, offline.stdout[-3000:]
    node = procs.start("node", node_command(f"model:={MODEL}", "use_sim_time:=true"), env)
    _bag_cli("replay", str(horse_bag), "--rate", "0.5", "--record", str(tmp_path / "live_tracks"),
             "--report", str(tmp_path / "live.json"), env=env, timeout=180)
    off = json.loads((tmp_path / "offline.json").read_text())
    live = json.loads((tmp_path / "live.json").read_text())
    print(f"\nvottir_horse offline success {off['success']:.4f} ({off['fps']:.1f} FPS); live "
          f"success {live['success']:.4f}, latency p50 {live['latency_ms_p50']:.1f} ms p99 "
          f"{live['latency_ms_p99']:.1f} ms, {live['frames_without_tracks']} of "
          f"{live['frames_published']} frames without tracks, node dropped "
          f"{live['node_diagnostics'].get('frames_dropped')}")

    assert abs(live["success"] - off["success"]) <= 0.02, (off, live)
    assert [t["name"] for t in live["targets"]] == [t["name"] for t in off["targets"]] == [
        "vottir_horse"]
    assert live["frames_published"] == off["frames"] == 348
    assert live["latency_ms_p50"] > 0 and live["latency_ms_p99"] >= live["latency_ms_p50"]
    assert float(live["node_diagnostics"]["processing_fps"]) > 0
    # stamps kept: the 30 Hz recording played at half speed is no gap to the node. A frame
    # may still be replaced in the node's one-image queue when this shared machine stalls the
    # node for a frame period (seen once in a full-suite run: 1 of 348); a stamp or rate
    # error would miss frames all along the replay
    assert int(live["node_diagnostics"]["frames_dropped"]) <= 3, live["node_diagnostics"]
    # both result bags hold the tracks as tir_tracker_ros/TrackArray, on the bag's stamps
    stamps = {f.stamp_ns for f in bag.read_bag(horse_bag).frames}
    for name, count in (("offline_tracks", 348), ("live_tracks", live["tracks_received"])):
        with bag.AnyReader([tmp_path / name], default_typestore=bag.make_typestore()) as r:
            assert [c.msgtype for c in r.connections] == [bag.TRACK_ARRAY_TYPE]
            got = [bag.conv.stamp_to_ns(r.deserialize(raw, bag.TRACK_ARRAY_TYPE).header.stamp)
                   for _, _, raw in r.messages()]
        assert len(got) >= count and set(got) <= stamps, name
    # the node's clock was the bag's (/clock, use_sim_time): its last diagnostics are
    # stamped within the recording, not today
    assert live["clock_published"] is True
    assert min(stamps) <= live["node_diagnostics_stamp_ns"] <= max(stamps) + 5e9, live
    # `score` (the ros2 bag play + record route) gives the live report's numbers again
    scored = json.loads(_bag_cli("score", str(tmp_path / "live_tracks"), "--bag",
                                 str(horse_bag)).stdout)
    assert scored["success"] == pytest.approx(live["success"], abs=1e-9), (scored, live)
    assert scored["targets"][0]["track_id"] == live["targets"][0]["track_id"]
    assert node.poll() is None
