"""``crmo-analyzer report``: a study in another format (text, json, csv, and the exports)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import CRMOInputError
from ..io.files import write_bytes

#: format -> function(study, args) -> bytes; export modules add their formats here
FORMATS: dict[str, Callable[..., bytes]] = {}
BINARY = {"sr", "seg", "summary"}
#: formats that write several files themselves: function(study, args) -> list of paths; need --out
WRITERS: dict[str, Callable[..., list[Path]]] = {}
#: formats that carry the report text, and so the follow-up paragraph of --compare
WITH_TEXT = {"text", "hl7", "fhir", "summary"}
#: formats that carry the comparison of --compare: the report text's, or a structured one of their own
WITH_COMPARISON = WITH_TEXT | {"sr", "comparison-csv", "research"}


def comparison_of(study, args):
    """The comparison of ``study`` with ``--compare BASELINE.json`` (``None`` without it), its warnings printed
    (``report`` and ``send``).

    Different patients are refused by :func:`~CRMOAnalyzerLib.reading.compare.compare_studies` unless ``--force``.
    """
    baseline = getattr(args, "compare", None)
    if baseline is None:
        return None
    from ..reading.compare import compare_studies  # noqa: PLC0415
    from ..model import load_study  # noqa: PLC0415

    comparison = compare_studies(load_study(baseline), study, force=getattr(args, "force", False),
                                 sources=(str(baseline), str(args.study)))
    for warning in comparison.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return comparison


def _followup(study, args) -> tuple[object | None, str]:
    """The comparison (or ``None``) and the report text: the reader's ``--text`` file, else generated with its follow-up."""
    from ..reading.read import render_report  # noqa: PLC0415

    comparison = comparison_of(study, args)
    if getattr(args, "text", None) is not None:
        from ..io.files import read_text  # noqa: PLC0415

        return comparison, read_text(args.text, "report text")
    return comparison, render_report(study, comparison)


def _text(study, args) -> bytes:
    return _followup(study, args)[1].encode("utf-8")


def _json(study, args) -> bytes:
    import json  # noqa: PLC0415

    from ..reading.read import read  # noqa: PLC0415

    return (json.dumps(read(study).document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _csv(study, args) -> bytes:
    from ..reading.tables import lesion_table_csv  # noqa: PLC0415

    return lesion_table_csv(study).encode("utf-8")


def _distribution_csv(study, args) -> bytes:
    from ..reading.tables import distribution_table_csv  # noqa: PLC0415

    return distribution_table_csv(study).encode("utf-8")


def _scores_csv(study, args) -> bytes:
    from ..reading.tables import score_table_csv  # noqa: PLC0415

    return score_table_csv(study).encode("utf-8")


def _comparison_csv(study, args) -> bytes:
    from ..reading.tables import comparison_table_csv  # noqa: PLC0415

    comparison = comparison_of(study, args)
    if comparison is None:
        raise CRMOInputError(args.study, "format comparison-csv is a follow-up table: give --compare BASELINE.json "
                                         "(the earlier exam of this patient)")
    return comparison_table_csv(comparison).encode("utf-8")


def _hl7(study, args) -> bytes:
    from ..exports.hl7v2 import HL7Options, mllp_frame, oru_r01  # noqa: PLC0415

    message = oru_r01(study, text=_followup(study, args)[1], options=HL7Options(
        sending_application=args.sending_app, sending_facility=args.sending_facility,
        receiving_application=args.receiving_app, receiving_facility=args.receiving_facility,
        accession=args.accession, order_number=args.order_number, procedure_code=args.procedure_code,
        result_status=args.result_status, require_accession=not args.no_accession))
    return mllp_frame(message) if args.mllp else message.encode("utf-8")


def _fhir(study, args) -> bytes:
    from ..exports.fhir import bundle_json  # noqa: PLC0415

    status = {"P": "preliminary", "F": "final", "C": "corrected"}[args.result_status or "P"]
    comparison, text = _followup(study, args)
    return bundle_json(study, status=status, accession=args.accession, text=text, comparison=comparison).encode("utf-8")


def _dicom(study, args, comparison=None):
    from ..exports.dicom_seg import lesion_labelmap  # noqa: PLC0415
    from ..exports.dicom_series import study_series  # noqa: PLC0415
    from ..exports.dicom_sr import dicom_exports, tracking_uids_from_sr  # noqa: PLC0415

    baseline_sr = getattr(args, "baseline_sr", None)
    if baseline_sr is not None and comparison is None:
        raise CRMOInputError("--baseline-sr", "the baseline's SR is for a follow-up: give --compare BASELINE.json too")
    datasets = study_series(study, args.dicom, args.study)
    labelmap = None if args.no_seg else lesion_labelmap(study, args.lesions)
    baseline_tracking = tracking_uids_from_sr(baseline_sr) if baseline_sr is not None else None
    return dicom_exports(study, datasets, labelmap, comparison=comparison, baseline_tracking=baseline_tracking)


def _sr(study, args) -> list[Path]:
    from ..exports.dicom_series import dataset_bytes  # noqa: PLC0415

    result = _dicom(study, args, comparison_of(study, args))
    sr, seg = dataset_bytes(result.sr), dataset_bytes(result.seg) if result.seg is not None else None
    written = []
    if seg is not None:
        seg_path = args.out.with_name(args.out.name.removesuffix(".dcm") + "_seg.dcm")
        written.append(write_bytes(seg_path, seg))
    written.insert(0, write_bytes(args.out, sr))
    return written


def _seg(study, args) -> bytes:
    from ..exports.dicom_series import dataset_bytes  # noqa: PLC0415

    result = _dicom(study, args)
    if result.seg is None:
        why = "no lesion annotated" if not study.lesions else "no voxel lesions (point annotations)"
        raise CRMOInputError(args.study, f"{why}: there is nothing for a DICOM SEG")
    return dataset_bytes(result.seg)


def _summary(study, args) -> list[Path]:
    from ..exports.summary import write_summary  # noqa: PLC0415

    comparison, text = _followup(study, args)
    return list(write_summary(study, args.out, text=text, comparison=comparison).values())


def _research(study, args) -> list[Path]:
    from ..exports.research import read_key, write_research_export  # noqa: PLC0415
    from ..model import load_study  # noqa: PLC0415

    key = read_key(args.key_file)
    baseline = None if args.compare is None else load_study(args.compare)
    return list(write_research_export(study, key, args.out, baseline=baseline, force=args.force,
                                      sources=(str(args.compare), str(args.study))).values())


FORMATS.update({"text": _text, "json": _json, "csv": _csv, "distribution-csv": _distribution_csv,
                "scores-csv": _scores_csv, "comparison-csv": _comparison_csv, "hl7": _hl7, "fhir": _fhir, "seg": _seg})
WRITERS.update({"sr": _sr, "summary": _summary, "research": _research})


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write a study as report text, JSON, CSV or an export format",
        description="Read STUDY.json and write it in another format (to standard output unless --out).",
        epilog="examples:\n  crmo-analyzer report result/study.json\n  crmo-analyzer report result/study.json --format csv --out lesions.csv"
               "\n  crmo-analyzer report exam2/study.json --compare exam1/study.json --format fhir --out report.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, metavar="STUDY.json")
    parser.add_argument("--format", default="text", choices=sorted({*FORMATS, *WRITERS}),
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
    from ..model import load_study  # noqa: PLC0415

    study = load_study(args.study)
    if getattr(args, "compare", None) is not None and args.format not in WITH_COMPARISON:
        raise CRMOInputError(None, f"--compare adds a follow-up comparison; format {args.format} carries no comparison "
                                   f"(use {', '.join(sorted(WITH_COMPARISON))})")
    if getattr(args, "text", None) is not None and args.format not in WITH_TEXT:
        raise CRMOInputError(None, f"--text is about the report text; format {args.format} carries no "
                                   f"report text (use {', '.join(sorted(WITH_TEXT))})")
    if args.format in WRITERS:
        if args.out is None:
            raise CRMOInputError(None, f"format {args.format} writes files: give --out")
        for path in WRITERS[args.format](study, args):
            if not args.quiet:
                print(f"wrote {path}", file=sys.stderr)
        return 0
    if args.format not in FORMATS:
        raise CRMOInputError(None, f"format {args.format!r} is not available in this version")
    if args.out is None and args.format in BINARY:
        raise CRMOInputError(None, f"format {args.format} is binary: give --out FILE")
    data = FORMATS[args.format](study, args)
    if args.out is not None:
        write_bytes(args.out, data)
        if not args.quiet:
            print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
