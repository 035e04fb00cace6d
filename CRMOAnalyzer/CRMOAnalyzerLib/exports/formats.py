"""The export formats: one registry, one call to write a format from a reading.

``crmo-analyzer report --format`` and the panel both go through :func:`export`; a new format is one
:class:`Format` added to :data:`FORMATS` (its function takes a :class:`~CRMOAnalyzerLib.reading.read.Reading` and
:class:`ExportOptions`). The heavy libraries of each format (hl7apy, fhir.resources, highdicom, matplotlib) are
imported only when that format is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CRMOInputError
from ..io.files import write_bytes
from ..reading.read import Reading

__all__ = ["ExportOptions", "Format", "FORMATS", "export", "WITH_TEXT", "WITH_COMPARISON"]


@dataclass(frozen=True)
class ExportOptions:
    """What a format needs besides the reading (every field optional; each format reads its own).

    ``source`` names the study in messages (its file, or "panel study").
    """

    source: str = "study"
    #: DICOM SR and SEG: the series the lesions were read on (default: the study's), the lesion label map (default:
    #: the file the study was analysed from), SR only, and the baseline's SR whose tracking UIDs matched lesions keep
    dicom: Path | None = None
    lesions: Path | None = None
    no_seg: bool = False
    baseline_sr: Path | None = None
    #: HL7 v2 and FHIR
    accession: str | None = None
    order_number: str | None = None
    sending_app: str | None = None
    sending_facility: str | None = None
    receiving_app: str | None = None
    receiving_facility: str | None = None
    procedure_code: str | None = None
    result_status: str | None = None  # P preliminary (default), F final, C corrected
    no_accession: bool = False
    mllp: bool = False
    #: research export: the secret key file (default: environment variable CRMO_RESEARCH_KEY), and the names of the
    #: baseline and follow-up inputs (scrubbed from the de-identified comparison)
    key_file: Path | None = None
    sources: tuple[str, str] = ("baseline", "follow-up")


@dataclass(frozen=True)
class Format:
    """One export format: ``render`` gives the bytes of one file, or ``write`` writes files at ``out`` itself."""

    name: str
    help: str
    render: Callable[[Reading, ExportOptions], bytes] | None = None
    write: Callable[[Reading, ExportOptions, Path], list[Path]] | None = None
    binary: bool = False
    text: bool = False  # carries the report text (and so the reader's edit and the follow-up paragraph)
    comparison: bool = False  # carries the comparison with a baseline
    needs_comparison: bool = False  # is nothing without one


def _text(reading: Reading, options: ExportOptions) -> bytes:
    return reading.text.encode("utf-8")


def _json(reading: Reading, options: ExportOptions) -> bytes:
    import json  # noqa: PLC0415

    return (json.dumps(reading.document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _table(name: str) -> Callable[[Reading, ExportOptions], bytes]:
    def render(reading: Reading, options: ExportOptions) -> bytes:
        from ..reading import tables  # noqa: PLC0415

        return getattr(tables, name)(reading).encode("utf-8")

    return render


def _comparison_csv(reading: Reading, options: ExportOptions) -> bytes:
    from ..reading.tables import comparison_table_csv  # noqa: PLC0415

    return comparison_table_csv(reading.comparison).encode("utf-8")


def _hl7(reading: Reading, options: ExportOptions) -> bytes:
    from .hl7v2 import HL7Options, mllp_frame, oru_r01  # noqa: PLC0415

    message = oru_r01(reading, options=HL7Options(
        sending_application=options.sending_app, sending_facility=options.sending_facility,
        receiving_application=options.receiving_app, receiving_facility=options.receiving_facility,
        accession=options.accession, order_number=options.order_number, procedure_code=options.procedure_code,
        result_status=options.result_status, require_accession=not options.no_accession))
    return mllp_frame(message) if options.mllp else message.encode("utf-8")


def _fhir(reading: Reading, options: ExportOptions) -> bytes:
    from .fhir import bundle_json  # noqa: PLC0415

    status = {"P": "preliminary", "F": "final", "C": "corrected"}[options.result_status or "P"]
    return bundle_json(reading, status=status, accession=options.accession).encode("utf-8")


def _dicom(reading: Reading, options: ExportOptions):
    """The SR and SEG; a baseline's lesions matched in the comparison keep their tracking UIDs."""
    from .dicom_seg import lesion_labelmap  # noqa: PLC0415
    from .dicom_series import study_series  # noqa: PLC0415
    from .dicom_sr import dicom_exports, tracking_uids_from_sr  # noqa: PLC0415

    if options.baseline_sr is not None and reading.comparison is None:
        raise CRMOInputError("--baseline-sr", "the baseline's SR is for a follow-up: give --compare BASELINE.json too")
    datasets = study_series(reading.study, options.dicom, options.source)
    labelmap = None if options.no_seg else lesion_labelmap(reading.study, options.lesions)
    tracking = tracking_uids_from_sr(options.baseline_sr) if options.baseline_sr is not None else None
    return dicom_exports(reading, datasets, labelmap, baseline_tracking=tracking)


def _sr(reading: Reading, options: ExportOptions, out: Path) -> list[Path]:
    from .dicom_series import dataset_bytes  # noqa: PLC0415

    result = _dicom(reading, options)
    sr, seg = dataset_bytes(result.sr), dataset_bytes(result.seg) if result.seg is not None else None
    written = [write_bytes(out, sr)]
    if seg is not None:
        written.append(write_bytes(out.with_name(out.name.removesuffix(".dcm") + "_seg.dcm"), seg))
    return written


def _seg(reading: Reading, options: ExportOptions) -> bytes:
    from .dicom_series import dataset_bytes  # noqa: PLC0415

    result = _dicom(reading, options)
    if result.seg is None:
        why = "no lesion annotated" if not reading.study.lesions else "no voxel lesions (point annotations)"
        raise CRMOInputError(options.source, f"{why}: there is nothing for a DICOM SEG")
    return dataset_bytes(result.seg)


def _summary(reading: Reading, options: ExportOptions, out: Path) -> list[Path]:
    from .summary import write_summary  # noqa: PLC0415

    return list(write_summary(reading, out).values())


def _research(reading: Reading, options: ExportOptions, out: Path) -> list[Path]:
    from .research import read_key, write_research_export  # noqa: PLC0415

    return list(write_research_export(reading, read_key(options.key_file), out, sources=options.sources).values())


#: every format, by the name ``report --format`` takes
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("text", "report text (the reader's edit when given)", render=_text, text=True, comparison=True),
    Format("json", "study.json: the study with its labels and distribution", render=_json),
    Format("csv", "lesion table, a row per lesion", render=_table("lesion_table_csv")),
    Format("distribution-csv", "distribution table, a row per region and bone", render=_table("distribution_table_csv")),
    Format("scores-csv", "a row per score and red flag", render=_table("score_table_csv")),
    Format("comparison-csv", "a row per lesion change (needs a baseline)", render=_comparison_csv, comparison=True,
           needs_comparison=True),
    Format("hl7", "HL7 v2.5.1 ORU^R01 result message", render=_hl7, text=True, comparison=True),
    Format("fhir", "FHIR R4 Bundle: DiagnosticReport and Observations", render=_fhir, text=True, comparison=True),
    Format("sr", "DICOM Comprehensive 3D SR (and OUT_seg.dcm for voxel lesions)", write=_sr, binary=True,
           comparison=True),
    Format("seg", "DICOM SEG of the voxel lesions", render=_seg, binary=True),
    Format("summary", "one-page summary: OUT.pdf and OUT.png", write=_summary, binary=True, text=True, comparison=True),
    Format("research", "de-identified research folder (needs a key)", write=_research, comparison=True),
)}
WITH_TEXT = frozenset(name for name, f in FORMATS.items() if f.text)
WITH_COMPARISON = frozenset(name for name, f in FORMATS.items() if f.comparison)


def export(reading: Reading, name: str, out: str | os.PathLike | None = None,
           options: ExportOptions | None = None) -> list[Path] | bytes:
    """Write ``reading`` as format ``name``: to ``out`` (returns the files written, each atomically), or, for a
    one-file format with no ``out``, return its bytes.

    Raises
    ------
    CRMOInputError
        An unknown format, a format that needs what the reading lacks (a baseline, an output path), or an error of
        the format (its one line names the input).
    """
    chosen = FORMATS.get(name)
    options = options or ExportOptions()
    if chosen is None:
        raise CRMOInputError(None, f"format {name!r} is not one of {', '.join(FORMATS)}")
    if chosen.needs_comparison and reading.comparison is None:
        raise CRMOInputError(options.source, f"format {name} is a follow-up table: give --compare BASELINE.json "
                                             "(the earlier exam of this patient)")
    if chosen.write is not None:
        if out is None:
            raise CRMOInputError(None, f"format {name} writes files: give --out")
        return chosen.write(reading, options, Path(out))
    data = chosen.render(reading, options)
    return data if out is None else [write_bytes(out, data)]
