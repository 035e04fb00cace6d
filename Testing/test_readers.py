"""Readers: label names, markups (LPS and RAS), images (geometry, pixel types), Slicer segmentations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.io.images import LabelMap, read_image, read_labelmap, write_image
from CRMOAnalyzerLib.io.labelnames import read_label_names
from CRMOAnalyzerLib.io.markups import PointLesion, read_points, write_points
from CRMOAnalyzerLib.io.segmentation_file import read_seg_nrrd, write_seg_nrrd


@pytest.mark.parametrize("text, expected", [
    ("1 femur_left\n2 femur_right\n", {1: "femur_left", 2: "femur_right"}),
    ("# Slicer color table\n0 Background 0 0 0 0\n75 femur_left 130 222 207 255\n", {75: "femur_left"}),
    ('{"75": "femur_left", "76": "femur_right"}', {75: "femur_left", 76: "femur_right"}),
    ('{"femur_left": 75}', {75: "femur_left"}),
    ("LabelValue,Name,Color_R,Color_G,Color_B,Color_A\n0,Background,0,0,0,0\n3,tibia,1,2,3,255\n", {3: "tibia"}),
    ("5 Left femur\n", {5: "Left femur"}),
])
def test_label_names_formats(tmp_path, text, expected):
    path = tmp_path / ("names.json" if text.startswith("{") else "names.txt")
    path.write_text(text, encoding="utf-8")
    assert read_label_names(path) == expected


@pytest.mark.parametrize("content, problem", [
    (b"one femur\n", "line 1: expected 'value name'"),
    (b"1 femur\n1 tibia\n", "named twice"),
    (b'{"a": "femur"}', "not a whole number"),
    (b'{"1": ', "malformed JSON"),
    (b"\xff\xfe\x00bad", "not UTF-8"),
    (b"", "no label names"),
])
def test_label_names_errors(tmp_path, content, problem):
    path = tmp_path / "names.txt"
    path.write_bytes(content)
    with pytest.raises(CRMOInputError, match=problem) as error:
        read_label_names(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_markups_lps_and_ras_give_the_same_ras(tmp_path):
    points = [PointLesion("a", np.array([10.0, -20.0, 30.0])), PointLesion("b", np.array([-5.5, 7.0, -100.0]))]
    write_points(tmp_path / "lps.mrk.json", points, "LPS")
    write_points(tmp_path / "ras.mrk.json", points, "RAS")
    raw = json.loads((tmp_path / "lps.mrk.json").read_text())
    assert raw["markups"][0]["controlPoints"][0]["position"] == [-10.0, 20.0, 30.0]  # LPS on disk
    for name in ("lps.mrk.json", "ras.mrk.json"):
        back = read_points(tmp_path / name)
        assert [p.label for p in back] == ["a", "b"]
        np.testing.assert_allclose([p.position_ras for p in back], [p.position_ras for p in points])


@pytest.mark.parametrize("doc, problem", [
    ({"markups": [{"coordinateSystem": "XYZ", "controlPoints": []}]}, "coordinateSystem"),
    ({"markups": [{"controlPoints": [{"position": [1, 2]}]}]}, "three finite numbers"),
    ({"markups": [{"controlPoints": [{"position": [1, "x", 3]}]}]}, "three finite numbers"),
    ({"nomarkups": []}, "not a Slicer markups file"),
    ([1, 2], "not a Slicer markups file"),
])
def test_markups_errors(tmp_path, doc, problem):
    path = tmp_path / "bad.mrk.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CRMOInputError, match=problem):
        read_points(path)


def test_undefined_points_are_skipped(tmp_path):
    path = tmp_path / "p.mrk.json"
    path.write_text(json.dumps({"markups": [{"coordinateSystem": "RAS", "controlPoints": [
        {"label": "x", "position": [0, 0, 0], "positionStatus": "undefined"}, {"label": "y", "position": [1, 2, 3]}]}]}))
    assert [p.label for p in read_points(path)] == ["y"]


def _sitk_labels(array, spacing=(1.0, 2.0, 3.0), origin=(10.0, -20.0, 5.0), direction=None):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    return image


def test_image_geometry_lps_to_ras(tmp_path):
    array = np.zeros((4, 5, 6), np.uint8)
    array[1, 2, 3] = 7  # k=1, j=2, i=3
    direction = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    sitk.WriteImage(_sitk_labels(array, direction=direction), str(tmp_path / "a.nii.gz"))
    labelmap = read_labelmap(tmp_path / "a.nii.gz")
    lps = np.array(_sitk_labels(array, direction=direction).TransformIndexToPhysicalPoint((3, 2, 1)))
    ras = labelmap.affine @ np.array([3, 2, 1, 1.0])
    np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-4)
    assert labelmap.voxel_volume_mm3 == pytest.approx(6.0)


def test_float_labels_with_whole_numbers_are_accepted(tmp_path, caplog):
    sitk.WriteImage(_sitk_labels(np.array([[[0.0, 2.0], [1.0, 0.0]]], np.float32)), str(tmp_path / "f.nrrd"))
    labelmap = read_labelmap(tmp_path / "f.nrrd")
    assert labelmap.array.dtype.kind == "u" and sorted(np.unique(labelmap.array)) == [0, 1, 2]
    assert "floating point" in caplog.text


@pytest.mark.parametrize("make, problem", [
    (lambda: sitk.GetImageFromArray(np.zeros((4, 4), np.uint8)), "2D"),
    (lambda: sitk.GetImageFromArray(np.zeros((2, 3, 4, 4), np.uint8), isVector=False), "4D"),
    (lambda: sitk.GetImageFromArray(np.zeros((3, 4, 4, 3), np.uint8), isVector=True), "3 components"),
    (lambda: _sitk_labels(np.array([[[0.5, 1.0]]], np.float32)), "fractional"),
    (lambda: _sitk_labels(np.array([[[-1, 1]]], np.int16)), "negative"),
    (lambda: _sitk_labels(np.array([[[np.nan, 1]]], np.float32)), "non-finite"),
])
def test_bad_label_maps(tmp_path, make, problem):
    path = tmp_path / "bad.nrrd"
    sitk.WriteImage(make(), str(path))
    with pytest.raises(CRMOInputError, match=problem) as error:
        read_labelmap(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("content, problem", [(b"", "cannot read"), (b"NRRD0004\ntype: garbage\n\n", "cannot read"),
                                              (b"\x1f\x8b\x08garbage", "cannot read")])
def test_unreadable_files(tmp_path, content, problem):
    path = tmp_path / "x.nii.gz"
    path.write_bytes(content)
    with pytest.raises(CRMOInputError, match=problem):
        read_labelmap(path)


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(CRMOInputError, match="not found"):
        read_labelmap(tmp_path / "nothing.nii.gz")
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(CRMOInputError, match="unsupported"):
        read_image(tmp_path / "x.png")


def test_seg_nrrd_round_trip_with_names(tmp_path):
    array = np.zeros((5, 6, 7), np.uint8)
    array[1:3, 1:3, 1:3] = 1
    array[3:5, 4:6, 4:7] = 2
    affine = np.array([[-2.0, 0, 0, 10], [0, -2.0, 0, 20], [0, 0, 3.0, -5], [0, 0, 0, 1]])
    write_seg_nrrd(tmp_path / "l.seg.nrrd", LabelMap(array, affine, "", {1: "R femur", 2: "T8"}))
    back = read_seg_nrrd(tmp_path / "l.seg.nrrd")
    assert back.names == {1: "R femur", 2: "T8"}
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.affine, affine)
    # and the generic reader goes through the same path
    assert read_labelmap(tmp_path / "l.seg.nrrd").names == back.names


def test_write_image_round_trip(tmp_path):
    from CRMOAnalyzerLib.io.geometry import grid_affine
    from CRMOAnalyzerLib.samples.phantom import rotation

    affine = grid_affine((1.5, 2.0, 2.5), (3.0, -4.0, 5.0), rotation((1, 2, 3), 30))
    image = LabelMap(np.arange(24, dtype=np.uint16).reshape(2, 3, 4), affine)
    write_image(tmp_path / "x.mha", image)
    back = read_labelmap(tmp_path / "x.mha")
    np.testing.assert_allclose(back.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(back.array, image.array)
