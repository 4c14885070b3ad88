"""The SPEC grammar (``specs.parse_spec``) and ``eval.resolve``: factories that track."""

from __future__ import annotations

import numpy as np
import pytest

from tir_tracker_core.data.synthetic import SyntheticConfig, generate_sequence
from tir_tracker_core.errors import ConfigError
from tir_tracker_core.eval.resolve import resolve
from tir_tracker_core.specs import VALID_SPECS, default_checkpoint_path, parse_spec
from tir_tracker_core.tracking import TrackState


@pytest.mark.parametrize("spec, kind, target, backend, name", [
    ("default", "default", "", "torch", "default@torch"),
    ("default@onnxruntime", "default", "", "onnxruntime", "default@onnxruntime"),
    ("runs/a/best.safetensors", "checkpoint", "runs/a/best.safetensors", "torch", "best@torch"),
    ("best.safetensors@tensorrt", "checkpoint", "best.safetensors", "tensorrt", "best@tensorrt"),
    ("nanotrack:w/nanotrackv2.pth", "nanotrack", "w/nanotrackv2.pth", "torch", "nanotrackv2@torch"),
    ("nanotrack:v3.pth@onnxruntime", "nanotrack", "v3.pth", "onnxruntime", "v3@onnxruntime"),
    ("opencv:csrt", "opencv", "csrt", None, "opencv:csrt"),
    ("opencv:kcf", "opencv", "kcf", None, "opencv:kcf"),
    ("opencv:mil", "opencv", "mil", None, "opencv:mil"),
    ("opencv:nano:/w/v2", "opencv", "nano:/w/v2", None, "opencv:nano:/w/v2"),
    ("opencv:nano:/w@2/v2", "opencv", "nano:/w@2/v2", None, "opencv:nano:/w@2/v2"),  # no @BACKEND
])
def test_every_grammar_form(spec, kind, target, backend, name):
    p = parse_spec(spec)
    assert (p.kind, p.target, p.backend, p.name) == (kind, target, backend, name)
    assert p.is_ours == (kind != "opencv")
    assert p.text == spec


def test_backend_argument_applies_without_suffix_and_the_suffix_wins():
    assert parse_spec("default", backend="onnxruntime").backend == "onnxruntime"
    assert parse_spec("default@torch", backend="onnxruntime").backend == "torch"
    p = parse_spec("nanotrack:a.pth@onnxruntime")
    assert p.model == "nanotrack:a.pth" and str(p.path) == "a.pth"
    assert parse_spec("default").path == default_checkpoint_path()
    assert parse_spec("opencv:kcf").path is None


@pytest.mark.parametrize("spec, why", [
    ("", "names no model"),
    ("@onnxruntime", "names no model"),
    ("default@", "no backend after '@'"),
    ("nanotrack:", "no NanoTrack .pth file"),
    ("nanotrack:@torch", "no NanoTrack .pth file"),
    ("opencv:boosting", "unknown OpenCV tracker"),
    ("opencv:nano:", "unknown OpenCV tracker"),
    ("opencv:", "unknown OpenCV tracker"),
])
def test_errors_name_the_valid_specs(spec, why):
    with pytest.raises(ConfigError, match=why) as e:
        parse_spec(spec)
    message = str(e.value)
    assert "\n" not in message
    assert all(v in message for v in VALID_SPECS)


def test_files_are_checked_when_loaded_not_when_parsed(tmp_path):
    assert parse_spec(str(tmp_path / "missing.safetensors")).kind == "checkpoint"


@pytest.fixture(scope="module")
def frames():
    seq = generate_sequence(SyntheticConfig(seed=5, num_frames=6, height=128, width=160))
    return [seq.tir_frame(i) for i in range(len(seq))], tuple(float(v) for v in seq.boxes[0, 0])


def _track_single(factory, frames):
    images, box = frames
    tracker = factory()
    tracker.init(images[0], box)
    out = [tracker.track(f) for f in images[1:]]
    assert all(len(b) == 4 and np.isfinite(b).all() and np.isfinite(s) for b, s in out)
    return tracker


def _track_multi(factory, frames):
    images, box = frames
    tracker = factory()
    ids = tracker.init(images[0], [box, box])
    for f in images[1:]:
        tracks = tracker.update(f)
    assert len(ids) == 2 and len(tracks) == 2
    assert all(t.state in (TrackState.TRACKED, TrackState.LOST) for t in tracks)


def test_resolve_default_gives_working_factories(frames):
    r = resolve("default", count_ops=False)
    assert r.name == "default@torch" and r.params > 0 and r.macs is None
    single = _track_single(r.single, frames)
    assert single.name == "default@torch"
    _track_multi(r.multi, frames)
    assert r.single() is not single and r.multi() is not r.multi()  # fresh every call


def test_resolve_counts_ops_and_applies_tracker_overrides():
    r = resolve("default@torch", backend="onnxruntime", tracker_overrides={"lost_patience": 2})
    assert r.name == "default@torch" and r.macs > 0
    assert r.multi().cfg.lost_patience == 2
    with pytest.raises(ConfigError, match="valid keys.*lost_patience"):
        resolve("default", tracker_overrides={"lost_patiense": 2}, count_ops=False)


def test_resolve_opencv_peer_gives_working_factories(frames):
    r = resolve("opencv:kcf")
    assert r.name == "opencv:kcf" and r.params is None and r.macs is None
    _track_single(r.single, frames)
    _track_multi(r.multi, frames)


def test_resolve_rejects_specs_outside_the_grammar():
    with pytest.raises(ConfigError, match="opencv:nano:DIR"):
        resolve("opencv:boosting")
