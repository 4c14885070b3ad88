"""Distillation runs: learning, pruned checkpoints, resume across pruning stages, DDP."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from tir_tracker_core.api import load_tracker
from tir_tracker_core.checkpoint import load_checkpoint
from tir_tracker_core.config import from_dict
from tir_tracker_core.errors import ConfigError
from tir_tracker_core.distill.config import DistillConfig, load_distill_config
from tir_tracker_core.distill.distill import distill
from tir_tracker_core.models import build_model, count_macs
from tir_tracker_core.training.config import DataSource, SamplerConfig
from tir_tracker_core.training.data import UNLABELLED, ClipSet, PairSampler

REPO = Path(__file__).resolve().parents[3]


def _cfg(d: dict) -> DistillConfig:
    return from_dict(DistillConfig, d)


def _log(out: Path) -> list[dict]:
    with open(out / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def _assert_same(a: Path, b: Path, atol: float) -> None:
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    worst = max((x - wb[k]).abs().max().item() for k, x in wa.items())
    assert worst <= atol, f"weights differ by {worst}"


def test_feature_loss_falls_and_agreement_rises(tmp_path, distill_dict):
    d = distill_dict(48, 0.4)
    d["prune"].update(stages=1, start=0)
    d["optim"].update(schedule="constant", lr=3e-3)
    d["checkpoint"]["every"] = 48
    path = distill(_cfg(d), tmp_path)
    rows = _log(tmp_path)
    col = lambda k: np.array([float(r[k]) for r in rows])  # noqa: E731
    feat, agree = col("Loss/feat"), col("Stats/agree_iou")
    assert feat[-10:].mean() < 0.7 * feat[:5].mean()
    assert agree[-10:].mean() > agree[:5].mean()
    ckpt = load_checkpoint(path)
    assert ckpt.provenance["student_macs"] < 0.8 * ckpt.provenance["teacher_macs"]
    assert ckpt.model.name == "tiny_tir_pruned40"
    net = build_model(ckpt.model)
    net.load_state_dict(ckpt.state_dict, strict=True)
    assert count_macs(net) == ckpt.provenance["student_macs"]


@pytest.mark.parametrize("stop", [3, 6])  # before / after the second pruning stage (step 4)
def test_stop_and_resume_across_pruning_stages(tmp_path, distill_dict, stop):
    full = distill(_cfg(distill_dict(8)), tmp_path / "full")
    part = tmp_path / "part"
    assert distill(_cfg(distill_dict(8)), part, stop_after=stop) == part / "checkpoints"
    resumed = distill(_cfg(distill_dict(8)), part)
    assert load_checkpoint(resumed).model == load_checkpoint(full).model
    _assert_same(full, resumed, 1e-6)


def _decay_dict(distill_dict) -> dict:
    d = distill_dict(12)
    d["prune"].update(start=4, interval=4, decay_steps=3)  # decay 1-3 cut 4, decay 5-7 cut 8
    return d


def test_gradual_pruning_cuts_only_silenced_channels(tmp_path, distill_dict):
    """With ``decay_steps`` the chosen channels reach zero before each cut, so the cut leaves
    the student's outputs unchanged, and a run stopped mid-decay resumes to the same result."""
    from tir_tracker_core.distill.distill import DistillTask
    from tir_tracker_core.distill.prune import scale_slices

    cuts = []
    real = DistillTask.before_step

    def spy(self, step):
        if step in (4, 8):
            net = self.student.net.eval()
            g = torch.Generator().manual_seed(step)
            z = torch.rand(2, 3, net.cfg.exemplar_size, net.cfg.exemplar_size, generator=g) * 255
            x = torch.rand(2, 3, net.cfg.instance_size, net.cfg.instance_size, generator=g) * 255
            scale_slices(self.student, self.decay, 0.0)  # what the last optimizer step regrew
            with torch.no_grad():
                before = net(z, x)
            changed = real(self, step)
            with torch.no_grad():
                after = self.student.net.eval()(z, x)
            cuts.append((changed, before, after, len(self.decay), net is self.student.net))
            return changed
        return real(self, step)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DistillTask, "before_step", spy)
        full = distill(_cfg(_decay_dict(distill_dict)), tmp_path / "full")
    assert [c[0] for c in cuts] == [True, True]
    for _, before, after, left, same in cuts:
        assert left == 0 and not same  # the decay list is cleared and the net was rebuilt
        torch.testing.assert_close(after[0], before[0], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(after[1], before[1], rtol=1e-4, atol=1e-3)
    assert load_checkpoint(full).provenance["pruning_stages"] == 2
    part = tmp_path / "part"
    distill(_cfg(_decay_dict(distill_dict)), part, stop_after=6)  # inside the second decay
    resumed = distill(_cfg(_decay_dict(distill_dict)), part)
    assert load_checkpoint(resumed).model == load_checkpoint(full).model
    _assert_same(full, resumed, 1e-6)


def test_lower_resolution_student_is_pruned_resumed_and_tracks(tmp_path, distill_dict):
    """``student_search_size``: the student searches the teacher's area with 95 instead of
    127 px (score map 6 instead of 8), pruned, anchored on the teacher's thermal responses,
    BatchNorm recalibrated on its own crops; a run stopped between the pruning stages resumes
    to the same weights, and the checkpoint tracks at its own resolution."""
    d = distill_dict(8)
    d.update(student_search_size=95)
    d["loss"]["response"] = {"tir_cls_weight": 1.0, "tir_loc_weight": 1.0}
    d["prune"]["bn_recalib"] = 2
    full = distill(_cfg(d), tmp_path / "full")
    ckpt = load_checkpoint(full)
    m = ckpt.model
    assert (m.instance_size, m.score_size, m.exemplar_size) == (95, 6, 63)
    assert m.zoom == pytest.approx(95 / 127)
    assert ckpt.provenance["student_macs"] < 0.8 * ckpt.provenance["teacher_macs"]
    rows = _log(tmp_path / "full")
    assert all(np.isfinite(float(r["Loss/total"])) for r in rows)
    part = tmp_path / "part"
    distill(_cfg(d), part, stop_after=3)
    _assert_same(full, distill(_cfg(d), part), 1e-6)
    tracker = load_tracker(str(full))
    frame = np.random.default_rng(0).integers(0, 255, (120, 160), np.uint8)
    tracker.init(frame, [(50, 40, 30, 20)])
    assert len(tracker.update(frame)) == 1
    with pytest.raises(ConfigError, match="student_search_size must be >= 0"):
        load_distill_config(None, ["student_search_size=-1"])


def test_kill_and_resume_through_the_cli(tmp_path, distill_dict):
    """SIGKILL after the first pruned checkpoint; the rerun resumes and matches."""
    import signal
    import time

    d = distill_dict(12)
    d["data"][0].update(width=320, height=256)  # slower steps: time to kill between checkpoints
    d["optim"]["batch_size"] = 8
    d["checkpoint"]["every"] = 6
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(d))
    ref = distill(_cfg(d), tmp_path / "ref")
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "tir_tracker_core.cli", "distill", "--config",
           str(cfg_path), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    first = out / "checkpoints" / "step_0000006.json"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists() and not (out / "final.safetensors").exists()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(out / "final.safetensors")
    _assert_same(ref, out / "final.safetensors", 1e-6)


def test_two_process_ddp_matches_one_process(tmp_path, distill_dict, free_port):
    d = distill_dict(6)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(d))
    single = distill(_cfg(d), tmp_path / "one")
    out = tmp_path / "two"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(free_port), "-m", "tir_tracker_core.cli", "distill",
         "--config", str(cfg_path), "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    final = out / "final.safetensors"
    assert proc.stdout.strip().splitlines()[-1] == str(final)  # printed once, by rank 0
    assert load_checkpoint(final).provenance["world_size"] == 2
    _assert_same(single, final, 5e-5)
    tracker = load_tracker(str(final))
    frame = np.random.default_rng(0).integers(0, 255, (120, 160), np.uint8)
    tracker.init(frame, [(50, 40, 30, 20)])
    assert len(tracker.update(frame)) == 1


def test_llvip_pairs_share_geometry(shared_data, tiny_cfg):
    root = shared_data / "paired_rgbt" / "llvip"
    sources = [DataSource(kind="paired", path=str(root / "pairs_unannotated"), downscale=4,
                          max_items=3),
               DataSource(kind="paired", path=str(root / "pairs_annotated"), downscale=4,
                          max_items=3)]
    clips = ClipSet(sources)
    groups = clips.groups()
    assert not any(c.annotated for c in groups[0]) and all(c.annotated for c in groups[1])
    sampler = PairSampler(clips, SamplerConfig(search_shift=24), tiny_cfg, ("tir", "rgb"),
                          seed=0, allow_unlabelled=True)
    kinds = set()
    for i in range(12):
        s = sampler.sample(0, i)
        kinds.add(int(s["kind"]))
        assert s["x_rgb"].shape == s["x_tir"].shape == (3, 127, 127)
    assert UNLABELLED in kinds
    # annotated boxes follow the downscaled images
    full = ClipSet([DataSource(kind="paired", path=str(root / "pairs_annotated"), max_items=1)])
    torch.testing.assert_close(torch.tensor(groups[1][0].boxes * 4),
                               torch.tensor(full.groups()[0][0].boxes))


def test_actor_losses_vanish_where_the_student_sees_what_the_teacher_sees(tiny_cfg):
    """At the start the student is the teacher: the same-modality anchor is zero, the
    cross-modal feature term is not (the teacher sees the RGB crops); with the RGB crops
    replaced by the thermal ones every distillation term vanishes."""
    import copy

    from tir_tracker_core.distill.actor import DistillActor, Student, level_channels
    from tir_tracker_core.distill.config import DistillLoss, ResponseLoss
    from tir_tracker_core.training.data import StepBatches

    torch.manual_seed(0)
    teacher = build_model(tiny_cfg).eval()
    chans = level_channels(teacher)
    student = Student(copy.deepcopy(teacher), (2, 4), [chans[2], chans[4]]).eval()
    src = DataSource(kind="synthetic", count=1, seed=9, frames=10, width=160, height=128,
                     targets=1)
    batch = StepBatches(PairSampler(ClipSet([src]), SamplerConfig(search_shift=16), tiny_cfg,
                                    ("tir", "rgb")), 4)(0)
    anchored = DistillLoss(response=ResponseLoss(tir_cls_weight=1.0, tir_loc_weight=1.0))
    actor = DistillActor(student, teacher, anchored)
    _, stats = actor(batch)
    assert stats["Loss/resp_tir"] < 1e-5
    assert stats["Loss/feat"] > 1e-3
    same = {**batch, "z_rgb": batch["z_tir"], "x_rgb": batch["x_tir"]}
    _, stats = actor(same)
    assert stats["Loss/feat"] < 1e-6 and stats["Loss/resp_cls"] < 1e-5
    assert stats["Stats/agree_peak"] == 1.0


def _thermal_video(root: Path, frames: int = 12) -> Path:
    """An OTB-style thermal-only sequence: a warm blob drifting over a textured background."""
    import cv2

    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.integers(40, 90, (128, 160)).astype(np.uint8), (0, 0), 2)
    rows = []
    for i in range(frames):
        img = bg.copy()
        x, y = 50 + 2 * i, 40 + i
        img[y:y + 18, x:x + 14] = 220
        cv2.imwrite(str(root / "img" / f"{i + 1:04d}.png"), img)
        rows.append(f"{x},{y},14,18")
    (root / "groundtruth_rect.txt").write_text("\n".join(rows) + "\n")
    return root


def test_thermal_only_source_is_distilled_within_its_modality(tmp_path, distill_dict):
    """A source without visible images (here an OTB-style thermal sequence) gives the teacher
    the thermal crops: at the first step the student is the teacher and sees what it sees,
    so every distillation term is zero; the run finishes and the student learns."""
    d = distill_dict(4, 0.0)
    d["data"] = [{"kind": "sequences", "path": str(_thermal_video(tmp_path / "seq"))}]
    d["loss"]["response"] = {"tir_cls_weight": 1.0, "tir_loc_weight": 1.0}
    d["freeze_bn"] = True
    path = distill(_cfg(d), tmp_path / "run")
    first = _log(tmp_path / "run")[0]
    assert float(first["Loss/feat"]) < 1e-6 and float(first["Loss/resp_cls"]) < 1e-5
    assert float(first["Loss/resp_tir"]) < 1e-5 and float(first["Stats/agree_peak"]) == 1.0
    assert load_checkpoint(path).provenance["command"] == "distill"


def _saved_model(cfg, path: Path) -> Path:
    """A freshly initialised network of ``cfg`` saved as a checkpoint at ``path``."""
    from tir_tracker_core.checkpoint import Checkpoint, save_checkpoint

    return save_checkpoint(Checkpoint(cfg, build_model(cfg).state_dict()), path)


def _two_models_and_a_student(cfg):
    """Two random networks of ``cfg`` (eval mode), a student matching level 2, and a batch of
    two template and search crops (seeded)."""
    from tir_tracker_core.distill.actor import Student, level_channels

    torch.manual_seed(0)
    teacher, other = build_model(cfg).eval(), build_model(cfg).eval()
    student = Student(build_model(cfg), (2,), [level_channels(teacher)[2]]).eval()
    z = torch.rand(2, 3, cfg.exemplar_size, cfg.exemplar_size) * 255
    x = torch.rand(2, 3, cfg.instance_size, cfg.instance_size) * 255
    return teacher, other, student, z, x


def test_ensemble_teacher_averages_its_members_responses(tiny_cfg):
    """An ensemble teacher's response targets are the mean of its members' class logits and
    boxes; its features stay the first teacher's."""
    from tir_tracker_core.distill.actor import DistillActor
    from tir_tracker_core.distill.config import DistillLoss

    teacher, other, student, z, x = _two_models_and_a_student(tiny_cfg)
    alone = DistillActor(student, teacher, DistillLoss()).teacher_outputs(z, x, (2,), True)
    both = DistillActor(student, teacher, DistillLoss(), (other,)).teacher_outputs(z, x, (2,),
                                                                                  True)
    with torch.no_grad():
        o_cls, o_loc = other(z, x)
    torch.testing.assert_close(both[0], (alone[0] + o_cls) / 2)
    torch.testing.assert_close(both[1], (alone[1] + o_loc) / 2)
    torch.testing.assert_close(both[3][0], alone[3][0])  # features: the teacher's alone
    assert not torch.allclose(both[0], alone[0])


def test_a_smaller_score_map_is_averaged_on_the_cells_it_shares():
    """NanoTrack v3's 15 x 15 map sits on cells 1..15 of v2's 16 x 16 (same stride); the
    teacher's cells outside it keep the teacher's value."""
    from tir_tracker_core.distill.actor import ensemble_mean, member_shift

    assert member_shift(16, 15) == 1 and member_shift(16, 16) == 0
    assert member_shift(15, 16) == -1 and member_shift(16, 13) == 2
    cls, loc = torch.zeros(1, 2, 16, 16), torch.zeros(1, 4, 16, 16)
    m_cls, m_loc = torch.full((1, 2, 15, 15), 2.0), torch.full((1, 4, 15, 15), 4.0)
    out_cls, out_loc = ensemble_mean(cls, loc, [(m_cls, m_loc)])
    assert out_cls[0, :, 0, :].abs().sum() == 0 and out_cls[0, :, :, 0].abs().sum() == 0
    assert torch.all(out_cls[0, :, 1:, 1:] == 1.0) and torch.all(out_loc[0, :, 1:, 1:] == 2.0)


def test_ensemble_run_records_its_members_and_refuses_other_geometry(tmp_path, distill_dict,
                                                                      tiny_cfg):
    import dataclasses

    torch.manual_seed(1)
    member = _saved_model(tiny_cfg, tmp_path / "member.safetensors")
    d = distill_dict(2, 0.0)
    d["ensemble"] = [str(member)]
    path = distill(_cfg(d), tmp_path / "run")
    provenance = json.loads(path.with_suffix(".json").read_text())["provenance"]
    assert [e["source"] for e in provenance["ensemble"]] == [str(member)]
    assert provenance["config"]["ensemble"] == [str(member)]
    wide = dataclasses.replace(tiny_cfg, instance_size=159, score_size=10)  # 8 x 8 teacher
    odd = _saved_model(wide, tmp_path / "odd.safetensors")
    d["ensemble"] = [str(odd)]
    with pytest.raises(ConfigError, match="ensemble member .* differ in instance_size"):
        distill(_cfg(d), tmp_path / "odd_run")


def test_anchor_model_replaces_the_teacher_on_the_thermal_crops(tiny_cfg):
    """With ``anchor`` the anchor terms compare the student with that model's responses on the
    thermal crops; without it, with the teacher's (and ensemble's)."""
    from tir_tracker_core.distill.actor import DistillActor
    from tir_tracker_core.distill.config import DistillLoss, ResponseLoss

    teacher, other, student, z, x = _two_models_and_a_student(tiny_cfg)
    loss = DistillLoss(response=ResponseLoss(tir_cls_weight=1.0, tir_loc_weight=1.0))
    plain = DistillActor(student, teacher, loss).anchor_outputs(z, x)
    anchored = DistillActor(student, teacher, loss, anchor=other).anchor_outputs(z, x)
    with torch.no_grad():
        t_cls, t_loc = teacher(z, x)
        o_cls, o_loc = other(z, x)
    torch.testing.assert_close(plain[0], t_cls)
    torch.testing.assert_close(plain[1], t_loc)
    torch.testing.assert_close(anchored[0], o_cls)
    torch.testing.assert_close(anchored[1], o_loc)


def test_anchor_run_records_it_and_refuses_a_run_without_anchor_terms(tmp_path, distill_dict,
                                                                       tiny_cfg):
    import dataclasses

    from tir_tracker_core.distill.config import validate

    torch.manual_seed(2)
    anchor = _saved_model(tiny_cfg, tmp_path / "anchor.safetensors")
    d = distill_dict(2, 0.0)
    d["anchor"] = str(anchor)
    with pytest.raises(ConfigError, match="anchor is set but the anchor terms are off"):
        validate(_cfg(d))
    d["loss"]["response"] = {"tir_cls_weight": 1.0, "tir_loc_weight": 1.0}
    path = distill(_cfg(d), tmp_path / "run")
    provenance = json.loads(path.with_suffix(".json").read_text())["provenance"]
    assert provenance["anchor"]["source"] == str(anchor)
    assert provenance["anchor"]["sha256"] == hashlib.sha256(anchor.read_bytes()).hexdigest()
    first = _log(tmp_path / "run")[0]
    assert float(first["Loss/resp_tir"]) > 1e-4  # the student starts as the teacher, not it
    small = dataclasses.replace(tiny_cfg, instance_size=159, score_size=10)
    odd = _saved_model(small, tmp_path / "odd.safetensors")
    d["anchor"] = str(odd)
    with pytest.raises(ConfigError, match="anchor .* differ in instance_size"):
        distill(_cfg(d), tmp_path / "odd_run")


def test_bn_recalibration_averages_the_thermal_batch_statistics(tiny_cfg):
    """``recalibrate_bn`` replaces stale running statistics by the plain average of the
    per-forward batch statistics of the sampler's thermal crops, touches no parameter, and
    restores every module's mode and momentum."""
    from tir_tracker_core.distill.distill import recalibrate_bn
    from tir_tracker_core.training.data import collate

    torch.manual_seed(0)
    net = build_model(tiny_cfg).eval()
    clips = ClipSet([DataSource(kind="synthetic", count=2, seed=7, frames=20, width=160,
                                height=128, targets=1)])
    sampler = PairSampler(clips, SamplerConfig(search_shift=24), tiny_cfg, ("tir", "rgb"),
                          seed=0, allow_unlabelled=True)
    stem_conv, stem_bn = net.backbone.features[0][0], net.backbone.features[0][1]
    with torch.no_grad():
        stem_bn.running_mean.fill_(5.0)
        stem_bn.running_var.fill_(9.0)
    params = {k: v.clone() for k, v in net.named_parameters()}
    recalibrate_bn(net, sampler, batch_size=3, batches=2, stream=11)

    means, vars_ = [], []
    with torch.no_grad():
        for b in range(2):
            batch = collate([sampler.sample(11 * 2 + b, i) for i in range(3)])
            for crops in (batch["z_tir"], batch["x_tir"]):  # the template, then the search pass
                y = stem_conv(crops)
                means.append(y.mean((0, 2, 3)))
                vars_.append(y.var((0, 2, 3), unbiased=True))
    torch.testing.assert_close(stem_bn.running_mean, torch.stack(means).mean(0))
    torch.testing.assert_close(stem_bn.running_var, torch.stack(vars_).mean(0))
    assert not net.training and not stem_bn.training and stem_bn.momentum == 0.1
    for k, v in net.named_parameters():
        assert torch.equal(v, params[k]), k


def test_bn_recalibrated_run_differs_and_resumes_across_stages(tmp_path, distill_dict):
    plain = distill(_cfg(distill_dict(8)), tmp_path / "plain")
    d = distill_dict(8)
    d["prune"]["bn_recalib"] = 2
    full = distill(_cfg(d), tmp_path / "full")
    wp, wf = load_file(str(plain)), load_file(str(full))
    assert any(not torch.equal(wp[k], wf[k]) for k in wf if k.endswith("running_mean"))
    part = tmp_path / "part"
    distill(_cfg(d), part, stop_after=6)  # after both cuts (steps 0 and 4)
    _assert_same(full, distill(_cfg(d), part), 1e-6)
