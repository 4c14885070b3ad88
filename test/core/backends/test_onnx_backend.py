"""ONNX Runtime backend: parity with the PyTorch backend (outputs and tracked boxes), options,
multi-target batching, grey crops, export reuse."""

from __future__ import annotations

import numpy as np
import pytest

from backend_helpers import assert_outputs_close, random_crops
from tir_tracker_core.api import nanotrack_tracker_config
from tir_tracker_core.backends import BACKENDS, build_backend
from tir_tracker_core.backends.export import export_onnx, load_export
from tir_tracker_core.backends.onnx_backend import OnnxRuntimeBackend
from tir_tracker_core.errors import ConfigError
from tir_tracker_core.tracking import Tracker

NANOTRACK_FILES = {v: f"{v}/nanotrack{v}.pth" for v in ("v1", "v2", "v3")}


def _pair(model, onnx_cache, **options):
    # one torch thread: on a small shared CPU it is faster than two that spin against others
    return (build_backend("torch", model, "cpu", threads=1),
            build_backend("onnxruntime", model, "cpu", cache_dir=onnx_cache, **options))


def _compare(torch_be, ort_be, batch, cfg, seed=0):
    z = random_crops(batch, cfg.exemplar_size, seed)
    x = random_crops(batch, cfg.instance_size, seed + 100)
    ft, fo = torch_be.template(z), ort_be.template(z)
    assert len(fo) == batch and all(isinstance(f, np.ndarray) for f in fo)
    np.testing.assert_allclose(np.stack(fo), np.stack([f.numpy() for f in ft]), rtol=1e-3,
                               atol=1e-3)
    out_t, out_o = torch_be.track(ft, x), ort_be.track(fo, x)
    assert_outputs_close(out_o, out_t)
    return out_o


def test_registered():
    assert "onnxruntime" in BACKENDS and "auto" in BACKENDS


@pytest.mark.parametrize("batch", [1, 5])
def test_tiny_model_matches_torch(tiny_model, onnx_cache, batch):
    torch_be, ort_be = _pair(tiny_model, onnx_cache)
    assert ort_be.name == "onnxruntime" and ort_be.device == "cpu"
    _compare(torch_be, ort_be, batch, tiny_model.cfg, seed=batch)


def test_pwdw_head_matches_torch_at_batch_5(tiny_pwdw_model, onnx_cache):
    torch_be, ort_be = _pair(tiny_pwdw_model, onnx_cache)
    _compare(torch_be, ort_be, 5, tiny_pwdw_model.cfg)


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_nanotrack_imports_match_torch(shared_data, onnx_cache, version):
    from tir_tracker_core.models.nanotrack_import import load_nanotrack

    model = load_nanotrack(shared_data / "weights" / "nanotrack" / NANOTRACK_FILES[version])
    torch_be, ort_be = _pair(model, onnx_cache)
    for batch in (1, 5):
        _compare(torch_be, ort_be, batch, model.cfg, seed=batch)


def test_targets_in_a_batch_do_not_mix(tiny_model, onnx_cache):
    be = build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache)
    z, x = random_crops(4, 127, 1), random_crops(4, 255, 2)
    feats = be.template(z)
    cls4, loc4 = be.track(feats, x)
    cls1, loc1 = be.track(feats[2:3], x[2:3])
    assert_outputs_close((cls4[2:3], loc4[2:3]), (cls1, loc1), rtol=1e-5, atol=1e-5)
    # results are fresh arrays: the next frame does not overwrite them (buffers are reused)
    keep = cls1.copy()
    be.track(feats[0:1], x[0:1])
    np.testing.assert_array_equal(cls1, keep)


def test_options_give_same_outputs(tiny_model, onnx_cache):
    ref = build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache)
    z, x = random_crops(3, 127, 3), random_crops(3, 255, 4)
    expected = ref.track(ref.template(z), x)
    for opts in ({"io_binding": False}, {"threads": 2, "spin": True},
                 {"optimization": "basic", "mem_arena": False}, {"threads": None},
                 {"run_batch": None}, {"run_batch": 2}):
        be = build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache, **opts)
        assert_outputs_close(be.track(be.template(z), x), expected, rtol=1e-4, atol=1e-4)


def test_runs_side_by_side_give_the_same_outputs(tiny_model, onnx_cache):
    """Nine targets in runs of two on three workers: every output as one run after another,
    in target order, on the fused path and on the split (backbone + head) path."""
    one = build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache, run_batch=2,
                        workers=1)
    three = build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache, run_batch=2,
                          workers=3)
    assert (one.workers, three.workers) == (1, 3)
    z, x = random_crops(9, 127, 11), random_crops(9, 255, 12)
    feats = one.template(z)
    for _ in range(2):  # the second call reuses each thread's bound buffers
        expected, got = one.track(feats, x), three.track(feats, x)
        for e, g in zip(expected, got):
            np.testing.assert_array_equal(g, e)
    xf = one.features(x)
    for e, g in zip(one.head(feats, xf), three.head(feats, xf)):
        np.testing.assert_array_equal(g, e)
    # the targets stay in order: target 7 alone gives target 7's row
    alone = one.track(feats[7:8], x[7:8])
    np.testing.assert_allclose(got[0][7:8], alone[0], rtol=1e-5, atol=1e-5)


def test_default_workers_follow_the_cpus(tiny_model, onnx_cache, monkeypatch):
    import os

    from tir_tracker_core.backends import onnx_backend

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert onnx_backend.default_workers() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)),
                        raising=False)
    assert onnx_backend.default_workers() == onnx_backend.MAX_WORKERS
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    be = build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache)
    assert be.workers == 1 and be._pool is None


def test_thread_limits_run_one_at_a_time():
    from tir_tracker_core.backends import thread_options

    assert thread_options("onnxruntime", 1) == {"threads": 1, "workers": 1}
    assert thread_options("auto", 2) == {"threads": 2, "workers": 1}
    assert thread_options("torch", 1) == {"threads": 1}
    assert thread_options("onnxruntime", None) is None
    assert thread_options("onnxruntime", 0) is None


def test_grey_crops_equal_replicated_crops(tiny_model, onnx_cache):
    be = build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache)
    assert be.accepts_mono
    z1, x1 = random_crops(2, 127, 5)[:, :1], random_crops(2, 255, 6)[:, :1]
    z3, x3 = np.repeat(z1, 3, axis=1), np.repeat(x1, 3, axis=1)
    f1, f3 = be.template(z1), be.template(z3)
    np.testing.assert_allclose(np.stack(f1), np.stack(f3), rtol=1e-4, atol=1e-4)
    assert_outputs_close(be.track(f1, x1), be.track(f3, x3), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        be.track(f1, np.repeat(x1, 2, axis=1))


def test_grey_crops_fall_back_to_replication(tiny_model, onnx_cache, monkeypatch):
    from tir_tracker_core.backends import onnx_backend

    monkeypatch.setattr(onnx_backend, "mono_variant", lambda path, name: None)
    be = build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache)
    z1, x1 = random_crops(1, 127, 7)[:, :1], random_crops(1, 255, 8)[:, :1]
    f1 = be.template(z1)
    expected = be.track(be.template(np.repeat(z1, 3, axis=1)), np.repeat(x1, 3, axis=1))
    assert_outputs_close(be.track(f1, x1), expected, rtol=1e-5, atol=1e-5)


def test_bad_options_raise_config_errors(tiny_model, onnx_cache):
    with pytest.raises(ConfigError, match="optimization 'fast' is not one of"):
        build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache, optimization="fast")
    with pytest.raises(ConfigError, match="threads must be a positive integer"):
        build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache, threads=0)
    with pytest.raises(ConfigError, match="run_batch must be a positive integer"):
        build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache, run_batch=0)
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match="workers must be a positive integer"):
            build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache, workers=bad)
    with pytest.raises(ConfigError, match="device 'tpu'"):
        build_backend("onnxruntime", tiny_model, "tpu", cache_dir=onnx_cache)
    with pytest.raises(TypeError):
        build_backend("onnxruntime", tiny_model, "cpu", cache_dir=onnx_cache, colour="red")


def test_cuda_without_provider_is_unavailable(tiny_model, onnx_cache):
    import onnxruntime as ort

    from tir_tracker_core.errors import BackendUnavailableError

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has a CUDA provider")
    with pytest.raises(BackendUnavailableError, match="onnxruntime-gpu"):
        build_backend("onnxruntime", tiny_model, "cuda", cache_dir=onnx_cache)


def test_builds_from_an_export_dir_and_static_batch_export(tiny_model, tmp_path):
    exp = export_onnx(tiny_model, tmp_path / "static", dynamic_batch=False)
    be = OnnxRuntimeBackend(load_export(exp.directory))
    torch_be = build_backend("torch", tiny_model, "cpu")
    _compare(torch_be, be, 3, tiny_model.cfg)  # static graphs run the targets one by one
    be2 = build_backend("onnxruntime", tiny_model, "cpu", export_dir=tmp_path / "given")
    assert be2.exported.directory == tmp_path / "given" and be2.exported.dynamic_batch


def _load_horse(shared_data, n):
    import cv2

    seq = shared_data / "tir" / "vottir_horse"
    gt = np.loadtxt(seq / "groundtruth_rect.txt", delimiter=",")[:n]
    frames = [cv2.imread(str(seq / "img" / f"{i:08d}.png"), cv2.IMREAD_UNCHANGED)
              for i in range(1, n + 1)]
    assert all(f is not None for f in frames)
    return frames, gt


def test_tracked_boxes_within_one_pixel_of_torch(shared_data, onnx_cache):
    from tir_tracker_core.models.nanotrack_import import load_nanotrack

    model = load_nanotrack(shared_data / "weights" / "nanotrack" / NANOTRACK_FILES["v2"])
    frames, gt = _load_horse(shared_data, 60)
    tcfg = nanotrack_tracker_config(model.cfg.name)
    trackers = [Tracker(be, model.cfg, tcfg) for be in _pair(model, onnx_cache)]
    boxes = {0: [], 1: []}
    for k, t in enumerate(trackers):
        t.init(frames[0], [gt[0]])
        for f in frames[1:]:
            boxes[k].append(t.update(f)[0].box)
    diff = np.abs(np.array(boxes[0]) - np.array(boxes[1]))
    assert diff.max() <= 1.0, f"largest box difference {diff.max():.3f} px"
    # and the tracker actually follows the horse (not a trivially equal failure)
    centre = lambda b: b[:, :2] + b[:, 2:] / 2  # noqa: E731
    err = np.linalg.norm(centre(np.array(boxes[1])) - centre(gt[1:]), axis=1)
    assert np.median(err) < 20
