"""HL7 v2.5.1 ORU^R01 result message of a study's report, built with ``hl7apy``.

Structure (HL7 v2.5.1 ch. 7): MSH, PID, ORC, OBR (procedure code, default LOINC 18748-4), then one OBX
of type TX per report line: findings lines under LOINC 18782-3 (OBX-4 sub-ID 1), impression lines under
19005-8 (sub-ID 2); an empty OBX-5 is a blank line, and a line longer than 199 characters (the ST length, which hl7apy's STRICT
level and many receivers enforce) continues in the next OBX, broken between words. Then one OBX per score or
criterion and one for the red flags (sub-IDs 3, 4, ...; local codes, coding system 99CRMO): NM with units
``{points}`` when the result is a number, else TX lines; an NTE after a partial result says PARTIAL and lists
the missing items. Codes and defaults: ``resources/exports/hl7v2.json`` and ``codes.json``.

Escaping: hl7apy escapes ``|``, ``~`` and ``\\`` in a ``varies`` field but takes ``^`` and ``&`` as
separators (crs4/hl7apy #82), so every user-supplied value is escaped here (``\\`` first) before it is
handed to hl7apy, which keeps escape sequences as they are. The message is built and validated at hl7apy's
STRICT level.
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from dataclasses import dataclass, field

from ..errors import CRMOInputError
from ..model import Study
from ..reading.read import Reading, as_reading
from .common import StructuredResult, clean_text, export_config, report_sections, structured_results

__all__ = ["HL7Options", "escape", "oru_r01", "mllp_frame", "MLLP_START", "MLLP_END"]

MLLP_START, MLLP_END = b"\x0b", b"\x1c\r"

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))
_ID = re.compile(r"^[^\x00-\x1f]*$")


def escape(text: str) -> str:
    """``text`` with HL7's default delimiters escaped (``\\`` first, so nothing is escaped twice)."""
    text = clean_text(text).replace("\n", " ")
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


@dataclass
class HL7Options:
    """Settings of one message; ``None`` takes the default of ``resources/exports/hl7v2.json``.

    Parameters
    ----------
    sending_application, sending_facility, receiving_application, receiving_facility: str | None
        MSH-3 to MSH-6.
    accession: str | None
        Accession number (OBR-18, and ORC-3/OBR-3 filler order number); default the study's ``accession``.
    order_number: str | None
        Placer order number (ORC-2/OBR-2); default the study's ``order_number``, else the accession.
    procedure_code: str | None
        OBR-4 as ``code^display^system`` or just a LOINC code; default LOINC 18748-4.
    result_status: str | None
        OBR-25 and OBX-11: ``P`` (preliminary, default), ``F`` (final) or ``C`` (correction).
    control_id: str | None
        MSH-10 (default: a new random id); timestamp: MSH-7 time (default now).
    require_accession: bool
        Refuse to build a message without an accession number (receivers file results by it).
    """

    sending_application: str | None = None
    sending_facility: str | None = None
    receiving_application: str | None = None
    receiving_facility: str | None = None
    accession: str | None = None
    order_number: str | None = None
    procedure_code: str | None = None
    result_status: str | None = None
    control_id: str | None = None
    timestamp: _dt.datetime | None = None
    require_accession: bool = True
    extra: dict = field(default_factory=dict)


def _coded(value: str | dict, source: str) -> str:
    """A CE/CWE ``code^text^system`` from config or a user string (each component escaped)."""
    if isinstance(value, dict):
        parts = [value["code"], value.get("display", ""), value.get("system", "")]
    else:
        parts = str(value).split("^")
        if len(parts) == 1:
            parts = [parts[0], "", "LN"]
        if len(parts) > 3 or not parts[0].strip():
            raise CRMOInputError(source, f"procedure code {value!r} must be CODE or CODE^TEXT^SYSTEM")
    return "^".join(escape(p.strip()) for p in parts)


def _date(value: str | None, what: str) -> str:
    if not value:
        return ""
    text = str(value)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise CRMOInputError("study", f"{what} {text!r} is not a date YYYY-MM-DD")
    return text.replace("-", "")


def _name(name: str | None) -> str:
    """XPN from ``Family^Given^Middle^Suffix^Prefix`` (extra ``^`` stay in the last component, escaped)."""
    if not name:
        return ""
    parts = str(name).split("^")
    if len(parts) > 5:
        parts = parts[:4] + ["^".join(parts[4:])]
    return "^".join(escape(p) for p in parts).rstrip("^")


def _identifier(value, what: str) -> str:
    text = " ".join(str(value).split())
    if not text:
        raise CRMOInputError("study", f"{what} is empty")
    if len(text) > 199:
        raise CRMOInputError("study", f"{what} is longer than 199 characters")
    return escape(text)


def _lines(text: str, width: int) -> list[str]:
    """Escaped OBX-5 values: one per report line, a line longer than ``width`` (escaped) wrapped at spaces."""
    out: list[str] = []
    for line in text.split("\n") if text else [""]:
        out.extend(_wrap(line, width))
    return out


def _wrap(line: str, width: int) -> list[str]:
    """``line`` escaped, in pieces of at most ``width`` characters, broken between words where it can be."""
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        escaped = escape(word)
        while len(escaped) > width:  # one word longer than a line: cut it, never inside an escape sequence
            cut = width
            while escaped.rfind("\\", 0, cut) != -1 and escaped[:cut].count("\\") % 2:
                cut = escaped.rfind("\\", 0, cut)
            if current:
                pieces.append(current)
                current = ""
            pieces.append(escaped[:cut])
            escaped = escaped[cut:]
        candidate = f"{current} {escaped}" if current else escaped
        if len(candidate) > width and current:
            pieces.append(current)
            candidate = escaped
        current = candidate
    pieces.append(current)
    return pieces


class _Observations:
    """Appends OBX segments (each in its own ORU_R01_OBSERVATION group, as hl7apy requires), numbered from 1."""

    def __init__(self, group, status: str) -> None:
        self.group, self.status, self.count = group, status, 0
        self.current, self.notes = None, 0  # the last OBX's group, and the NTEs after it

    def add(self, value_type: str, code: str, sub_id: str, value: str, units: str = "") -> None:
        """One OBX; an empty ``value`` leaves OBX-5 empty (a blank line in TX)."""
        self.count, self.notes = self.count + 1, 0
        self.current = self.group.oru_r01_observation if self.count == 1 else self.group.add_group("ORU_R01_OBSERVATION")
        obx = self.current.obx
        obx.obx_1 = str(self.count)
        obx.obx_2 = value_type
        obx.obx_3 = code
        obx.obx_4 = sub_id
        if value:
            obx.obx_5 = value
        if units:
            obx.obx_6 = units
        obx.obx_11 = self.status

    def note(self, text: str, width: int) -> None:
        """NTE segments (one per wrapped piece) after the last OBX, numbered on from its earlier NTEs."""
        for piece in _wrap(clean_text(text).replace("\n", " "), width):
            self.notes += 1
            nte = self.current.add_segment("NTE")
            nte.nte_1 = str(self.notes)
            nte.nte_3 = piece


def _number(value: float) -> str:
    return f"{value:.6g}"


def _add_result(observations: _Observations, result: StructuredResult, sub_id: str, config: dict) -> None:
    """One OBX for a score (NM with units) or statement (TX lines), then NTEs: partial (when it is), and the rule's source."""
    code = "^".join(escape(p) for p in (result.code["code"], result.code["meaning"], config["local_system"]))
    if result.value is not None:
        unit = export_config("codes")["points_unit"]
        units = "^".join(escape(unit[k]) for k in ("code", "meaning", "scheme"))
        observations.add("NM", code, sub_id, _number(result.value), units)
    else:
        for value in _lines(result.text, config["line_width"]):
            observations.add("TX", code, sub_id, value)
    if result.partial:
        observations.note(result.partial_note(), config["line_width"])
    if result.provenance():
        observations.note(result.provenance(), config["line_width"])


def oru_r01(study: Study | Reading, options: HL7Options | None = None, text: str | None = None, weights=None) -> str:
    """The ORU^R01 message (ER7, segments separated by carriage returns) of a reading's report.

    Given a study instead of its reading, ``text`` replaces the report text (e.g. one with a follow-up paragraph)
    and ``weights`` are EULAR/ACR 2025 item weights for that score's points.

    Raises
    ------
    CRMOInputError
        No patient id (PID-3 is required), no accession number (when required), a bad result status,
        procedure code or date.
    """
    from hl7apy.consts import VALIDATION_LEVEL  # noqa: PLC0415 (heavy import, only for this format)
    from hl7apy.core import Message  # noqa: PLC0415
    from hl7apy.exceptions import HL7apyException  # noqa: PLC0415

    reading = as_reading(study, text=text, weights=weights)
    study = reading.study
    options = options or HL7Options()
    config = export_config("hl7v2")
    patient, exam = study.patient or {}, study.study or {}

    def option(name: str) -> str:
        value = getattr(options, name)
        return config.get(name, "") if value is None else value

    status = option("result_status")
    if status not in config["result_statuses"]:
        raise CRMOInputError("--result-status", f"{status!r} is not one of {', '.join(config['result_statuses'])}")
    if not patient.get("id"):
        raise CRMOInputError("study", "no patient id: an HL7 result needs one (PID-3); record patient.id in the study")
    if not _name(patient.get("name")):
        raise CRMOInputError("study", "no patient name: an HL7 result needs one (PID-5); record patient.name "
                             "(Family^Given) in the study")
    accession = options.accession or exam.get("accession")
    if not accession and options.require_accession:
        raise CRMOInputError("study", "no accession number: give --accession or record study.accession")
    accession = _identifier(accession, "accession number") if accession else ""
    order = options.order_number or exam.get("order_number")
    order = _identifier(order, "order number") if order else accession
    procedure = _coded(options.procedure_code or config["procedure"], "--procedure-code")
    when = options.timestamp or _dt.datetime.now()
    sections = report_sections(reading)

    message = Message("ORU_R01", version=config["version"], validation_level=VALIDATION_LEVEL.STRICT)
    msh = message.msh
    msh.msh_3 = escape(option("sending_application"))
    msh.msh_4 = escape(option("sending_facility"))
    msh.msh_5 = escape(option("receiving_application"))
    msh.msh_6 = escape(option("receiving_facility"))
    msh.msh_7 = when.strftime("%Y%m%d%H%M%S")
    msh.msh_9 = "ORU^R01^ORU_R01"
    msh.msh_10 = _identifier(options.control_id or uuid.uuid4().hex[:20], "message control id")
    msh.msh_11 = config["processing_id"]
    msh.msh_18 = config["character_set"]

    result = message.oru_r01_patient_result
    pid = result.oru_r01_patient.pid
    pid.pid_1 = "1"
    authority = escape(config.get("assigning_authority", ""))
    pid.pid_3 = f"{_identifier(patient['id'], 'patient id')}^^^{authority}^MR" if authority else \
        f"{_identifier(patient['id'], 'patient id')}^^^^MR"
    pid.pid_5 = _name(patient["name"])
    if patient.get("birth_date"):
        pid.pid_7 = _date(patient["birth_date"], "birth date")
    if patient.get("sex"):
        pid.pid_8 = {"F": "F", "M": "M"}.get(patient["sex"], "O")

    group = result.oru_r01_order_observation
    group.orc.orc_1 = "RE"
    group.orc.orc_2 = order
    group.orc.orc_3 = accession
    group.orc.orc_5 = "CM"
    obr = group.obr
    obr.obr_1 = "1"
    obr.obr_2 = order
    obr.obr_3 = accession
    obr.obr_4 = procedure
    observed = _date(exam.get("date"), "study date")
    obr.obr_7 = observed or when.strftime("%Y%m%d%H%M%S")
    if accession:
        obr.obr_18 = accession
    obr.obr_22 = when.strftime("%Y%m%d%H%M%S")
    obr.obr_24 = "RAD"
    obr.obr_25 = status

    observations = _Observations(group, status)
    for sub_id, key in (("1", "findings"), ("2", "impression")):
        code = _coded(config[key], key)
        for value in _lines(getattr(sections, key), config["line_width"]):
            observations.add("TX", code, sub_id, value)
    number = 2
    for number, result in enumerate(structured_results(reading), start=3):
        _add_result(observations, result, str(number), config)
    if sections.decision_support:  # its own OBX group, after the report and the results: a RIS shows the report first
        local = export_config("codes")["local"]["decision_support"]
        code = "^".join(escape(p) for p in (local["code"], local["meaning"], config["local_system"]))
        for value in _lines(sections.decision_support, config["line_width"]):
            observations.add("TX", code, str(number + 1), value)
    try:
        message.validate()
        er7 = message.to_er7()
    except HL7apyException as error:  # a value hl7apy rejects: say which, never a traceback
        raise CRMOInputError("study", f"cannot build a valid HL7 message: {' '.join(str(error).split())[:200]}") from error
    return er7


def mllp_frame(message: str) -> bytes:
    """``message`` as UTF-8 bytes in MLLP framing (0x0B ... 0x1C 0x0D)."""
    return MLLP_START + message.encode("utf-8") + MLLP_END
