"""ONNX export (backends/export.py): graph validity, dynamic batch, parity with PyTorch, the
content-keyed cache, and the ``tir-tracker export`` command."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from backend_helpers import random_crops
from tir_tracker_core.backends import export
from tir_tracker_core.backends.export import (cached_export, export_key, export_onnx,
                                              load_export)
from tir_tracker_core.errors import ExportError


def _run(path, **feeds):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_pwdw_model"])
def test_export_writes_four_valid_graphs_with_dynamic_batch(request, onnx_cache, fixture):
    model = request.getfixturevalue(fixture)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    exp = cached_export(model, onnx_cache)
    # the caller's model is untouched (export rewrites a copy)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == n_bn
    for path, inputs, outputs in ((exp.template, ["z"], ["zf"]),
                                  (exp.track, ["zf", "x"], ["cls", "loc"]),
                                  (exp.backbone, ["x"], ["xf"]),
                                  (exp.head, ["zf", "xf"], ["cls", "loc"])):
        graph = onnx.load(str(path)).graph
        onnx.checker.check_model(onnx.load(str(path)))
        assert [i.name for i in graph.input] == inputs
        assert [o.name for o in graph.output] == outputs
        assert all(i.type.tensor_type.shape.dim[0].dim_param == "batch" for i in graph.input)
    assert exp.parity and max(exp.parity.values()) < 1e-3
    s = model.cfg.score_size
    for batch in (1, 5):  # parity against PyTorch at a batch the export was not traced with
        z, x = random_crops(batch, 127, seed=batch), random_crops(batch, 255, seed=10 + batch)
        (zf,) = _run(exp.template, z=z)
        cls, loc = _run(exp.track, zf=zf, x=x)
        with torch.inference_mode():
            zf_t = model.backbone(torch.from_numpy(z))
            cls_t, loc_t = model.head(zf_t, model.backbone(torch.from_numpy(x)))
        assert cls.shape == (batch, 2, s, s) and loc.shape == (batch, 4, s, s)
        np.testing.assert_allclose(zf, zf_t.numpy(), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(cls, cls_t.numpy(), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(loc, loc_t.numpy(), rtol=1e-3, atol=1e-3)


def test_cache_exports_once_per_checkpoint(tiny_model, onnx_cache, monkeypatch):
    first = cached_export(tiny_model, onnx_cache)
    assert first.directory == onnx_cache / export_key(tiny_model)
    meta = json.loads((first.directory / "export.json").read_text())
    assert meta["key"] == first.key and meta["model"]["name"] == "tiny_pw"

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cache holds this checkpoint")

    monkeypatch.setattr(export.torch.onnx, "export", no_export)
    again = cached_export(tiny_model, onnx_cache)
    assert again.directory == first.directory and again.key == first.key
    assert again.parity == first.parity


def test_unwritable_cache_falls_back_to_a_process_folder(tiny_model, tmp_path, caplog,
                                                          monkeypatch):
    blocked = tmp_path / "file"  # a file where the cache folder should be: mkdir fails (as
    blocked.write_text("x")      # root too, unlike a chmod)
    monkeypatch.setattr(export, "_PROCESS_CACHE", None)
    with caplog.at_level("WARNING", logger=export.log.name):
        exp = cached_export(tiny_model, blocked / "onnx", verify=False)
    assert blocked.is_file() and exp.directory.is_dir()
    assert not exp.directory.is_relative_to(tmp_path)
    assert exp.directory.parent == export._PROCESS_CACHE
    assert "cannot be written" in caplog.text and "TIR_TRACKER_CACHE" in caplog.text
    # a second backend in the same process reuses that export
    assert cached_export(tiny_model, blocked / "onnx", verify=False).directory == exp.directory
    shutil.rmtree(export._PROCESS_CACHE)


def test_read_only_cache_holding_the_export_is_reused(tiny_model, onnx_cache, monkeypatch):
    first = cached_export(tiny_model, onnx_cache, verify=False)

    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(export.tempfile, "mkdtemp", refuse)  # nothing may be written now
    assert cached_export(tiny_model, onnx_cache, verify=False).directory == first.directory


def test_cache_key_follows_weights_and_settings(tiny_model):
    import copy

    key = export_key(tiny_model)
    assert export_key(tiny_model) == key  # deterministic
    assert export_key(tiny_model, opset=18) != key
    assert export_key(tiny_model, dynamic_batch=False) != key
    changed = copy.deepcopy(tiny_model)
    with torch.no_grad():
        next(changed.parameters()).view(-1)[0] += 1.0
    assert export_key(changed) != key


def test_default_cache_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TIR_TRACKER_CACHE", str(tmp_path / "c"))
    assert export.default_cache_dir() == tmp_path / "c" / "onnx"
    monkeypatch.delenv("TIR_TRACKER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert export.default_cache_dir() == tmp_path / "x" / "tir_tracker" / "onnx"


def test_stale_export_in_out_dir_is_replaced(tiny_model, tiny_pwdw_model, onnx_cache, tmp_path):
    out = tmp_path / "exp"
    shutil.copytree(cached_export(tiny_model, onnx_cache).directory, out)
    b = export_onnx(tiny_pwdw_model, out, verify=False)
    assert load_export(out).key == b.key != export_key(tiny_model)
    assert load_export(out).model.name == "tiny_pwdw"


def test_refuses_foreign_folder_and_reports_broken_exports(tiny_model, onnx_cache, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not empty"):
        export_onnx(tiny_model, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(ExportError, match="export.json missing"):
        load_export(tmp_path / "nothing")
    out = tmp_path / "exp"
    shutil.copytree(cached_export(tiny_model, onnx_cache).directory, out)
    (out / "track.onnx").unlink()
    with pytest.raises(ExportError, match="track.onnx is missing"):
        load_export(out)
    # a broken export is rebuilt in place
    assert export_onnx(tiny_model, out, verify=False).track.is_file()


def test_parity_failure_raises(tiny_model, onnx_cache):
    import copy

    exp = cached_export(tiny_model, onnx_cache)
    other = copy.deepcopy(tiny_model)
    with torch.no_grad():
        for p in other.head.cls_pred.parameters():
            p.add_(1.0)
    with pytest.raises(ExportError, match="cls at batch 1"):
        export.verify_export(other, exp)


def test_static_batch_export(tiny_model, tmp_path):
    exp = export_onnx(tiny_model, tmp_path / "exp", dynamic_batch=False)
    graph = onnx.load(str(exp.track)).graph
    assert graph.input[1].type.tensor_type.shape.dim[0].dim_value == 1
    assert not exp.dynamic_batch


def test_export_command_exports_a_checkpoint_and_prints_the_folder(tiny_model, onnx_cache, tmp_path,
                                                                   capsys):
    from tir_tracker_core.checkpoint import Checkpoint, save_checkpoint
    from tir_tracker_core.cli import build_parser

    ckpt = save_checkpoint(Checkpoint(model=tiny_model.cfg, state_dict=tiny_model.state_dict()),
                           tmp_path / "tiny.safetensors")
    parser = build_parser()
    args = parser.parse_args(["export", str(ckpt), "--cache-dir", str(onnx_cache)])
    assert args.func(args) == 0
    folder = capsys.readouterr().out.strip().splitlines()[-1]
    exp = load_export(folder)
    assert exp.key == export_key(tiny_model) and exp.track.is_file()
    args = parser.parse_args(["export", str(ckpt), "--out", str(tmp_path / "o"), "--static-batch",
                              "--no-verify"])
    assert args.func(args) == 0 and not load_export(tmp_path / "o").dynamic_batch
