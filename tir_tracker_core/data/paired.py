"""Registered visible + thermal data: one reader per layout, and layout detection.

- LLVIP: ``visible/``, ``infrared/`` (optionally split into sub-folders), Pascal VOC
  ``Annotations/<stem>.xml`` -> :class:`PairedImage` records.
- RGBT234 / LasHeR sequence folders: ``visible/`` + ``infrared/``, boxes ``visible.txt`` /
  ``infrared.txt`` or ``init.txt`` (``x, y, w, h``) ->
  :class:`~tir_tracker_core.data.sequence.PairedSequence`.
- GTOT sequence folders: ``v/`` + ``i/``, boxes ``groundTruth_v.txt`` / ``groundTruth_i.txt``
  (``x1 y1 x2 y2``) or ``init.txt`` -> :class:`~tir_tracker_core.data.sequence.PairedSequence`.
- VTUAV sequence folders: ``rgb/`` + ``ir/`` (or ``ir_gray/``), boxes ``rgb.txt`` / ``ir.txt``
  (``x y w h``) on every N-th frame only -> a ``PairedSequence`` whose boxes have ``NaN`` rows on
  the frames in between (:func:`load_vtuav_sequence`).
- Paired videos (M3SVD): ``infrared/CLIP.mp4`` + ``visible/CLIP.mp4`` (same file name), no
  boxes -> one ``PairedSequence`` per clip, frame counts checked (:func:`load_video_pairs`).
- Still pairs by name (RoadScene ``cropinfrared/`` + ``crop_LR_visible/``, VIFB ``IR/`` +
  ``VI/``, :data:`STILL_PAIR_FOLDERS`): :class:`PairedImage` records without boxes
  (:func:`load_image_pairs`).
- Pseudo-labelled tracks over paired videos (``tracks.json``, written by ``tir-tracker
  pseudolabel``): one annotated ``PairedSequence`` per track
  (:func:`~tir_tracker_core.data.tracks.load_track_pairs`).

:func:`load_paired` detects the layout (:func:`detect_paired_layout`). A new paired layout adds
its reader here and one branch to both functions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .io import (
    PathFrameLoader,
    list_images,
    list_images_recursive,
    read_boxes,
    read_image,
    read_voc,
)
from .sequence import LengthPolicy, PairedSequence, expand_sparse_gt, reconcile_lengths
from .tracks import TracksClip, is_tracks_folder, load_track_pairs, thermal_loader
from .video import CPTV_EXTENSIONS, VideoFrameLoader, is_video_file

logger = logging.getLogger(__name__)

__all__ = [
    "STILL_PAIR_FOLDERS",
    "VIDEO_PAIR_FOLDERS",
    "PairedImage",
    "detect_paired_layout",
    "find_video_clips",
    "is_vtuav_folder",
    "load_gtot_sequence",
    "load_image_pairs",
    "load_llvip",
    "load_paired",
    "load_rgbt_sequence",
    "load_video_pairs",
    "load_vtuav_sequence",
]

STILL_PAIR_FOLDERS: tuple[tuple[str, str], ...] = (
    ("cropinfrared", "crop_LR_visible"),  # RoadScene
    ("IR", "VI"),  # VIFB
    ("ir", "vi"),
    ("Inf", "Vis"),  # TNO-style fusion sets
    ("lwir", "visible"),  # KAIST
)
"""``(infrared folder, visible folder)`` names of still-pair layouts; files pair by stem."""

VIDEO_PAIR_FOLDERS: tuple[tuple[str, str], ...] = (("infrared", "visible"), ("ir", "rgb"))
"""``(infrared folder, visible folder)`` names of paired-video layouts (M3SVD)."""


# --------------------------------------------------------------------------------------------
# LLVIP image pairs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PairedImage:
    """One registered visible + thermal image pair with its boxes (LLVIP).

    Attributes:
        name: image stem, prefixed by its sub-folder when the dataset is split.
        rgb_path: visible image, or ``None`` when only the thermal image exists.
        tir_path: thermal image.
        boxes: ``(K, 4)`` float64 ``x, y, w, h`` (shared by both images); ``(0, 4)`` when there
            are no objects or no annotation.
        labels: class name per box.
        annotated: whether an annotation file exists (distinguishes "no objects" from
            "not annotated").
    """

    name: str
    rgb_path: Path | None
    tir_path: Path
    boxes: np.ndarray
    labels: tuple[str, ...] = ()
    annotated: bool = False

    def __post_init__(self) -> None:
        boxes = np.array(self.boxes, dtype=np.float64, copy=True).reshape(-1, 4)
        boxes.setflags(write=False)
        object.__setattr__(self, "boxes", boxes)
        if self.labels and len(self.labels) != len(boxes):
            raise DatasetError(
                f"paired image {self.name!r}: {len(self.labels)} labels for {len(boxes)} boxes"
            )

    def rgb(self) -> np.ndarray:
        """The visible image (BGR)."""
        if self.rgb_path is None:
            raise DatasetError(f"paired image {self.name!r} has no visible image (thermal only)")
        return read_image(self.rgb_path)

    def tir(self) -> np.ndarray:
        """The thermal image as stored."""
        return read_image(self.tir_path)


def _is_llvip(folder: Path) -> bool:
    return (folder / "infrared").is_dir() and not _rgbt_kind(folder) and (
        (folder / "visible").is_dir() or (folder / "Annotations").is_dir()
    ) and not _video_pair_folders(folder)


def _llvip_record(
    tir_path: Path, ir_dir: Path, vis_dir: Path, ann_dir: Path, missing_rgb: list[str]
) -> PairedImage:
    """The pair of one infrared image; appends its relative path to ``missing_rgb`` when
    ``visible/`` exists but lacks it."""
    rel = tir_path.relative_to(ir_dir)
    rgb_path: Path | None = None
    if vis_dir.is_dir():
        rgb_path = vis_dir / rel
        if not rgb_path.is_file():
            missing_rgb.append(str(rel))
            rgb_path = None
    ann = ann_dir / f"{tir_path.stem}.xml"
    if ann.is_file():
        boxes, labels = read_voc(ann)
        annotated = True
    else:
        boxes, labels, annotated = np.zeros((0, 4)), (), False
    name = rel.with_suffix("").as_posix()
    return PairedImage(name, rgb_path, tir_path, boxes, labels, annotated)


def load_llvip(folder: Path) -> list[PairedImage]:
    """Read an LLVIP folder: ``infrared/``, optional ``visible/`` and ``Annotations/``.

    Images may sit in sub-folders (``infrared/train/...``); the visible image is the same
    relative path under ``visible/`` and the annotation is ``Annotations/<stem>.xml``. VOC
    boxes ``xmin, ymin, xmax, ymax`` become ``x = xmin, y = ymin, w = xmax - xmin,
    h = ymax - ymin``.
    """
    folder = Path(folder)
    ir_dir, vis_dir, ann_dir = folder / "infrared", folder / "visible", folder / "Annotations"
    if not ir_dir.is_dir():
        raise DatasetError(f"{folder} has no infrared/ folder; it is not an LLVIP folder")
    tir_paths = list_images_recursive(ir_dir)
    if not tir_paths:
        raise DatasetError(f"LLVIP folder {folder}: infrared/ holds no images")
    missing_rgb: list[str] = []
    records = [_llvip_record(p, ir_dir, vis_dir, ann_dir, missing_rgb) for p in tir_paths]
    if missing_rgb:
        logger.warning(
            "LLVIP folder %s: %d infrared images have no visible counterpart (e.g. %s)",
            folder,
            len(missing_rgb),
            missing_rgb[0],
        )
    return records


# --------------------------------------------------------------------------------------------
# RGBT234 / LasHeR / GTOT sequences
# --------------------------------------------------------------------------------------------

_RGBT_FOLDERS = {"rgbt": ("visible", "infrared"), "gtot": ("v", "i")}
_RGBT_BOX_FILES = {
    "rgbt": ("visible.txt", "infrared.txt"),
    "gtot": ("groundTruth_v.txt", "groundTruth_i.txt"),
}


def _rgbt_kind(folder: Path) -> str | None:
    for kind, (vis, ir) in _RGBT_FOLDERS.items():
        if (folder / vis).is_dir() and (folder / ir).is_dir():
            box_files = (*_RGBT_BOX_FILES[kind], "init.txt")
            if any((folder / f).is_file() for f in box_files):
                return kind
    return None


def _paired_frame_count(name: str, num_rgb: int, num_tir: int, policy: LengthPolicy) -> int:
    """Number of frame pairs; raises or warns when the two modalities differ in length."""
    if num_rgb == num_tir:
        return num_tir
    if policy == "error":
        raise DatasetError(
            f"paired sequence {name!r}: {num_rgb} visible but {num_tir} infrared frames; fix "
            "the dataset, or pass length_mismatch='truncate'"
        )
    n = min(num_rgb, num_tir)
    logger.warning(
        "paired sequence %r: %d visible but %d infrared frames; truncating to %d",
        name,
        num_rgb,
        num_tir,
        n,
    )
    return n


def _paired_boxes(folder: Path, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(gt, gt_rgb)``: the infrared boxes (else the visible ones, else ``init.txt``), and the
    visible boxes only when both modalities are annotated separately."""
    corners = kind == "gtot"
    vis_file, ir_file = (folder / f for f in _RGBT_BOX_FILES[kind])
    gt_tir = read_boxes(ir_file, corners=corners) if ir_file.is_file() else None
    gt_rgb = read_boxes(vis_file, corners=corners) if vis_file.is_file() else None
    if gt_tir is None:
        # One shared annotation: the visible boxes, else init.txt (always x, y, w, h).
        init_file = folder / "init.txt"
        gt_tir = gt_rgb if gt_rgb is not None else read_boxes(init_file)
        gt_rgb = None
    return gt_tir, gt_rgb


def _load_paired_sequence(
    folder: Path, kind: str, length_mismatch: LengthPolicy
) -> PairedSequence:
    vis_name, ir_name = _RGBT_FOLDERS[kind]
    rgb_paths = list_images(folder / vis_name)
    tir_paths = list_images(folder / ir_name)
    name = folder.name
    n = _paired_frame_count(name, len(rgb_paths), len(tir_paths), length_mismatch)
    gt_tir, gt_rgb = _paired_boxes(folder, kind)
    n = reconcile_lengths(name, n, gt_tir, length_mismatch)
    if gt_rgb is not None:
        n = reconcile_lengths(name, n, gt_rgb, length_mismatch, "frames (visible boxes)")
    return PairedSequence(
        name,
        kind,
        n,
        PathFrameLoader(rgb_paths[:n]),
        PathFrameLoader(tir_paths[:n]),
        gt_tir[:n],
        None if gt_rgb is None else gt_rgb[:n],
    )


def load_rgbt_sequence(folder: Path, *, length_mismatch: LengthPolicy = "error") -> PairedSequence:
    """Read an RGBT234 / LasHeR sequence folder (``visible/`` + ``infrared/`` + box files).

    ``gt`` comes from ``infrared.txt`` (else ``visible.txt``, else ``init.txt``) and ``gt_rgb``
    from ``visible.txt`` when both modality files exist.
    """
    folder = Path(folder)
    if _rgbt_kind(folder) != "rgbt":
        raise DatasetError(
            f"{folder} is not an RGBT234/LasHeR folder: expected visible/, infrared/ and one of "
            "visible.txt, infrared.txt, init.txt"
        )
    return _load_paired_sequence(folder, "rgbt", length_mismatch)


def load_gtot_sequence(folder: Path, *, length_mismatch: LengthPolicy = "error") -> PairedSequence:
    """Read a GTOT sequence folder (``v/`` + ``i/`` + ``groundTruth_v.txt`` /
    ``groundTruth_i.txt`` as ``x1 y1 x2 y2``, or ``init.txt`` as ``x, y, w, h``)."""
    folder = Path(folder)
    if _rgbt_kind(folder) != "gtot":
        raise DatasetError(
            f"{folder} is not a GTOT folder: expected v/, i/ and one of groundTruth_v.txt, "
            "groundTruth_i.txt, init.txt"
        )
    return _load_paired_sequence(folder, "gtot", length_mismatch)


# --------------------------------------------------------------------------------------------
# VTUAV sequences (sparse boxes)
# --------------------------------------------------------------------------------------------

_VTUAV_IR_DIRS: tuple[str, ...] = ("ir", "ir_gray")


def _vtuav_ir_dir(folder: Path) -> Path | None:
    return next((folder / d for d in _VTUAV_IR_DIRS if (folder / d).is_dir()), None)


def is_vtuav_folder(folder: Path) -> bool:
    """``rgb/`` + ``ir/`` or ``ir_gray/`` + ``rgb.txt`` and/or ``ir.txt``."""
    folder = Path(folder)
    return (folder / "rgb").is_dir() and _vtuav_ir_dir(folder) is not None and (
        (folder / "rgb.txt").is_file() or (folder / "ir.txt").is_file()
    )


def _sparse_boxes(
    name: str, path: Path, num_frames: int, stride: int | None, policy: LengthPolicy
) -> np.ndarray:
    """One row per frame from a box file with one row per frame or per ``stride`` frames."""
    boxes = read_boxes(path)
    if len(boxes) >= num_frames:
        n = reconcile_lengths(name, num_frames, boxes, policy, f"frames ({path.name})")
        return boxes[:n]
    return expand_sparse_gt(f"{name} ({path.name})", boxes, num_frames, stride)


def load_vtuav_sequence(
    folder: Path, *, gt_stride: int | None = None, length_mismatch: LengthPolicy = "error"
) -> PairedSequence:
    """Read a VTUAV sequence folder: ``rgb/`` + ``ir/`` (or ``ir_gray/``) + ``rgb.txt`` /
    ``ir.txt`` (``x y w h``).

    VTUAV annotates every N-th frame (frames ``0, N, 2N, ...``): N is inferred from the number of
    rows and frames (11 rows for 101 frames -> 10) unless ``gt_stride`` gives it; the frames in
    between get ``NaN`` rows, so ``as_sequence("tir" | "rgb").gt_frames`` lists the annotated
    frames. ``gt`` comes from ``ir.txt`` (else ``rgb.txt``), ``gt_rgb`` from ``rgb.txt`` when both
    exist. Layout ``vtuav``.
    """
    folder = Path(folder)
    if not is_vtuav_folder(folder):
        raise DatasetError(f"{folder} is not a VTUAV folder: expected rgb/, ir/ or ir_gray/, and "
                           "rgb.txt and/or ir.txt")
    ir_dir = _vtuav_ir_dir(folder)
    assert ir_dir is not None
    rgb_paths, tir_paths = list_images(folder / "rgb"), list_images(ir_dir)
    name = folder.name
    n = _paired_frame_count(name, len(rgb_paths), len(tir_paths), length_mismatch)
    files = {k: folder / f"{k}.txt" for k in ("ir", "rgb") if (folder / f"{k}.txt").is_file()}
    boxes = {k: _sparse_boxes(name, f, n, gt_stride, length_mismatch) for k, f in files.items()}
    n = min(len(b) for b in boxes.values())
    gt_tir = boxes.get("ir", boxes.get("rgb"))
    gt_rgb = boxes.get("rgb") if "ir" in boxes else None
    assert gt_tir is not None
    return PairedSequence(name, "vtuav", n, PathFrameLoader(rgb_paths[:n]),
                          PathFrameLoader(tir_paths[:n]), gt_tir[:n],
                          None if gt_rgb is None else gt_rgb[:n])


# --------------------------------------------------------------------------------------------
# Paired videos (M3SVD)
# --------------------------------------------------------------------------------------------


def _videos_by_stem(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if is_video_file(p)}


def _video_pair_folders(folder: Path) -> tuple[Path, Path] | None:
    """``(infrared, visible)`` folders of a paired-video layout, if ``folder`` is one."""
    for ir_name, vis_name in VIDEO_PAIR_FOLDERS:
        ir_dir, vis_dir = folder / ir_name, folder / vis_name
        if ir_dir.is_dir() and vis_dir.is_dir() and (
            _videos_by_stem(ir_dir).keys() & _videos_by_stem(vis_dir).keys()
        ):
            return ir_dir, vis_dir
    return None


def _video_count(loader: VideoFrameLoader) -> int:
    """Decodable frames of ``loader``'s video; a container claiming otherwise is logged."""
    decoded, claimed = len(loader), loader.container_frames()
    if claimed and claimed != decoded:
        logger.warning("video %s: the container says %d frames but %d decode",
                       loader.path, claimed, decoded)
    return decoded


def load_video_pairs(
    folder: Path, *, length_mismatch: LengthPolicy = "error"
) -> list[PairedSequence]:
    """Read paired videos: ``infrared/CLIP.<ext>`` + ``visible/CLIP.<ext>`` (M3SVD; also
    ``ir/`` + ``rgb/``), one unannotated :class:`PairedSequence` per clip (layout
    ``video_pairs``).

    Thermal frames decode to single-channel uint8, visible frames to BGR, on demand. Both
    videos of a clip must decode the same number of frames (``length_mismatch='truncate'``
    keeps the shorter, with a warning); a clip present in one folder only is skipped with a
    warning.
    """
    folder = Path(folder)
    dirs = _video_pair_folders(folder)
    if dirs is None:
        raise DatasetError(
            f"{folder} is not a paired-video folder: expected "
            + " or ".join(f"{a}/ + {b}/" for a, b in VIDEO_PAIR_FOLDERS)
            + " holding video files with the same names"
        )
    ir_videos, vis_videos = (_videos_by_stem(d) for d in dirs)
    unpaired = sorted(ir_videos.keys() ^ vis_videos.keys())
    if unpaired:
        logger.warning("paired videos %s: %d clips exist in one folder only and are skipped: %s",
                       folder, len(unpaired), ", ".join(unpaired[:10]))
    clips = []
    for stem in sorted(ir_videos.keys() & vis_videos.keys()):
        tir = VideoFrameLoader(ir_videos[stem], grey=True)
        rgb = VideoFrameLoader(vis_videos[stem], grey=False)
        n = _paired_frame_count(stem, _video_count(rgb), _video_count(tir), length_mismatch)
        clips.append(PairedSequence(stem, "video_pairs", n, rgb, tir))
    return clips


def _thermal_clip(path: Path) -> TracksClip:
    return TracksClip(path.stem, path, None, len(thermal_loader(path)))


def _is_clip_file(path: Path) -> bool:
    return is_video_file(path) or (path.is_file() and path.suffix.lower() in CPTV_EXTENSIONS)


def find_video_clips(path: Path) -> list[TracksClip]:
    """The clips a labeller can follow at ``path``: a paired-video folder (``infrared/`` +
    ``visible/``, frame counts checked), a folder of thermal video files or raw ``.cptv``
    clips, or one such file."""
    path = Path(path)
    if path.is_file():
        if not _is_clip_file(path):
            raise DatasetError(f"{path} is not a video file; give a video or .cptv file, a "
                               "folder of them, or a paired-video folder (infrared/ + "
                               "visible/)")
        return [_thermal_clip(path)]
    if not path.is_dir():
        raise DatasetError(f"{path} does not exist")
    if _video_pair_folders(path) is not None:
        out = []
        for seq in load_video_pairs(path):
            tir, rgb = seq.tir_loader, seq.rgb_loader
            assert isinstance(tir, VideoFrameLoader) and isinstance(rgb, VideoFrameLoader)
            out.append(TracksClip(seq.name, tir.path, rgb.path, seq.num_frames))
        return out
    videos = [p for p in sorted(path.iterdir()) if _is_clip_file(p)]
    if not videos:
        raise DatasetError(f"{path} holds no video or .cptv file and is not a paired-video "
                           "folder (infrared/ + visible/ videos of the same names)")
    return [_thermal_clip(p) for p in videos]


# --------------------------------------------------------------------------------------------
# Still pairs by file name (RoadScene, VIFB, ...)
# --------------------------------------------------------------------------------------------


def _still_pair_folders(folder: Path) -> tuple[Path, Path] | None:
    for ir_name, vis_name in STILL_PAIR_FOLDERS:
        ir_dir, vis_dir = folder / ir_name, folder / vis_name
        if ir_dir.is_dir() and vis_dir.is_dir() and list_images(ir_dir):
            return ir_dir, vis_dir
    return None


def load_image_pairs(folder: Path) -> list[PairedImage]:
    """Read still pairs whose infrared and visible files share a name (stem):
    :data:`STILL_PAIR_FOLDERS` (RoadScene ``cropinfrared/`` + ``crop_LR_visible/``, VIFB ``IR/`` +
    ``VI/``, ...). Records carry no boxes (``annotated=False``); infrared images without a
    visible counterpart are skipped with a warning."""
    folder = Path(folder)
    dirs = _still_pair_folders(folder)
    if dirs is None:
        raise DatasetError(
            f"{folder} is not a still-pair folder: expected "
            + ", ".join(f"{a}/ + {b}/" for a, b in STILL_PAIR_FOLDERS)
            + " with images of the same names"
        )
    ir_dir, vis_dir = dirs
    visible = {p.stem: p for p in list_images(vis_dir)}
    records, missing = [], []
    for tir_path in list_images(ir_dir):
        rgb_path = visible.get(tir_path.stem)
        if rgb_path is None:
            missing.append(tir_path.name)
            continue
        records.append(PairedImage(tir_path.stem, rgb_path, tir_path, np.zeros((0, 4))))
    if missing:
        logger.warning("still pairs %s: %d infrared images have no visible image of the same "
                       "name in %s and are skipped (e.g. %s)", folder, len(missing),
                       vis_dir.name, missing[0])
    if not records:
        raise DatasetError(f"still pairs {folder}: no infrared image in {ir_dir.name}/ has a "
                           f"visible image of the same name in {vis_dir.name}/")
    return records


# --------------------------------------------------------------------------------------------
# Layout detection
# --------------------------------------------------------------------------------------------

_PAIRED_LOOKED_FOR = (
    "a VTUAV sequence (rgb/ + ir/ or ir_gray/ + rgb.txt/ir.txt)",
    "paired videos (infrared/ + visible/ videos of the same names)",
    "pseudo-label tracks over paired videos (tracks.json)",
    "still pairs by name (" + ", ".join(f"{a}/ + {b}/" for a, b in STILL_PAIR_FOLDERS) + ")",
    "an LLVIP folder (infrared/ + visible/ and/or Annotations/)",
    "an RGBT234/LasHeR sequence (visible/ + infrared/ + visible.txt/infrared.txt/init.txt)",
    "a GTOT sequence (v/ + i/ + groundTruth_v.txt/groundTruth_i.txt/init.txt)",
    "a folder of those",
)


def _paired_kind(folder: Path) -> str | None:
    """The paired layout of one folder, or ``None``."""
    if is_tracks_folder(folder):
        return "tracks"
    kind = _rgbt_kind(folder)
    if kind is not None:
        return kind
    if is_vtuav_folder(folder):
        return "vtuav"
    if _video_pair_folders(folder):
        return "video_pairs"
    if _is_llvip(folder):
        return "llvip"
    if _still_pair_folders(folder):
        return "image_pairs"
    return None


def detect_paired_layout(path: Path) -> str:
    """``rgbt``, ``gtot``, ``vtuav``, ``video_pairs``, ``tracks``, ``llvip``, ``image_pairs``
    or ``collection`` (a folder of those)."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"paired dataset path {path} is not a folder")
    kind = _paired_kind(path)
    if kind is not None:
        return kind
    subdirs = [p for p in sorted(path.iterdir()) if p.is_dir()]
    if any(_paired_kind(p) for p in subdirs):
        return "collection"
    raise DatasetError(
        f"unknown paired RGB-T layout at {path}; looked for " + "; ".join(_PAIRED_LOOKED_FOR)
    )


def _load_paired_collection(
    path: Path, length_mismatch: LengthPolicy
) -> list[PairedSequence] | list[PairedImage]:
    """Every paired folder directly under ``path``; LLVIP names get their folder as prefix."""
    images: list[PairedImage] = []
    sequences: list[PairedSequence] = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        kind = _paired_kind(sub)
        if kind is None:
            logger.warning("skipping %s: not a paired RGB-T folder", sub)
        elif kind in ("llvip", "image_pairs"):
            images.extend(
                PairedImage(f"{sub.name}/{r.name}", r.rgb_path, r.tir_path, r.boxes, r.labels,
                            r.annotated)
                for r in _load_kind(sub, kind, length_mismatch)
            )
        else:
            sequences.extend(_load_kind(sub, kind, length_mismatch))  # type: ignore[arg-type]
    if images and sequences:
        raise DatasetError(
            f"{path} mixes LLVIP image pairs and RGB-T sequences; load the two kinds separately"
        )
    return sequences if sequences else images


def _load_kind(
    path: Path, kind: str, length_mismatch: LengthPolicy
) -> list[PairedSequence] | list[PairedImage]:
    if kind == "llvip":
        return load_llvip(path)
    if kind == "image_pairs":
        return load_image_pairs(path)
    if kind == "vtuav":
        return [load_vtuav_sequence(path, length_mismatch=length_mismatch)]
    if kind == "video_pairs":
        return load_video_pairs(path, length_mismatch=length_mismatch)
    if kind == "tracks":
        return load_track_pairs(path)
    return [_load_paired_sequence(path, kind, length_mismatch)]


def load_paired(
    path: Path, *, length_mismatch: LengthPolicy = "error"
) -> list[PairedSequence] | list[PairedImage]:
    """Load paired visible + thermal data at ``path``, detecting the layout.

    Returns :class:`PairedImage` records for LLVIP (one folder, or a root of LLVIP folders such
    as ``pairs_annotated/``, ``ir_only_annotated/``) and still pairs by name (RoadScene, VIFB),
    :class:`PairedSequence` objects for RGBT234 / LasHeR / GTOT / VTUAV sequence folders and
    paired videos (M3SVD; one per clip, unannotated), or a folder of them. A root mixing image
    pairs and sequences is rejected.
    """
    path = Path(path)
    layout = detect_paired_layout(path)
    if layout == "collection":
        return _load_paired_collection(path, length_mismatch)
    return _load_kind(path, layout, length_mismatch)
