"""``crmo-analyzer cohort``: frequency tables, figures and a summary from many studies (local cores or Dask)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXAMPLES = """examples:
  crmo-analyzer cohort studies/ --out cohort-result
  crmo-analyzer cohort manifest.csv more/study.json --out cohort-result --workers 2
  crmo-analyzer cohort studies/ --out cohort-result --dask tcp://scheduler:8786
  crmo-analyzer cohort --synthetic 500 --seed 1 --out synthetic-cohort

inputs: study.json files, folders (searched for *.json studies), or a manifest CSV of image sets
with columns bones, lesions (or points), and optionally image, bone_labels, task, patient, date,
birth_date, sex (paths relative to the CSV), analyzed first.
outputs: DIR/tables/*.csv and *.parquet, DIR/figures/*.png and *.svg, DIR/report.md and report.html
(pseudonymized); DIR/private holds the run state and input paths: keep it, do not share it.
A re-run with the same --out skips finished cases. Exit code 1 when any case failed.
"""


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "cohort", help="tables, figures and a summary from many studies (parallel, resumable)",
        description="Read (or analyze) every study, then write per-site frequencies (% of patients, % of lesions), "
                    "sides, bilateral and symmetric rates, lesions per patient, pattern classes and per-exam rows "
                    "(CSV and Parquet), figures and a short summary. No patient identifier reaches the outputs.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="study.json, folder, or manifest .csv")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: all cores)")
    parser.add_argument("--dask", metavar="ADDR", help="run on the Dask scheduler at ADDR (e.g. tcp://host:8786)")
    parser.add_argument("--synthetic", type=int, metavar="N", help="add N synthetic patients (written to DIR/synthetic)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the synthetic cohort (default 0)")
    parser.add_argument("--exams", type=int, default=1, metavar="K", help="exams per synthetic patient (default 1)")
    parser.add_argument("--synthetic-images", action="store_true",
                        help="make the synthetic cohort as image sets (bone and lesion maps + manifest) to analyze")
    parser.add_argument("--redo", action="store_true", help="process every case again (ignore the saved state)")
    parser.add_argument("--strict", action="store_true", help="validate each study against the full JSON schema (slow)")
    parser.add_argument("--no-figures", action="store_true", help="tables and summary only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cohort import run_cohort  # noqa: PLC0415 (fast --help)
    from ..errors import CRMOInputError  # noqa: PLC0415

    inputs = list(args.inputs)
    if args.workers is not None and args.workers < 1:
        raise CRMOInputError("--workers", "must be 1 or more")
    if args.synthetic is not None:
        if args.synthetic < 1 or args.exams < 1:
            raise CRMOInputError("--synthetic", "needs N >= 1 patients and --exams >= 1")
        from ..cohort import synthetic  # noqa: PLC0415

        folder = args.out / "synthetic"
        if args.synthetic_images:
            inputs.append(synthetic.write_image_sets(folder, args.synthetic, args.seed))
        else:
            synthetic.write_studies(folder, args.synthetic, args.seed, args.exams)
            inputs.append(folder)
    if not inputs:
        raise CRMOInputError(None, "give at least one INPUT (study.json, folder, manifest .csv) or --synthetic N")
    result = run_cohort(inputs, args.out, workers=args.workers, dask=args.dask,
                        progress=False if (args.no_progress or args.quiet) else None, redo=args.redo,
                        strict=args.strict, figures=not args.no_figures)
    if not args.quiet:
        print(f"{result.cases} case(s): {result.processed} processed, {result.skipped} already done, "
              f"{len(result.failures)} failed; {result.seconds:.1f} s")
        if result.tables is not None:
            s = result.tables.summary
            print(f"{s['patients']} patients, {s['exams']} exams; tables in {args.out / 'tables'}, "
                  f"summary {args.out / 'report.html'}")
    if result.failures:
        print(f"crmo-analyzer: {len(result.failures)} case(s) failed (list: {result.files['failures']}):", file=sys.stderr)
        for failure in result.failures[:20]:
            print(f"  {failure.source}: {failure.reason}", file=sys.stderr)
        if len(result.failures) > 20:
            print(f"  ... and {len(result.failures) - 20} more", file=sys.stderr)
    if result.tables is None:
        print("crmo-analyzer: error: no study could be used; no tables written", file=sys.stderr)
    return result.exit_code
