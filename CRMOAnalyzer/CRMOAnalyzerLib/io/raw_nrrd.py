"""The voxels of an uncompressed NRRD file read by pynrrd straight into a numpy array; SimpleITK gives the geometry.

Why: ITK reads voxels into a buffer of its own, which the kernel hands over 4 KiB page by 4 KiB page (32k page faults
for 128 MiB); numpy asks for transparent huge pages for its large arrays, so the same bytes read into a numpy array
take half the time (128 MiB: about 45 ms against 110 ms on the 2-core reference machine). Only the plainest files take
this path: the header attached, encoding ``raw``, this machine's byte order, no skipped lines or bytes, and a 3D scalar
grid on which pynrrd and SimpleITK agree (sizes and voxel type); any other file, and any doubt, is SimpleITK's to read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

__all__ = ["read_raw_nrrd"]

#: the numpy type of each SimpleITK scalar voxel type
_NUMPY_TYPE = {
    sitk.sitkUInt8: np.uint8, sitk.sitkInt8: np.int8, sitk.sitkUInt16: np.uint16, sitk.sitkInt16: np.int16,
    sitk.sitkUInt32: np.uint32, sitk.sitkInt32: np.int32, sitk.sitkUInt64: np.uint64, sitk.sitkInt64: np.int64,
    sitk.sitkFloat32: np.float32, sitk.sitkFloat64: np.float64,
}
#: header fields that move the voxels away from right after the header (both spellings of the NRRD format)
_ELSEWHERE = ("data file", "datafile", "line skip", "lineskip", "byte skip", "byteskip")


def read_raw_nrrd(path: Path) -> tuple[np.ndarray, sitk.ImageFileReader] | None:
    """The voxels (``array[k, j, i]``, writeable) and SimpleITK's reader holding the file's geometry, or ``None``
    when the file is not a plain uncompressed 3D scalar NRRD in this machine's byte order, or pynrrd and SimpleITK
    do not read it alike: then SimpleITK reads it (and says what is wrong with a bad file)."""
    try:
        import nrrd  # noqa: PLC0415 (pynrrd: only for this format; in a Slicer that lacks it yet, SimpleITK reads)

        with open(path, "rb") as handle:
            header = nrrd.read_header(handle)
            if header.get("encoding") != "raw" or any(field in header for field in _ELSEWHERE):
                return None
            array = nrrd.read_data(header, handle, os.fspath(path), index_order="C")
        reader = sitk.ImageFileReader()
        reader.SetFileName(os.fspath(path))
        reader.ReadImageInformation()
    except Exception:  # noqa: BLE001 (a file pynrrd cannot read is SimpleITK's, which names the problem)
        return None
    if (array.ndim != 3 or array.shape != tuple(reversed(reader.GetSize()))
            or array.dtype != np.dtype(_NUMPY_TYPE.get(reader.GetPixelID(), object))):
        return None  # not a 3D scalar grid, another byte order, or another reading than SimpleITK's
    return array, reader
