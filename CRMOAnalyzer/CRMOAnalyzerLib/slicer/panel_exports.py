"""The panel's exports: the panel's reading through the export registry (:func:`~CRMOAnalyzerLib.exports.formats.export`).

``crmo-analyzer report --format`` goes through the same registry, so the panel and the CLI write the same files.
What is added here is only what a panel needs: its list of choices with fixed file names in one output folder, and
one-line messages naming the panel field to fill when an input is missing. The panel's baseline study (its
follow-up comparison, the patient mismatch already accepted by the reader) goes into every format that carries one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CRMOInputError

if TYPE_CHECKING:  # the panel lists the formats before the core's dependencies are installed
    from ..model import Study
    from ..reading.read import Reading

__all__ = ["PanelFormat", "PANEL_FORMATS", "export_study"]


@dataclass(frozen=True)
class PanelFormat:
    """One choice of the panel's export list."""

    label: str
    #: (``report --format`` value, file name in the output folder) per file or folder written
    outputs: tuple[tuple[str, str], ...]
    #: what the format needs besides the study: "dicom" (a DICOM series), "key" (a secret key), or None
    needs: str | None = None
    #: further outputs written only when the panel has a baseline study (a follow-up comparison)
    followup_outputs: tuple[tuple[str, str], ...] = ()


PANEL_FORMATS: dict[str, PanelFormat] = {
    "hl7": PanelFormat("HL7 v2 result message (ORU^R01)", (("hl7", "report.hl7"),), "accession"),
    "fhir": PanelFormat("FHIR R4 Bundle (JSON)", (("fhir", "report.fhir.json"),)),
    "sr": PanelFormat("DICOM SR (+ SEG for voxel lesions)", (("sr", "report.dcm"),), "dicom"),
    "csv": PanelFormat("CSV tables (lesions, distribution, scores; comparison with a baseline)",
                       (("csv", "lesions.csv"), ("distribution-csv", "distribution.csv"), ("scores-csv", "scores.csv")),
                       followup_outputs=(("comparison-csv", "comparison.csv"),)),
    "summary": PanelFormat("One-page summary (PDF + PNG)", (("summary", "summary"),)),
    "research": PanelFormat("De-identified research export (needs a key file)", (("research", "research"),), "key"),
    "json": PanelFormat("Study JSON", (("json", "study.json"),)),
}


def _check_inputs(study: Study, needs: str | None, dicom, key_file, accession) -> None:
    """Refuse, naming the panel field to fill, when a format lacks an input."""
    if needs == "dicom" and not (dicom or (study.dicom or {}).get("series_dir")):
        raise CRMOInputError("DICOM series", "a DICOM SR refers to the DICOM series the lesions were read on: "
                                             "choose that series' folder")
    if needs == "key" and not (key_file or os.environ.get("CRMO_RESEARCH_KEY")):
        raise CRMOInputError("key file", "a research export needs a secret key file (keep it: the same key gives "
                                         "the same pseudonym): choose it")
    if needs == "accession" and not (accession or (study.study or {}).get("accession")):
        raise CRMOInputError("accession", "an HL7 result message needs the exam's accession number: enter it")


def _output_folder(out_dir: str | os.PathLike | None) -> Path:
    if not out_dir or not str(out_dir).strip():
        raise CRMOInputError("output folder", "no output folder: choose where the export goes")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CRMOInputError(out, "exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CRMOInputError(out, f"cannot create the output folder: {error.strerror or error}") from error
    return out


def export_study(study: Study | Reading, panel_format: str, out_dir: str | os.PathLike | None,
                 dicom: str | os.PathLike | None = None, key_file: str | os.PathLike | None = None,
                 lesions: str | os.PathLike | None = None, accession: str | None = None,
                 text: str | None = None, baseline: Study | None = None) -> list[Path]:
    """Write ``study`` in a :data:`PANEL_FORMATS` format into ``out_dir``; returns the files written.

    Parameters
    ----------
    study: Study | Reading
        The study the panel shows, or its reading (which then carries the edited text and the comparison).
    panel_format: str
        A key of :data:`PANEL_FORMATS`.
    out_dir: str | os.PathLike | None
        Output folder (created if needed).
    dicom, key_file, lesions, accession:
        As ``crmo-analyzer report --dicom --key-file --lesions --accession``.
    text: str | None
        The reader's edited report text, sent instead of a generated one (``--text``).
    baseline: Study | None
        The baseline study of the panel's follow-up comparison (``--compare``, forced): the comparison goes
        into the formats that carry one, and the CSV tables add ``comparison.csv``.

    Raises
    ------
    CRMOInputError
        An unknown format, a missing input, or an error of the writer (each file is written atomically).
    """
    from ..exports.formats import ExportOptions, export  # noqa: PLC0415
    from ..reading.read import Reading, read  # noqa: PLC0415

    chosen = PANEL_FORMATS.get(panel_format)
    if chosen is None:
        raise CRMOInputError("export format", f"{panel_format!r} is not one of {', '.join(PANEL_FORMATS)}")
    reading = study if isinstance(study, Reading) else read(study, baseline=baseline, force=True, text=text)
    _check_inputs(reading.study, chosen.needs, dicom, key_file, accession)
    out = _output_folder(out_dir)
    options = ExportOptions(source="panel study", dicom=_path(dicom), lesions=_path(lesions), accession=accession or None,
                            key_file=_path(key_file))
    written: list[Path] = []
    for report_format, name in chosen.outputs + (chosen.followup_outputs if reading.comparison is not None else ()):
        written += export(reading, report_format, out / name, options)
    return written


def _path(value: str | os.PathLike | None) -> Path | None:
    return Path(value) if value else None
