"""What every export shares: its configuration (data files) and the report text split into sections."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..io.files import read_json, resource
from ..model import Lesion, Study
from ..reading.read import Reading, as_reading

__all__ = ["ReportSections", "StructuredResult", "export_config", "report_sections", "split_decision_support", "clean_text", "structured_results",
           "local_code", "change_code"]

#: the heading that starts the impression in the report template
IMPRESSION_HEADING = "IMPRESSION"
#: the heading of the report's decision-support section (report.render_parts: the signed report, then this)
DECISION_SUPPORT_HEADING = "DECISION SUPPORT"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@lru_cache(maxsize=None)
def export_config(name: str) -> dict[str, Any]:
    """The configuration ``resources/exports/<name>.json`` (codes and defaults, with sources)."""
    path = resource("exports", f"{name}.json")
    return read_json(path, f"{name} export configuration")


def clean_text(text: str) -> str:
    """Text with ``\\n`` line ends only and no other control characters (tabs become spaces)."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _CONTROL.sub(" ", text)
    return text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates from JSON escapes become "?"


@dataclass(frozen=True)
class ReportSections:
    """The report text and its two parts, as result messages carry them.

    Attributes
    ----------
    text: str
        The whole report (:func:`~CRMOAnalyzerLib.reading.report.render_report`).
    findings: str
        Everything before the impression heading (header, findings, distribution and any other section).
    impression: str
        The impression and what follows it in the signed report (red flags, criteria, caveat), without its heading.
    conclusion: str
        The impression paragraph alone (up to the next blank line or heading).
    decision_support: str
        The DECISION SUPPORT section (every flag and criterion in full, with sources), kept apart so a RIS shows the
        signed report first; empty when the text has none.
    signed: str
        The report the radiologist signs: the text without its DECISION SUPPORT section.
    """

    text: str
    findings: str
    impression: str
    conclusion: str
    decision_support: str = ""
    signed: str = ""


def split_decision_support(text: str) -> tuple[str, str]:
    """A report text as (the signed report, its DECISION SUPPORT section from the heading on; "" when it has none)."""
    support = re.search(rf"(?m)^{DECISION_SUPPORT_HEADING}\b", text)
    if support is None:
        return text, ""
    return text[:support.start()].rstrip("\n"), text[support.start():].strip("\n")


def report_sections(study: Study | Reading, text: str | None = None) -> ReportSections:
    """Split the report text of a reading (or ``text``, the reader's edit) at its impression heading."""
    reading = as_reading(study, text=text)
    text = clean_text(reading.text).strip("\n")
    signed, decision_support = split_decision_support(text)
    match = re.search(rf"(?m)^{IMPRESSION_HEADING}[ \t]*$", signed)
    if match is None:
        from ..reading.report import impression  # noqa: PLC0415

        conclusion = impression(reading.distribution)
        return ReportSections(text, signed, conclusion, conclusion, decision_support, signed)
    rest = signed[match.end():].strip("\n")
    conclusion = re.split(r"\n[ \t]*\n|\n(?=[A-Z][A-Z0-9 ,/&()-]{3,}$)", rest, maxsplit=1, flags=re.M)[0].strip()
    return ReportSections(text, signed[:match.start()].rstrip("\n"), rest, conclusion or rest, decision_support, signed)


def sublocation_concept(lesion: Lesion) -> dict[str, str] | None:
    """The SNOMED CT concept of a lesion's sub-location, where ``sublocation.json`` lists one verified and exact for
    its bone (ilium, ischium, acetabulum, glenoid, acromion, coracoid, manubrium, body of sternum), as
    ``{"scheme", "code", "meaning"}``; ``None`` elsewhere (the local code says it)."""
    from ..anatomy import bones  # noqa: PLC0415
    from ..localization.sublocation import sublocation_code  # noqa: PLC0415

    bone = bones().get(lesion.bone)
    code = sublocation_code(bone.base, lesion.sublocation, lesion.finding_site) if bone is not None else None
    if code is None or not code["verified"] or code.get("phrase"):
        return None
    return {"scheme": code["scheme"], "code": code["code"], "meaning": code["meaning"]}


def local_code(key: str) -> dict[str, str]:
    """The local (99CRMO) code ``local.<key>`` of ``codes.json`` as ``{"scheme", "code", "meaning"}``."""
    local = export_config("codes")["local"]
    return {"scheme": local["scheme"], **local[key]}


def change_code(change) -> dict[str, str]:
    """The local code of a lesion change (:class:`~CRMOAnalyzerLib.reading.compare.LesionChange`) as ``{"scheme", "code", "meaning"}``.

    ``new`` or ``resolved``; for a persistent lesion its volume change (``increased``, ``decreased``, ``stable``), or
    ``persistent`` when it has no volumes. The key is the code value; ``codes.json`` ``local.changes`` gives the meaning.
    """
    local = export_config("codes")["local"]
    key = change.status if change.status != "persistent" else (change.volume_change or "persistent")
    return {"scheme": local["scheme"], "code": key, "meaning": local["changes"][key]}


@dataclass(frozen=True)
class StructuredResult:
    """A score, criterion or the red flags as exports carry them beside the report text.

    Attributes
    ----------
    id: str
        Score id (``jansson``...) or ``red_flags``.
    code: dict[str, str]
        ``{"scheme", "code", "meaning"}``: a local 99CRMO code from ``codes.json`` (the meaning says "local code").
    name: str
        Short name as the report prints it.
    value: float | None
        The number (points, total), or ``None`` when the result is a statement.
    text: str
        The result as the report states it.
    partial: bool
        Items were missing; ``missing`` lists them.
    source, statuses: str
        The rule's citation, and the status of the values used ("items verified ...; points as cited").
    """

    id: str
    code: dict[str, str]
    name: str
    value: float | None
    text: str
    partial: bool
    missing: list[str] = field(default_factory=list)
    source: str = ""
    statuses: str = ""
    #: the red flags themselves (:class:`~CRMOAnalyzerLib.reading.redflags.RedFlags`), for the result ``red_flags``
    flags: Any = field(default=None, compare=False, repr=False)

    def partial_note(self) -> str:
        """``"PARTIAL: items missing: a; b."`` or ``""`` when complete."""
        if not self.partial:
            return ""
        return "PARTIAL: items missing" + (f": {'; '.join(self.missing)}." if self.missing else ".")

    def provenance(self) -> str:
        """``"Source: <citation> [<value statuses>]"``, or ``""`` without a source: the rule behind the result."""
        if not self.source:
            return ""
        return clean_text(f"Source: {self.source}" + (f" [{self.statuses}]" if self.statuses else ""))


def _score_code(result) -> dict[str, str]:
    local = export_config("codes")["local"]
    known = local["scores"].get(result.id)
    if known:
        return {"scheme": local["scheme"], **known}
    return {"scheme": local["scheme"], "code": result.id.upper()[:16], "meaning": f"{result.short} (local code)"[:64]}


def _flags_result(flags) -> StructuredResult:
    """The red flags as one result, citing the flags found, else those checked, else all."""
    present = flags.present
    cited = present or flags.absent or flags.flags
    text = ("; ".join(f"RED FLAG: {flag.phrase()}" for flag in present) if present
            else "No red flag found among those checked.")
    missing = [flag.text for flag in flags.not_assessed]
    return StructuredResult("red_flags", local_code("red_flags"), "Red flags", None, clean_text(text), bool(missing),
                            missing, source="; ".join(dict.fromkeys(f.citation for f in cited)), flags=flags)


def structured_results(study: Study | Reading, weights: Any = None) -> list[StructuredResult]:
    """The reading's scores (:attr:`~CRMOAnalyzerLib.reading.read.Reading.scores`), then its red flags, for structured
    export (``weights`` only for a study given without its reading)."""
    reading = as_reading(study, weights=weights)
    results = [StructuredResult(r.id, _score_code(r), r.short, None if r.value is None else float(r.value),
                                clean_text(r.summary), r.partial, [clean_text(m) for m in r.missing], r.source, r.statuses)
               for r in reading.scores]
    return results + [_flags_result(reading.red_flags)]
