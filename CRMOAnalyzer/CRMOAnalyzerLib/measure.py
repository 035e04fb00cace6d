"""One-pass measurement of every lesion of a label map, and sampling of other grids.

All lesions are measured together (no full-volume mask per lesion): voxel count,
volume, centroid and bounding box in RAS, overlap with each bone value of another grid, and
intensity statistics from an image on any grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from .geometry import to_index, to_ras
from .images import Image, LabelMap

__all__ = ["LesionVoxels", "label_statistics", "label_voxels", "measure_labels", "sample_nearest"]


@dataclass
class LesionVoxels:
    """What one pass over a lesion label map knows about one label value."""

    value: int
    voxel_count: int
    volume_mm3: float
    centroid_ras: np.ndarray
    bbox_min_ras: np.ndarray
    bbox_max_ras: np.ndarray
    positions_ras: np.ndarray = field(repr=False)  # every voxel centre, (n, 3)
    intensity: dict[str, float] | None = None


def sample_nearest(image: Image, ras: np.ndarray, outside: int | float = -1) -> np.ndarray:
    """Values of ``image`` at RAS points (nearest voxel); ``outside`` where a point is off the grid."""
    ijk = np.rint(to_index(image.affine, ras)).astype(np.int64)
    shape_ijk = np.array(image.shape_ijk)
    inside = np.all((ijk >= 0) & (ijk < shape_ijk), axis=1)
    dtype = np.result_type(image.array.dtype, np.min_scalar_type(outside))
    values = np.full(len(ras), outside, dtype=dtype)
    i, j, k = ijk[inside].T
    values[inside] = image.array[k, j, i]
    return values


def label_statistics(labelmap: LabelMap) -> sitk.LabelShapeStatisticsImageFilter:
    """SimpleITK's run-length label statistics of a label map, in index space (one pass, no masks)."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.SetComputePerimeter(False)
    stats.SetComputeFeretDiameter(False)
    stats.Execute(labelmap.as_sitk())
    return stats


def label_voxels(labelmap: LabelMap, value: int, box: tuple[int, ...]) -> np.ndarray:
    """RAS positions of the voxels of ``value`` inside its index bounding box ``(i, j, k, size_i, size_j, size_k)``."""
    i0, j0, k0, si, sj, sk = box
    crop = labelmap.array[k0:k0 + sk, j0:j0 + sj, i0:i0 + si]
    k, j, i = np.nonzero(crop == value)
    return to_ras(labelmap.affine, np.column_stack([i + i0, j + j0, k + k0]))


def measure_labels(labelmap: LabelMap, image: Image | None = None) -> dict[int, LesionVoxels]:
    """Measure every non-zero label of ``labelmap``.

    One run-length pass over the whole map (SimpleITK) finds each label's bounding box; the
    rest works inside those boxes only, so the cost is one pass plus the lesions' own size.
    """
    stats = label_statistics(labelmap)
    voxel_volume = labelmap.voxel_volume_mm3
    half_voxel = 0.5 * np.abs(labelmap.affine[:3, :3]).sum(axis=1)
    result: dict[int, LesionVoxels] = {}
    for value in stats.GetLabels():
        value = int(value)
        ras = label_voxels(labelmap, value, stats.GetBoundingBox(value))
        intensity = None
        if image is not None:
            sample = sample_nearest(image, ras, outside=np.nan).astype(float)
            sample = sample[np.isfinite(sample)]
            if sample.size:
                intensity = {"mean": float(sample.mean()), "sd": float(sample.std()), "min": float(sample.min()),
                             "max": float(sample.max()), "median": float(np.median(sample)), "voxels": int(sample.size)}
        result[value] = LesionVoxels(
            value=value, voxel_count=len(ras), volume_mm3=len(ras) * voxel_volume, centroid_ras=ras.mean(axis=0),
            bbox_min_ras=ras.min(axis=0) - half_voxel, bbox_max_ras=ras.max(axis=0) + half_voxel,
            positions_ras=ras, intensity=intensity)
    return result
