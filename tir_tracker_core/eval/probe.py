"""Scale-convergence probe: does a tracker pull a wrong box size back to the truth?

A Siamese tracker re-estimates the target's size every frame from the regression branch. If
that branch mostly reproduces the size it was given (the crop's nominal target size) instead
of measuring the target, size errors are never corrected and the box random-walks on video;
this is what channel pruning does to distilled students (see ``LAB_NOTES.md``). The
probe measures it on still annotated images, so it needs no video: initialise on the true box,
reset the size to ``scale`` x the truth (template kept), track the same image ``updates``
times, and compare the final box with the truth.

With ``template=True`` the probe asks the question of a loose first box instead: the tracker
is initialised on the scaled box (its template cut around it, as from a hand-drawn box that is
too large or too small) and tracks the same image ``updates`` times. The template then defines
the object, so most of a loose box's size is kept; growth over frames on video (a box that runs
away from a loose first box) does not show here and is measured by ``eval --sre``.

Per scale: mean log size error ``log(sqrt(area_pred / area_true))`` (0 = converged; a value
near ``log(scale)`` means the size was not corrected) and mean IoU. Per target size (``sqrt(w h)``
of the true box, bins split at ``SIZE_BINS`` px): the number of boxes and their mean IoU over
the scales, since a tracker's box precision on 10 px drones says little about 60 px people. The
(image, box) items come from :func:`tir_tracker_core.data.stills.load_stills`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..geometry import box_center, box_from_center
from .metrics import iou

DEFAULT_SCALES = (0.8, 1.0, 1.25)
SIZE_BINS = (16.0, 32.0, 64.0)  # target sqrt(w h) in px: < 16, 16-32, 32-64, >= 64


@dataclass(frozen=True)
class ProbeResult:
    tracker: str
    num_boxes: int
    scales: tuple[float, ...]
    log_size_error: tuple[float, ...]  # mean per scale
    iou: tuple[float, ...]  # mean per scale
    template: bool = False  # initialised on the scaled box (a loose first box)
    size_bins: tuple[float, ...] = SIZE_BINS
    count_by_size: tuple[int, ...] = ()  # boxes per size bin (len(size_bins) + 1 bins)
    iou_by_size: tuple[float | None, ...] = ()  # mean IoU over scales per bin, None if empty

    @property
    def mean_iou(self) -> float:
        return float(np.mean(self.iou))


def scale_probe(name: str, make_tracker: Callable[[], object],
                items: Sequence[tuple[np.ndarray, np.ndarray]],
                scales: Sequence[float] = DEFAULT_SCALES, updates: int = 8,
                template: bool = False) -> ProbeResult:
    """Run the probe with trackers from ``make_tracker`` (ours: they need ``relocate``).

    ``template``: initialise on the scaled box (template cut around it) rather than keep the
    true box's template and only reset the size.
    """
    tracker = make_tracker()
    if not template and not hasattr(tracker, "relocate"):
        raise TypeError(f"{name}: the probe needs a tracker with relocate() (ours, not a peer)")
    err = np.zeros((len(scales), len(items)))
    ious = np.zeros_like(err)
    for j, (img, box) in enumerate(items):
        center = box_center(box)
        if not template:
            (tid,) = tracker.init(img, [tuple(box)])  # one template per box, kept by relocate
        for i, s in enumerate(scales):
            scaled = box_from_center(center, (box[2] * s, box[3] * s))
            if template:
                tracker.init(img, [tuple(scaled)])  # starts over: the template cut around it
            else:
                tracker.relocate(tid, scaled)
            for _ in range(updates):
                out = tracker.update(img)[0].box
            err[i, j] = 0.5 * np.log(out[2] * out[3] / (box[2] * box[3]))
            ious[i, j] = iou(np.asarray([out]), box[None])[0]
    sizes = np.array([np.sqrt(box[2] * box[3]) for _, box in items])
    bins = np.digitize(sizes, SIZE_BINS)
    per_box = ious.mean(0)
    counts = tuple(int((bins == b).sum()) for b in range(len(SIZE_BINS) + 1))
    by_size = tuple(float(per_box[bins == b].mean()) if n else None for b, n in enumerate(counts))
    return ProbeResult(name, len(items), tuple(float(s) for s in scales),
                       tuple(float(v) for v in err.mean(1)), tuple(float(v) for v in ious.mean(1)),
                       template, SIZE_BINS, counts, by_size)


def _bin_names(edges: Sequence[float]) -> list[str]:
    cuts = [f"{e:g}" for e in edges]
    return ([f"< {cuts[0]} px"] + [f"{a}-{b} px" for a, b in zip(cuts, cuts[1:])]
            + [f">= {cuts[-1]} px"])


def markdown_table(results: Sequence[ProbeResult]) -> str:
    scales = results[0].scales
    head = ("| tracker | boxes | " + " | ".join(f"log size err @{s:g}" for s in scales)
            + " | mean IoU |")
    rows = [head, "|---|---:|" + "---:|" * len(scales) + "---:|"]
    for r in results:
        rows.append(f"| {r.tracker} | {r.num_boxes} | "
                    + " | ".join(f"{v:+.3f}" for v in r.log_size_error)
                    + f" | {r.mean_iou:.3f} |")
    if results[0].count_by_size:
        rows += ["", "Mean IoU by target size (sqrt(w h) of the true box; boxes in brackets):", "",
                 "| tracker | " + " | ".join(_bin_names(results[0].size_bins)) + " |",
                 "|---|" + "---:|" * len(results[0].count_by_size)]
        for r in results:
            rows.append(f"| {r.tracker} | " + " | ".join(
                "-" if v is None else f"{v:.3f} ({n})"
                for v, n in zip(r.iou_by_size, r.count_by_size)) + " |")
    return "\n".join(rows)


def save_json(results: Sequence[ProbeResult], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{**asdict(r), "mean_iou": r.mean_iou} for r in results],
                               indent=2))
    return path


__all__ = ["DEFAULT_SCALES", "SIZE_BINS", "ProbeResult", "markdown_table", "save_json",
           "scale_probe"]
