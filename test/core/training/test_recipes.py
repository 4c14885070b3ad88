"""Every training and distillation recipe in config/ runs, shrunk to a few steps on a sliver of
its own data (the real files in ../shared/data), and the checkpoint it writes records that
recipe as its provenance. The full recipes' scores and wall times are in RESULTS.md."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tir_tracker_core.config import from_dict, to_dict

SHARED = "../shared/data"
PSEUDO = "out/pseudo/"  # tracks folders a recipe's header says how to write (pseudolabel)
CONFIG = Path(__file__).resolve().parents[3] / "config"


def _recipes(prefix: str) -> list[str]:
    return sorted(p.name for p in CONFIG.glob(f"{prefix}_*.yaml"))


def tiny_tracks(shared_data: Path, out: Path) -> Path:
    """A tracks folder as ``tir-tracker pseudolabel`` writes one, from the first 31 frames of a
    real M3SVD paired clip (NanoTrack v2 following the visible frames): what a recipe's
    ``out/pseudo/...`` source stands for."""
    from tir_tracker_core.api import build_trackers
    from tir_tracker_core.data.paired import find_video_clips
    from tir_tracker_core.data.tracks import write_tracks
    from tir_tracker_core.data.video import VideoFrameLoader
    from tir_tracker_core.pseudolabel import ClipFrames, PseudoLabelConfig, pseudo_label_clip

    if (out / "tracks.json").is_file():
        return out
    clip = find_video_clips(shared_data / "paired_rgbt" / "m3svd_video")[0]
    frames = ClipFrames(clip.name, 31, VideoFrameLoader(clip.tir, grey=True),
                        VideoFrameLoader(clip.rgb, grey=False))
    labeller = build_trackers(f"nanotrack:{shared_data}/weights/nanotrack/v2/nanotrackv2.pth")
    tracks, _ = pseudo_label_clip(labeller, frames, PseudoLabelConfig(window=30))
    assert tracks, "the labeller kept no track on the clip's first frames"
    write_tracks(out, {clip.name: clip}, tracks)
    return out


def tiny(recipe: dict[str, Any], shared_data: Path, work: Path | None = None) -> dict[str, Any]:
    """``recipe`` with its data read from ``shared_data``, a few items per source, 4 steps;
    pseudo-label sources (``out/pseudo/...``) become a tiny tracks folder under ``work``."""
    d = copy.deepcopy(recipe)
    here = str(shared_data)
    for key in ("teacher", "student"):
        if d.get(key):
            d[key] = d[key].replace(SHARED, here)
    if d.get("ensemble"):
        d["ensemble"] = [m.replace(SHARED, here) for m in d["ensemble"]]
    if d.get("model", {}).get("init"):
        d["model"]["init"] = d["model"]["init"].replace(SHARED, here)
    for src in d["data"]:
        src["path"] = src.get("path", "").replace(SHARED, here)
        if src["path"].startswith(PSEUDO):
            assert work is not None
            src["path"] = str(tiny_tracks(shared_data, work / "tracks"))
        if src.get("kind", "synthetic") == "synthetic":
            src.update(count=1, frames=20)
        else:
            src["max_items"] = 2
    d["optim"].update(steps=4, warmup_steps=1, batch_size=2)
    d["checkpoint"] = {"every": 2, "keep": 1}
    d["log"] = {"every": 2, "progress": False, "tensorboard": False}
    d.update(workers=0, threads=1, device="cpu")
    if d.get("prune", {}).get("ratio", 0) > 0:
        d["prune"].update(start=1, interval=1, decay_steps=0)
    return d


def _run_tiny(command: str, recipe_file: Path, shared_data: Path, out: Path) -> None:
    recipe = yaml.safe_load(recipe_file.read_text())
    small = out.parent / f"tiny_{recipe_file.name}"
    small.write_text(yaml.safe_dump(tiny(recipe, shared_data, out.parent)))
    if command == "train":
        from tir_tracker_core.training.config import TrainConfig as cfg_type
        from tir_tracker_core.training.config import load_train_config as load
        from tir_tracker_core.training.train import train as run
    else:
        from tir_tracker_core.distill.config import DistillConfig as cfg_type
        from tir_tracker_core.distill.config import load_distill_config as load
        from tir_tracker_core.distill.distill import distill as run
    cfg = load(small)
    path = run(cfg, out)
    assert path == out / "final.safetensors" and path.is_file()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["provenance"]["command"] == command
    assert meta["provenance"]["steps"] == 4
    # the provenance is the recipe itself, up to the shrinking above
    assert to_dict(from_dict(cfg_type, meta["provenance"]["config"])) == to_dict(cfg)
    assert {s["kind"] for s in meta["provenance"]["config"]["data"]} == {
        s.get("kind", "synthetic") for s in recipe["data"]}


@pytest.mark.parametrize("name", _recipes("train"))
def test_training_recipe_runs_tiny(shared_data, tmp_path, name):
    _run_tiny("train", CONFIG / name, shared_data, tmp_path / "out")


@pytest.mark.parametrize("name", _recipes("distill"))
def test_distillation_recipe_runs_tiny(shared_data, tmp_path, name):
    _run_tiny("distill", CONFIG / name, shared_data, tmp_path / "out")
