"""``crmo-analyzer report``: a study in another format (text, json, csv, and the exports)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import CRMOInputError


def reading_of(study, args):
    """The reading of ``study`` with ``--compare BASELINE.json`` (compared here, its warnings printed; a different
    patient is refused unless ``--force``) and ``--text`` (the reader's report); ``report`` and ``send``."""
    from ..io.files import read_text  # noqa: PLC0415
    from ..model import load_study  # noqa: PLC0415
    from ..reading.read import read  # noqa: PLC0415

    compare, text = getattr(args, "compare", None), getattr(args, "text", None)
    reading = read(study, baseline=load_study(compare) if compare is not None else None,
                   force=getattr(args, "force", False), sources=(str(compare), str(args.study)),
                   text=read_text(text, "report text") if text is not None else None)
    for warning in reading.comparison.warnings if reading.comparison is not None else ():
        print(f"warning: {warning}", file=sys.stderr)
    return reading


def export_options(args: argparse.Namespace):
    """The :class:`~CRMOAnalyzerLib.exports.formats.ExportOptions` of ``report``'s arguments."""
    from ..exports.formats import ExportOptions  # noqa: PLC0415

    return ExportOptions(
        source=str(args.study), dicom=args.dicom, lesions=args.lesions, no_seg=args.no_seg, baseline_sr=args.baseline_sr,
        accession=args.accession, order_number=args.order_number, sending_app=args.sending_app,
        sending_facility=args.sending_facility, receiving_app=args.receiving_app,
        receiving_facility=args.receiving_facility, procedure_code=args.procedure_code,
        result_status=args.result_status, no_accession=args.no_accession, mllp=args.mllp, key_file=args.key_file,
        sources=(str(args.compare), str(args.study)))


def add_subparser(subparsers) -> None:
    from ..exports.formats import FORMATS  # noqa: PLC0415

    parser = subparsers.add_parser(
        "report", help="write a study as report text, JSON, CSV or an export format",
        description="Read STUDY.json and write it in another format (to standard output unless --out).",
        epilog="examples:\n  crmo-analyzer report result/study.json\n  crmo-analyzer report result/study.json --format csv --out lesions.csv"
               "\n  crmo-analyzer report exam2/study.json --compare exam1/study.json --format fhir --out report.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, metavar="STUDY.json")
    parser.add_argument("--format", default="text", choices=sorted(FORMATS),
                        help="output format (default: text); sr also writes OUT_seg.dcm when lesions are voxels; "
                             "summary writes OUT.pdf and OUT.png; research writes a de-identified folder; "
                             "scores-csv: a row per score and red flag; comparison-csv: a row per lesion change "
                             "(needs --compare)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="output file or folder (default: standard output)")
    dicom = parser.add_argument_group("DICOM SR and SEG")
    dicom.add_argument("--dicom", type=Path, metavar="DIR", help="DICOM series the lesions were read on "
                                                                 "(default: the series the study records)")
    dicom.add_argument("--lesions", type=Path, metavar="FILE", help="lesion label map for the SEG "
                                                                    "(default: the file the study was analysed from)")
    dicom.add_argument("--no-seg", action="store_true", help="SR only: reference lesion centres, write no SEG")
    dicom.add_argument("--baseline-sr", type=Path, metavar="SR.dcm",
                       help="with --compare: the baseline's SR, whose Tracking UIDs the matched lesions keep (so a "
                            "chain of follow-ups stays linked in viewers that track measurements)")
    hl7 = parser.add_argument_group("HL7 v2 and FHIR")
    hl7.add_argument("--mllp", action="store_true", help="frame the HL7 message for MLLP (0x0B ... 0x1C 0x0D)")
    hl7.add_argument("--sending-app", metavar="NAME", help="MSH-3 (default CRMO_ANALYZER)")
    hl7.add_argument("--sending-facility", metavar="NAME", help="MSH-4")
    hl7.add_argument("--receiving-app", metavar="NAME", help="MSH-5")
    hl7.add_argument("--receiving-facility", metavar="NAME", help="MSH-6")
    hl7.add_argument("--accession", metavar="NUMBER", help="accession number (default: the study's)")
    hl7.add_argument("--order-number", metavar="NUMBER", help="placer order number (default: the accession)")
    hl7.add_argument("--no-accession", action="store_true", help="allow an HL7 message without accession number")
    hl7.add_argument("--procedure-code", metavar="CODE^TEXT^SYSTEM", help="OBR-4 (default 18748-4^Diagnostic imaging study^LN)")
    hl7.add_argument("--result-status", choices=("P", "F", "C"), help="P preliminary (default), F final, C correction")
    followup = parser.add_argument_group("report text and follow-up")
    followup.add_argument("--compare", type=Path, metavar="BASELINE.json",
                          help="add the comparison with this earlier exam (as crmo-analyzer compare): the follow-up "
                               "paragraph in text, hl7, fhir, summary; structured in fhir, sr, comparison-csv; "
                               "de-identified in research")
    followup.add_argument("--force", action="store_true",
                          help="compare even when the patient facts differ or both are the same exam")
    followup.add_argument("--text", type=Path, metavar="REPORT.txt",
                          help="send this report text (e.g. the reader's edited report.txt) instead of generating it "
                               "(formats text, hl7, fhir, summary)")
    research = parser.add_argument_group("research export")
    research.add_argument("--key-file", type=Path, metavar="FILE", help="secret key for pseudonyms and date shifts "
                                                                       "(or environment variable CRMO_RESEARCH_KEY)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..exports.formats import FORMATS, WITH_COMPARISON, WITH_TEXT, export  # noqa: PLC0415
    from ..model import load_study  # noqa: PLC0415

    study = load_study(args.study)
    if getattr(args, "compare", None) is not None and args.format not in WITH_COMPARISON:
        raise CRMOInputError(None, f"--compare adds a follow-up comparison; format {args.format} carries no comparison "
                                   f"(use {', '.join(sorted(WITH_COMPARISON))})")
    if getattr(args, "text", None) is not None and args.format not in WITH_TEXT:
        raise CRMOInputError(None, f"--text is about the report text; format {args.format} carries no "
                                   f"report text (use {', '.join(sorted(WITH_TEXT))})")
    if args.out is None and FORMATS[args.format].binary and FORMATS[args.format].write is None:
        raise CRMOInputError(None, f"format {args.format} is binary: give --out FILE")
    result = export(reading_of(study, args), args.format, args.out, export_options(args))
    if isinstance(result, bytes):
        sys.stdout.buffer.write(result)
        sys.stdout.flush()
    elif not args.quiet:
        for path in result:
            print(f"wrote {path}", file=sys.stderr)
    return 0
