"""Coordinates. The core works in RAS millimetres; LPS (ITK, DICOM) becomes RAS here, once.

RAS: +x patient Right, +y Anterior, +z Superior (Slicer). LPS: +x Left, +y Posterior, +z Superior.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LPS_TO_RAS", "lps_to_ras", "grid_affine", "to_index", "to_ras"]

#: Homogeneous matrix turning LPS points into RAS points (and back: it is its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def lps_to_ras(points: np.ndarray) -> np.ndarray:
    """RAS coordinates of LPS points (``(..., 3)``): x and y change sign."""
    points = np.asarray(points, dtype=float)
    return points * np.array([-1.0, -1.0, 1.0])


def grid_affine(spacing, origin_lps, direction_lps) -> np.ndarray:
    """4x4 matrix from (i, j, k) voxel index to RAS mm, from an ITK image's LPS geometry."""
    direction = np.asarray(direction_lps, dtype=float).reshape(3, 3)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = direction * np.asarray(spacing, dtype=float)[np.newaxis, :]
    ijk_to_lps[:3, 3] = np.asarray(origin_lps, dtype=float)
    return LPS_TO_RAS @ ijk_to_lps


def to_ras(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """RAS positions (``(n, 3)``) of voxel indices (``(n, 3)``, order i, j, k)."""
    ijk = np.asarray(ijk, dtype=float)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def to_index(affine: np.ndarray, ras: np.ndarray) -> np.ndarray:
    """Continuous voxel indices (``(n, 3)``, order i, j, k) of RAS positions."""
    inverse = np.linalg.inv(affine)
    ras = np.asarray(ras, dtype=float)
    return ras @ inverse[:3, :3].T + inverse[:3, 3]
