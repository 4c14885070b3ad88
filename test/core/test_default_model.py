"""The shipped default model is what its recipe in config/ makes, and it loads."""

from __future__ import annotations

import json

import yaml

from tir_tracker_core.api import default_checkpoint_path, load_model
from tir_tracker_core.config import from_dict, to_dict
from tir_tracker_core.distill.config import DistillConfig
from tir_tracker_core.training.config import TrainConfig

RECIPE = "distill_default.yaml"  # the default's recipe (its model card names it too)
CONFIGS = {"train": TrainConfig, "distill": DistillConfig}


def test_recipe_matches_the_shipped_checkpoints_provenance(repo_root):
    meta = json.loads(default_checkpoint_path().with_suffix(".json").read_text())
    kind = CONFIGS[meta["provenance"]["command"]]
    trained = to_dict(from_dict(kind, meta["provenance"]["config"]))
    recipe = to_dict(from_dict(kind, yaml.safe_load((repo_root / "config" / RECIPE).read_text())))
    trained.pop("log"), recipe.pop("log")  # progress display only
    assert trained == recipe
    # trained on real thermal (paired) data, not on synthetic sequences alone
    assert any(d["kind"] != "synthetic" for d in recipe["data"])
    assert RECIPE in (default_checkpoint_path().parent / "MODEL_CARD.md").read_text()


def test_default_model_loads_and_card_exists():
    net, tcfg, fcfg, info = load_model("default")
    assert info["name"] == "nanotrack_v2_thermal_ens"
    assert net.cfg.instance_size == 255  # full resolution, NanoTrack v2's geometry
    assert (default_checkpoint_path().parent / "MODEL_CARD.md").is_file()
