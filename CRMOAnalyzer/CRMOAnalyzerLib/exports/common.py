"""What every export shares: its configuration (data files) and the report text split into sections."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from ..files import read_json
from ..model import Study

__all__ = ["ReportSections", "export_config", "report_sections", "clean_text"]

#: the heading that starts the impression in the report template
IMPRESSION_HEADING = "IMPRESSION"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@lru_cache(maxsize=None)
def export_config(name: str) -> dict[str, Any]:
    """The configuration ``resources/exports/<name>.json`` (codes and defaults, with sources)."""
    path = resources.files(__package__.rsplit(".", 1)[0]) / "resources" / "exports" / f"{name}.json"
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
        The whole report (:func:`~CRMOAnalyzerLib.report.render_report`).
    findings: str
        Everything before the impression heading (header, findings, distribution and any other section).
    impression: str
        The impression and what follows it (red flags, scores, caveat, sources), without its heading.
    conclusion: str
        The impression paragraph alone (up to the next blank line or heading).
    """

    text: str
    findings: str
    impression: str
    conclusion: str


def report_sections(study: Study, text: str | None = None) -> ReportSections:
    """Split the report of ``study`` (or the given ``text``) at its impression heading."""
    if text is None:
        from ..report import render_report  # noqa: PLC0415

        text = render_report(study)
    text = clean_text(text).strip("\n")
    match = re.search(rf"(?m)^{IMPRESSION_HEADING}[ \t]*$", text)
    if match is None:
        from ..distribution import distribution  # noqa: PLC0415
        from ..report import impression  # noqa: PLC0415

        conclusion = impression(distribution(study))
        return ReportSections(text, text, conclusion, conclusion)
    rest = text[match.end():].strip("\n")
    conclusion = re.split(r"\n[ \t]*\n|\n(?=[A-Z][A-Z0-9 ,/&()-]{3,}$)", rest, maxsplit=1, flags=re.M)[0].strip()
    return ReportSections(text, text[:match.start()].rstrip("\n"), rest, conclusion or rest)
