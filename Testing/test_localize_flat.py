"""Flat and irregular bones: hip bone, rib, scapula, sternum and mandible sub-locations from real geometry, on every
grid and pose of CASES; and 'unknown' with a warning wherever the bone map does not show what the rule needs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CASES, expected, found

from CRMOAnalyzerLib.localization import sublocation
from CRMOAnalyzerLib.anatomy import bones
from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.io.files import read_json
from CRMOAnalyzerLib.io.geometry import to_index, to_ras
from CRMOAnalyzerLib.io.images import LabelMap
from CRMOAnalyzerLib.localization.localize import analyze
from CRMOAnalyzerLib.io.markups import PointLesion
from CRMOAnalyzerLib.samples.phantom import FLAT_LESIONS, _vertebra_z, make_phantom
from CRMOAnalyzerLib.reading.report import site_phrase

_CACHE: dict = {}


def flat_phantom(case: str):
    """The phantom with shaped long bones and flat bones, and the FLAT_LESIONS, in the grids and pose of ``case``."""
    if case not in _CACHE:
        bone_grid, lesion_grid, pose = CASES[case]
        _CACHE[case] = make_phantom(bone_grid, lesion_grid, pose, lesions=FLAT_LESIONS, shaped=True, flat=True)
    return _CACHE[case]


def only(bonemap: BoneMap, drop=(), keep=None) -> BoneMap:
    """The same map without the bones named in ``drop`` (or with only those in ``keep``)."""
    names = {v: n for v, n in bonemap.names.items() if n not in drop and (keep is None or n in keep)}
    array = np.where(np.isin(bonemap.labelmap.array, list(names)), bonemap.labelmap.array, 0)
    return BoneMap(LabelMap(array, bonemap.labelmap.affine, "subset", names), names)


def crop(phantom, low, high) -> BoneMap:
    """The bone map cut to the index box around the anatomical box ``low``..``high`` (a smaller field of view)."""
    bones_map = phantom.bones
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
    ijk = to_index(bones_map.affine, phantom.pose.to_ras(corners))
    start = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, bones_map.shape_ijk)
    stop = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 0, bones_map.shape_ijk)
    array = bones_map.array[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]].copy()
    affine = bones_map.affine.copy()
    affine[:3, 3] = to_ras(bones_map.affine, start[None])[0]
    names = {v: n for v, n in bones_map.names.items() if v in set(np.unique(array).tolist())}
    return BoneMap(LabelMap(array, affine, "cropped phantom", names), names)


def at(phantom, names: list[str]) -> list[PointLesion]:
    """Point lesions at the centres of the FLAT_LESIONS named."""
    specs = {spec["name"]: spec for spec in FLAT_LESIONS}
    return [PointLesion(name, phantom.pose.to_ras(specs[name]["centre"]()[None])[0]) for name in names]


def answers(names: list[str]) -> list[tuple]:
    specs = {spec["name"]: spec for spec in FLAT_LESIONS}
    return [expected(specs[name]) for name in names]


@pytest.mark.parametrize("case", sorted(CASES))
def test_flat_bone_label_lesions(case):
    """Every hip, scapula, mandible, rib and sternum lesion: its bone, its side and its part, in every grid and pose."""
    phantom = flat_phantom(case)
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.lesions)
    assert len(study.lesions) == len(FLAT_LESIONS)
    wrong = [(spec["name"], found(lesion), lesion.warnings) for lesion, spec in zip(study.lesions, phantom.expected)
             if found(lesion) != expected(spec)]
    assert not wrong
    assert all(not lesion.warnings for lesion in study.lesions)


@pytest.mark.parametrize("case", sorted(CASES))
def test_flat_bone_point_lesions(case):
    phantom = flat_phantom(case)
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.points)
    assert [found(lesion) for lesion in study.lesions] == [expected(spec) for spec in phantom.expected]


def test_the_reported_sites_read_as_anatomy():
    phantom = flat_phantom("identity")
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), at(phantom, [
        "L ilium at the sacroiliac joint", "R rib 6 anterior arc", "R coracoid", "manubrium", "L mandibular condyle",
        "mandibular symphysis"]))
    assert [site_phrase(lesion) for lesion in study.lesions] == [
        "Left hip bone, ilium beside the sacroiliac joint", "Right sixth rib, anterior arc", "Right scapula, coracoid",
        "Sternum, manubrium", "Left mandible, condyle", "Mandible, symphysis"]


def test_every_sub_location_is_a_value_of_the_model_with_an_export_meaning():
    from importlib import resources

    root = resources.files("CRMOAnalyzerLib") / "resources"
    enum = read_json(root / "study.schema.json", "schema")["$defs"]["lesion"]["properties"]["sublocation"]["enum"]
    meanings = read_json(root / "exports" / "codes.json", "codes")["local"]["sublocations"]
    for spec in FLAT_LESIONS:
        assert spec["sublocation"] in enum and spec["sublocation"] in meanings, spec["sublocation"]


# ---- hip bone ------------------------------------------------------------------------------------

HIP = ["R iliac wing", "R ilium at the sacroiliac joint", "R acetabulum", "R ischial tuberosity", "R superior pubic ramus",
       "L iliac wing", "L ilium at the sacroiliac joint", "L acetabulum", "L ischial tuberosity", "L superior pubic ramus"]


@pytest.mark.parametrize("case", ["identity", "oblique", "rotated_patient"])
def test_without_a_femur_only_the_upper_ilium_is_told(case):
    """The acetabulum comes from the femoral head: without the femora, the iliac wing (the bone's upper third, always
    above the acetabulum) and the sacroiliac ilium are still told; below, unknown with a warning, never a guess."""
    phantom = flat_phantom(case)
    bonemap = only(BoneMap(phantom.bones, phantom.bones.names), drop={"femur_left", "femur_right"})
    study = analyze(bonemap, at(phantom, HIP))
    got = [(lesion.bone, lesion.side, lesion.sublocation) for lesion in study.lesions]
    assert got == [("hip_right", "right", "ilium"), ("hip_right", "right", "ilium beside the sacroiliac joint"),
                   ("hip_right", "right", None), ("hip_right", "right", None), ("hip_right", "right", None),
                   ("hip_left", "left", "ilium"), ("hip_left", "left", "ilium beside the sacroiliac joint"),
                   ("hip_left", "left", None), ("hip_left", "left", None), ("hip_left", "left", None)]
    for lesion in study.lesions:
        assert bool(lesion.warnings) == (lesion.sublocation is None)
        assert all("acetabulum unknown (no femur in the bone map)" in w for w in lesion.warnings)


@pytest.mark.parametrize("case", ["k_flipped_left_handed", "oblique"])
def test_without_a_femur_label_lesions_at_the_sacroiliac_joint_are_told(case):
    """The sacroiliac lesions lie near the lower bound of the upper ilium: the sacrum beside them tells them."""
    phantom = flat_phantom(case)
    bonemap = only(BoneMap(phantom.bones, phantom.bones.names), drop={"femur_left", "femur_right"})
    study = analyze(bonemap, phantom.lesions)
    sacroiliac = [lesion for lesion in study.lesions if "sacroiliac" in lesion.source["name"]]
    assert len(sacroiliac) == 2 and all(lesion.sublocation == "ilium beside the sacroiliac joint" for lesion in sacroiliac)
    pubis = [lesion for lesion in study.lesions if "pubic" in lesion.source["name"]]
    assert len(pubis) == 2 and all(lesion.sublocation is None and lesion.warnings for lesion in pubis)


def test_without_the_sacrum_the_ilium_there_is_ilium():
    phantom = flat_phantom("identity")
    study = analyze(only(BoneMap(phantom.bones, phantom.bones.names), drop={"sacrum"}), at(phantom, HIP[:2]))
    assert [lesion.sublocation for lesion in study.lesions] == ["ilium", "ilium"]


@pytest.mark.parametrize("case", ["identity", "ras_flipped", "off_centre", "rotated_patient"])
def test_a_hip_bone_that_is_not_whole_gets_no_sub_location(phantoms, case):
    """The schematic hip bone (an ellipsoid, the femur at its lower end: no ischium, no pubis) and the bundled sample's
    'L ilium': no sub-location, with a warning naming why."""
    phantom = phantoms(case)
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.lesions)
    ilium = next(lesion for lesion in study.lesions if lesion.source["name"] == "L ilium")
    assert (ilium.bone, ilium.side, ilium.sublocation) == ("hip_left", "left", None)
    assert any("not that of a whole hip bone" in w and "no ischium or pubis" in w for w in ilium.warnings)


@pytest.mark.parametrize("removed, names", [
    (lambda z: z < -160, ["R iliac wing", "R superior pubic ramus"]),  # the upper part only: the acetabulum near its bottom
    (lambda z: z > -115, ["R acetabulum", "R ischial tuberosity", "L superior pubic ramus"]),  # no iliac wing: near its top
], ids=["no ischium or pubis", "no iliac wing"])
def test_a_partly_segmented_hip_bone_gets_no_sub_location(removed, names):
    phantom = flat_phantom("identity")
    bonemap = BoneMap(phantom.bones, phantom.bones.names)
    x = phantom.pose.to_anatomical(to_ras(phantom.bones.affine, np.argwhere(phantom.bones.array >= 0)[:, ::-1]))
    hips = [v for v, n in bonemap.names.items() if n.startswith("hip_")]
    array = phantom.bones.array.copy()
    array[removed(x[:, 2]).reshape(array.shape) & np.isin(array, hips)] = 0
    cut = BoneMap(LabelMap(array, phantom.bones.affine, "partial", phantom.bones.names), phantom.bones.names)
    study = analyze(cut, at(phantom, names))
    assert [lesion.sublocation for lesion in study.lesions] == [None] * len(names)
    assert all(any("not that of a whole hip bone" in w for w in lesion.warnings) for lesion in study.lesions)


def test_a_hip_bone_cut_by_the_image_edge_gets_no_sub_location():
    phantom = flat_phantom("identity")
    study = analyze(crop(phantom, (-200, -110, -170), (200, 140, 650)), at(phantom, ["R iliac wing", "L acetabulum"]))
    assert [lesion.sublocation for lesion in study.lesions] == [None, None]
    assert all(any("cut by the edge of the image" in w for w in lesion.warnings) for lesion in study.lesions)


# ---- ribs ----------------------------------------------------------------------------------------

RIBS = [spec["name"] for spec in FLAT_LESIONS if " rib " in spec["name"]]


@pytest.mark.parametrize("case", ["identity", "oblique", "rotated_patient", "off_centre"])
def test_without_a_sternum_the_front_of_the_rib_cage_is_the_ribs(case):
    phantom = flat_phantom(case)
    study = analyze(only(BoneMap(phantom.bones, phantom.bones.names), drop={"sternum"}), at(phantom, RIBS))
    assert [found(lesion) for lesion in study.lesions] == answers(RIBS)


def test_a_rib_cut_by_the_image_edge_has_no_sub_location():
    """The field of view ends 30 mm below T6's centre: the sixth rib is cut, its arc cannot be measured."""
    phantom = flat_phantom("identity")
    low = _vertebra_z()["T6"][0] - 30
    study = analyze(crop(phantom, (-200, -110, low), (200, 140, 650)), at(phantom, ["R rib 6 lateral arc", "L rib 3 anterior arc"]))
    assert [found(lesion) for lesion in study.lesions] == [("rib_right_6", "right", None, None)] + answers(["L rib 3 anterior arc"])
    assert any("the rib is cut by the edge of the image" in w for w in study.lesions[0].warnings)


def test_a_rib_with_no_midline_has_no_sub_location():
    """One rib alone: no pair, no midline bone, so no midline to measure the angle from."""
    phantom = flat_phantom("identity")
    study = analyze(only(BoneMap(phantom.bones, phantom.bones.names), keep={"rib_left_6"}), at(phantom, ["L rib 6 lateral arc"]))
    lesion = study.lesions[0]
    assert (lesion.bone, lesion.side, lesion.sublocation) == ("rib_left_6", "left", None)
    assert any("no midline to measure the rib's angle" in w for w in lesion.warnings)


def test_the_rib_angle_runs_from_the_spine_to_the_sternum():
    phantom = flat_phantom("rotated_patient")
    bonemap = BoneMap(phantom.bones, phantom.bones.names)
    value = next(v for v, n in bonemap.names.items() if n == "rib_right_6")
    axes = sublocation.PatientAxes.of(bonemap.midline.normal, bonemap.midline.offset)
    rib = sublocation.Rib.from_runs(bonemap.bone_runs(value), axes, (bonemap.bone_runs(
        next(v for v, n in bonemap.names.items() if n == "sternum")).extent(axes.anterior)[1], "the sternum"), False)
    from CRMOAnalyzerLib.samples.phantom import _rib_point

    angles = [rib.angle(phantom.pose.to_ras(_rib_point("right", 6, t)[None])[0]) for t in (0.4, 1.0, np.pi / 2, 2.0, 2.45)]
    assert angles == sorted(angles) and angles[0] < 30 and 80 < angles[2] < 100 and angles[-1] > 130


# ---- scapula -------------------------------------------------------------------------------------

SCAPULA = ["R glenoid", "R coracoid", "R acromion", "R scapular body", "L glenoid", "L coracoid", "L acromion", "L scapular body"]


@pytest.mark.parametrize("case", ["identity", "oblique", "rotated_patient"])
def test_without_a_humerus_the_scapula_has_no_sub_location(case):
    phantom = flat_phantom(case)
    bonemap = only(BoneMap(phantom.bones, phantom.bones.names), drop={"humerus_left", "humerus_right"})
    study = analyze(bonemap, at(phantom, SCAPULA))
    assert [(lesion.bone, lesion.side, lesion.sublocation) for lesion in study.lesions] == \
        [(f"scapula_{side}", side, None) for side in ("right",) * 4 + ("left",) * 4]
    assert all(any("the glenoid cannot be found (no humerus in the bone map)" in w for w in lesion.warnings)
               for lesion in study.lesions)


@pytest.mark.parametrize("side", ["right", "left"])
def test_above_the_glenoid_only_the_part_lateral_to_it_is_the_acromion(side):
    """The superior angle of the blade also lies above the glenoid, but medial to it: body, not acromion."""
    phantom = flat_phantom("rotated_patient")
    bonemap = BoneMap(phantom.bones, phantom.bones.names)
    axes = sublocation.PatientAxes.of(bonemap.midline.normal, bonemap.midline.offset)
    value = next(v for v, n in bonemap.names.items() if n == f"scapula_{side}")
    humerus = bonemap.partners("humerus", side)
    scapula = sublocation.Scapula.from_runs(bonemap.bone_runs(value), axes, humerus, side)
    outward = axes.right if side == "right" else -axes.right
    above = scapula.glenoid + 25 * axes.superior
    assert scapula.locate(above - 20 * outward).sublocation == "body"
    assert scapula.locate(above + 5 * outward).sublocation == "acromion"
    assert scapula.locate(scapula.glenoid + 25 * axes.anterior).sublocation == "coracoid"
    assert scapula.locate(scapula.glenoid - 25 * axes.superior).sublocation == "body"


def test_a_scapula_away_from_the_humerus_has_no_sub_location(phantoms):
    """The schematic scapula (an ellipsoid on the back, 40 mm from the humerus): 'scapula', no part, a warning."""
    phantom = phantoms("identity")
    point = PointLesion("scapula", phantom.pose.to_ras(np.array([[-88.0, -62.0, 345.0]]))[0])
    lesion = analyze(BoneMap(phantom.bones, phantom.bones.names), [point]).lesions[0]
    assert (lesion.bone, lesion.side, lesion.sublocation) == ("scapula_left", "left", None)
    assert any("no humeral head within 20 mm" in w for w in lesion.warnings)


# ---- sternum -------------------------------------------------------------------------------------

def test_a_sternum_cut_by_the_image_edge_has_no_sub_location():
    phantom = flat_phantom("identity")
    study = analyze(crop(phantom, (-200, -110, -900), (200, 140, 300)), at(phantom, ["sternal body"]))
    assert study.lesions[0].sublocation is None
    assert any("the sternum is cut by the edge of the image" in w for w in study.lesions[0].warnings)


@pytest.mark.parametrize("z, where", [(358.0, "manubrium"), (322.0, "manubrium"), (314.0, "body"), (222.0, "body")])
def test_the_manubrium_is_the_upper_third_of_the_sternum(z, where):
    """The phantom's sternum runs from z 220 to 360: the manubrium is its upper 0.3 (above z 318)."""
    phantom = flat_phantom("oblique")
    point = PointLesion("sternum", phantom.pose.to_ras(np.array([[0.0, 76.0, z]]))[0])
    lesion = analyze(BoneMap(phantom.bones, phantom.bones.names), [point]).lesions[0]
    assert (lesion.bone, lesion.sublocation) == ("sternum", where)


# ---- mandible ------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["identity", "oblique", "rotated_patient"])
def test_a_mandible_without_rami_has_no_sub_location_beyond_the_symphysis(phantoms, case):
    """The schematic mandible (body only): the side is told, the part is not (no ramus to bound the body)."""
    phantom = phantoms(case)
    points = [PointLesion(name, phantom.pose.to_ras(np.array([xyz]))[0])
              for name, xyz in (("left body", (-30.0, 40.0, 467.0)), ("symphysis", (2.0, 68.0, 462.0)))]
    study = analyze(BoneMap(phantom.bones, phantom.bones.names), points)
    assert [(lesion.side, lesion.sublocation) for lesion in study.lesions] == [("left", None), (None, "symphysis")]
    assert any("no ramus rising from the back of the left body" in w for w in study.lesions[0].warnings)


def test_a_mandible_cut_by_the_image_edge_has_no_sub_location():
    phantom = flat_phantom("identity")
    study = analyze(crop(phantom, (-200, -110, -900), (200, 140, 490)), at(phantom, ["L mandibular body", "mandibular symphysis"]))
    assert [(lesion.side, lesion.sublocation) for lesion in study.lesions] == [("left", None), (None, "symphysis")]
    assert any("the mandible is cut by the edge of the image" in w for w in study.lesions[0].warnings)


def test_the_mandible_and_the_rib_with_no_midline_have_no_part():
    phantom = flat_phantom("identity")
    bonemap = BoneMap(phantom.bones, phantom.bones.names)
    no_midline = sublocation.PatientAxes.of(None)
    for name, frame in (("mandible", lambda runs: sublocation.Mandible.from_runs(runs, no_midline, False)),
                        ("rib_left_6", lambda runs: sublocation.Rib.from_runs(runs, no_midline, (80.0, "the sternum"), False))):
        value = next(v for v, n in bonemap.names.items() if n == name)
        assert frame(bonemap.bone_runs(value)).locate(np.zeros(3)).sublocation is None


def test_the_vocabulary_kinds_the_rules_need():
    vocabulary = bones()
    assert all(vocabulary[name].kind.value == "flat" for name in ("hip_left", "scapula_right", "sternum", "mandible",
                                                                   "rib_left_5"))
    assert _vertebra_z()["T1"][0] > 300
