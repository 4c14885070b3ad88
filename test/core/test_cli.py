"""The ``tir-tracker`` command line, end to end on small generated data."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tir_tracker_core.backends.auto import cpu_backend
from tir_tracker_core.cli import main
from tir_tracker_core.data.synthetic import SyntheticConfig, generate_sequence, write_sequence

DEFAULT = f"default@{cpu_backend()}"  # the default model on the default backend


@pytest.fixture(scope="module")
def seq_dir(tmp_path_factory):
    seq = generate_sequence(SyntheticConfig(seed=3, num_frames=12, height=128, width=160))
    return write_sequence(seq, tmp_path_factory.mktemp("data") / "syn3", layout="otb",
                          modality="tir")


def test_eval_writes_table_and_results(seq_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", str(seq_dir), "--tracker", "default", "--tracker", "opencv:kcf",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| tracker | success |" in printed and "opencv:kcf" in printed
    res = json.loads((out / "results.json").read_text())
    for name in (DEFAULT, "opencv:kcf"):
        per_seq = res["trackers"][name]["sequences"][seq_dir.name]
        for key in ("success", "precision", "norm_precision", "fps"):
            assert isinstance(per_seq[key], float)
    assert res["trackers"][DEFAULT]["extra"]["MACs (G)"] > 0
    assert (out / "success_plot.png").is_file()


def test_bench_two_target_counts(seq_dir, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", str(seq_dir), "--tracker", "default", "--targets", "1,2",
                 "--max-frames", "4", "--warmup", "1", "--out", str(out)]) == 0
    res = json.loads((out / "bench.json").read_text())
    assert "p50" in capsys.readouterr().out
    assert res  # structure is checked by the bench tests; here: the CLI wrote it


@pytest.mark.parametrize("threads", [None, 1])
def test_bench_threads_hold_every_tracker_to_one_run_at_a_time(seq_dir, tmp_path, threads,
                                                              monkeypatch):
    """``--threads N``: N threads per network run and one run at a time (ONNX Runtime's
    ``workers`` 1), our models and the peers alike; without it each library's defaults."""
    from tir_tracker_core.eval import resolve as resolve_module

    seen = {}
    real = resolve_module.resolve

    def spy(spec, *args, **kwargs):
        seen[spec] = kwargs.get("backend_options")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(resolve_module, "resolve", spy)
    argv = ["bench", str(seq_dir), "--tracker", "default@onnxruntime", "--tracker",
            "default@torch", "--tracker", "opencv:kcf", "--targets", "1", "--max-frames", "3",
            "--warmup", "0", "--out", str(tmp_path / "bench")]
    assert main(argv + (["--threads", str(threads)] if threads else [])) == 0
    if threads is None:
        assert set(seen.values()) == {None}
    else:
        assert seen == {"default@onnxruntime": {"threads": 1, "workers": 1},
                        "default@torch": {"threads": 1}, "opencv:kcf": {"threads": 1}}


def test_bench_reference_by_spec_is_benchmarked_too(seq_dir, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", str(seq_dir), "--tracker", "opencv:kcf", "--reference", "default",
                 "--targets", "1", "--max-frames", "3", "--warmup", "0", "--out",
                 str(out)]) == 0
    table = capsys.readouterr().out
    assert f"| {DEFAULT} | 1 |" in table and "| opencv:kcf | 1 |" in table
    res = json.loads((out / "bench.json").read_text())
    assert res["reference"] == DEFAULT


@pytest.mark.parametrize("targets", ["1,x", "0,4", ""])
def test_bench_bad_target_counts_are_a_clear_error(seq_dir, targets, tmp_path, capsys):
    assert main(["bench", str(seq_dir), "--tracker", "opencv:kcf", "--targets", targets,
                 "--out", str(tmp_path / "b")]) == 2
    assert "--targets" in capsys.readouterr().err


def test_probe_prints_table_and_writes_json(shared_data, tmp_path, capsys):
    out = tmp_path / "probe"
    assert main(["probe", str(shared_data / "paired_rgbt/llvip/ir_only_annotated"),
                 "--tracker", "default", "--max-boxes", "2", "--updates", "2",
                 "--variant", "tight:lr=1.0", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"| {DEFAULT} | 2 |" in text and f"| {DEFAULT} tight | 2 |" in text
    res, tight = json.loads((out / "probe.json").read_text())
    assert res["num_boxes"] == 2 and len(res["log_size_error"]) == 3
    assert res["template"] is False and tight["tracker"] == f"{DEFAULT} tight"
    # a size update rate of 1 takes the network's box at once: another size error
    assert tight["log_size_error"] != res["log_size_error"]


def test_probe_from_loose_first_boxes(shared_data, tmp_path, capsys):
    out = tmp_path / "probe"
    assert main(["probe", str(shared_data / "paired_rgbt/llvip/ir_only_annotated"),
                 "--tracker", "default", "--max-boxes", "2", "--updates", "2",
                 "--scales", "1,1.2", "--template", "--out", str(out)]) == 0
    (res,) = json.loads((out / "probe.json").read_text())
    assert res["template"] is True and res["scales"] == [1.0, 1.2]
    with pytest.raises(SystemExit):
        main(["probe", str(out), "--scales", "1,-2"])
    assert "must be positive" in capsys.readouterr().err


def test_bad_spec_is_a_clear_error(seq_dir, tmp_path, capsys):
    assert main(["eval", str(seq_dir), "--tracker", str(tmp_path / "missing.safetensors"),
                 "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_track_command_on_image_folder(seq_dir, tmp_path, capsys):
    gt = (seq_dir / "groundtruth_rect.txt").read_text().splitlines()[0]
    out = tmp_path / "track"
    assert main(["track", str(seq_dir), "--box", gt, "--model", "default", "--out", str(out),
                 "--no-video"]) == 0
    rows = json.loads((out / "tracks.json").read_text())
    assert len(rows) == 12 and rows[-1]["frame"] == 11


def test_demo_with_default_model(tmp_path, capsys):
    assert main(["demo", "--frames", "20", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "FPS" in printed and "success" in printed
    res = json.loads((tmp_path / "results.json").read_text())
    assert len(res["targets"]) == 2
    assert (tmp_path / "tracked.mp4").is_file() or (tmp_path / "frames").is_dir()


# --------------------------------------------------------------------------- what a user sees


def _first_box(seq_dir) -> str:
    return (seq_dir / "groundtruth_rect.txt").read_text().splitlines()[0]


def _video_frames(path) -> list:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_track_video_draws_the_given_box_on_frame_0(seq_dir, tmp_path, capsys):
    out = tmp_path / "track"
    assert main(["track", str(seq_dir), "--box", "20,30,40,24", "--out", str(out)]) == 0
    frames = _video_frames(out / "tracked.mp4")
    assert len(frames) == 12
    # the top edge of the given box, drawn 2 px wide in target 1's colour (green)
    b, g, r = frames[0][30, 30:55].astype(int).mean(axis=0)
    assert g > 150 and g > b + 60 and g > r + 60
    rows = json.loads((out / "tracks.json").read_text())
    assert rows[0] == {"frame": 0, "id": rows[0]["id"], "box": [20.0, 30.0, 40.0, 24.0],
                       "score": 1.0, "state": "tracked"}


def test_track_runs_an_opencv_peer(seq_dir, tmp_path, capsys):
    out = tmp_path / "kcf"
    assert main(["track", str(seq_dir), "--box", _first_box(seq_dir), "--model", "opencv:kcf",
                 "--out", str(out), "--no-video"]) == 0
    rows = json.loads((out / "tracks.json").read_text())
    assert len(rows) == 12 and rows[-1]["frame"] == 11


def _write_video(path, frames: int = 24):
    seq = generate_sequence(SyntheticConfig(seed=5, num_frames=frames, height=96, width=128))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    for i in range(frames):
        frame = cv2.normalize(seq.tir_frame(i), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return seq.boxes[0, 0]


def test_track_says_how_many_frames_a_truncated_video_gave(tmp_path, capsys):
    video = tmp_path / "cut.avi"
    x, y, w, h = _write_video(video)
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    assert main(["track", str(video), "--box", f"{x},{y},{w},{h}", "--out",
                 str(tmp_path / "out"), "--no-video"]) == 0
    captured = capsys.readouterr()
    read = len(json.loads((tmp_path / "out" / "tracks.json").read_text()))
    assert 0 < read < 24
    assert f"{read} of the 24 announced frames read" in captured.out
    assert f"announces 24 frames but only {read} could be read" in captured.err
    assert "[" not in captured.err  # no FFmpeg decoder messages ("[mjpeg @ 0x...]")


def test_unreadable_video_is_exit_2_and_leaves_no_out_folder(tmp_path, capsys):
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\0" * 4096)
    out = tmp_path / "new" / "out"
    assert main(["track", str(video), "--box", "1,1,8,8", "--out", str(out)]) == 2
    assert "cannot open video" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_failed_run_removes_only_the_empty_out_folder_it_made(seq_dir, tmp_path, capsys):
    out = tmp_path / "made"
    # the box lies outside the image: fails on frame 0, after the out folder was made
    assert main(["track", str(seq_dir), "--box", "1000,10,20,20", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "box (1000, 10, 20, 20) lies outside" in err and "np.float" not in err
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    assert main(["track", str(seq_dir), "--box", "1000,10,20,20", "--out", str(kept)]) == 2
    assert kept.is_dir()


def _options(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((name, a) for a in sub._actions)


def test_every_option_has_help_and_one_default_backend():
    import argparse

    from tir_tracker_core.cli import build_parser

    parser = build_parser()
    assert "`" not in parser.description
    backends = {}
    for command, action in _options(parser):
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.dest} has no help text"
        if action.dest == "backend":
            backends[command] = action.default
            assert "%(default)s" in action.help
    assert set(backends) >= {"demo", "track", "eval", "bench", "probe", "multitarget"}
    assert set(backends.values()) == {cpu_backend()}


def test_progress_bar_only_on_a_terminal(seq_dir, tmp_path, capsys, monkeypatch):
    import tir_tracker_core.progress

    box = _first_box(seq_dir)
    argv = ["track", str(seq_dir), "--box", box, "--out", str(tmp_path), "--no-video"]
    assert main(argv) == 0
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest
    monkeypatch.setattr(tir_tracker_core.progress, "on_terminal", lambda: True)
    assert main(argv) == 0
    assert "/12 [" in capsys.readouterr().err  # frames done / announced


def test_bench_and_multitarget_show_progress_on_a_terminal(seq_dir, tmp_path, capsys,
                                                           monkeypatch):
    import tir_tracker_core.progress

    monkeypatch.setattr(tir_tracker_core.progress, "on_terminal", lambda: True)
    assert main(["bench", str(seq_dir), "--tracker", "opencv:kcf", "--targets", "1,2",
                 "--max-frames", "4", "--warmup", "0", "--out", str(tmp_path)]) == 0
    assert "run 1/2 opencv:kcf x1" in capsys.readouterr().err
    assert main(["multitarget", "--seeds", "1", "--frames", "5", "--targets", "2"]) == 0
    assert "variant 1/1 model's config, sequence 1/1" in capsys.readouterr().err


def test_tune_leave_one_sequence_out(tmp_path, capsys):
    suite = tmp_path / "suite"
    for seed in (3, 4, 5):
        seq = generate_sequence(SyntheticConfig(seed=seed, num_frames=10, height=96, width=128))
        write_sequence(seq, suite / f"syn_{seed}", layout="otb", modality="tir")
    out = tmp_path / "tune"
    assert main(["tune", str(suite), "--grid", "lr=0.2,0.385", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out" in printed and printed.count("| syn_") >= 3
    folds = json.loads((out / "tune.json").read_text())[0]
    assert folds["model"] == "default" and len(folds["settings"]) == 2
    with pytest.raises(SystemExit):  # a malformed --extra is an argparse error (exit 2)
        main(["tune", str(suite), "--extra", "no-colon"])


def test_eval_tells_apart_two_checkpoints_of_one_file_name(tmp_path, capsys):
    from tir_tracker_core.specs import default_checkpoint_path

    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        for suffix in (".safetensors", ".json"):
            src = default_checkpoint_path().with_suffix(suffix)
            (tmp_path / run / f"final{suffix}").write_bytes(src.read_bytes())
    seq = generate_sequence(SyntheticConfig(seed=3, num_frames=6, height=96, width=128))
    data = write_sequence(seq, tmp_path / "syn", layout="otb", modality="tir")
    out = tmp_path / "eval"
    assert main(["eval", str(data), "--tracker", str(tmp_path / "a" / "final.safetensors"),
                 "--tracker", str(tmp_path / "b" / "final.safetensors"), "--out", str(out)]) == 0
    names = list(json.loads((out / "results.json").read_text())["trackers"])
    assert len(names) == 2 and len(set(names)) == 2, names
