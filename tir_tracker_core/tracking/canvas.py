"""Shared search: targets whose search windows overlap share one backbone pass.

Several targets close together at a similar zoom are searched on one "canvas" (the union of
their search windows, warped at one zoom); each target's search features are then an exact
slice of the canvas features, because every window starts on the feature grid (stride
pixels). A backend takes part when it can run the backbone and the head separately
(``SplitBackbone``); otherwise every target is searched alone through ``Backend.track``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..geometry import crop_batch, warp, window_centers

__all__ = ["Canvas", "SplitBackbone", "canvas_transform", "plan_canvases", "search_features",
           "window_center"]


@runtime_checkable
class SplitBackbone(Protocol):
    """A backend that runs the backbone and the head separately (``Backend`` plus these two
    methods): the tracker then searches nearby targets on shared canvases."""

    def features(self, images: np.ndarray) -> np.ndarray:
        """(B,C,H,W) float32 images of any size (shared search canvases) -> backbone
        features."""

    def head(self, feats: list[Any], xf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cached template features of N targets + (N,C,s,s) search features -> cls, loc."""


@dataclass
class Canvas:
    """Targets sharing one backbone pass: their search windows at one zoom ``scale``."""

    scale: float
    members: list[int]
    x0: float = 0.0  # image coordinates of canvas pixel (0, 0)'s reference point
    y0: float = 0.0
    cells: list[tuple[int, int]] = field(default_factory=list)  # window start, feature cells


def plan_canvases(centers: np.ndarray, scales: np.ndarray, instance: int, stride: int,
                  tolerance: float) -> list[Canvas]:
    """Greedily group targets whose search windows overlap at similar zoom, when one canvas
    over their union costs no more pixels than their separate crops."""
    canvases: list[Canvas] = []
    rects: list[np.ndarray] = []  # union rectangle (x1, y1, x2, y2) in image px per canvas
    for i in np.argsort(-scales):
        half = instance / 2 / scales[i]
        r = np.array([centers[i][0] - half, centers[i][1] - half,
                      centers[i][0] + half, centers[i][1] + half])
        for c, u in zip(canvases, rects):
            if abs(math.log(scales[i] / c.scale)) > math.log1p(tolerance):
                continue
            union = np.array([min(u[0], r[0]), min(u[1], r[1]), max(u[2], r[2]), max(u[3], r[3])])
            area = (union[2] - union[0]) * (union[3] - union[1]) * c.scale ** 2
            if area <= (len(c.members) + 1) * instance ** 2:
                c.members.append(int(i))
                u[:] = union
                break
        else:
            canvases.append(Canvas(float(scales[i]), [int(i)]))
            rects.append(r)
    for c in canvases:
        _snap_windows(c, centers[c.members], instance, stride)
    return canvases


def _snap_windows(c: Canvas, pts: np.ndarray, instance: int, stride: int) -> None:
    """Place the canvas origin and each member's window: the window of a member starts at
    canvas pixel ``stride * cell``, so its features are an exact slice of the canvas
    features; its middle pixel maps back to ``window_center``."""
    c.x0 = float(pts[:, 0].min()) + 0.5 - (instance / 2) / c.scale
    c.y0 = float(pts[:, 1].min()) + 0.5 - (instance / 2) / c.scale
    for cx, cy in pts:
        dx = (cx - c.x0 + 0.5) * c.scale - 0.5 - (instance - 1) / 2
        dy = (cy - c.y0 + 0.5) * c.scale - 0.5 - (instance - 1) / 2
        c.cells.append((int(round(dx / stride)), int(round(dy / stride))))


def canvas_transform(c: Canvas) -> np.ndarray:
    """The 2x3 affine map from image pixels to the pixels of canvas ``c``."""
    return np.array([[c.scale, 0, c.scale * (0.5 - c.x0) - 0.5],
                     [0, c.scale, c.scale * (0.5 - c.y0) - 0.5]], np.float64)


def window_center(c: Canvas, cell: tuple[int, int], instance: int,
                  stride: int) -> tuple[float, float]:
    """Image point of the middle pixel of the search window starting at feature ``cell``."""
    cx, cy = cell
    return (c.x0 + (cx * stride + (instance - 1) / 2 + 0.5) / c.scale - 0.5,
            c.y0 + (cy * stride + (instance - 1) / 2 + 0.5) / c.scale - 0.5)


def _render(img: np.ndarray, c: Canvas, instance: int, stride: int,
            pad: Sequence[float]) -> np.ndarray:
    """Canvas ``c`` cut from ``img``: (1, C, H, W) float32, just large enough for every
    member's window."""
    w = max(cx for cx, _ in c.cells) * stride + instance
    h = max(cy for _, cy in c.cells) * stride + instance
    canvas = warp(img, canvas_transform(c), w, h, pad)
    return canvas.reshape(h, w, -1).transpose(2, 0, 1)[None].astype(np.float32)


def search_features(backend: SplitBackbone, img: np.ndarray, centers: np.ndarray,
                    pads: Sequence[Sequence[float]], canvases: list[Canvas], s_x: np.ndarray,
                    scale_z: np.ndarray, instance: int,
                    stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Search features of every target, one backbone pass per canvas (targets alone on a
    canvas are cropped as usual, ``s_x`` image pixels around their centre, in one batch).

    Returns the features (N, C, s, s), the image point each target's window is centred on
    and the zoom each target was searched at (both differ from ``centers`` / ``scale_z`` for
    targets on a shared canvas).
    """
    n = len(centers)
    win_centers = np.zeros((n, 2))
    scales = np.zeros(n)
    singles = [c.members[0] for c in canvases if len(c.members) == 1]
    shared = [c for c in canvases if len(c.members) > 1]
    images = [_render(img, c, instance, stride, pads[c.members[0]]) for c in shared]
    for c in shared:
        for k, cell in zip(c.members, c.cells):
            scales[k] = c.scale
            win_centers[k] = window_center(c, cell, instance, stride)
    xf: list[np.ndarray | None] = [None] * n
    if singles:
        crops = crop_batch(img, centers[singles], s_x[singles], instance,
                           [pads[k] for k in singles])
        for k, f in zip(singles, backend.features(crops)):
            xf[k] = f
            win_centers[k] = window_centers(centers[k:k + 1], s_x[k:k + 1])[0]
            scales[k] = instance / s_x[k]
    for c, image in zip(shared, images):
        fmap = backend.features(image)[0]
        size = fmap.shape[-1] - (image.shape[-1] - instance) // stride  # window, in cells
        for k, (cx, cy) in zip(c.members, c.cells):
            xf[k] = fmap[:, cy:cy + size, cx:cx + size]
    return np.ascontiguousarray(np.stack(xf)), win_centers, scales
