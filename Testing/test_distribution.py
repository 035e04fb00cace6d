"""Distribution table and pattern, from hand-built studies whose answer is known."""

from __future__ import annotations

from conftest import make_lesion as L

from CRMOAnalyzerLib.model import ordered_lesions

from CRMOAnalyzerLib.reading.distribution import distribution
from CRMOAnalyzerLib.model import Study


def typical_study() -> Study:
    return Study(lesions=[
        L("L1", "femur_right", "right", "metaphysis", "distal", z=-500),
        L("L2", "femur_left", "left", "metaphysis", "distal", z=-500),
        L("L3", "tibia", "right", "metaphysis", "proximal", z=-560),
        L("L4", "tibia", "left", "metaphysis", "proximal", z=-560),
        L("L5", "tibia", "left", "metaphysis", "distal", z=-800),
        L("L6", "clavicula_right", "right", "medial", z=400),
        L("L7", "vertebrae_T8", None, "vertebral body", z=250),
    ])


def test_typical_pattern():
    dist = distribution(typical_study())
    assert dist.lesion_count == 7 and dist.assigned_count == 7
    assert dist.site_count == 6  # femur R, femur L, tibia R, tibia L, clavicle R, T8
    assert dist.multifocal and not dist.unifocal
    assert dist.bilateral and dist.bilateral_regions == ["lower_limb"]
    pairs = {(p["bone"], p["sublocation"], p["bone_end"]): (p["left"], p["right"]) for p in dist.symmetric_pairs}
    assert pairs == {("femur", "metaphysis", "distal"): (["L2"], ["L1"]), ("tibia", "metaphysis", "proximal"): (["L4"], ["L3"])}
    assert dist.typical_sites == {"long_bone_metaphysis": ["L1", "L2", "L3", "L4", "L5"], "medial_clavicle": ["L6"],
                                  "vertebral_body": ["L7"]}
    assert dist.pattern == "consistent" and dist.reasons == []
    lower = next(r for r in dist.regions if r["region"] == "lower_limb")
    assert (lower["left"], lower["right"], lower["total"]) == (3, 2, 5)
    tibia = next(b for b in lower["bones"] if b["bone"] == "tibia")
    assert (tibia["left"], tibia["right"]) == (2, 1)
    spine = next(r for r in dist.regions if r["region"] == "spine_thoracic")
    assert spine["midline"] == 1 and spine["left"] == spine["right"] == 0


def test_regions_are_listed_head_to_toe():
    dist = distribution(typical_study())
    assert [r["region"] for r in dist.regions] == ["clavicle", "spine_thoracic", "lower_limb"]
    assert [l.id for l in ordered_lesions(typical_study().lesions)] == ["L6", "L7", "L1", "L2", "L3", "L4", "L5"]


def test_solitary_lesion_outside_clavicle_is_atypical():
    dist = distribution(Study(lesions=[L("L1", "femur_left", "left", "metaphysis", "distal")]))
    assert dist.unifocal and not dist.multifocal
    assert dist.pattern == "atypical"
    assert any("solitary lesion outside the clavicle" in r for r in dist.reasons)


def test_solitary_clavicle_is_consistent():
    dist = distribution(Study(lesions=[L("L1", "clavicula_left", "left", "medial")]))
    assert dist.unifocal and dist.pattern == "consistent"


def test_two_lesions_in_one_bone_are_unifocal():
    dist = distribution(Study(lesions=[L("L1", "tibia", "left", "metaphysis", "proximal"),
                                       L("L2", "tibia", "left", "metaphysis", "distal")]))
    assert dist.unifocal and not dist.multifocal and dist.site_count == 1


def test_diaphyseal_only_long_bone_disease_is_atypical():
    dist = distribution(Study(lesions=[L("L1", "femur_left", "left", "diaphysis"), L("L2", "femur_right", "right", "diaphysis")]))
    assert dist.multifocal and dist.symmetric and dist.pattern == "atypical"
    assert any("diaphyses" in r for r in dist.reasons)
    assert any("no lesion at a typical CRMO site" in r for r in dist.reasons)


def test_asymmetric_bilateral_is_not_symmetric():
    dist = distribution(Study(lesions=[L("L1", "femur_left", "left", "metaphysis", "distal"),
                                       L("L2", "femur_right", "right", "metaphysis", "proximal")]))
    assert dist.bilateral and not dist.symmetric


def test_unassigned_lesions_are_counted_but_not_tabulated():
    study = Study(lesions=[L("L1", "unassigned", volume_mm3=None), L("L2", "sternum")])
    dist = distribution(study)
    assert dist.lesion_count == 2 and dist.assigned_count == 1
    assert [r["region"] for r in dist.regions] == ["sternum"]


def test_empty_study():
    dist = distribution(Study())
    assert dist.lesion_count == 0 and dist.pattern == "none"


def test_unknown_side_is_never_merged_with_either_bone():
    """Two proximal tibial lesions, one per leg, whose side could not be told: not 'unifocal', not 'solitary'."""
    dist = distribution(Study(lesions=[L("L1", "tibia", None, "metaphysis", "proximal"),
                                       L("L2", "tibia", None, "metaphysis", "proximal")]))
    assert not dist.unifocal and not dist.multifocal and dist.focality == "unknown"
    assert dist.side_unknown == ["L1", "L2"] and dist.site_count == 1
    assert not any("solitary" in r for r in dist.reasons)
    lower = dist.regions[0]
    assert (lower["left"], lower["right"], lower["midline"], lower["unknown"]) == (0, 0, 0, 2)
    assert lower["bones"][0]["unknown"] == 2 and lower["bones"][0]["midline"] == 0
    assert dist.symmetric_pairs == []


def test_unknown_side_beside_a_known_side_of_the_same_bone():
    dist = distribution(Study(lesions=[L("L1", "tibia", "left", "metaphysis", "proximal"),
                                       L("L2", "tibia", None, "metaphysis", "proximal")]))
    assert not dist.unifocal and not dist.multifocal and dist.focality == "unknown" and dist.side_unknown == ["L2"]
    assert not any("solitary" in r for r in dist.reasons)


def test_unknown_side_in_another_bone_is_multifocal():
    dist = distribution(Study(lesions=[L("L1", "femur_left", "left", "metaphysis", "distal"),
                                       L("L2", "tibia", None, "metaphysis", "proximal")]))
    assert dist.multifocal and dist.focality == "multifocal" and dist.site_count == 2


def test_one_lesion_of_unknown_side_is_still_one_lesion():
    dist = distribution(Study(lesions=[L("L1", "tibia", None, "metaphysis", "proximal")]))
    assert dist.unifocal and dist.focality == "unifocal" and dist.side_unknown == ["L1"]


def test_midline_bone_lesions_are_one_site():
    dist = distribution(Study(lesions=[L("L1", "vertebrae_T8", None, "vertebral body"), L("L2", "vertebrae_T8", None, "posterior elements")]))
    assert dist.unifocal and dist.side_unknown == [] and dist.regions[0]["midline"] == 2
