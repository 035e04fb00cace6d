"""One exam as a compact, de-identified record: what the cohort tables are computed from.

A record holds no patient identifier: the patient is a keyed hash (HMAC-SHA256 with the run's secret
key) and the exam date is shifted by a per-patient offset (intervals between a patient's exams are
kept, calendar dates are not). Reading is fast: the stdlib JSON parser and a check of the fields the
tables use (:func:`check_study`); ``strict=True`` adds the full JSON-schema validation of the core.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from functools import lru_cache
from typing import Any

from ..anatomy import bones
from ..reading.distribution import distribution
from ..errors import CRMOInputError
from ..io.files import read_json, resource
from ..model import SCHEMA, SCHEMA_VERSION, Lesion, Study, validate
from .sites import site_of_bone

__all__ = ["check_study", "study_record", "patient_key", "date_shift", "LESION_FIELDS"]

#: fields of a record's lesion rows, in order
LESION_FIELDS = ("site", "side", "region", "bone", "kind", "sublocation", "bone_end")

_LESION_NAMES = tuple(Lesion.__dataclass_fields__)
_REQUIRED = ("id", "source", "bone", "finding_site", "laterality", "sublocation", "centroid_ras", "volume_mm3")


@lru_cache(maxsize=None)
def _enums() -> tuple[frozenset, frozenset]:
    schema = read_json(resource("study.schema.json"), "study schema")
    props = schema["$defs"]["lesion"]["properties"]
    return frozenset(props["sublocation"]["enum"]), frozenset(props["bone_end"]["enum"])


def _date(value: Any, label: str, source: str) -> dt.date | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CRMOInputError(source, f"{label} {value!r} is not a date YYYY-MM-DD") from None


def check_study(doc: Any, source: str) -> None:
    """Raise :class:`CRMOInputError` if ``doc`` is not a study this version can tabulate.

    Checks what the cohort tables rely on: the schema name and version, the patient and study
    objects, dates, and per lesion the required fields and the values of side, sub-location and end.
    """
    if not isinstance(doc, dict):
        raise CRMOInputError(source, f"not a CRMO Analyzer study (a JSON {type(doc).__name__}, expected an object)")
    if doc.get("schema") != SCHEMA:
        raise CRMOInputError(source, f"not a CRMO Analyzer study (\"schema\" is {doc.get('schema')!r}, expected {SCHEMA!r})")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise CRMOInputError(source, f"study schema_version {doc.get('schema_version')!r} is not supported "
                                     f"(this version reads {SCHEMA_VERSION})")
    for key in ("patient", "study"):
        if not isinstance(doc.get(key), dict):
            raise CRMOInputError(source, f"invalid study: \"{key}\" must be an object")
    lesions = doc.get("lesions")
    if not isinstance(lesions, list):
        raise CRMOInputError(source, 'invalid study: "lesions" must be a list')
    sublocations, ends = _enums()
    seen: set[str] = set()
    for n, lesion in enumerate(lesions):
        where = f"invalid study at lesions[{n}]"
        if not isinstance(lesion, dict):
            raise CRMOInputError(source, f"{where}: not an object")
        missing = [k for k in _REQUIRED if k not in lesion]
        if missing:
            raise CRMOInputError(source, f"{where}: missing {', '.join(missing)}")
        if not isinstance(lesion["id"], str) or not lesion["id"]:
            raise CRMOInputError(source, f"{where}.id: must be a non-empty string")
        if lesion["id"] in seen:
            raise CRMOInputError(source, f"duplicate lesion id {lesion['id']}")
        seen.add(lesion["id"])
        if not isinstance(lesion["bone"], str):
            raise CRMOInputError(source, f"{where}.bone: must be a string")
        laterality = lesion["laterality"]
        if laterality is not None and not (isinstance(laterality, dict) and isinstance(laterality.get("code"), str)):
            raise CRMOInputError(source, f"{where}.laterality: must be null or a code object")
        if lesion["sublocation"] not in sublocations:
            raise CRMOInputError(source, f"{where}.sublocation: {lesion['sublocation']!r} is not one of the allowed values")
        if lesion.get("bone_end") not in ends:
            raise CRMOInputError(source, f"{where}.bone_end: {lesion.get('bone_end')!r} is not proximal, distal or null")
        centroid = lesion["centroid_ras"]
        if not (isinstance(centroid, list) and len(centroid) == 3 and all(isinstance(c, (int, float)) for c in centroid)):
            raise CRMOInputError(source, f"{where}.centroid_ras: must be 3 numbers")
    _date(doc["patient"].get("birth_date"), "birth date", source)
    _date(doc["study"].get("date"), "study date", source)
    if doc["patient"].get("sex") not in (None, "F", "M", "O"):
        raise CRMOInputError(source, f"sex {doc['patient'].get('sex')!r} must be F, M or O")


def patient_key(secret: bytes, patient_id: str) -> str:
    """A pseudonymous key for a patient: HMAC-SHA256 of the id under the run's secret, hex, 32 digits."""
    return hmac.new(secret, b"patient:" + patient_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def date_shift(secret: bytes, key: str) -> int:
    """Days (-365..365) every date of one patient is shifted by (from the patient's key)."""
    digest = hmac.new(secret, b"shift:" + key.encode("ascii"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") % 731 - 365


def study_record(doc: Any, source: str, case: str, secret: bytes, strict: bool = False) -> dict[str, Any]:
    """The de-identified record of one study document (raises :class:`CRMOInputError` on a bad one).

    Parameters
    ----------
    doc: Any
        The parsed study.json.
    source: str
        File name for error messages.
    case: str
        The case key (stands in for the patient when the study has no patient id).
    secret: bytes
        The run's secret key for pseudonyms and date shifts.
    strict: bool
        Also validate against the full JSON schema (slow).
    """
    check_study(doc, source)
    if strict:
        validate(doc, source)
    warnings: list[str] = []
    patient, study_facts = doc["patient"], doc["study"]
    pid = patient.get("id")
    if isinstance(pid, str) and pid.strip():
        key = patient_key(secret, pid)
    else:
        key = patient_key(secret, "case:" + case)
        warnings.append("no patient id: counted as a patient of its own")
    date = _date(study_facts.get("date"), "study date", source)
    birth = _date(patient.get("birth_date"), "birth date", source)
    lesions = [Lesion(**{k: v for k, v in lesion.items() if k in _LESION_NAMES}) for lesion in doc["lesions"]]
    dist = distribution(Study(lesions=lesions))
    vocabulary = bones()
    rows = []
    for lesion in lesions:
        if not lesion.assigned:
            continue
        bone = vocabulary[lesion.bone]
        side = lesion.side or ("midline" if bone.midline else "unknown")
        rows.append([site_of_bone(bone.base), side, bone.region, bone.base, bone.kind.value, lesion.sublocation,
                     lesion.bone_end])
    unassigned = len(lesions) - len(rows)
    if unassigned:
        warnings.append(f"{unassigned} lesion(s) not in a known bone: left out of the site tables")
    age = None
    if date and birth:
        age = round((date - birth).days / 365.25, 1)
        if age < 0:
            raise CRMOInputError(source, "study date is before the birth date")
    return {
        "case": case, "ok": True, "patient": key,
        "day": date.toordinal() + date_shift(secret, key) if date else None,
        "age": age, "sex": patient.get("sex"),
        "lesions": rows, "unassigned": unassigned,
        "multifocal": dist.multifocal, "unifocal": dist.unifocal, "bilateral": dist.bilateral,
        "symmetric": dist.symmetric, "pattern": dist.pattern, "site_count": dist.site_count,
        "symmetric_sites": sorted({site_of_bone(pair["bone"]) for pair in dist.symmetric_pairs}),
        "warnings": warnings,
    }
