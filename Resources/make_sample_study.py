#!/usr/bin/env python3
"""Make the bundled synthetic sample study (no patient data) in CRMOAnalyzer/CRMOAnalyzerLib/resources/sample.

A child-sized phantom skeleton (TotalSegmentator names) on a CT-like grid, and a typical CRMO
lesion set with a low-contrast STIR-like image on an oblique MRI-like grid; the patient lies
off-centre and slightly rotated; the STIR image also as a small coronal DICOM MR series (dicom/),
the evidence the DICOM SR and SEG exports refer to. Run: python Resources/make_sample_study.py
(--dicom-only rewrites just the DICOM series).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CRMOAnalyzer"))

from CRMOAnalyzerLib.io.files import read_json, write_json  # noqa: E402
from CRMOAnalyzerLib.io.geometry import LPS_TO_RAS, to_ras  # noqa: E402
from CRMOAnalyzerLib.io.images import Image, read_image, read_labelmap, write_image  # noqa: E402
from CRMOAnalyzerLib.io.labelnames import write_label_names  # noqa: E402
from CRMOAnalyzerLib.io.markups import write_points  # noqa: E402
from CRMOAnalyzerLib.samples.phantom import Grid, Pose, make_phantom, rotation  # noqa: E402
from CRMOAnalyzerLib.io.segmentation_file import write_seg_nrrd  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "CRMOAnalyzer" / "CRMOAnalyzerLib" / "resources" / "sample"
PATIENT = {"id": "CRMO-DEMO-001", "name": "Demo^Synthetic", "birth_date": "2016-05-14", "sex": "F"}
STUDY = {"date": "2026-03-01", "modality": "MR", "description": "Whole-body MRI, coronal STIR (synthetic phantom)",
         "accession": "DEMO0001"}


#: the synthetic DICOM series: coronal slices (rows head to foot), few enough to keep the folder small
DICOM_SLICES, DICOM_PIXEL_MM, DICOM_MARGIN_MM = 36, 5.0, 25.0


def coronal_grid(bones, slices: int = DICOM_SLICES, pixel_mm: float = DICOM_PIXEL_MM,
                 margin_mm: float = DICOM_MARGIN_MM) -> np.ndarray:
    """ijk -> RAS affine and shape of a coronal grid covering the bone map's bones (plus a margin)."""
    ijk = np.argwhere(bones.array > 0)[:, ::-1]
    lps = to_ras(bones.affine, ijk) * np.array([-1.0, -1.0, 1.0])
    low, high = lps.min(0) - margin_mm, lps.max(0) + margin_mm
    thickness = (high[1] - low[1]) / slices
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, 0] = [pixel_mm, 0.0, 0.0]          # rows run patient right -> left
    ijk_to_lps[:3, 1] = [0.0, 0.0, -pixel_mm]         # columns run head -> foot
    ijk_to_lps[:3, 2] = [0.0, thickness, 0.0]         # slices run anterior -> posterior
    ijk_to_lps[:3, 3] = [low[0], low[1] + thickness / 2, high[2]]
    shape = (slices, int(np.ceil((high[2] - low[2]) / pixel_mm)), int(np.ceil((high[0] - low[0]) / pixel_mm)))
    return LPS_TO_RAS @ ijk_to_lps, shape


def write_dicom(out: Path = OUT) -> None:
    """The STIR image as a small synthetic DICOM MR series in ``out/dicom`` (replaced as a whole)."""
    from CRMOAnalyzerLib.exports.dicom_series import resample_onto, write_series  # noqa: PLC0415

    affine, shape = coronal_grid(read_labelmap(out / "bones.nii.gz"))
    grid = Image(np.zeros(shape, dtype=np.uint8), affine, "coronal grid")
    stir = read_image(out / "stir.nii.gz")
    voxels = resample_onto(Image(stir.array.astype(np.float32), stir.affine, stir.source), grid)
    info = read_json(out / "study-info.json")
    folder = out / "dicom"
    shutil.rmtree(folder, ignore_errors=True)
    write_series(Image(np.round(voxels).astype(np.int16), affine, "stir"), folder, info["patient"], info["study"],
                 "Coronal STIR (synthetic phantom)", seed="CRMO-DEMO-001/2026-03-01")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dicom-only", action="store_true", help="only (re)write the DICOM series from stir.nii.gz")
    if parser.parse_args().dicom_only:
        write_dicom()
        return
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
    write_dicom()
    for path in sorted(OUT.iterdir()):
        print(f"{path.stat().st_size / 1e6:7.2f} MB  {path.name}")


if __name__ == "__main__":
    main()
