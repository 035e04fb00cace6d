"""Sub-locations travel in FHIR and DICOM SR with their SNOMED CT concept where one is verified and exact, and with
the local code otherwise (sublocation.json "codes")."""

from __future__ import annotations

import json

from conftest import SAMPLE
from studybuilder import lesion, study

from CRMOAnalyzerLib.exports.common import sublocation_concept
from CRMOAnalyzerLib.exports.dicom_series import read_series
from CRMOAnalyzerLib.exports.dicom_sr import measurement_report
from CRMOAnalyzerLib.exports.fhir import bundle_json


def exam():
    return study(lesion("L1", "hip_left", "left", sublocation="ilium"),
                 lesion("L2", "sternum", sublocation="manubrium"),
                 lesion("L3", "hip_right", "right", sublocation="ilium beside the sacroiliac joint"),
                 lesion("L4", "femur_left", "left", sublocation="metaphysis", bone_end="distal"),
                 lesion("L5", "tibia", "right", sublocation="diaphysis"),
                 lesion("L6", "fibula", "left", sublocation="diaphysis"))


def test_only_verified_exact_concepts_are_given():
    concepts = {l.id: sublocation_concept(l) for l in exam().lesions}
    assert concepts["L1"] == {"scheme": "SCT", "code": "22356005", "meaning": concepts["L1"]["meaning"]}
    assert concepts["L2"]["code"] == "37285002"
    assert concepts["L3"] is None  # the ilium's code plus a phrase is not the sub-location's own concept
    assert concepts["L4"] is None  # no verified code for a metaphysis: the local code says it
    assert concepts["L5"] == {"scheme": "SCT", "code": "52687003", "meaning": "Shaft of Tibia"}
    assert concepts["L6"] is None  # no verified code for the shaft of the fibula


def _sublocation_values(bundle: dict) -> dict[str, list[tuple[str, str]]]:
    out = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for component in resource.get("component", []):
            if component["code"]["coding"][0]["code"] == "SUBLOCATION" or "ub-location" in component["code"].get("text", ""):
                out[resource["id"] if "id" in resource else entry["fullUrl"]] = [
                    (c["system"], c["code"]) for c in component["valueCodeableConcept"]["coding"]]
    return out


def test_fhir_gives_the_snomed_coding_beside_the_local_one():
    bundle = json.loads(bundle_json(exam()))
    values = sorted(_sublocation_values(bundle).values())
    snomed = [v for v in values if v[0][0] == "http://snomed.info/sct"]
    assert sorted(v[0][1] for v in snomed) == ["22356005", "37285002", "52687003"] and all(len(v) == 2 for v in snomed)
    assert sum(1 for v in values if len(v) == 1) == 3  # the phrase-only, the metaphysis, the fibula: local code alone


def test_dicom_sr_codes_the_sublocation_in_snomed_where_verified():
    sr = measurement_report(exam(), read_series(SAMPLE / "dicom"))
    values = []
    for item in sr.ContentSequence:
        for group in getattr(item, "ContentSequence", []):
            for element in getattr(group, "ContentSequence", []):
                if element.ValueType == "CODE" and "location" in element.ConceptNameCodeSequence[0].CodeMeaning.lower():
                    code = element.ConceptCodeSequence[0]
                    values.append((code.CodingSchemeDesignator, code.CodeValue))
    assert ("SCT", "22356005") in values and ("SCT", "37285002") in values and ("SCT", "52687003") in values
    assert len([v for v in values if v[0] != "SCT"]) == 3, values
