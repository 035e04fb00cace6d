"""``crmo-analyzer candidates``: lesion candidates on a STIR image, for the reader to accept or reject."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

EXAMPLES = """examples:
  crmo-analyzer candidates --image stir.nii.gz --bones bones.nii.gz --bone-labels bones.labels.json --out found
  crmo-analyzer analyze --bones bones.nii.gz --bone-labels bones.labels.json --lesions found/candidates.nii.gz --out result
"""


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "candidates", help="propose lesion candidates on a STIR image (the reader decides)",
        description="Propose lesion candidates: marrow clearly brighter than the child's own marrow inside each bone, "
                    "after removing the coil's smooth bias; growth plates, joint fluid and vessels are held back. "
                    "Writes DIR/candidates.nii.gz (a value per candidate, on the image's grid) and DIR/candidates.json. "
                    "Candidates are automatic proposals, not findings.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True, type=Path, metavar="STIR", help="STIR (fat-suppressed fluid-sensitive) image")
    parser.add_argument("--bones", required=True, type=Path, metavar="BONES",
                        help="bone segmentation: labelmap (.nii/.nii.gz/.nrrd/.mha) or Slicer .seg.nrrd (any grid)")
    parser.add_argument("--bone-labels", type=Path, metavar="LABELS",
                        help="label names, as for 'analyze' (default for a labelmap: TotalSegmentator 'total' ids)")
    parser.add_argument("--task", metavar="TASK", help="TotalSegmentator task of the default ids (default: total)")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if needed)")
    parser.set_defaults(func=run)


def read_bonemap(bones: Path, bone_labels: Path | None = None, task: str | None = None):
    """The named bone map, read as ``analyze`` reads it; a bone map that names almost no bone is refused."""
    from ..errors import CRMOInputError  # noqa: PLC0415
    from ..pipeline import read_bonemap as read, swapped_bones  # noqa: PLC0415

    bonemap = read(bones, bone_labels, task)
    why = swapped_bones(bonemap)
    if why is not None:
        raise CRMOInputError(bones, why)
    return bonemap


def run(args: argparse.Namespace) -> int:
    from ..candidates import find_candidates  # noqa: PLC0415
    from ..errors import CRMOInputError  # noqa: PLC0415
    from ..io.files import write_json  # noqa: PLC0415
    from ..io.images import read_image, write_image  # noqa: PLC0415

    bonemap = read_bonemap(args.bones, args.bone_labels, args.task)
    image = read_image(args.image, "STIR image")
    result = find_candidates(image, bonemap)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CRMOInputError(args.out, f"cannot create the output folder: {error.strerror or error}") from error
    inputs = {"image": os.fspath(args.image), "bones": os.fspath(args.bones), "bone_names": bonemap.names_source}
    written = write_image(args.out / "candidates.nii.gz", result.labelmap)
    document = write_json(args.out / "candidates.json", result.to_dict(inputs))
    if not getattr(args, "quiet", False):
        print(f"{len(result.candidates)} lesion candidate{'' if len(result.candidates) == 1 else 's'} proposed "
              f"(automatic: the reader accepts or rejects each); wrote {written} and {document}")
    return 0
