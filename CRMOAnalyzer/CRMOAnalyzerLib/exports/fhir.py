"""FHIR R4 (``fhir.resources.R4B`` models) Bundle of a study: DiagnosticReport + one Observation per lesion.

- DiagnosticReport: category RAD (v2-0074), code LOINC 18748-4, accession identifier (type ACSN),
  ``conclusion`` = the impression, ``presentedForm`` = the whole report text (text/plain, UTF-8).
- Observation per lesion: code SNOMED CT 52988006 Lesion; ``bodySite`` = the bone's SNOMED CT code with
  the laterality as an mCODE laterality-qualifier extension; components: sub-location, bone end, volume
  (UCUM mm3) and the reader's findings.
- Observation per score or criterion (category survey, local code, ``valueQuantity`` in ``{points}`` or
  ``valueString``; a partial result has the interpretation text "partial" and a note listing the missing
  items), one for the red flags (a component per flag: ``valueBoolean``, or ``dataAbsentReason`` when not
  assessed) and, with a comparison, one for the follow-up (a component per lesion change and the
  RAI-CROMRIS change); all referenced from ``DiagnosticReport.result``.
- Patient, when the study has patient data.

fhir.resources validates structure only, not code bindings: :func:`check_bundle` checks the status
codes against the R4 value sets itself. Codes: ``resources/exports/codes.json``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import uuid
from typing import Any

from ..errors import CRMOInputError
from ..model import Lesion, Study
from ..reading.read import Reading, as_reading
from ..reading.report import finding_lines, site_phrase
from .common import StructuredResult, change_code, clean_text, export_config, local_code, report_sections, structured_results, \
    sublocation_concept

__all__ = ["diagnostic_bundle", "bundle_json", "check_bundle"]

_GENDER = {"F": "female", "M": "male", "O": "other"}


def _codes() -> dict[str, Any]:
    return export_config("codes")


def _coding(code: dict[str, str]) -> dict[str, str]:
    systems = {"SCT": _codes()["fhir"]["snomed"], "LN": _codes()["fhir"]["loinc"], "UCUM": _codes()["fhir"]["ucum"]}
    system = systems.get(code["scheme"], _codes()["local"]["fhir_system"])
    return {"system": system, "code": code["code"], "display": code["meaning"]}


def _local(code: str, meaning: str) -> dict[str, Any]:
    return {"coding": [{"system": _codes()["local"]["fhir_system"], "code": code, "display": meaning}], "text": meaning}


def _uuid(seed: str, namespace: uuid.UUID) -> str:
    return f"urn:uuid:{uuid.uuid5(namespace, seed)}"


def _components(lesion: Lesion) -> list[dict[str, Any]]:
    codes = _codes()
    local = codes["local"]
    components: list[dict[str, Any]] = []
    if lesion.sublocation:
        meaning = local["sublocations"].get(lesion.sublocation, lesion.sublocation)
        value = _local(lesion.sublocation.replace(" ", "_"), meaning)
        concept = sublocation_concept(lesion)
        if concept is not None:  # the same sub-location in SNOMED CT too, where a verified exact concept exists
            value["coding"].insert(0, _coding(concept))
        components.append({"code": _local(local["sublocation"]["code"], local["sublocation"]["meaning"]),
                           "valueCodeableConcept": value})
    if lesion.bone_end in codes["bone_end"]:
        components.append({"code": {"coding": [_coding({"scheme": "SCT", "code": "106233006", "meaning": "Topographical modifier"})]},
                           "valueCodeableConcept": {"coding": [_coding(codes["bone_end"][lesion.bone_end])]}})
    if lesion.volume_mm3 is not None:
        components.append({"code": {"coding": [_coding(codes["volume"])]},
                           "valueQuantity": {"value": round(float(lesion.volume_mm3), 3), "unit": "mm3",
                                             "system": codes["fhir"]["ucum"], "code": "mm3"}})
    for key, value in (lesion.findings or {}).items():
        name = local["findings"].get(key)
        if name is None or value is None or value == "":
            continue
        component: dict[str, Any] = {"code": _local(key, name)}
        if isinstance(value, bool):
            component["valueBoolean"] = value
        elif key == "character" and value in local["characters"]:
            component["valueCodeableConcept"] = _local(str(value), local["characters"][value])
        else:
            component["valueString"] = clean_text(str(value))
        components.append(component)
    return components


def _observation(lesion: Lesion, status: str, subject: dict | None, effective: str | None,
                 finding: str = "") -> dict[str, Any]:
    """One lesion's Observation: identifier the lesion id; the first note its findings line as the report writes it,
    with its label ("#3 Left femur, ..."), then its warnings."""
    codes = _codes()
    fhir = codes["fhir"]
    resource: dict[str, Any] = {
        "resourceType": "Observation", "status": status,
        "identifier": [{"system": "urn:crmo-analyzer:lesion", "value": clean_text(lesion.id)}],
        "category": [{"coding": [{"system": fhir["observation_category"], "code": "imaging", "display": "Imaging"}]}],
        "code": {"coding": [_coding(codes["lesion"])], "text": "Lesion"},
    }
    if subject:
        resource["subject"] = subject
    if effective:
        resource["effectiveDateTime"] = effective
    if lesion.assigned and lesion.finding_site:
        site: dict[str, Any] = {"coding": [_coding(lesion.finding_site)], "text": site_phrase(lesion)}
        if lesion.laterality:
            site["extension"] = [{"url": fhir["laterality_extension"],
                                  "valueCodeableConcept": {"coding": [_coding(lesion.laterality)]}}]
        resource["bodySite"] = site
    else:
        resource["bodySite"] = {"text": site_phrase(lesion)}
    components = _components(lesion)
    if components:
        resource["component"] = components
    notes = [clean_text(w) for w in [finding, *lesion.warnings] if str(w).strip()]
    if notes:
        resource["note"] = [{"text": n} for n in notes]
    return resource


def _base(code: dict[str, str], text: str, status: str, subject: dict | None, effective: str | None) -> dict[str, Any]:
    """An Observation of category survey with a (local) code."""
    fhir = _codes()["fhir"]
    resource: dict[str, Any] = {
        "resourceType": "Observation", "status": status,
        "category": [{"coding": [{"system": fhir["observation_category"], **fhir["survey_category"]}]}],
        "code": {"coding": [_coding(code)], "text": text}}
    if subject:
        resource["subject"] = subject
    if effective:
        resource["effectiveDateTime"] = effective
    return resource


def _quantity(value: float, unit_key: str) -> dict[str, Any]:
    unit = _codes()[unit_key]
    return {"value": round(float(value), 6), "unit": unit["meaning"], "system": _codes()["fhir"]["ucum"], "code": unit["code"]}


def _score_observation(result: StructuredResult, status: str, subject: dict | None, effective: str | None) -> dict[str, Any]:
    """A score or criterion: its number (``{points}``) or its statement, and "partial" with the missing items."""
    resource = _base(result.code, result.name, status, subject, effective)
    if result.value is not None:
        resource["valueQuantity"] = _quantity(result.value, "points_unit")
    else:
        resource["valueString"] = result.text
    notes = [result.text] if result.value is not None else []
    if result.partial:
        resource["interpretation"] = [{"text": "partial"}]
        notes.append(result.partial_note())
    if result.provenance():
        notes.append(result.provenance())
    if notes:
        resource["note"] = [{"text": n} for n in notes]
    return resource


def _flag_components(flags) -> list[dict[str, Any]]:
    absent = {"coding": [{"system": _codes()["fhir"]["data_absent_reason"], "code": "unknown", "display": "Unknown"}],
              "text": "not assessed: items not entered or not recorded"}
    components = []
    for flag in flags.flags:
        component: dict[str, Any] = {"code": _local(flag.id, clean_text(flag.text))}
        if flag.present is None:
            component["dataAbsentReason"] = absent
        else:
            component["valueBoolean"] = bool(flag.present)
        components.append(component)
    return components


def _flags_observation(result: StructuredResult, status: str, subject: dict | None,
                       effective: str | None) -> dict[str, Any]:
    """The red flags: the statement, and one component per flag (present, absent or not assessed)."""
    resource = _score_observation(result, status, subject, effective)
    resource["component"] = _flag_components(result.flags)
    return resource


def _change_components(comparison) -> list[dict[str, Any]]:
    change, percent, cromris = (_local(c["code"], c["meaning"]) for c in map(
        local_code, ("lesion_change", "volume_change_percent", "cromris_change")))
    components: list[dict[str, Any]] = []
    for row in comparison.lesions:
        label = clean_text(f"{row.site} ({row.followup_label or 'baseline ' + str(row.baseline_label)})")
        code = change_code(row)
        components.append({"code": {**change, "text": label}, "valueCodeableConcept": _local(code["code"], code["meaning"])})
        if row.volume_change_percent is not None:
            components.append({"code": {**percent, "text": label},
                               "valueQuantity": _quantity(row.volume_change_percent, "percent_unit")})
    if comparison.cromris:
        components.append({"code": cromris, "valueQuantity": _quantity(comparison.cromris["change"], "points_unit")})
    return components


def _followup_observation(comparison, status: str, subject: dict | None, effective: str | None) -> dict[str, Any]:
    """The comparison with the baseline: the follow-up paragraph, and a component per lesion change."""
    resource = _base(local_code("followup"), "Follow-up comparison", status, subject, effective)
    resource["valueString"] = clean_text(comparison.paragraph())
    components = _change_components(comparison)
    if components:
        resource["component"] = components
    if comparison.cromris.get("partial"):
        resource["note"] = [{"text": "RAI-CROMRIS change partial: items not recorded"}]
    return resource


def _decision_support(reading: Reading, status: str, subject: dict | None,
                      effective: str | None) -> list[tuple[str, dict[str, Any], str]]:
    """(seed, Observation, display) for every score, the red flags and the follow-up."""
    out, comparison = [], reading.comparison
    for result in structured_results(reading):
        build = _flags_observation(result, status, subject, effective) if result.id == "red_flags" \
            else _score_observation(result, status, subject, effective)
        out.append((f"score:{result.id}", build, result.name))
    if comparison is not None:
        out.append(("followup", _followup_observation(comparison, status, subject, effective), "Follow-up comparison"))
    return out


def _patient(study: Study) -> dict[str, Any] | None:
    p = study.patient or {}
    if not any(p.get(k) for k in ("id", "name", "birth_date", "sex")):
        return None
    resource: dict[str, Any] = {"resourceType": "Patient"}
    if p.get("id"):
        resource["identifier"] = [{"type": {"coding": [{"system": _codes()["fhir"]["identifier_type"], "code": "MR"}]},
                                   "value": clean_text(" ".join(str(p["id"]).split()))}]
    if p.get("name"):
        parts = [clean_text(x).strip() for x in str(p["name"]).split("^")]
        name: dict[str, Any] = {"text": " ".join(x for x in parts[1:2] + parts[:1] if x) or clean_text(p["name"])}
        if parts[0]:
            name["family"] = parts[0]
        given = [x for x in parts[1:3] if x]
        if given:
            name["given"] = given
        resource["name"] = [name]
    if p.get("birth_date"):
        resource["birthDate"] = str(p["birth_date"])
    if p.get("sex") in _GENDER:
        resource["gender"] = _GENDER[p["sex"]]
    return resource


def diagnostic_bundle(study: Study | Reading, status: str = "preliminary", accession: str | None = None,
                      issued: _dt.datetime | None = None, text: str | None = None, comparison=None,
                      weights=None) -> dict[str, Any]:
    """The Bundle (type ``collection``) of a reading as a JSON-ready dict, validated with fhir.resources R4B.

    Parameters
    ----------
    study: Study | Reading
        The reading (its text, comparison and weights); given a study, ``text``, ``comparison`` and ``weights``
        make its reading.
    status: str
        DiagnosticReport status (R4 value set); Observations take the same, or ``final`` where the
        report status has no Observation equivalent.
    accession: str | None
        Accession number (default: the study's ``accession``); omitted when there is none.
    text: str | None
        The report text (default: :func:`~CRMOAnalyzerLib.reading.report.render_report` of the study).
    comparison: compare.Comparison | None
        A comparison with an earlier exam: adds the follow-up Observation.
    weights: dict | str | PathLike | None
        EULAR/ACR 2025 item weights, for that score's points.
    """
    codes = _codes()
    fhir = codes["fhir"]
    if status not in fhir["diagnostic_report_status"]:
        raise CRMOInputError("--fhir-status", f"{status!r} is not a DiagnosticReport status "
                                              f"({', '.join(fhir['diagnostic_report_status'])})")
    observation_status = status if status in fhir["observation_status"] else "final"
    reading = as_reading(study, comparison, text, weights)
    study = reading.study
    sections = report_sections(reading)
    issued = issued or _dt.datetime.now(_dt.timezone.utc)
    if issued.tzinfo is None:
        issued = issued.astimezone()
    exam = study.study or {}
    effective = str(exam["date"]) if exam.get("date") else None
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "crmo-analyzer:" + json.dumps(
        [study.patient, exam, [lesion.id for lesion in study.lesions]], sort_keys=True, default=str))
    entries: list[dict[str, Any]] = []
    subject = None
    patient = _patient(study)
    if patient is not None:
        url = _uuid("patient", namespace)
        entries.append({"fullUrl": url, "resource": patient})
        subject = {"reference": url}
    results = []
    labels = reading.labels
    findings = finding_lines(study, labels)
    for lesion in study.lesions:
        url = _uuid(f"lesion:{lesion.id}", namespace)
        entries.append({"fullUrl": url, "resource": _observation(lesion, observation_status, subject, effective,
                                                                 findings[lesion.id])})
        results.append({"reference": url, "display": f"{labels[lesion.id]}: {site_phrase(lesion)}"})
    for seed, resource, display in _decision_support(reading, observation_status, subject, effective):
        url = _uuid(seed, namespace)
        entries.append({"fullUrl": url, "resource": resource})
        results.append({"reference": url, "display": display})
    if sections.decision_support:  # its own Observation: the report's presentedForm is what the radiologist signs
        url = _uuid("decision-support", namespace)
        local = local_code("decision_support")
        resource = _base(local, local["meaning"], observation_status, subject, effective)
        resource["valueString"] = sections.decision_support
        entries.append({"fullUrl": url, "resource": resource})
        results.append({"reference": url, "display": "Decision support (not a diagnosis)"})
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "status": status,
        "category": [{"coding": [{"system": fhir["service_section"], "code": "RAD", "display": "Radiology"}]}],
        "code": {"coding": [{"system": fhir["loinc"], **fhir["report_code"]}], "text": fhir["report_code"]["display"]},
        "issued": issued.isoformat(timespec="seconds"),
        "conclusion": sections.conclusion,
        "presentedForm": [{"contentType": "text/plain; charset=utf-8", "language": "en",
                           "data": base64.b64encode(sections.signed.encode("utf-8")).decode("ascii"),
                           "title": "CRMO Analyzer report"}],
    }
    accession = accession or exam.get("accession")
    if accession:
        report["identifier"] = [{"type": {"coding": [{"system": fhir["identifier_type"], "code": "ACSN"}]},
                                 "value": clean_text(" ".join(str(accession).split()))}]
    if subject:
        report["subject"] = subject
    if effective:
        report["effectiveDateTime"] = effective
    if results:
        report["result"] = results
    entries.insert(0, {"fullUrl": _uuid("report", namespace), "resource": report})
    bundle = {"resourceType": "Bundle", "type": "collection", "timestamp": issued.isoformat(timespec="seconds"),
              "entry": entries}
    check_bundle(bundle)
    return bundle


def check_bundle(bundle: dict[str, Any]) -> None:
    """Parse ``bundle`` with the R4B models and check its status codes; raise CRMOInputError if invalid."""
    from fhir.resources.R4B.bundle import Bundle  # noqa: PLC0415 (heavy)
    from pydantic import ValidationError  # noqa: PLC0415

    fhir = _codes()["fhir"]
    try:
        parsed = Bundle.model_validate_json(json.dumps(bundle, ensure_ascii=False))
    except ValidationError as error:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": str(error)}
        where = ".".join(str(x) for x in first["loc"])
        raise CRMOInputError("study", f"cannot build a valid FHIR Bundle: {where}: {first['msg']}") from error
    for entry in parsed.entry or []:
        resource = entry.resource
        allowed = {"DiagnosticReport": fhir["diagnostic_report_status"],
                   "Observation": fhir["observation_status"]}.get(resource.get_resource_type())
        if allowed is not None and resource.status not in allowed:
            raise CRMOInputError("study", f"{resource.get_resource_type()} status {resource.status!r} is not in the R4 value set")


def bundle_json(study: Study | Reading, **kwargs: Any) -> str:
    """The Bundle as JSON text (UTF-8 safe, indented)."""
    return json.dumps(diagnostic_bundle(study, **kwargs), indent=2, ensure_ascii=False) + "\n"
