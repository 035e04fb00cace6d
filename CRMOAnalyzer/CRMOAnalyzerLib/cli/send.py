"""``crmo-analyzer send``: a study's report to the RIS (HL7 ORU^R01 over MLLP) or its SR and SEG to an archive
(STOW-RS or C-STORE), through the outbox."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import CRMOInputError


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds between 0 and 86400")
    return value


def add_outbox_arguments(parser: argparse.ArgumentParser) -> None:
    """--outbox DIR and --timeout S (shared with ``crmo-analyzer outbox``)."""
    from ..send import DEFAULT_TIMEOUT  # noqa: PLC0415

    parser.add_argument("--outbox", type=Path, metavar="DIR",
                        help="folder of items waiting for their receiver (default: $CRMO_OUTBOX, else "
                             "~/.crmo-analyzer/outbox)")
    parser.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds to wait for each acceptance (default {DEFAULT_TIMEOUT:g})")


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "send", help="send the report to the RIS (HL7 over MLLP) or the SR and SEG to an archive (DICOM)",
        description="Send STUDY.json's HL7 ORU^R01 (as report --format hl7 writes it) over MLLP and wait for the "
                    "acknowledgement, or store its DICOM SR (and SEG for voxel lesions) in an archive by STOW-RS or "
                    "C-STORE. Each item is written to the outbox before the first byte is sent and removed only when "
                    "the receiver accepted it (HL7 MSA-1 AA or CA; DICOM success). Exit 0 only when every item was "
                    "accepted; otherwise one line names the problem, exit 1, and the items stay in the outbox "
                    "(crmo-analyzer outbox --retry resends them).",
        epilog="examples:\n  crmo-analyzer send result/study.json --to mllp://ris.example:2575 --accession A123"
               "\n  crmo-analyzer send result/study.json --to dicomweb+http://pacs.example:8042/dicom-web"
               "\n  crmo-analyzer send result/study.json --to dicom://ORTHANC@pacs.example:4242 --aet CRMO",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, metavar="STUDY.json")
    parser.add_argument("--to", required=True, metavar="DESTINATION",
                        help="mllp://HOST:PORT, dicomweb+http(s)://HOST:PORT/PATH or dicom://AET@HOST:PORT")
    add_outbox_arguments(parser)
    hl7 = parser.add_argument_group("HL7 (mllp://)")
    hl7.add_argument("--accession", metavar="NUMBER", help="accession number (default: the study's)")
    hl7.add_argument("--result-status", choices=("P", "F", "C"), help="P preliminary (default), F final, C correction")
    hl7.add_argument("--text", type=Path, metavar="REPORT.txt",
                     help="send this report text (e.g. the reader's edited report.txt) instead of generating it")
    dicom = parser.add_argument_group("DICOM (dicomweb+http://, dicom://)")
    dicom.add_argument("--aet", metavar="CALLING", help="calling AE title for C-STORE (default CRMO_ANALYZER)")
    dicom.add_argument("--dicom", type=Path, metavar="DIR", help="DICOM series the lesions were read on "
                                                                 "(default: the series the study records)")
    dicom.add_argument("--lesions", type=Path, metavar="FILE", help="lesion label map for the SEG "
                                                                    "(default: the file the study was analysed from)")
    dicom.add_argument("--no-seg", action="store_true", help="send the SR only")
    followup = parser.add_argument_group("follow-up")
    followup.add_argument("--compare", type=Path, metavar="BASELINE.json",
                          help="a follow-up: the HL7 report text gets the follow-up paragraph, the SR the comparison "
                               "groups, and matched lesions keep the baseline's tracking UIDs")
    followup.add_argument("--force", action="store_true", help="compare even when the patient facts differ")
    followup.add_argument("--baseline-sr", type=Path, metavar="SR.dcm",
                          help="the baseline's SR (as sent): its lesions' tracking UIDs carry on (needs --compare)")
    parser.set_defaults(func=run)


def _reading(study, args):
    """The reading with ``--compare`` and ``--text`` (:func:`.report.reading_of`); ``--baseline-sr`` needs a baseline."""
    if args.compare is None and args.baseline_sr is not None:
        raise CRMOInputError("--baseline-sr", "the baseline's SR is for a follow-up: give --compare BASELINE.json too")
    from .report import reading_of  # noqa: PLC0415

    return reading_of(study, args)


def print_outcome(quiet: bool):
    """A ``send_all`` report callback: a line per accepted item on stderr (unless quiet); the failures make the
    one error line of :func:`failure_line`, and ``crmo-analyzer outbox`` lists each item's last error."""
    def report(item, accepted: bool, answer: str) -> None:
        if accepted and not quiet:
            print(f"sent {item.description or item.path.name} to {item.destination}: {answer}", file=sys.stderr)
    return report


def failure_line(failures, total: int, outbox) -> CRMOInputError:
    """One line for the items not accepted."""
    item, problem = failures[0]
    if total == 1:
        return CRMOInputError(None, f"{problem}; the {'message' if item.kind == 'hl7' else 'instance'} stays in the "
                                    f"outbox: {item.path}")
    return CRMOInputError(None, f"{len(failures)} of {total} items not accepted ({problem}); they stay in the outbox "
                                f"{outbox.folder} (crmo-analyzer outbox --retry)")


def run(args: argparse.Namespace) -> int:
    from ..model import load_study  # noqa: PLC0415
    from ..send import check_aet, parse_destination  # noqa: PLC0415
    from ..exports.dicom_seg import lesion_labelmap  # noqa: PLC0415
    from ..exports.dicom_sr import tracking_uids_from_sr  # noqa: PLC0415
    from ..send.deliver import DEFAULT_CALLING_AET, queue_study, send_all  # noqa: PLC0415
    from ..send.outbox import Outbox, default_outbox  # noqa: PLC0415

    destination = parse_destination(args.to)
    if destination.kind != "dicom" and args.aet is not None:
        raise CRMOInputError("--aet", "the calling AE title is for dicom://AET@HOST:PORT destinations")
    unused = [name for name, given, kinds in (
        ("--accession", args.accession is not None, ("mllp",)), ("--result-status", args.result_status is not None, ("mllp",)),
        ("--text", args.text is not None, ("mllp",)), ("--dicom", args.dicom is not None, ("dicomweb", "dicom")),
        ("--lesions", args.lesions is not None, ("dicomweb", "dicom")), ("--no-seg", args.no_seg, ("dicomweb", "dicom")),
        ("--baseline-sr", args.baseline_sr is not None, ("dicomweb", "dicom"))) if given and destination.kind not in kinds]
    if unused:
        what = "HL7 (mllp://)" if destination.kind != "mllp" else "DICOM (dicomweb+http://, dicom://)"
        raise CRMOInputError(unused[0], f"is for {what} destinations, not {args.to}")
    calling = check_aet(args.aet) if args.aet is not None else DEFAULT_CALLING_AET
    study = load_study(args.study)
    reading = _reading(study, args)
    labelmap = None
    if destination.kind != "mllp" and not args.no_seg:
        labelmap = lesion_labelmap(study, args.lesions)
    baseline_tracking = tracking_uids_from_sr(args.baseline_sr) if args.baseline_sr is not None else None
    outbox = Outbox(args.outbox or default_outbox())
    items = queue_study(reading, args.to, outbox, where=str(args.study), accession=args.accession,
                        result_status=args.result_status, dicom_dir=args.dicom,
                        labelmap=labelmap, baseline_tracking=baseline_tracking, calling=calling)
    failures = send_all(outbox, items, args.timeout, print_outcome(args.quiet))
    if failures:
        raise failure_line(failures, len(items), outbox)
    return 0
