"""``kind: detections`` training sources (labelled still thermal images as static pairs), the
per-source ``augment`` settings, polarity inversion and thermal crossover."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from tir_tracker_core.errors import ConfigError
from tir_tracker_core.training.config import DataSource, SamplerConfig, load_train_config
from tir_tracker_core.training.data import (NEGATIVE, POSITIVE, ClipSet, PairSampler,
                                            _crossover, load_clips)

REPO = Path(__file__).resolve().parents[3]
HIT_UAV = REPO.parent / "shared" / "data" / "tir_detection" / "hit_uav"

# per image: (x, y, w, h, class); warm blobs on a cool, textured background
STILLS = {
    "a.jpg": [(40, 30, 24, 30, "Person"), (100, 60, 3, 20, "Person"),  # 3 px wide: skipped
              (10, 90, 30, 20, "DontCare")],                            # ignored class
    "b.jpg": [(70, 40, 36, 18, "Car"), (20, 20, 16, 16, "Bicycle")],
    "c.jpg": [],                                                        # no object
}


def _image(boxes, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(40, 90, (128, 160)).astype(np.uint8), (0, 0), 2)
    for x, y, w, h, _ in boxes:
        cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, 220, -1)
    return img


def _write_coco(root: Path) -> Path:
    """A HIT-UAV-like folder: ``annotations/{val,test}.json`` with the boxes under
    ``annotation`` and ``filename`` keys, images in ``val/`` and ``test/``."""
    cats = [{"id": i, "name": n} for i, n in enumerate(["Person", "Car", "Bicycle", "DontCare"])]
    ids = {c["name"]: c["id"] for c in cats}
    (root / "annotations").mkdir(parents=True)
    for split in ("val", "test"):
        (root / split).mkdir()
        images, anns = [], []
        for k, (name, boxes) in enumerate(STILLS.items()):
            cv2.imwrite(str(root / split / name), _image(boxes, k))
            images.append({"id": k, "filename": name, "width": 160, "height": 128})
            anns += [{"id": len(anns), "image_id": k, "bbox": [x, y, w, h],
                      "category_id": ids[c]} for x, y, w, h, c in boxes]
        (root / "annotations" / f"{split}.json").write_text(
            json.dumps({"images": images, "annotation": anns, "categories": cats}))
    return root


def _write_yolo(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    names = ["Person", "Car", "Bicycle", "DontCare"]
    (root / "classes.txt").write_text("\n".join(names) + "\n")
    for k, (name, boxes) in enumerate(STILLS.items()):
        cv2.imwrite(str(root / "images" / name), _image(boxes, k))
        lines = [f"{names.index(c)} {(x + w / 2) / 160} {(y + h / 2) / 128} {w / 160} {h / 128}"
                 for x, y, w, h, c in boxes]
        (root / "labels" / (Path(name).stem + ".txt")).write_text("\n".join(lines))
    return root


@pytest.fixture()
def coco(tmp_path: Path) -> Path:
    return _write_coco(tmp_path / "hit_uav_like")


def _src(path: Path, **kw) -> DataSource:
    return DataSource(kind="detections", path=str(path), **kw)


def test_detection_clips_skip_dontcare_and_small_boxes(coco: Path):
    clips = load_clips(_src(coco), min_size=4.0)
    # per split: a.jpg Person (the 3 px one and DontCare skipped), b.jpg Car + Bicycle
    assert len(clips) == 6
    assert sorted(c.name for c in clips) == sorted(
        f"{s}/{n}" for s in ("test", "val") for n in ("a.jpg#0", "b.jpg#0", "b.jpg#1"))
    for c in clips:
        assert c.num_frames == 1 and c.valid.all() and c.boxes.shape == (1, 4)
        assert c.annotated and c.rgb is None
        img = c.tir(0)
        x, y, w, h = c.boxes[0].astype(int)
        assert img[y + h // 2, x + w // 2].mean() > 180  # the box is on the warm blob
    # the boxes of one image share one loader
    assert len({id(c.tir) for c in clips}) == 4
    # a larger min_size drops the 16 px bicycle; `classes` / `classes_ignored` filter names
    assert len(load_clips(_src(coco), min_size=17.0)) == 4
    assert {c.name.split("#")[0] for c in load_clips(_src(coco, classes=("car",)))} == {
        "test/b.jpg", "val/b.jpg"}
    assert len(load_clips(_src(coco, classes_ignored=("Bicycle",)))) == 4
    # max_items counts images (3 per split, val first or test first: sorted file order)
    assert len(load_clips(_src(coco, max_items=2))) == 3


def test_detection_clips_downscale(coco: Path):
    full = {c.name: c.boxes[0] for c in load_clips(_src(coco))}
    half = load_clips(_src(coco, downscale=2), min_size=4.0)
    assert {c.name for c in half} <= set(full)
    for c in half:
        np.testing.assert_allclose(c.boxes[0], full[c.name] / 2)
        assert c.tir(0).shape[:2] == (64, 80)


def test_yolo_folder_reads_as_detections(tmp_path: Path):
    clips = load_clips(_src(_write_yolo(tmp_path / "yolo")))
    assert sorted(c.name for c in clips) == ["a#0", "b#0", "b#1"]
    np.testing.assert_allclose(sorted(c.boxes[0][2] for c in clips), [16, 24, 36], atol=1e-6)


def test_static_pairs_are_positive_and_on_the_target(coco: Path, tiny_cfg):
    cfg = SamplerConfig(negative=0.0, blur=0.0, color=0.0, search_shift=16.0)
    s = PairSampler(ClipSet([_src(coco)]), cfg, tiny_cfg, seed=4)
    for i in range(8):
        out = s.sample(0, i)
        assert out["kind"] == POSITIVE
        x1, y1, x2, y2 = out["box"]
        x = out["x_tir"][0]
        cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
        assert x[cy, cx] > x.mean() + 30  # the label centre lies on the warm target
        np.testing.assert_array_equal(out["x_tir"], s.sample(0, i)["x_tir"])  # deterministic


def test_negative_pairs_between_stills(coco: Path, tiny_cfg):
    s = PairSampler(ClipSet([_src(coco)]), SamplerConfig(negative=1.0), tiny_cfg, seed=4)
    out = s.sample(1, 0)
    assert out["kind"] == NEGATIVE and np.isnan(out["box"]).all()


def test_source_weights_mix_the_sources(coco: Path, tiny_cfg):
    synth = DataSource(kind="synthetic", count=1, seed=3, frames=10, width=160, height=128,
                       targets=1, weight=0.2)
    s = PairSampler(ClipSet([_src(coco, weight=0.8), synth]), SamplerConfig(negative=0.0),
                    tiny_cfg, seed=0)
    s._prepare()
    rng = np.random.default_rng(0)
    picks = Counter("synthetic" if s._pick_clip(rng).name.startswith("synthetic") else "still"
                    for _ in range(2000))
    assert 0.75 < picks["still"] / 2000 < 0.85


def test_augment_applies_to_its_own_source_only(coco: Path, tiny_cfg):
    base = SamplerConfig(negative=0.0)
    plain = PairSampler(ClipSet([_src(coco)]), base, tiny_cfg, seed=2)
    inv = PairSampler(ClipSet([_src(coco, augment={"invert": 1.0})]), base, tiny_cfg, seed=2)
    a, b = plain.sample(5, 1), inv.sample(5, 1)
    np.testing.assert_allclose(b["z_tir"], 255.0 - a["z_tir"])
    np.testing.assert_allclose(b["x_tir"], 255.0 - a["x_tir"])
    np.testing.assert_array_equal(a["box"], b["box"])
    # invert / crossover at 0 draw exactly the samples a sampler without them draws
    zero = PairSampler(ClipSet([_src(coco, augment={"invert": 0.0, "crossover": 0.0})]), base,
                       tiny_cfg, seed=2)
    for k, v in zero.sample(5, 1).items():
        np.testing.assert_array_equal(v, a[k])
    # a global setting reaches sources without an override
    glob = PairSampler(ClipSet([_src(coco)]), SamplerConfig(negative=0.0, invert=1.0), tiny_cfg,
                       seed=2)
    np.testing.assert_allclose(glob.sample(5, 1)["x_tir"], 255.0 - a["x_tir"])


def test_augment_keys_are_validated(coco: Path, tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(f"data:\n  - {{kind: detections, path: {coco}, augment: {{invert: 0.3}}}}\n")
    cfg = load_train_config(good)
    assert cfg.data[0].kind == "detections" and cfg.data[0].augment == {"invert": 0.3}
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"data:\n  - {{kind: detections, path: {coco}, augment: {{inverted: 1}}}}\n")
    with pytest.raises(ConfigError, match="inverted"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="needs a path"):
        load_train_config(overrides=["data=[{kind: detections}]"])


def test_crossover_changes_the_target_not_the_background():
    crop = np.full((3, 64, 64), 60.0, np.float32)
    crop[:, 24:40, 20:44] = 220.0
    box = np.array([20, 24, 43, 39], np.float32)
    faded = _crossover(crop, box, 0.0)
    turned = _crossover(crop, box, -1.0)
    level = crop.mean()
    assert abs(faded[0, 32, 32] - level) < 1.0  # the target takes the background's level
    assert turned[0, 32, 32] < level  # and turns colder than it with a negative factor
    np.testing.assert_array_equal(faded[:, :5, :5], crop[:, :5, :5])  # far background kept
    assert faded.dtype == np.float32 and 0 <= turned.min() <= turned.max() <= 255


def test_crossover_in_the_sampler_touches_only_the_search_crop(coco: Path, tiny_cfg):
    base = SamplerConfig(negative=0.0)
    a = PairSampler(ClipSet([_src(coco)]), base, tiny_cfg, seed=6).sample(0, 0)
    b = PairSampler(ClipSet([_src(coco, augment={"crossover": 1.0})]), base, tiny_cfg,
                    seed=6).sample(0, 0)
    np.testing.assert_array_equal(a["z_tir"], b["z_tir"])
    x1, y1, x2, y2 = a["box"]
    inside = b["x_tir"][0, int((y1 + y2) / 2), int((x1 + x2) / 2)]
    assert inside < a["x_tir"][0, int((y1 + y2) / 2), int((x1 + x2) / 2)] - 20


def test_thermal_only_stills_feed_a_thermal_teacher(coco: Path, tiny_cfg):
    """Distillation (``thermal_teacher``): a thermal-only source gives the teacher its thermal
    crops, before the student's thermal augmentations; without it the source has no pairs."""
    src = _src(coco, augment={"invert": 1.0})
    cfg = SamplerConfig(negative=0.0)
    with pytest.raises(ConfigError, match="tir and rgb"):
        PairSampler(ClipSet([src]), cfg, tiny_cfg, ("tir", "rgb"), seed=2).check()
    s = PairSampler(ClipSet([src]), cfg, tiny_cfg, ("tir", "rgb"), seed=2, thermal_teacher=True)
    plain = PairSampler(ClipSet([_src(coco)]), cfg, tiny_cfg, ("tir",), seed=2)
    for i in range(4):
        out, ref = s.sample(0, i), plain.sample(0, i)
        for k in ("z", "x"):  # teacher: the plain thermal crop; student: inverted
            np.testing.assert_array_equal(out[f"{k}_rgb"], ref[f"{k}_tir"])
            np.testing.assert_array_equal(out[f"{k}_tir"], 255.0 - ref[f"{k}_tir"])
        assert out["kind"] == POSITIVE


def test_training_runs_on_a_detection_source(coco: Path, tmp_path: Path, train_dict):
    from tir_tracker_core.config import from_dict
    from tir_tracker_core.training.config import TrainConfig
    from tir_tracker_core.training.train import train

    d = train_dict(2)
    d["data"] = [{"kind": "detections", "path": str(coco), "weight": 0.7,
                  "augment": {"invert": 0.5, "crossover": 0.5, "thermal_agc": 0.5}},
                 {**d["data"][0], "weight": 0.3}]
    path = train(from_dict(TrainConfig, d), tmp_path / "run")
    assert path.name == "final.safetensors" and path.is_file()


@pytest.mark.skipif(not HIT_UAV.is_dir(), reason="needs ../shared/data/tir_detection/hit_uav")
def test_real_hit_uav_smoke(tiny_cfg):
    clips = load_clips(_src(HIT_UAV), min_size=4.0)
    assert len(clips) > 5000  # both splits, 7,000+ boxes less DontCare and tiny ones
    splits = Counter(c.name.split("/")[0] for c in clips)
    assert set(splits) == {"val", "test"}
    boxes = np.array([c.boxes[0] for c in clips])
    assert boxes[:, 2:].min() >= 4.0
    assert not any("dontcare" in c.name.lower() for c in clips)
    s = PairSampler(ClipSet([_src(HIT_UAV, augment={"invert": 0.5, "crossover": 0.5})]),
                    SamplerConfig(), tiny_cfg, seed=0)
    out = s.sample(0, 0)
    assert out["x_tir"].shape == (3, 127, 127) and np.isfinite(out["x_tir"]).all()
