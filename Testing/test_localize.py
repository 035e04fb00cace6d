"""Known geometry in, known bone / side / sub-location out, on every grid and pose of CASES."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CASES, expected, found

from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.io.geometry import to_ras
from CRMOAnalyzerLib.io.images import LabelMap
from CRMOAnalyzerLib.localization.localize import NEAREST_MM, analyze
from CRMOAnalyzerLib.io.markups import PointLesion
from CRMOAnalyzerLib.samples.phantom import _clavicle_point, _vertebra_z


@pytest.mark.parametrize("case", sorted(CASES))
def test_label_lesions_localized(phantoms, case):
    phantom = phantoms(case)
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.lesions)
    assert len(study.lesions) == len(phantom.expected)
    for lesion, spec in zip(study.lesions, phantom.expected):
        assert lesion.source["name"] == spec["name"]
        assert found(lesion) == expected(spec), spec["name"]
        assert lesion.localization["method"] == "overlap"
        assert lesion.localization["overlap_fraction"] > 0.9


@pytest.mark.parametrize("case", sorted(CASES))
def test_point_lesions_localized(phantoms, case):
    phantom = phantoms(case)
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.points)
    for lesion, spec in zip(study.lesions, phantom.expected):
        assert found(lesion) == expected(spec), spec["name"]
        assert lesion.volume_mm3 is None
        assert lesion.source == {"kind": "point", "value": None, "name": spec["name"]}


def test_off_centre_patient_defeats_the_scanner_sign(phantoms):
    """The left tibia lies at positive RAS x (the scanner's right): only the midline gets it right."""
    phantom = phantoms("off_centre")
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.lesions)
    left_tibia = [l for l, s in zip(study.lesions, phantom.expected) if s["bone"] == "tibia" and s["side"] == "left"]
    assert left_tibia and all(lesion.centroid_ras[0] > 0 for lesion in left_tibia)
    assert all(lesion.side == "left" for lesion in left_tibia)
    assert "left/right bone pairs" in study.midline["basis"] and "midline bones" in study.midline["basis"]


def test_centroid_and_volume_match_the_built_sphere(phantoms):
    phantom = phantoms("oblique")
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.lesions)
    for lesion, point in zip(study.lesions, phantom.points):
        assert np.linalg.norm(np.array(lesion.centroid_ras) - point.position_ras) < 1.5
    femur = study.lesions[0]  # radius 9 mm sphere
    assert femur.volume_mm3 == pytest.approx(4 / 3 * np.pi * 9**3, rel=0.15)
    assert femur.finding_site == {"scheme": "SCT", "code": "71341001", "meaning": "Femur"}
    assert femur.laterality == {"scheme": "SCT", "code": "24028007", "meaning": "Right"}


def test_point_near_a_bone_takes_the_nearest_within_5_mm(phantoms):
    phantom = phantoms("identity")
    bonemap = BoneMap(phantom.bones, phantom.bones.names)
    femur_axis_point = phantom.points[0].position_ras  # in the right distal femur, radius ~12-19 mm
    # walk outwards (to the patient's right) until outside the bone, then a little further
    outside = femur_axis_point.copy()
    while bonemap.values_at(outside[None])[0] > 0:
        outside = outside + np.array([1.0, 0.0, 0.0])
    near = PointLesion("near", outside + np.array([2.0, 0.0, 0.0]))
    far = PointLesion("far", outside + np.array([8.0, 0.0, 0.0]))  # within 20 mm, beyond 5: pins the 5 mm
    study = analyze(bonemap, [near, far])
    assert NEAREST_MM == 5
    assert study.lesions[0].bone == "femur_right"
    assert study.lesions[0].localization["method"] == "nearest"
    assert 1.0 < study.lesions[0].localization["distance_mm"] <= 5.0
    assert study.lesions[1].bone == "unassigned"
    assert study.lesions[1].laterality is None
    assert any("unassigned" in w for w in study.lesions[1].warnings)


def test_different_grids_overlap_through_physical_space(phantoms):
    """Bones on one grid, lesions on another grid: overlap is measured in RAS, not by index."""
    phantom = phantoms("anisotropic")
    assert phantom.bones.array.shape != phantom.lesions.array.shape
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.lesions)
    assert [found(l) for l in study.lesions] == [expected(s) for s in phantom.expected]


def test_no_midline_reference_leaves_side_unknown(phantoms):
    phantom = phantoms("identity")
    names = phantom.bones.names
    keep = [v for v, n in names.items() if n in ("tibia", "fibula")]
    array = np.where(np.isin(phantom.bones.array, keep), phantom.bones.array, 0)
    bones = LabelMap(array, phantom.bones.affine, "tibiae only", names)
    study = analyze(BoneMap(bones, names), [p for p, s in zip(phantom.points, phantom.expected) if s["bone"] == "tibia"])
    assert all(lesion.bone == "tibia" and lesion.side is None for lesion in study.lesions)
    assert any("midline" in w for w in study.warnings)
    assert all(lesion.sublocation is None and lesion.bone_end is None for lesion in study.lesions)  # two tibiae, one label
    assert all(any("holds more than one bone" in w for w in lesion.warnings) for lesion in study.lesions)


def test_mislabelled_side_is_flagged(phantoms):
    """A bone map that calls the right femur 'femur_left' keeps the name but warns."""
    phantom = phantoms("identity")
    names = dict(phantom.bones.names)
    left, right = [v for v, n in names.items() if n == "femur_left"][0], [v for v, n in names.items() if n == "femur_right"][0]
    names[left], names[right] = "femur_right", "femur_left"
    study = analyze(BoneMap(phantom.bones, names), phantom.points[:1])
    assert study.lesions[0].bone == "femur_left"
    assert any("other side of the midline" in w for w in study.lesions[0].warnings)


def test_a_bone_one_slice_thick_is_measured_exactly():
    array = np.zeros((40, 40, 40), np.uint8)
    array[5:35, 5:15, 2:18] = 1
    array[5:35, 25:35, 22:38] = 2
    array[20, 20:23, 20:23] = 3  # one slice thick
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    bonemap = BoneMap(LabelMap(array, affine, "bones.nii"), {1: "femur_left", 2: "femur_right", 3: "vertebrae_T5"})
    point = to_ras(affine, np.array([[21, 21, 20]]))
    assert bonemap.values_at(point).tolist() == [3]
    assert bonemap.present_values == [1, 2, 3] and bonemap.voxel_count(3) == 9 and bonemap.voxel_count(1) == 30 * 10 * 16
    np.testing.assert_allclose(bonemap.centroid(3), point[0])


def test_a_side_less_paired_bone_is_split_at_the_midline():
    array = np.zeros((30, 20, 40), np.uint8)
    array[5:25, 5:15, 2:10] = 1  # femur at low i
    array[5:25, 5:15, 30:38] = 2  # femur at high i
    array[5:25, 8:12, 18:22] = 3  # vertebra: the midline at i = 19.5
    array[0:4, 5:15, 4:36] = 4  # both tibiae as one label
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    affine[:3, 3] = [30.0, 0.0, 0.0]  # off-centre: i = 19.5 lies at x = 10.5 mm
    bonemap = BoneMap(LabelMap(array, affine, "bones.nii"), {1: "femur_right", 2: "femur_left", 3: "vertebrae_L1", 4: "tibia"})
    right, left = bonemap.bone_runs(4, "right"), bonemap.bone_runs(4, "left")
    assert (right.count, left.count) == (4 * 10 * 16, 4 * 10 * 16)  # i 4..19 are right (x = 30 - i > 10.5)
    assert right.extent([1.0, 0.0, 0.0]) == (11.0, 26.0) and left.extent([1.0, 0.0, 0.0]) == (-5.0, 10.0)
    assert bonemap.bone_runs(4).count == 4 * 10 * 32


#: (name, anatomical point, bone, side, sub-location): the sub-locations the phantom's lesion set does not hold
MORE = [
    ("T8 posterior elements", lambda: np.array((0.0, -22.0, _vertebra_z()["T8"][0])), "vertebrae_T8", None, "posterior elements"),
    ("L5 body", lambda: np.array((0.0, 8.0, _vertebra_z()["L5"][0])), "vertebrae_L5", None, "vertebral body"),
    # the thirds, 3-4% of the clavicle's length (with its rounded ends) either side of each boundary
    ("R medial clavicle", lambda: _clavicle_point("right", 0.27), "clavicula_right", "right", "medial"),
    ("L middle clavicle, medial part", lambda: _clavicle_point("left", 0.36), "clavicula_left", "left", "middle"),
    ("R middle clavicle, lateral part", lambda: _clavicle_point("right", 0.64), "clavicula_right", "right", "middle"),
    ("L lateral clavicle", lambda: _clavicle_point("left", 0.73), "clavicula_left", "left", "lateral"),
]


@pytest.mark.parametrize("case", ["identity", "oblique", "rotated_patient", "k_flipped_left_handed"])
def test_posterior_elements_and_clavicle_thirds(phantoms, case):
    phantom = phantoms(case)
    points = [PointLesion(name, phantom.pose.to_ras(where()[None])[0]) for name, where, *_ in MORE]
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), points)
    for lesion, (name, _, bone, side, where) in zip(study.lesions, MORE):
        assert (lesion.bone, lesion.side, lesion.sublocation) == (bone, side, where), name


@pytest.mark.parametrize("case", ["identity", "ras_flipped", "oblique", "off_centre", "rotated_patient"])
def test_mandible_and_sacral_lesions_are_reported_by_side(phantoms, case):
    """The phantom's mandible runs from (-42, 25, 470) through the symphysis (0, 68, 462) to (42, 25, 470); its
    sacrum spans x -30..30 mm (bodies within 15 mm of the midline, alae beyond)."""
    phantom = phantoms(case)
    sacrum_z = _vertebra_z()["L5"][0] - 40
    where = {"left body": (-30.0, 40.0, 467.0), "right body": (32.0, 38.0, 467.0), "symphysis": (2.0, 68.0, 462.0),
             "right ala": (24.0, -8.0, sacrum_z), "left ala": (-22.0, -8.0, sacrum_z), "sacral body": (-6.0, -8.0, sacrum_z)}
    points = [PointLesion(name, phantom.pose.to_ras(np.array([xyz]))[0]) for name, xyz in where.items()]
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), points)
    assert [(l.bone, l.side) for l in study.lesions] == [("mandible", "left"), ("mandible", "right"), ("mandible", None),
                                                         ("sacrum", "right"), ("sacrum", "left"), ("sacrum", None)]
    assert study.lesions[0].laterality["code"] == "7771000"
