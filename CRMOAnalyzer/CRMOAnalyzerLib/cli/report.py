"""``crmo-analyzer report``: a study in another format (text, json, csv, and the exports)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import CRMOInputError
from ..files import write_bytes

#: format -> function(study, args) -> bytes; export modules add their formats here
FORMATS: dict[str, Callable[..., bytes]] = {}
BINARY = {"sr"}


def _text(study, args) -> bytes:
    from ..report import render_report  # noqa: PLC0415

    return render_report(study).encode("utf-8")


def _json(study, args) -> bytes:
    import json  # noqa: PLC0415

    return (json.dumps(study.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _csv(study, args) -> bytes:
    from ..tables import lesion_table_csv  # noqa: PLC0415

    return lesion_table_csv(study).encode("utf-8")


FORMATS.update({"text": _text, "json": _json, "csv": _csv})


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write a study as report text, JSON, CSV or an export format",
        description="Read STUDY.json and write it in another format (to standard output unless --out).",
        epilog="examples:\n  crmo-analyzer report result/study.json\n  crmo-analyzer report result/study.json --format csv --out lesions.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", type=Path, metavar="STUDY.json")
    parser.add_argument("--format", default="text", choices=sorted(FORMATS) + [f for f in ("hl7", "fhir", "sr") if f not in FORMATS],
                        help="output format (default: text)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="output file (default: standard output)")
    parser.add_argument("--dicom", type=Path, metavar="DIR", help="DICOM series the SR refers to (format sr)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_study  # noqa: PLC0415

    study = load_study(args.study)
    if args.format not in FORMATS:
        raise CRMOInputError(None, f"format {args.format!r} is not available in this version")
    data = FORMATS[args.format](study, args)
    if args.out is not None:
        write_bytes(args.out, data)
        if not args.quiet:
            print(f"wrote {args.out}", file=sys.stderr)
    elif args.format in BINARY:
        raise CRMOInputError(None, f"format {args.format} is binary: give --out FILE")
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0
