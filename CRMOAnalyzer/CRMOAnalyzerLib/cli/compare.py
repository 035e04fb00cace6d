"""``crmo-analyzer compare``: match the lesions of two exams and describe the change."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare a follow-up study with a baseline: new, resolved, bigger, smaller lesions",
        description="Match the lesions of FOLLOWUP.json to those of BASELINE.json (same bone and side, by position "
                    "along the bone; never by scanner coordinates) and describe the change. Prints the follow-up "
                    "paragraph; with --out writes DIR/comparison.json and DIR/followup.txt. Thresholds: "
                    "resources/compare.json.",
        epilog="example:\n  crmo-analyzer compare exam1/study.json exam2/study.json --out followup",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path, metavar="BASELINE.json")
    parser.add_argument("followup", type=Path, metavar="FOLLOWUP.json")
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--force", action="store_true",
                          help="compare even when the patient facts differ or both are the same exam")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..reading.compare import compare_studies  # noqa: PLC0415 (fast --help)
    from ..errors import CRMOInputError  # noqa: PLC0415
    from ..io.files import write_json, write_text  # noqa: PLC0415
    from ..model import load_study  # noqa: PLC0415

    baseline, followup = load_study(args.baseline), load_study(args.followup)
    comparison = compare_studies(baseline, followup, force=args.force, sources=(str(args.baseline), str(args.followup)))
    document, paragraph = comparison.to_dict(), comparison.paragraph()
    for warning in comparison.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out is not None:
        if args.out.exists() and not args.out.is_dir():
            raise CRMOInputError(args.out, "exists and is not a folder")
        args.out.mkdir(parents=True, exist_ok=True)
        written = [write_json(args.out / "comparison.json", document), write_text(args.out / "followup.txt", paragraph + "\n")]
        if not args.quiet:
            print(paragraph)
            print(f"Wrote {written[0]} and {written[1]}")
    elif not args.quiet:
        print(paragraph)
    return 0
