"""One-pass measurement of every lesion of a label map, and sampling of other grids.

All lesions are measured together from the non-zero voxels (no mask per lesion): voxel count,
volume, centroid and bounding box in RAS, overlap with each bone value of another grid, and
intensity statistics from an image on any grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import to_index, to_ras
from .images import Image

__all__ = ["LesionVoxels", "measure_labels", "sample_nearest"]


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


def measure_labels(labelmap: Image, image: Image | None = None) -> dict[int, LesionVoxels]:
    """Measure every non-zero label of ``labelmap`` in one pass over its non-zero voxels."""
    flat = labelmap.array.reshape(-1)
    nonzero = np.flatnonzero(flat)
    if nonzero.size == 0:
        return {}
    values = flat[nonzero]
    order = np.argsort(values, kind="stable")
    nonzero, values = nonzero[order], values[order]
    labels, starts, counts = np.unique(values, return_index=True, return_counts=True)
    k, j, i = np.unravel_index(nonzero, labelmap.array.shape)
    ras = to_ras(labelmap.affine, np.column_stack([i, j, k]))
    sums = np.add.reduceat(ras, starts, axis=0)
    lows = np.minimum.reduceat(ras, starts, axis=0)
    highs = np.maximum.reduceat(ras, starts, axis=0)
    intensities = None
    if image is not None:
        intensities = sample_nearest(image, ras, outside=np.nan).astype(float)
    voxel_volume = labelmap.voxel_volume_mm3
    half_voxel = 0.5 * np.abs(labelmap.affine[:3, :3]).sum(axis=1)
    result: dict[int, LesionVoxels] = {}
    for index, value in enumerate(labels.tolist()):
        start, count = int(starts[index]), int(counts[index])
        stats = None
        if intensities is not None:
            sample = intensities[start:start + count]
            sample = sample[np.isfinite(sample)]
            if sample.size:
                stats = {"mean": float(sample.mean()), "sd": float(sample.std()), "min": float(sample.min()),
                         "max": float(sample.max()), "median": float(np.median(sample)), "voxels": int(sample.size)}
        result[int(value)] = LesionVoxels(
            value=int(value), voxel_count=count, volume_mm3=count * voxel_volume,
            centroid_ras=sums[index] / count, bbox_min_ras=lows[index] - half_voxel, bbox_max_ras=highs[index] + half_voxel,
            positions_ras=ras[start:start + count], intensity=stats)
    return result
