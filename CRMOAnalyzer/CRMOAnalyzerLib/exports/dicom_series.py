"""DICOM image series in and out: write an :class:`~CRMOAnalyzerLib.io.images.Image` as a synthetic MR
series (one MR Image Storage file per slice along k), and read a series back as datasets + an Image.

The writer exists for the bundled synthetic sample study (the SR and SEG need real DICOM evidence);
its acquisition attributes are plausible STIR values, marked synthetic in the series description.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import CRMOInputError
from ..io.files import atomic_write
from ..io.geometry import LPS_TO_RAS
from ..io.images import Image

__all__ = ["write_series", "read_series", "study_series", "dataset_bytes", "series_image", "resample_onto"]

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
MAX_FILES = 5000


def _uid(*parts: str) -> str:
    from pydicom.uid import generate_uid  # noqa: PLC0415

    return generate_uid(entropy_srcs=["crmo-analyzer", *parts])


def _ds(value: float) -> str:
    """A DICOM DS string (at most 16 characters)."""
    text = f"{value:.6g}"
    return text if len(text) <= 16 else f"{value:.4e}"


def write_series(image: Image, out_dir: str | os.PathLike, patient: dict | None = None, study: dict | None = None,
                 series_description: str = "STIR (synthetic)", seed: str = "sample") -> list[Path]:
    """Write ``image`` as an MR series, one file per k slice (``IM0001.dcm`` ...), each atomically.

    UIDs derive from ``seed`` (the same seed gives the same series). Returns the file paths.
    """
    import pydicom  # noqa: PLC0415
    from pydicom.dataset import FileMetaDataset  # noqa: PLC0415
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID  # noqa: PLC0415

    patient, study = patient or {}, study or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ijk_to_lps = LPS_TO_RAS @ image.affine
    spacing = np.linalg.norm(ijk_to_lps[:3, :3], axis=0)
    row_dir, col_dir = ijk_to_lps[:3, 0] / spacing[0], ijk_to_lps[:3, 1] / spacing[1]
    array = np.asarray(image.array)
    if array.dtype.kind == "f":
        array = np.round(array)
    array = np.clip(array, -32768, 32767).astype(np.int16)
    date = str(study.get("date") or "2000-01-01").replace("-", "")
    study_uid, series_uid, frame_uid = _uid(seed, "study"), _uid(seed, "series"), _uid(seed, "frame")
    paths = []
    for k in range(array.shape[0]):
        sop_uid = _uid(seed, "instance", str(k))
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.ImageType = ["DERIVED", "PRIMARY", "OTHER"]
        ds.SOPClassUID, ds.SOPInstanceUID = MR_IMAGE_STORAGE, sop_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "090000"
        ds.AccessionNumber = str(study.get("accession") or "")[:16]
        ds.Modality = "MR"
        ds.Manufacturer = "CRMO Analyzer (synthetic)"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = str(study.get("description") or "")[:64]
        ds.SeriesDescription = series_description[:64]
        ds.PatientName = str(patient.get("name") or "")
        ds.PatientID = str(patient.get("id") or "")[:64]
        ds.PatientBirthDate = str(patient.get("birth_date") or "").replace("-", "")
        ds.PatientSex = patient.get("sex") if patient.get("sex") in ("F", "M", "O") else ""
        ds.BodyPartExamined = "WHOLEBODY"
        ds.ScanningSequence = ["SE", "IR"]
        ds.SequenceVariant = ["SK"]
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.SliceThickness = _ds(spacing[2])
        ds.RepetitionTime, ds.EchoTime, ds.InversionTime = "4000", "60", "150"
        ds.EchoTrainLength = 16
        ds.MagneticFieldStrength = "1.5"
        ds.ImagedNucleus = "1H"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.StudyID = "1"
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.PatientPosition = "HFS"
        ds.ImagePositionPatient = [_ds(v) for v in ijk_to_lps[:3, :3] @ np.array([0.0, 0.0, k]) + ijk_to_lps[:3, 3]]
        ds.ImageOrientationPatient = [_ds(v) for v in (*row_dir, *col_dir)]
        ds.SliceLocation = _ds(float(np.dot(np.cross(row_dir, col_dir), ijk_to_lps[:3, :3] @ [0, 0, k] + ijk_to_lps[:3, 3])))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = int(array.shape[1]), int(array.shape[2])
        ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[0])]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = np.ascontiguousarray(array[k]).tobytes()
        path = out / f"IM{k + 1:04d}.dcm"
        atomic_write(path, lambda tmp, ds=ds: ds.save_as(tmp, enforce_file_format=True))
        paths.append(path)
    return paths


def read_series(folder: str | os.PathLike) -> list:
    """The image datasets of the one DICOM series in ``folder`` (sorted along the slice normal).

    Raises CRMOInputError when the folder is missing, holds no DICOM image, or several series.
    """
    import pydicom  # noqa: PLC0415
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415

    folder = Path(folder)
    if not folder.is_dir():
        raise CRMOInputError(folder, "DICOM folder not found")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if len(files) > MAX_FILES:
        raise CRMOInputError(folder, f"more than {MAX_FILES} files: give the folder of one series")
    datasets = []
    for path in files:
        try:
            ds = pydicom.dcmread(path)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            continue
        if "PixelData" in ds and "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds:
            datasets.append(ds)
    if not datasets:
        raise CRMOInputError(folder, "no DICOM image with position and orientation found (the SR and SEG need the series the lesions were drawn on)")
    series = {str(ds.SeriesInstanceUID) for ds in datasets}
    if len(series) > 1:
        raise CRMOInputError(folder, f"holds {len(series)} DICOM series: give the folder of one series")
    orientation = np.asarray(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(orientation[:3], orientation[3:])
    datasets.sort(key=lambda ds: float(np.dot(normal, np.asarray(ds.ImagePositionPatient, dtype=float))))
    return datasets


def study_series(study, folder: str | os.PathLike | None = None, where: str = "study") -> list:
    """The DICOM series the SR and SEG of ``study`` refer to: ``folder``, else the series the study records."""
    folder = folder or (study.dicom or {}).get("series_dir")
    if not folder:
        raise CRMOInputError(where, "no DICOM evidence: the SR and SEG refer to the DICOM series the lesions were "
                                    "read on; give --dicom DIR (or record dicom.series_dir in the study)")
    return read_series(folder)


def dataset_bytes(ds) -> bytes:
    """A dataset as the bytes of a DICOM file (Part 10, with its file meta)."""
    import io  # noqa: PLC0415

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def series_image(datasets: Sequence, with_pixels: bool = False) -> Image:
    """The grid (and optionally the pixels) of a sorted single-frame series as an :class:`Image` (RAS affine)."""
    first = datasets[0]
    orientation = np.asarray(first.ImageOrientationPatient, dtype=float)
    row_dir, col_dir = orientation[:3], orientation[3:]
    row_spacing, col_spacing = (float(x) for x in first.PixelSpacing)
    origin = np.asarray(first.ImagePositionPatient, dtype=float)
    if len(datasets) > 1:
        step = np.asarray(datasets[1].ImagePositionPatient, dtype=float) - origin
    else:
        step = np.cross(row_dir, col_dir) * float(getattr(first, "SliceThickness", 1.0) or 1.0)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, 0] = row_dir * col_spacing
    ijk_to_lps[:3, 1] = col_dir * row_spacing
    ijk_to_lps[:3, 2] = step
    ijk_to_lps[:3, 3] = origin
    shape = (len(datasets), int(first.Rows), int(first.Columns))
    array = np.stack([ds.pixel_array for ds in datasets]) if with_pixels else np.zeros(shape, dtype=np.uint8)
    return Image(array, LPS_TO_RAS @ ijk_to_lps, str(getattr(first, "SeriesInstanceUID", "")))


def resample_onto(image: Image, grid: Image, nearest: bool = False) -> np.ndarray:
    """Voxels of ``image`` on ``grid``'s voxels (array ``[k, j, i]``), linear or nearest-neighbour, 0 outside."""
    import SimpleITK as sitk  # noqa: PLC0415

    from ..io.images import to_sitk  # noqa: PLC0415

    reference = to_sitk(Image(np.zeros(grid.array.shape, dtype=np.uint8), grid.affine, grid.source))
    moving = to_sitk(image)
    interpolator = sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear
    out = sitk.Resample(moving, reference, sitk.Transform(), interpolator, 0.0, moving.GetPixelID())
    return sitk.GetArrayFromImage(out)
