"""FHIR R4B Bundle: parsed back with fhir.resources, codes and values checked."""

from __future__ import annotations

import base64
import json

import pytest
from fhir.resources.R4B.bundle import Bundle

from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.exports import report_sections
from CRMOAnalyzerLib.exports.fhir import bundle_json, check_bundle, diagnostic_bundle
from CRMOAnalyzerLib.model import Study
from test_export_hl7 import NASTY, make_study


def resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_bundle_parses_and_carries_the_report():
    study = make_study(NASTY)
    study.lesions[0].findings.update(marrow_edema=True, character="lytic")
    text = bundle_json(study, status="final")
    parsed = Bundle.model_validate_json(text)
    assert parsed.type == "collection" and len(parsed.entry) == 3 + 7  # report, patient, lesion; 6 scores, red flags
    bundle = json.loads(text)
    report = resources(bundle, "DiagnosticReport")[0]
    assert report["status"] == "final"
    assert report["category"][0]["coding"][0]["code"] == "RAD"
    assert report["code"]["coding"][0] == {"system": "http://loinc.org", "code": "18748-4", "display": "Diagnostic imaging study"}
    assert report["identifier"][0]["value"] == "A123"
    sections = report_sections(study)
    assert base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8") == sections.text
    assert report["conclusion"] == sections.conclusion and report["conclusion"].startswith("Distribution")
    observation = resources(bundle, "Observation")[0]
    assert report["result"][0]["reference"] == bundle["entry"][2]["fullUrl"]
    assert observation["bodySite"]["coding"][0]["code"] == "71341001"
    laterality = observation["bodySite"]["extension"][0]
    assert laterality["url"].endswith("mcode-laterality-qualifier")
    assert laterality["valueCodeableConcept"]["coding"][0]["code"] == "7771000"
    components = {c["code"]["coding"][0]["code"]: c for c in observation["component"]}
    assert components["118565006"]["valueQuantity"] == {"value": 1200.0, "unit": "mm3", "system": "http://unitsofmeasure.org", "code": "mm3"}
    assert components["SUBLOC"]["valueCodeableConcept"]["coding"][0]["code"] == "metaphysis"
    assert components["106233006"]["valueCodeableConcept"]["coding"][0]["code"] == "46053002"
    assert components["marrow_edema"]["valueBoolean"] is True
    assert NASTY.split("🦴")[0].strip() in components["note"]["valueString"]
    patient = resources(bundle, "Patient")[0]
    assert patient["name"][0] == {"text": "Jane Doe", "family": "Doe", "given": ["Jane"]} and patient["gender"] == "female"


def test_no_patient_data_and_unassigned_lesion():
    study = make_study()
    study.patient = {}
    study.lesions[0].override(bone="unassigned")
    bundle = diagnostic_bundle(study)
    assert not resources(bundle, "Patient") and "subject" not in resources(bundle, "DiagnosticReport")[0]
    site = resources(bundle, "Observation")[0]["bodySite"]
    assert "coding" not in site and site["text"].startswith("Unassigned")


def test_status_is_checked_against_the_r4_value_set():
    with pytest.raises(CRMOInputError, match="not a DiagnosticReport status"):
        diagnostic_bundle(make_study(), status="bogus")
    bundle = diagnostic_bundle(make_study())
    resources(bundle, "Observation")[0]["status"] = "bogus"   # fhir.resources itself accepts this
    with pytest.raises(CRMOInputError, match="not in the R4 value set"):
        check_bundle(bundle)


def test_empty_study_is_valid():
    bundle = diagnostic_bundle(Study())
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["DiagnosticReport"] + ["Observation"] * 7
    assert all(r["interpretation"][0]["text"] == "partial" for r in resources(bundle, "Observation")[:6])  # not assessed
