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
    assert parsed.type == "collection" and len(parsed.entry) == 3 + 8  # report, patient, lesion; 6 scores, flags, support
    bundle = json.loads(text)
    report = resources(bundle, "DiagnosticReport")[0]
    assert report["status"] == "final"
    assert report["category"][0]["coding"][0]["code"] == "RAD"
    assert report["code"]["coding"][0] == {"system": "http://loinc.org", "code": "18748-4", "display": "Diagnostic imaging study"}
    assert report["identifier"][0]["value"] == "A123"
    sections = report_sections(study)
    signed = base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8")
    assert signed == sections.text[:sections.text.index("\nDECISION SUPPORT")].rstrip("\n")  # what the radiologist signs
    support = next(e["resource"] for e in bundle["entry"]
                   if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "DECSUPPORT")
    assert support["valueString"] == sections.decision_support and support["valueString"].startswith("DECISION SUPPORT")
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
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["DiagnosticReport"] + ["Observation"] * 8
    assert all(r["interpretation"][0]["text"] == "partial" for r in resources(bundle, "Observation")[:6])  # not assessed


def observation_by_code(bundle: dict) -> dict[str, dict]:
    return {r["code"]["coding"][0]["code"]: r for r in resources(bundle, "Observation")}


def test_scores_and_red_flags_parse_back_with_their_values():
    from test_export_hl7 import known_study

    parsed = Bundle.model_validate_json(bundle_json(known_study(), status="final"))
    observations = {e.resource.code.coding[0].code: e.resource for e in parsed.entry
                    if e.resource.get_resource_type() == "Observation" and e.resource.category[0].coding[0].code == "survey"}
    assert set(observations) == {"ANDRONIKOU", "JANSSON", "BRISTOL", "EULARACR2025", "RAICROMRIS", "RINBO", "REDFLAGS",
                                 "DECSUPPORT"}
    jansson = observations["JANSSON"]
    assert (float(jansson.valueQuantity.value), jansson.valueQuantity.code) == (63.0, "{points}")
    assert jansson.code.coding[0].system == "urn:crmo-analyzer:codes" and "local code" in jansson.code.coding[0].display
    assert jansson.interpretation is None and jansson.status == "final"
    assert any(n.text.startswith("Source: ") and "points as cited" in n.text for n in jansson.note)
    cromris = observations["RAICROMRIS"]
    assert float(cromris.valueQuantity.value) == 0 and cromris.interpretation[0].text == "partial"
    assert any("bone marrow hyperintensity not recorded" in n.text for n in cromris.note)
    assert observations["BRISTOL"].valueString.startswith("imaging supports criterion 1")
    flags = {c.code.coding[0].code: c for c in observations["REDFLAGS"].component}
    assert flags["solitary_non_clavicular"].valueBoolean is False
    assert flags["ldh_raised"].valueBoolean is None and flags["ldh_raised"].dataAbsentReason.coding[0].code == "unknown"
    report = next(e.resource for e in parsed.entry if e.resource.get_resource_type() == "DiagnosticReport")
    urls = {e.fullUrl: e.resource for e in parsed.entry}
    assert {urls[r.reference].code.coding[0].code for r in report.result} >= set(observations)


def test_partial_score_says_partial_and_lists_missing_items():
    from test_export_hl7 import known_study

    jansson = observation_by_code(diagnostic_bundle(known_study(clinical=False)))["JANSSON"]
    assert jansson["valueQuantity"]["value"] == 35 and jansson["interpretation"] == [{"text": "partial"}]
    partial = [n["text"] for n in jansson["note"] if n["text"].startswith("PARTIAL")]
    assert len(partial) == 1 and "normal blood cell count" in partial[0]


def test_red_flags_note_cites_the_literature_of_the_flags_found():
    from test_export_hl7 import crp_flag_study

    flags = observation_by_code(diagnostic_bundle(crp_flag_study()))["REDFLAGS"]
    sources = [n["text"] for n in flags["note"] if n["text"].startswith("Source: ")]
    assert len(sources) == 1 and sources[0].startswith("Source: Roderick MR, Shah R")
    assert "red_flags.json" not in json.dumps(flags) and "CRMO Analyzer reference notes" not in sources[0]
