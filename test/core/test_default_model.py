"""The shipped default model is what config/train_default.yaml makes, and it loads."""

from __future__ import annotations

import json

import yaml

from tir_tracker_core.api import default_checkpoint_path, load_model
from tir_tracker_core.config import from_dict, to_dict
from tir_tracker_core.training.config import TrainConfig


def test_recipe_matches_the_shipped_checkpoints_provenance(repo_root):
    meta = json.loads(default_checkpoint_path().with_suffix(".json").read_text())
    trained = to_dict(from_dict(TrainConfig, meta["provenance"]["config"]))
    recipe = to_dict(from_dict(TrainConfig, yaml.safe_load(
        (repo_root / "config" / "train_default.yaml").read_text())))
    trained.pop("log"), recipe.pop("log")  # progress display only
    assert trained == recipe
    assert all(d["kind"] == "synthetic" for d in recipe["data"])  # synthetic data only


def test_default_model_loads_and_card_exists():
    net, tcfg, fcfg, info = load_model("default")
    assert info["name"] == "nanotrack_v2"
    assert (default_checkpoint_path().parent / "MODEL_CARD.md").is_file()
