"""``crmo-analyzer analyze``: localize lesions from files and write study.json and report.txt."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


EXAMPLES = """examples:
  crmo-analyzer analyze --bones bones.nii.gz --bone-labels bones.labels.json --lesions lesions.seg.nrrd --out result
  crmo-analyzer analyze --bones totalseg.nii.gz --points lesions.mrk.json --image stir.nii.gz --patient-id 123 --out result
  crmo-analyzer analyze --bones bones.seg.nrrd --lesions lesions.nii.gz --info study-info.json --out result
"""


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze", help="localize lesions in a bone map; write study.json and report.txt",
        description="Localize every lesion (bone, side, sub-location), tabulate the distribution and write "
                    "DIR/study.json and DIR/report.txt. Images may lie on different grids.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if needed)")
    parser.add_argument("--force", action="store_true", help="analyze even when the bone map and the lesion map look "
                                                             "swapped (a warning says so)")
    parser.set_defaults(func=run)


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The input options shared by ``analyze`` and other commands that analyze images."""
    parser.add_argument("--bones", required=True, type=Path, metavar="BONES",
                        help="bone segmentation: labelmap (.nii/.nii.gz/.nrrd/.mha) or Slicer .seg.nrrd")
    parser.add_argument("--bone-labels", type=Path, metavar="LABELS",
                        help="label names: 'value name' lines, a Slicer color table, or TotalSegmentator JSON "
                             "{value: name}; default for a labelmap: TotalSegmentator 'total' ids (with a warning)")
    parser.add_argument("--task", metavar="TASK", help="TotalSegmentator task of the default ids: total, total_mr, "
                        "vertebrae_mr, appendicular_bones (default: total)")
    lesions = parser.add_mutually_exclusive_group(required=True)
    lesions.add_argument("--lesions", type=Path, metavar="LESIONS", help="lesion labelmap (a value per lesion) or .seg.nrrd")
    lesions.add_argument("--points", type=Path, metavar="POINTS", help="points, one per lesion: Slicer markups .mrk.json, Slicer .fcsv, or a CSV with "
                              "a label column and R,A,S (or L,P,S) columns")
    parser.add_argument("--image", type=Path, metavar="IMAGE", help="intensity image (e.g. STIR) for intensity features")
    parser.add_argument("--info", type=Path, metavar="JSON", help='patient and study facts: {"patient": {...}, "study": {...}}')
    parser.add_argument("--patient-id", metavar="ID")
    parser.add_argument("--patient-name", metavar="NAME", help="as Family^Given")
    parser.add_argument("--birth-date", metavar="YYYY-MM-DD")
    parser.add_argument("--sex", choices=("F", "M", "O"))
    parser.add_argument("--study-date", metavar="YYYY-MM-DD")
    parser.add_argument("--modality", metavar="MOD", help="e.g. MR (default), CT")
    parser.add_argument("--description", metavar="TEXT", help="study description")
    parser.add_argument("--accession", metavar="NUMBER", help="accession number")


def inputs_from_args(args: argparse.Namespace):
    """AnalysisInputs from parsed options (``--info`` first, then single options over it)."""
    from ..pipeline import AnalysisInputs, check_facts, read_info  # noqa: PLC0415 (fast --help)

    patient, study = read_info(args.info) if args.info else ({}, {})
    for key, value in (("id", args.patient_id), ("name", args.patient_name), ("birth_date", args.birth_date), ("sex", args.sex)):
        if value is not None:
            patient[key] = value
    for key, value in (("date", args.study_date), ("modality", args.modality), ("description", args.description),
                       ("accession", args.accession)):
        if value is not None:
            study[key] = value
    study.setdefault("modality", "MR")
    check_facts(patient, study, "command line")
    return AnalysisInputs(bones=args.bones, lesions=args.lesions, points=args.points, bone_labels=args.bone_labels,
                          image=args.image, task=args.task, patient=patient, study=study,
                          force=getattr(args, "force", False))


#: BLAS threads for this command: its products are of (n, 3) by (3, 3) matrices, where threads only cost (they
#: spin against the localization's own work on a busy machine); set before numpy loads, unless the user set them
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(args: argparse.Namespace) -> int:
    if "numpy" not in sys.modules:  # a fresh process (not a caller that has numpy running already)
        for name, value in BLAS_THREADS.items():
            os.environ.setdefault(name, value)
    from ..pipeline import analyze_files, prepare_report, write_outputs  # noqa: PLC0415

    inputs = inputs_from_args(args)
    prepare_report()  # the report's imports and templates, beside the localization
    study = analyze_files(inputs)
    written = write_outputs(study, args.out)
    if not args.quiet:
        print(f"{len(study.lesions)} lesions localized; wrote {written['study']} and {written['report']}")
    return 0
