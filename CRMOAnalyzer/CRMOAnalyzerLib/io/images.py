"""Reading label maps and intensity images, with a one-line error for every bad file.

A :class:`LabelMap` holds the voxels as a numpy array indexed ``[k, j, i]`` (SimpleITK's order),
the ``ijk -> RAS`` affine, and the names of its label values when the file carries them.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import CRMOInputError
from .volumes import Image, LabelMap, checked_affine

__all__ = ["LabelMap", "Image", "checked_affine", "read_labelmap", "read_image", "labelmap_from_sitk", "image_from_sitk", "to_sitk", "write_image"]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
MAX_LABEL = 2**31 - 1


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".seg.nrrd", ".nii.gz") + IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _read_sitk(path: Path, what: str) -> sitk.Image:
    if not path.exists():
        raise CRMOInputError(path, f"{what} not found")
    if path.is_dir():
        raise CRMOInputError(path, f"is a folder, expected a {what} file")
    if _suffix(path) not in IMAGE_SUFFIXES + (".seg.nrrd",):
        raise CRMOInputError(path, f"unsupported {what} format {path.suffix!r}: use NIfTI, NRRD or MHA")
    try:
        image = sitk.ReadImage(os.fspath(path))
    except RuntimeError as error:
        first = next((line for line in str(error).splitlines() if "ERROR" in line or "rror" in line), "")
        detail = first.split(":")[-1].strip() if first else "not a readable image"
        raise CRMOInputError(path, f"cannot read {what}: {detail or 'not a readable image'}") from error
    if path.name.lower().endswith(".gz") and not _gzip_whole(path, image):
        raise CRMOInputError(path, f"cannot read {what}: the file is cut short or damaged (incomplete gzip data)")
    return image


#: room for a NIfTI header and its extensions before the voxels of a .nii.gz
_MAX_HEADER_BYTES = 2**20


def _gzip_whole(path: Path, image: sitk.Image) -> bool:
    """Whether a gzip file is complete (ITK reads a cut-short .nii.gz as zeros, without an error).

    Cheap first: gzip's last 4 bytes hold the uncompressed size, which is the voxels plus the header;
    only when that does not fit (several gzip members, scaled voxels) is the whole stream decompressed.
    """
    voxels = image.GetNumberOfPixels() * image.GetSizeOfPixelComponent() * image.GetNumberOfComponentsPerPixel()
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() < 18:
            return False
        handle.seek(-4, os.SEEK_END)
        size = int.from_bytes(handle.read(4), "little")
    if 0 < (size - voxels) % 2**32 <= _MAX_HEADER_BYTES:
        return True
    return _gzip_stream_ends(path)


def _gzip_stream_ends(path: Path) -> bool:
    """Decompress every gzip member (in bounded steps): True when the last one ends with the file."""
    def fresh():
        return zlib.decompressobj(zlib.MAX_WBITS | 16)

    stream, inside, members = fresh(), False, 0
    with open(path, "rb") as handle:
        while chunk := handle.read(2**20):
            while chunk:
                inside = True
                try:
                    stream.decompress(chunk, 2**24)
                except zlib.error:
                    return members > 0  # bytes after the last member: ignored, as gzip does
                if stream.eof:
                    chunk, stream, inside, members = stream.unused_data, fresh(), False, members + 1
                else:
                    chunk = stream.unconsumed_tail
    return members > 0 and not inside


def _as_3d(image: sitk.Image, source: str, what: str) -> sitk.Image:
    dimension = image.GetDimension()
    if dimension == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
        dimension = 3
    if dimension != 3:
        raise CRMOInputError(source, f"{what} is {dimension}D, expected a 3D image")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise CRMOInputError(source, f"{what} has {image.GetNumberOfComponentsPerPixel()} components per voxel, expected 1")
    if min(image.GetSize()) < 1:
        raise CRMOInputError(source, f"{what} is empty (size {image.GetSize()})")
    return image


def image_from_sitk(image: sitk.Image, source: str = "", what: str = "image") -> Image:
    """An :class:`Image` from a SimpleITK image (any pixel type)."""
    image = _as_3d(image, source, what)
    affine = checked_affine(source, image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    return Image(sitk.GetArrayFromImage(image), affine, source)


class _ImageBuffer:
    """The voxels of a SimpleITK image for numpy, keeping the image alive as long as any array on them."""

    def __init__(self, image: sitk.Image) -> None:
        self.image = image
        self.__array_interface__ = sitk.GetArrayViewFromImage(image).__array_interface__


def _view(image: sitk.Image) -> np.ndarray:
    """A read-only array on the image's voxels (no copy) that owns a reference to the image:
    ``read_labelmap(path).array`` stays valid after the LabelMap is gone."""
    return np.asarray(_ImageBuffer(image))


def labelmap_from_sitk(image: sitk.Image, source: str = "", what: str = "label map",
                       names: dict[int, str] | None = None) -> LabelMap:
    """A :class:`LabelMap` from a SimpleITK image; float images must hold whole numbers."""
    image = _as_3d(image, source, what)
    affine = checked_affine(source, image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    array = _view(image)  # no copy
    keep = image
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise CRMOInputError(source, f"{what} has non-finite (NaN or infinite) values")
        if not np.array_equal(array, np.round(array)):
            raise CRMOInputError(source, f"{what} has fractional values: a label map holds whole numbers")
        if array.size and (array.min() < 0 or array.max() > MAX_LABEL):
            raise CRMOInputError(source, f"{what} has label values out of range")
        logger.warning("%s: %s is stored as floating point; its whole-number values are used as labels", source, what)
        array, keep = array.astype(np.uint32), None
    elif array.dtype.kind not in "iu" and array.dtype != bool:
        raise CRMOInputError(source, f"{what} has pixel type {array.dtype}, expected integer labels")
    if array.dtype == bool:
        array, keep = array.astype(np.uint8), None
    if array.size and array.dtype.kind == "i" and array.min() < 0:
        raise CRMOInputError(source, f"{what} has negative label values (minimum {int(array.min())})")
    if array.size and array.dtype.itemsize > 4 and array.max() > MAX_LABEL:
        raise CRMOInputError(source, f"{what} has label values above {MAX_LABEL}")
    return LabelMap(array, affine, source, dict(names or {}), keep)


def read_image(path: str | os.PathLike, what: str = "image") -> Image:
    """Read an intensity image (NIfTI, NRRD, MHA) with its geometry."""
    path = Path(path)
    return image_from_sitk(_read_sitk(path, what), os.fspath(path), what)


def read_labelmap(path: str | os.PathLike, what: str = "label map") -> LabelMap:
    """Read a label map (NIfTI, NRRD, MHA) or a Slicer ``.seg.nrrd`` (names from its segments)."""
    path = Path(path)
    if _suffix(path) == ".seg.nrrd":
        from .segmentation_file import read_seg_nrrd  # noqa: PLC0415 (only for .seg.nrrd)

        return read_seg_nrrd(path, what)
    return labelmap_from_sitk(_read_sitk(path, what), os.fspath(path), what)


def to_sitk(image: Image) -> sitk.Image:
    """A SimpleITK image (LPS geometry) of an :class:`Image`."""
    from .geometry import LPS_TO_RAS  # noqa: PLC0415

    out = sitk.GetImageFromArray(image.array)
    ijk_to_lps = LPS_TO_RAS @ image.affine
    spacing = np.linalg.norm(ijk_to_lps[:3, :3], axis=0)
    out.SetSpacing(spacing.tolist())
    out.SetDirection((ijk_to_lps[:3, :3] / spacing).ravel().tolist())
    out.SetOrigin(ijk_to_lps[:3, 3].tolist())
    return out


def write_image(path: str | os.PathLike, image: Image) -> Path:
    """Write an image or label map (NIfTI, NRRD, MHA by the suffix; compressed), atomically."""
    from .files import atomic_write  # noqa: PLC0415

    return atomic_write(path, lambda tmp: sitk.WriteImage(to_sitk(image), os.fspath(tmp), True))
