#!/usr/bin/env python3
"""Make the bundled synthetic sample study (no patient data) in Resources/SampleStudy.

A child-sized phantom skeleton (TotalSegmentator names) on a CT-like grid, and a typical CRMO
lesion set with a low-contrast STIR-like image on an oblique MRI-like grid; the patient lies
off-centre and slightly rotated. Run: python Resources/make_sample_study.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CRMOAnalyzer"))

from CRMOAnalyzerLib.files import write_json  # noqa: E402
from CRMOAnalyzerLib.images import write_image  # noqa: E402
from CRMOAnalyzerLib.labelnames import write_label_names  # noqa: E402
from CRMOAnalyzerLib.markups import write_points  # noqa: E402
from CRMOAnalyzerLib.phantom import Grid, Pose, make_phantom, rotation  # noqa: E402
from CRMOAnalyzerLib.segmentation_file import write_seg_nrrd  # noqa: E402

OUT = Path(__file__).resolve().parent / "SampleStudy"
PATIENT = {"id": "CRMO-DEMO-001", "name": "Demo^Synthetic", "birth_date": "2016-05-14", "sex": "F"}
STUDY = {"date": "2026-03-01", "modality": "MR", "description": "Whole-body MRI, coronal STIR (synthetic phantom)",
         "accession": "DEMO0001"}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pose = Pose(rotation((0, 0, 1), 6.0), np.array([35.0, -15.0, 20.0]))
    mri = Grid((4.0, 4.0, 5.0), rotation((0, 1, 0), 4.0) @ rotation((0, 0, 1), -8.0))
    phantom = make_phantom(Grid((3.0, 3.0, 3.0)), mri, pose, with_image=True, seed=20260301)
    write_image(OUT / "bones.nii.gz", phantom.bones)
    write_label_names(OUT / "bones.labels.json", phantom.bones.names)
    write_seg_nrrd(OUT / "lesions.seg.nrrd", phantom.lesions)
    write_image(OUT / "stir.nii.gz", phantom.image)
    write_points(OUT / "lesions.mrk.json", phantom.points, "LPS")
    write_json(OUT / "study-info.json", {"patient": PATIENT, "study": STUDY})
    write_json(OUT / "expected.json", {"note": "The answer each lesion was built to give (phantom construction).",
                                       "lesions": phantom.expected})
    for path in sorted(OUT.iterdir()):
        print(f"{path.stat().st_size / 1e6:7.2f} MB  {path.name}")


if __name__ == "__main__":
    main()
