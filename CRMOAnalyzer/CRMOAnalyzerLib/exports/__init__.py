"""Exports of a study to other systems: HL7 v2, FHIR, DICOM SR and SEG, summary sheet, research tables.

Every export is a function of a :class:`~CRMOAnalyzerLib.model.Study` (and, for DICOM, of the image
series the study was read on). The narrative always comes from :func:`~CRMOAnalyzerLib.reading.report.render_report`,
so whatever the report says (findings, distribution, scores, red flags) travels with every format.
Codes and defaults live in ``resources/exports/*.json`` with their sources.
"""

from __future__ import annotations

from .common import ReportSections, export_config, report_sections

__all__ = ["ReportSections", "export_config", "report_sections"]
