"""``crmo-analyzer demo``: the whole job on the bundled synthetic sample study."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..errors import CRMOInputError

#: the bundled sample study (package data, so a wheel and the Slicer extension have it too)
SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample"


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run everything on the bundled synthetic sample study",
        description="Localize, tabulate and report the bundled synthetic sample study (no patient data); "
                    "prints the report and where the files went.",
        epilog="example:\n  crmo-analyzer demo --out demo-result", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: a new folder crmo-demo-* here)")
    parser.add_argument("--sample", type=Path, default=SAMPLE, metavar="DIR", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def sample_inputs(sample: Path):
    """The sample study's files as analysis inputs."""
    from ..pipeline import AnalysisInputs, read_info  # noqa: PLC0415 (fast --help)

    if not (sample / "bones.nii.gz").is_file():
        raise CRMOInputError(sample, "sample study not found: run from a source checkout (pip install -e .) or pass --sample DIR")
    patient, study = read_info(sample / "study-info.json")
    dicom = {"series_dir": str((sample / "dicom").resolve())} if (sample / "dicom").is_dir() else None
    return AnalysisInputs(bones=sample / "bones.nii.gz", bone_labels=sample / "bones.labels.json",
                          lesions=sample / "lesions.seg.nrrd", image=sample / "stir.nii.gz",
                          patient=patient, study=study, dicom=dicom)


def run(args: argparse.Namespace) -> int:
    from ..pipeline import analyze_files, write_outputs  # noqa: PLC0415
    from ..reading.read import render_report  # noqa: PLC0415

    out = args.out or Path(tempfile.mkdtemp(prefix="crmo-demo-", dir="."))
    study = analyze_files(sample_inputs(args.sample))
    written = write_outputs(study, out)
    if not args.quiet:
        print(render_report(study))
        print(f"Wrote {written['study']} and {written['report']}")
    return 0
