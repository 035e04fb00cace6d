"""The panel's exports: a study in memory through the writers of ``crmo-analyzer report --format``.

The panel calls the CLI's own format functions (``cli.report.FORMATS`` and ``WRITERS``) with the
arguments the CLI's own parser gives, so the panel and ``crmo-analyzer report`` write the same
files. What is added here is only what a panel needs: a folder with fixed file names per format,
and one-line messages naming the panel field to fill when an input is missing. The panel's baseline
study (its follow-up comparison) goes to the writers as ``--compare`` with ``--force`` (the reader
accepted any patient mismatch when comparing), for every format that carries a comparison.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CRMOInputError
from ..io.files import write_bytes

if TYPE_CHECKING:  # the panel lists the formats before the core's dependencies are installed
    from ..model import Study

__all__ = ["PanelFormat", "PANEL_FORMATS", "report_arguments", "export_study"]


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


def report_arguments(report_format: str, out: Path, dicom: str | os.PathLike | None = None,
                     key_file: str | os.PathLike | None = None, lesions: str | os.PathLike | None = None,
                     accession: str | None = None, text: str | os.PathLike | None = None,
                     compare: str | os.PathLike | None = None) -> argparse.Namespace:
    """The arguments ``crmo-analyzer report`` would parse for these options (its parser, its defaults).

    ``text`` goes to the formats that carry report text, ``compare`` (a baseline study file, compared with
    ``--force``) to those that carry a comparison; the others ignore them.
    """
    from ..cli import report  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="crmo-analyzer")
    report.add_subparser(parser.add_subparsers())
    argv = ["report", "panel study", f"--format={report_format}", f"--out={out}"]
    options = {"--dicom": dicom, "--key-file": key_file, "--lesions": lesions, "--accession": accession,
               "--text": text if report_format in report.WITH_TEXT else None,
               "--compare": compare if report_format in report.WITH_COMPARISON else None}
    argv += [f"{flag}={value}" for flag, value in options.items() if value]
    if options["--compare"]:
        argv.append("--force")
    return parser.parse_args(argv)


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


def export_study(study: Study, panel_format: str, out_dir: str | os.PathLike | None,
                 dicom: str | os.PathLike | None = None, key_file: str | os.PathLike | None = None,
                 lesions: str | os.PathLike | None = None, accession: str | None = None,
                 text: str | None = None, baseline: Study | None = None) -> list[Path]:
    """Write ``study`` in a :data:`PANEL_FORMATS` format into ``out_dir``; returns the files written.

    Parameters
    ----------
    study: Study
        The study the panel shows.
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
    from ..cli.report import FORMATS, WRITERS  # noqa: PLC0415

    chosen = PANEL_FORMATS.get(panel_format)
    if chosen is None:
        raise CRMOInputError("export format", f"{panel_format!r} is not one of {', '.join(PANEL_FORMATS)}")
    _check_inputs(study, chosen.needs, dicom, key_file, accession)
    out = _output_folder(out_dir)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="crmo-export-") as folder:
        text_file, baseline_file = None, None
        if text is not None:
            text_file = Path(folder) / "report.txt"
            text_file.write_text(text, encoding="utf-8")
        if baseline is not None:
            from ..model import save_study  # noqa: PLC0415

            baseline_file = Path(folder) / "baseline.json"
            save_study(baseline, baseline_file)
        for report_format, name in chosen.outputs + (chosen.followup_outputs if baseline is not None else ()):
            args = report_arguments(report_format, out / name, dicom, key_file, lesions, accession, text_file,
                                    baseline_file)
            if report_format in WRITERS:
                written += WRITERS[report_format](study, args)
            else:
                written.append(write_bytes(args.out, FORMATS[report_format](study, args)))
    return written
