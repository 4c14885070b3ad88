"""The training loop: learning, checkpoints, resume after a kill, multi-process equivalence."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file

from tir_tracker_core.api import load_tracker
from tir_tracker_core.checkpoint import build_from_checkpoint, load_checkpoint
from tir_tracker_core.config import from_dict
from tir_tracker_core.training.actors import SiameseActor
from tir_tracker_core.training.config import TrainConfig
from tir_tracker_core.training.data import ClipSet, PairSampler, StepBatches
from tir_tracker_core.training.train import train

REPO = Path(__file__).resolve().parents[3]


def _cfg(d: dict) -> TrainConfig:
    return from_dict(TrainConfig, d)


def _log(out: Path) -> list[dict]:
    with open(out / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _assert_same(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    worst = max((x - b[k]).abs().max().item() for k, x in a.items())
    assert worst <= atol, f"weights differ by {worst}"


def _held_out_loss(path: Path, cfg: TrainConfig) -> float:
    """The actor's loss of the model at ``path`` on 32 pairs the run never drew (seed 99)."""
    net = build_from_checkpoint(load_checkpoint(path)).eval()
    clips = ClipSet(cfg.data, cfg.sampler.min_box_size, single_modality=True)
    batch = StepBatches(PairSampler(clips, cfg.sampler, net.cfg, ("tir",), seed=99), 32)(0)
    with torch.no_grad():
        loss, _ = SiameseActor(net, net.cfg, cfg.loss)(batch)
    return loss.item()


def test_loss_decreases(tmp_path, train_dict, tiny_init):
    """Training lowers the loss on held-out pairs (a fixed batch: the per-step losses of
    4-pair batches are too noisy to compare over 40 steps)."""
    d = train_dict(40)
    d["optim"].update(schedule="constant", lr=4e-3)
    d["checkpoint"]["every"] = 40
    cfg = _cfg(d)
    path = train(cfg, tmp_path)
    assert len(_log(tmp_path)) == 40
    assert _held_out_loss(path, cfg) < 0.85 * _held_out_loss(tiny_init, cfg)


def test_final_checkpoint_carries_config_and_reloads_strictly(tmp_path, train_dict):
    path = train(_cfg(train_dict(4)), tmp_path / "run")
    assert path == tmp_path / "run" / "final.safetensors"
    ckpt = load_checkpoint(path)
    prov = ckpt.provenance
    assert prov["command"] == "train" and prov["steps"] == 4 and prov["seed"] == 3
    assert prov["config"]["data"][0]["kind"] == "synthetic" and "git_commit" in prov
    model = build_from_checkpoint(ckpt)  # strict load
    assert model.cfg.name == "tiny"
    tracker = load_tracker(str(path))
    frame = np.random.default_rng(0).integers(0, 255, (120, 160), np.uint8)
    tracker.init(frame, [(50, 40, 30, 20)])
    assert len(tracker.update(frame)) == 1


def test_stop_and_resume_matches_uninterrupted(tmp_path, train_dict):
    full = train(_cfg(train_dict(8)), tmp_path / "full")
    part = tmp_path / "part"
    assert train(_cfg(train_dict(8)), part, stop_after=4) == part / "checkpoints"
    assert not (part / "final.safetensors").exists()
    resumed = train(_cfg(train_dict(8)), part)
    _assert_same(_weights(full), _weights(resumed), 1e-6)
    steps = [int(r["step"]) for r in _log(part)]
    assert steps == list(range(1, 9))  # no duplicated or missing log rows


def _run_cli(args: list[str], env_extra: dict | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def test_kill_and_resume(tmp_path, train_dict):
    d = train_dict(12)
    d["data"][0].update(width=320, height=256)  # slower steps: time to kill between checkpoints
    d["optim"]["batch_size"] = 8
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(d))
    ref = train(_cfg(d), tmp_path / "ref")
    out = tmp_path / "killed"
    proc = _run_cli(["-m", "tir_tracker_core.cli", "-v", "train", "--config", str(cfg_path),
                     "--out", str(out)])
    first = out / "checkpoints" / "step_0000004.json"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists() and not (out / "final.safetensors").exists()
    proc = _run_cli(["-m", "tir_tracker_core.cli", "-v", "train", "--config", str(cfg_path),
                     "--out", str(out)])
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, text
    assert text.strip().splitlines()[-1] == str(out / "final.safetensors")
    assert "resuming from step" in text
    _assert_same(_weights(ref), _weights(out / "final.safetensors"), 1e-6)


def test_module_entry_point_is_the_one_cli():
    """``python -m tir_tracker_core.training`` (named in docs/training.md) runs the same
    ``train`` / ``distill`` commands as ``tir-tracker``."""
    from tir_tracker_core.cli import build_parser

    proc = _run_cli(["-m", "tir_tracker_core.training", "distill", "--help"])
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, text
    for cmd in ("train", "distill"):
        args = build_parser().parse_args([cmd, "--out", "o", "--set", "seed=1", "--no-resume"])
        assert (args.out, args.overrides, args.resume, args.config) == ("o", ["seed=1"], False,
                                                                        None)
    assert "--set KEY=VALUE" in text and "--resume" in text


def test_two_process_ddp_matches_one_process(tmp_path, train_dict, free_port):
    d = train_dict(6)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(d))
    single = train(_cfg(d), tmp_path / "one")
    out = tmp_path / "two"
    proc = _run_cli(["-m", "torch.distributed.run", "--nproc_per_node", "2",
                     "--master_port", str(free_port), "-m", "tir_tracker_core.cli",
                     "train", "--config", str(cfg_path), "--out", str(out)])
    text, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, text
    prov = load_checkpoint(out / "final.safetensors").provenance
    assert prov["world_size"] == 2
    _assert_same(_weights(single), _weights(out / "final.safetensors"), 2e-5)
    # rank 0 alone logs and checkpoints
    assert len(_log(out)) == 6


def test_wise_interpolates_with_the_initial_weights(tmp_path, train_dict, tiny_init):
    d = train_dict(4)
    full = _weights(train(_cfg(d), tmp_path / "a"))
    d["model"]["wise"] = 0.25
    mixed = _weights(train(_cfg(d), tmp_path / "b"))
    init = _weights(tiny_init)
    expect = {k: torch.lerp(init[k], v, 0.25) if v.is_floating_point() else v
              for k, v in full.items()}
    _assert_same(expect, mixed, 1e-6)
    assert load_checkpoint(tmp_path / "b" / "final.safetensors").provenance["wise"] == 0.25


def test_training_at_a_lower_input_resolution(tmp_path, train_dict, tiny_init):
    """``model.search_size``: the run trains (and averages, with ``wise``) the initial weights
    in a 95 px search geometry over the area of the initial 127 px one; the checkpoint records
    it and tracks at it."""
    d = train_dict(4)
    d["model"].update(search_size=95, wise=0.5)
    path = train(_cfg(d), tmp_path / "low")
    ckpt = load_checkpoint(path)
    assert (ckpt.model.instance_size, ckpt.model.score_size) == (95, 6)
    assert ckpt.model.zoom == 95 / 127
    init = _weights(tiny_init)
    assert _weights(path).keys() == init.keys()  # the same network, other crops
    tracker = load_tracker(str(path))
    frame = np.random.default_rng(0).integers(0, 255, (120, 160), np.uint8)
    tracker.init(frame, [(50, 40, 30, 20)])
    assert len(tracker.update(frame)) == 1


def test_provenance_names_the_tree_the_run_started_from(tmp_path, monkeypatch):
    """Edits to the tree while a run goes on do not change the code it runs: the commit (and
    its dirty mark) is read when the run starts, not when the final model is written."""
    import importlib
    from types import SimpleNamespace

    from tir_tracker_core.training.distributed import DistInfo

    run = importlib.import_module("tir_tracker_core.training.run")  # the module, not train.run

    tree = {"status": ""}

    def fake_git(args, **kw):
        out = "abc123\n" if args[1] == "rev-parse" else tree["status"]
        return SimpleNamespace(stdout=out)

    run.git_commit.cache_clear()
    monkeypatch.setattr(run.subprocess, "run", fake_git)
    try:
        cfg = _cfg({"optim": {"steps": 1}})
        run.prepare_run(tmp_path / "run", cfg, DistInfo())
        tree["status"] = " M RESULTS.md"  # edited while the run trains
        assert run.provenance("train", cfg, 1, DistInfo())["git_commit"] == "abc123"
    finally:
        run.git_commit.cache_clear()
