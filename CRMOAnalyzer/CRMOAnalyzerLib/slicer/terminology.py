"""Slicer terminology of lesion segments: Lesion, anatomic region = the bone, laterality modifier.

The project's terminology and anatomic context files (``resources/terminology``), the serialized entry of a
lesion, and loading the files into Slicer's terminologies logic.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import slicer

from ..anatomy import UNASSIGNED
from ..io.files import resource
from ..model import Lesion

__all__ = ["TERMINOLOGY_FILES", "terminology_entry", "terminology_context_names", "load_terminologies"]

TERMINOLOGY_FILES = {
    "terminology": "SegmentationCategoryTypeModifier-CRMOAnalyzer.term.json",
    "region": "AnatomicRegionAndModifier-CRMOAnalyzer.term.json",
}


def _terminology_path(kind: str):
    return resource("terminology", TERMINOLOGY_FILES[kind])


@lru_cache(maxsize=None)
def terminology_context_names() -> tuple[str, str]:
    """(terminology context name, anatomic region context name) of the project's terminology files."""
    from ..io.files import read_json  # noqa: PLC0415

    terminology = read_json(_terminology_path("terminology"), "CRMO terminology")
    region = read_json(_terminology_path("region"), "CRMO anatomic context")
    return terminology["SegmentationCategoryTypeContextName"], region["AnatomicContextName"]


@lru_cache(maxsize=None)
def _lesion_codes() -> tuple[str, str]:
    from ..io.files import read_json  # noqa: PLC0415

    category = read_json(_terminology_path("terminology"), "CRMO terminology")["SegmentationCodes"]["Category"][0]
    kind = category["Type"][0]
    triple = "{CodingSchemeDesignator}^{CodeValue}^{CodeMeaning}"
    return triple.format(**category), triple.format(**kind)


def terminology_entry(lesion: Lesion) -> str:
    """Slicer's serialized terminology entry of a lesion segment: Lesion, in the bone, on its side.

    Format (vtkSlicerTerminologiesModuleLogic): ``context~category~type~typeModifier~regionContext~region~regionModifier``.
    """
    context, region_context = terminology_context_names()
    category, kind = _lesion_codes()
    site = lesion.finding_site if lesion.bone != UNASSIGNED else None
    region = f"SCT^{site['code']}^{site['meaning']}" if site else "^^"
    laterality = lesion.laterality if site else None
    modifier = f"SCT^{laterality['code']}^{laterality['meaning']}" if laterality else "^^"
    return f"{context}~{category}~{kind}~^^~{region_context}~{region}~{modifier}"


def load_terminologies(logic: Any = None) -> tuple[str, str]:
    """Load the project's terminology and anatomic context files into a terminologies logic.

    ``logic`` defaults to Slicer's ``slicer.modules.terminologies.logic()``; returns the two context
    names the logic reports (empty strings if it rejected a file).
    """
    if logic is None:
        logic = slicer.modules.terminologies.logic()
    terminology = logic.LoadTerminologyFromFile(str(_terminology_path("terminology")))
    load_region = getattr(logic, "LoadRegionContextFromFile", None) or logic.LoadAnatomicContextFromFile  # Slicer < 5.10
    return terminology, load_region(str(_terminology_path("region")))
