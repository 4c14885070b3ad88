"""Scale-convergence probe: does a tracker pull a wrong box size back to the truth?

A Siamese tracker re-estimates the target's size every frame from the regression branch. If
that branch mostly reproduces the size it was given (the crop's nominal target size) instead
of measuring the target, size errors are never corrected and the box random-walks on video;
this is what channel pruning does to distilled students (see ``docs/distillation.md``). The
probe measures it on still annotated images, so it needs no video: initialise on the true box,
reset the size to ``scale`` x the truth (template kept), track the same image ``updates``
times, and compare the final box with the truth.

Per scale: mean log size error ``log(sqrt(area_pred / area_true))`` (0 = converged; a value
near ``log(scale)`` means the size was not corrected) and mean IoU.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.sequences import DatasetError
from .metrics import iou

DEFAULT_SCALES = (0.8, 1.0, 1.25)


@dataclass(frozen=True)
class ProbeResult:
    tracker: str
    num_boxes: int
    scales: tuple[float, ...]
    log_size_error: tuple[float, ...]  # mean per scale
    iou: tuple[float, ...]  # mean per scale

    @property
    def mean_iou(self) -> float:
        return float(np.mean(self.iou))


YOLO_LABEL_DIRS = ("labels_yolo", "labels")


def _llvip_items(folder: Path, min_side: float) -> list[tuple[np.ndarray, np.ndarray]]:
    from ..data.sequences import load_llvip

    items = []
    for rec in load_llvip(folder):
        boxes = [b for b in rec.boxes if min(b[2], b[3]) >= min_side]
        if boxes:
            img = rec.tir()
            items += [(img, np.asarray(b, np.float64)) for b in boxes]
    return items


def _yolo_items(folder: Path, labels: Path,
                min_side: float) -> list[tuple[np.ndarray, np.ndarray]]:
    from ..data.sequences import IMAGE_EXTENSIONS, read_image

    items = []
    for txt in sorted(labels.glob("*.txt")):
        rows = [r.split() for r in txt.read_text().splitlines() if r.strip()]
        if not rows:
            continue
        img_path = next((p for p in sorted((folder / "images").glob(txt.stem + ".*"))
                         if p.suffix.lower() in IMAGE_EXTENSIONS), None)
        if img_path is None:
            raise DatasetError(f"{txt}: no image {txt.stem}.jpg/.png in {folder / 'images'}")
        img = read_image(img_path)
        h_img, w_img = img.shape[:2]
        for i, r in enumerate(rows):
            if len(r) != 5:
                raise DatasetError(f"{txt}:{i + 1}: expected 'class cx cy w h' (normalised), "
                                   f"got {len(r)} fields")
            cx, cy, w, h = (float(v) for v in r[1:])
            box = np.array([(cx - w / 2) * w_img, (cy - h / 2) * h_img, w * w_img, h * h_img])
            if min(box[2], box[3]) >= min_side:
                items.append((img, box))
    return items


def _sequence_items(folder: Path, min_side: float,
                    every: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from ..data.sequences import load_sequences

    items = []
    for seq in load_sequences(folder):
        for i in range(0, len(seq), every):
            box = np.asarray(seq.gt[i], np.float64)
            if np.isfinite(box).all() and min(box[2], box[3]) >= min_side:
                items.append((seq.frame(i), box))
    return items


def probe_images(folder: str | Path, min_side: float = 20.0, max_boxes: int | None = None,
                 every: int = 15) -> list[tuple[np.ndarray, np.ndarray]]:
    """(thermal image, box) pairs of an annotated folder, boxes with both sides at least
    ``min_side`` px; ``max_boxes`` keeps that many, evenly spread. Layouts: LLVIP (``infrared/``
    + Pascal VOC ``Annotations/``), YOLO (``images/`` + ``labels_yolo/`` or ``labels/``,
    ``class cx cy w h`` normalised per line), or any tracking-sequence layout of ``eval``
    (every ``every``-th annotated frame, each probed as a still image)."""
    folder = Path(folder)
    labels = next((folder / d for d in YOLO_LABEL_DIRS if (folder / d).is_dir()), None)
    if labels is not None and (folder / "images").is_dir():
        items = _yolo_items(folder, labels, min_side)
    elif (folder / "Annotations").is_dir():
        items = _llvip_items(folder, min_side)
    else:
        try:
            items = _sequence_items(folder, min_side, max(1, every))
        except DatasetError as e:
            raise DatasetError(f"{folder}: not an annotated image folder (LLVIP: infrared/ + "
                               "Annotations/; YOLO: images/ + labels_yolo/ or labels/) nor a "
                               f"tracking-sequence layout: {e}") from e
    if not items:
        raise DatasetError(f"{folder}: no annotated box with both sides >= {min_side} px; give "
                           "an LLVIP-layout folder (infrared/ + Annotations/), a YOLO one "
                           "(images/ + labels_yolo/ or labels/) or a tracking sequence")
    if max_boxes and len(items) > max_boxes:
        keep = np.linspace(0, len(items) - 1, max_boxes).round().astype(int)
        items = [items[i] for i in keep]
    return items


def scale_probe(name: str, make_tracker: Callable[[], object],
                items: Sequence[tuple[np.ndarray, np.ndarray]],
                scales: Sequence[float] = DEFAULT_SCALES, updates: int = 8) -> ProbeResult:
    """Run the probe with trackers from ``make_tracker`` (ours: they need ``relocate``)."""
    tracker = make_tracker()
    if not hasattr(tracker, "relocate"):
        raise TypeError(f"{name}: the probe needs a tracker with relocate() (ours, not a peer)")
    err = np.zeros((len(scales), len(items)))
    ious = np.zeros_like(err)
    for j, (img, box) in enumerate(items):
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        (tid,) = tracker.init(img, [tuple(box)])  # one template per box, kept by relocate
        for i, s in enumerate(scales):
            w, h = box[2] * s, box[3] * s
            tracker.relocate(tid, (cx - w / 2, cy - h / 2, w, h))
            for _ in range(updates):
                out = tracker.update(img)[0].box
            err[i, j] = 0.5 * np.log(out[2] * out[3] / (box[2] * box[3]))
            ious[i, j] = iou(np.asarray([out]), box[None])[0]
    return ProbeResult(name, len(items), tuple(float(s) for s in scales),
                       tuple(float(v) for v in err.mean(1)), tuple(float(v) for v in ious.mean(1)))


def markdown_table(results: Sequence[ProbeResult]) -> str:
    scales = results[0].scales
    head = ("| tracker | boxes | " + " | ".join(f"log size err @{s:g}" for s in scales)
            + " | mean IoU |")
    rows = [head, "|---|---:|" + "---:|" * len(scales) + "---:|"]
    for r in results:
        rows.append(f"| {r.tracker} | {r.num_boxes} | "
                    + " | ".join(f"{v:+.3f}" for v in r.log_size_error)
                    + f" | {r.mean_iou:.3f} |")
    return "\n".join(rows)


def save_json(results: Sequence[ProbeResult], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{**asdict(r), "mean_iou": r.mean_iou} for r in results],
                               indent=2))
    return path


__all__ = ["DEFAULT_SCALES", "ProbeResult", "markdown_table", "probe_images", "save_json",
           "scale_probe"]
