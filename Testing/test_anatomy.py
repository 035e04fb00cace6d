"""The bone vocabulary covers TotalSegmentator's bone classes with Slicer's SNOMED CT codes."""

from __future__ import annotations

import pytest

from CRMOAnalyzerLib.anatomy import LATERALITY_CODES, bones, find_bone, regions, totalsegmentator_ids
from CRMOAnalyzerLib.errors import CRMOInputError

LEVELS_DOWN = ["L5", "L4", "L3", "L2", "L1"] + [f"T{n}" for n in range(12, 0, -1)] + [f"C{n}" for n in range(7, 0, -1)]


def test_total_task_ids_match_totalsegmentator():
    ids = totalsegmentator_ids("total")
    assert ids[25] == "sacrum" and ids[26] == "vertebrae_S1"
    assert [ids[27 + n] for n in range(24)] == [f"vertebrae_{level}" for level in LEVELS_DOWN]
    assert ids[69] == "humerus_left" and ids[74] == "clavicula_right" and ids[78] == "hip_right"
    assert ids[91] == "skull" and ids[116] == "sternum"
    assert [ids[91 + n] for n in range(1, 13)] == [f"rib_left_{n}" for n in range(1, 13)]
    assert [ids[103 + n] for n in range(1, 13)] == [f"rib_right_{n}" for n in range(1, 13)]
    assert 5 not in ids  # liver and other organs are not bones


@pytest.mark.parametrize("task, expected", [
    ("total_mr", {18: "sacrum", 19: "vertebrae", 30: "humerus_left", 35: "clavicula_right", 36: "femur_left", 39: "hip_right"}),
    ("vertebrae_mr", {1: "sacrum", 2: "vertebrae_L5", 7: "vertebrae_T12", 18: "vertebrae_T1", 19: "vertebrae_C7", 25: "vertebrae_C1"}),
    ("appendicular_bones", {1: "patella", 2: "tibia", 3: "fibula", 6: "phalanges_feet", 8: "radius", 11: "phalanges_hand"}),
])
def test_other_tasks(task, expected):
    ids = totalsegmentator_ids(task)
    for value, name in expected.items():
        assert ids[value] == name


def test_every_task_class_is_in_the_vocabulary():
    vocabulary = bones()
    for task in ("total", "total_mr", "vertebrae_mr", "appendicular_bones"):
        for name in totalsegmentator_ids(task).values():
            assert name in vocabulary, (task, name)


def test_unknown_task_is_a_clear_error():
    with pytest.raises(CRMOInputError, match="unknown TotalSegmentator task"):
        totalsegmentator_ids("total_v9")


@pytest.mark.parametrize("name, code, meaning, region, kind, side", [
    ("femur_left", "71341001", "Femur", "lower_limb", "long", "left"),
    ("clavicula_right", "51299004", "Clavicle", "clavicle", "clavicle", "right"),
    ("vertebrae_T7", "62487009", "T7 vertebra", "spine_thoracic", "vertebra", None),
    ("vertebrae_L2", "14293000", "L2 vertebra", "spine_lumbar", "vertebra", None),
    ("vertebrae_C3", "113205007", "C3 vertebra", "spine_cervical", "vertebra", None),
    ("rib_left_1", "48535007", "First rib", "ribs", "flat", "left"),
    ("hip_right", "29836001", "Hip", "pelvis", "flat", "right"),
    ("sacrum", "54735007", "Sacrum", "pelvis", "flat", None),
    ("sternum", "56873002", "Sternum", "sternum", "flat", None),
    ("tibia", "12611008", "Tibia", "lower_limb", "long", None),
    ("fibula", "87342007", "Fibula", "lower_limb", "long", None),
    ("mandible", "91609006", "Mandible", "mandible", "flat", None),
    ("skull", "89546000", "Skull", "skull", "flat", None),
    ("metatarsal", "53884002", "Metatarsal", "feet", "short", None),
    ("carpal", "83936004", "Carpus", "hands", "short", None),
])
def test_codes_regions_kinds(name, code, meaning, region, kind, side):
    bone = bones()[name]
    assert (bone.code, bone.meaning, bone.region, bone.kind.value) == (code, meaning, region, kind)
    assert (bone.side.value if bone.side else None) == side


def test_paired_and_midline():
    vocabulary = bones()
    assert vocabulary["tibia"].paired and vocabulary["tibia"].side is None
    assert vocabulary["sternum"].midline and vocabulary["vertebrae_T8"].midline and vocabulary["mandible"].midline
    assert not vocabulary["femur_left"].midline
    assert vocabulary["rib_left_5"].base == "rib_5" and vocabulary["femur_right"].base == "femur"


@pytest.mark.parametrize("text, name", [
    ("femur_left", "femur_left"), ("Left femur", "femur_left"), ("FEMUR L", "femur_left"), ("femur-right", "femur_right"),
    ("rib 5 left", "rib_left_5"), ("left fifth rib", "rib_left_5"), ("Right 12th rib", "rib_right_12"),
    ("T7", "vertebrae_T7"), ("T7 vertebra", "vertebrae_T7"), ("vertebrae_L4", "vertebrae_L4"),
    ("Right clavicle", "clavicula_right"), ("lower_jawbone", "mandible"), ("hip bone right", "hip_right"),
    ("Tibia", "tibia"), ("sternum", "sternum"),
])
def test_find_bone_accepts_slicer_names(text, name):
    assert find_bone(text).name == name


@pytest.mark.parametrize("text, name, side", [
    ("Left tibia", "tibia", "left"), ("tibia_left", "tibia", "left"), ("RIGHT FIBULA", "fibula", "right"),
    ("rib 5 left", "rib_left_5", "left"), ("Right tarsal bones", "tarsal", "right"), ("left radius", "radius", "left"),
    ("Right femur", "femur_right", "right"), ("Tibia", "tibia", None), ("tarsal bones", "tarsal", None),
    ("patella R", "patella", "right"), ("humerus lt", "humerus_left", "left"),
])
def test_a_side_in_the_name_is_kept(text, name, side):
    bone = find_bone(text)
    assert (bone.name, bone.side.value if bone.side else None) == (name, side)
    assert bone.code == bones()[name].code and bone.paired


@pytest.mark.parametrize("text", ["liver", "left sternum", "spinal_cord", "", "femur_middle_x"])
def test_find_bone_rejects_non_bones(text):
    assert find_bone(text) is None


def test_regions_head_to_toe_and_laterality_codes():
    ids = [r["id"] for r in regions()]
    assert ids.index("skull") < ids.index("spine_cervical") < ids.index("spine_thoracic") < ids.index("pelvis") < ids.index("feet")
    assert LATERALITY_CODES["left"]["code"] == "7771000" and LATERALITY_CODES["right"]["code"] == "24028007"
