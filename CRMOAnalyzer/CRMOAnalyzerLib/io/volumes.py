"""Voxels on a grid: :class:`Image` and :class:`LabelMap` (``array[k, j, i]`` and the ``ijk -> RAS`` affine).

The data types the readers (:mod:`.images`, :mod:`.segmentation_file`) build and everything downstream takes;
this module reads no file, so both readers depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..errors import CRMOInputError
from .geometry import grid_affine

__all__ = ["Image", "LabelMap", "checked_affine"]


@dataclass
class Image:
    """A 3D image on a grid: ``array[k, j, i]`` and the ``ijk -> RAS`` affine."""

    array: np.ndarray
    affine: np.ndarray
    source: str = ""

    @property
    def shape_ijk(self) -> tuple[int, int, int]:
        """tuple: the grid size in (i, j, k) order."""
        k, j, i = self.array.shape
        return i, j, k

    @property
    def voxel_volume_mm3(self) -> float:
        """float: the volume of one voxel."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def same_grid(self, other: Image, tolerance_mm: float = 1e-3) -> bool:
        """Whether ``other`` has the same voxels (shape, and voxel corners within ``tolerance_mm``)."""
        if self.array.shape != other.array.shape:
            return False
        shape = np.array(self.shape_ijk, dtype=float) - 1
        corners = np.array([[i, j, k, 1.0] for i in (0, shape[0]) for j in (0, shape[1]) for k in (0, shape[2])])
        return bool(np.abs(corners @ self.affine.T - corners @ other.affine.T).max() <= tolerance_mm)


@dataclass
class LabelMap(Image):
    """A label map: integer values; ``names`` maps values to names when the file has them.

    When read from a file, ``array`` is a read-only view of the SimpleITK image kept in ``itk``
    (no copy); :meth:`as_sitk` gives that image.
    """

    names: dict[int, str] = field(default_factory=dict)
    itk: sitk.Image | None = field(default=None, repr=False, compare=False)

    def without_voxels(self) -> LabelMap:
        """The grid, source and names without the voxels (and their memory): for steps that need only where the map
        lies and what its labels are called, once its voxels are measured. Its ``array`` has the map's shape and
        dtype but holds no voxel: every element reads 0, from one shared byte."""
        empty = np.broadcast_to(np.zeros((), self.array.dtype), self.array.shape)
        return LabelMap(empty, self.affine, self.source, dict(self.names))

    def as_sitk(self) -> sitk.Image:
        """A SimpleITK image of the labels in index space (the file's own image when there is one)."""
        if self.itk is None:
            self.itk = sitk.GetImageFromArray(self.array)
        return self.itk


def checked_affine(source: str, spacing, origin, direction) -> np.ndarray:
    """The index-to-RAS matrix of an LPS grid (ITK order), or a one-line error if the geometry is unusable."""
    spacing = np.asarray(spacing, dtype=float)
    direction = np.asarray(direction, dtype=float).reshape(3, 3)
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise CRMOInputError(source, f"invalid voxel spacing {tuple(spacing)}: must be positive numbers")
    if not np.all(np.isfinite(origin)):
        raise CRMOInputError(source, "invalid origin: not a finite number")
    if not np.all(np.isfinite(direction)):
        raise CRMOInputError(source, "invalid direction matrix: not finite numbers")
    if abs(abs(np.linalg.det(direction)) - 1.0) > 1e-3 or not np.allclose(direction.T @ direction, np.eye(3), atol=1e-3):
        raise CRMOInputError(source, "invalid direction matrix: singular or not orthonormal")
    return grid_affine(spacing, origin, direction)
