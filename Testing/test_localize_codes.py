"""SNOMED CT codes of the sub-locations of flat bones, long bones and the clavicle: verified concepts where the data
lists one, else the bone's code and the phrase; every sub-location the rules give has an entry, and every listed code is
the DICOM concept it names."""

from __future__ import annotations

import pytest
from conftest import need

from CRMOAnalyzerLib.anatomy import bones
from CRMOAnalyzerLib.localization import sublocation
from CRMOAnalyzerLib.samples.phantom import FLAT_LESIONS

#: the sub-locations each rule can give (sublocation.py), for the bones the code table covers (vertebrae are not)
LONG = {"epiphysis", "metaphysis", "diaphysis"}
GIVEN = {"hip": {"ilium", "ilium beside the sacroiliac joint", "ischium", "pubis", "acetabulum"},
         "scapula": {"glenoid", "acromion", "coracoid", "body"}, "sternum": {"manubrium", "body"},
         "mandible": {"symphysis", "body", "ramus", "condyle"}, "sacrum": {"ala", "body"},
         "rib": {"posterior arc", "lateral arc", "anterior arc"},
         **{bone: LONG for bone in ("humerus", "radius", "ulna", "femur", "tibia", "fibula")},
         "clavicula": {"medial", "middle", "lateral"}}

#: the DICOM concept (pydicom keyword) each verified entry names in its source
KEYWORDS = {("hip", "ilium"): "Ilium", ("hip", "ilium beside the sacroiliac joint"): "Ilium",
            ("hip", "ischium"): "Ischium", ("hip", "acetabulum"): "Acetabulum",
            ("scapula", "glenoid"): "GlenoidCavityOfScapula", ("scapula", "acromion"): "AcromionProcessOfScapula",
            ("scapula", "coracoid"): "CoracoidProcessOfScapula", ("sternum", "manubrium"): "ManubriumOfSternum",
            ("sternum", "body"): "BodyOfSternum", ("humerus", "diaphysis"): "ShaftOfHumerus",
            ("radius", "diaphysis"): "ShaftOfRadius", ("ulna", "diaphysis"): "ShaftOfUlna",
            ("femur", "diaphysis"): "ShaftOfFemur", ("tibia", "diaphysis"): "ShaftOfTibia"}


def test_every_flat_bone_sub_location_has_an_entry():
    table = sublocation.rules()["codes"]["by_bone"]
    assert {base: set(values) for base, values in table.items()} == GIVEN
    for spec in FLAT_LESIONS:
        base = bones()[spec["bone"]].base
        assert spec["sublocation"] in GIVEN["rib" if base.startswith("rib") else base], spec["name"]


def test_every_listed_code_is_the_dicom_concept_it_names():
    """The codes were taken from DICOM PS3.16 as pydicom encodes it: checked against it here, so a typo fails."""
    need("pydicom", "the DICOM concept dictionary the codes were verified in")
    from pydicom.sr._concepts_dict import concepts

    meanings: dict[str, set] = {}
    for entry in concepts["SCT"].values():
        for code, (meaning, _) in entry.items():
            meanings.setdefault(code, set()).add(meaning)
    listed = {(base, where): entry for base, parts in sublocation.rules()["codes"]["by_bone"].items()
              for where, entry in parts.items() if entry}
    assert set(listed) == set(KEYWORDS)
    for key, entry in listed.items():
        assert entry["meaning"] in meanings.get(entry["code"], set()), entry
        assert "DICOM PS3.16" in entry["source"]
        assert concepts["SCT"][KEYWORDS[key]][entry["code"]][0] == entry["meaning"], (key, entry)
    for key in [key for key in KEYWORDS if key[0] in {"humerus", "radius", "ulna", "femur", "tibia"}]:
        assert f"(keyword {KEYWORDS[key]})" in listed[key]["source"], key  # the shafts name the concept they took


def test_a_long_bone_shaft_is_its_own_bone_shaft():
    """The diaphysis's concept is the shaft of that very bone (a generic or another bone's shaft would be wrong)."""
    table = sublocation.rules()["codes"]["by_bone"]
    for bone in ("humerus", "radius", "ulna", "femur", "tibia"):
        assert table[bone]["diaphysis"]["meaning"].lower() == f"shaft of {bone}"
        assert table[bone]["epiphysis"] is None and table[bone]["metaphysis"] is None
    assert all(entry is None for entry in table["fibula"].values())
    assert all(entry is None for entry in table["clavicula"].values())


@pytest.mark.parametrize("bone, where, code, phrase", [
    ("hip_left", "acetabulum", "37783008", None),
    ("hip_right", "ilium beside the sacroiliac joint", "22356005", "beside the sacroiliac joint"),
    ("scapula_right", "coracoid", "8931003", None),
    ("sternum", "manubrium", "37285002", None),
    ("sternum", "body", "52509009", None),
    ("femur_left", "diaphysis", "41111004", None),
    ("humerus_right", "diaphysis", "20760004", None),
    ("radius", "diaphysis", "47728000", None),
    ("ulna", "diaphysis", "21133008", None),
    ("tibia", "diaphysis", "52687003", None),
])
def test_a_verified_code_replaces_the_bone_code(bone, where, code, phrase):
    known = bones()[bone]
    found = sublocation.sublocation_code(known.base, where, known.finding_site)
    assert (found["scheme"], found["code"], found["phrase"], found["verified"]) == ("SCT", code, phrase, True)


@pytest.mark.parametrize("bone, where", [("mandible", "ramus"), ("mandible", "symphysis"), ("sacrum", "ala"),
                                         ("rib_left_5", "anterior arc"), ("hip_left", "pubis"), ("scapula_left", "body"),
                                         ("femur_left", "metaphysis"), ("femur_left", "epiphysis"),
                                         ("humerus_right", "metaphysis"), ("fibula", "diaphysis"),
                                         ("clavicula_left", "medial"), ("vertebrae_L1", "vertebral body"),
                                         ("vertebrae_T7", "posterior elements")])
def test_without_a_verified_code_the_bone_code_and_the_phrase(bone, where):
    known = bones()[bone]
    found = sublocation.sublocation_code(known.base, where, known.finding_site)
    assert (found["code"], found["meaning"], found["phrase"], found["verified"]) == \
        (known.code, known.meaning, where, False)


def test_no_sub_location_no_code():
    assert sublocation.sublocation_code("sternum", None, bones()["sternum"].finding_site) is None
    assert sublocation.sublocation_code("mandible", "body", None) is None
