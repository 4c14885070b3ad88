"""File-level reading: image listing and decoding, box text files, Pascal VOC XML."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tir_tracker_core.data.io import (
    PathFrameLoader,
    list_images,
    list_images_recursive,
    polygon_to_rect,
    read_boxes,
    read_image,
    read_voc,
)
from tir_tracker_core.errors import DatasetError


def write_grey(path: Path, value: int, dtype: type = np.uint8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((6, 8), value, dtype))
    return path


def test_natural_frame_order(tmp_path: Path) -> None:
    for i in range(12):  # 1.png ... 12.png, no zero padding
        write_grey(tmp_path / "img" / f"{i + 1}.png", 10 * i + 5)
    (tmp_path / "img" / "notes.txt").write_text("not an image")
    paths = list_images(tmp_path / "img")
    assert [p.name for p in paths[:3]] == ["1.png", "2.png", "3.png"] and len(paths) == 12
    assert int(PathFrameLoader(paths)(9)[0, 0]) == 95
    with pytest.raises(DatasetError, match="does not exist"):
        list_images(tmp_path / "missing")


def test_recursive_listing_orders_each_path_part_naturally(tmp_path: Path) -> None:
    for rel in ("b/10.jpg", "b/2.jpg", "a10/1.png", "a2/1.png"):
        write_grey(tmp_path / rel, 1)
    names = [p.relative_to(tmp_path).as_posix() for p in list_images_recursive(tmp_path)]
    assert names == ["a2/1.png", "a10/1.png", "b/2.jpg", "b/10.jpg"]


def test_read_image_keeps_depth_and_drops_alpha(tmp_path: Path) -> None:
    mono16 = read_image(write_grey(tmp_path / "t.png", 40000, np.uint16))
    assert mono16.dtype == np.uint16 and mono16.shape == (6, 8) and int(mono16[0, 0]) == 40000
    assert cv2.imwrite(str(tmp_path / "a.png"), np.full((6, 8, 4), 7, np.uint8))
    assert read_image(tmp_path / "a.png").shape == (6, 8, 3)
    with pytest.raises(DatasetError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cannot decode"):
        read_image(tmp_path / "bad.png")


def test_bad_annotation_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,4\n1,2,x,4\n")
    with pytest.raises(DatasetError, match=r"gt\.txt:2 has a non-numeric value"):
        read_boxes(path)
    path.write_text("1,2,3,4\n1,2,3\n")
    with pytest.raises(DatasetError, match=r"gt\.txt:2 has 3 values, expected 4"):
        read_boxes(path)
    path.write_text("1,2,3,4\n\n1,2,3,4\n")
    with pytest.raises(DatasetError, match=r"gt\.txt:2 is empty"):
        read_boxes(path)


def test_corner_rows_and_polygons_become_xywh(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("10 20 30 60\n")
    np.testing.assert_array_equal(read_boxes(path, corners=True), [[10, 20, 20, 40]])
    path.write_text("1,2,3,4\n0,0,4,1,5,6,1,5\n")
    np.testing.assert_array_equal(read_boxes(path, allow_polygons=True),
                                  [[1, 2, 3, 4], [0, 0, 5, 6]])
    with pytest.raises(DatasetError, match="expected 4 values$"):
        read_boxes(path)
    with pytest.raises(DatasetError, match=r"\(N, 2k\)"):
        polygon_to_rect(np.zeros((1, 3)))


def test_read_voc(tmp_path: Path) -> None:
    path = tmp_path / "a.xml"
    path.write_text(
        "<annotation><object><name> person </name><bndbox><xmin>10</xmin><ymin>20</ymin>"
        "<xmax>15</xmax><ymax>40</ymax></bndbox></object></annotation>"
    )
    boxes, labels = read_voc(path)
    np.testing.assert_array_equal(boxes, [[10, 20, 5, 20]])
    assert labels == ("person",)
    path.write_text("<annotation></annotation>")
    assert read_voc(path)[0].shape == (0, 4)
    path.write_text("<annotation><object><bndbox><xmin>1</xmin></bndbox></object></annotation>")
    with pytest.raises(DatasetError, match="missing or non-numeric coordinate"):
        read_voc(path)
    path.write_text("<annotation>")
    with pytest.raises(DatasetError, match="cannot parse Pascal VOC"):
        read_voc(path)


def test_real_flirpy_16_bit_pngs_stay_uint16(shared_data: Path) -> None:
    folder = shared_data / "thermal_raw" / "flirpy" / "decoded_png16"
    paths = list_images(folder)
    assert len(paths) == 8
    shapes = set()
    for path in paths:
        image = read_image(path)
        assert image.dtype == np.uint16 and image.ndim == 2
        assert image.max() > 255  # radiometric counts, not scaled to 8 bits
        shapes.add(image.shape)
    assert shapes == {(512, 640), (240, 320)}
