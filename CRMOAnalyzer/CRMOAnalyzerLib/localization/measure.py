"""One-pass measurement of every lesion of a label map, and sampling of other grids.

All lesions are measured together in one pass over the map (no full-volume mask per lesion):
voxel count, volume, centroid and bounding box in RAS, and intensity statistics from an image
on any grid. (The dense bone map is encoded as runs instead: ``runs.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import runs
from ..io.geometry import to_index, to_ras
from ..io.images import Image, LabelMap

__all__ = ["LesionVoxels", "label_voxel_indices", "measure_labels", "sample_nearest"]

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
    indices: np.ndarray = field(repr=False)  # every voxel's flat index into the map's array, in the same order
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


def _voxels_by_label(labelmap: LabelMap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat indices of every non-zero voxel, grouped by label value (ascending, each group in ascending order),
    the values of the groups and where each group starts (with the total at the end), in one pass over the map.

    The map is read a slab of about ``runs.SLAB_VOXELS`` at a time (no temporary as large as the map). Each slab's
    rows (along i) that hold a non-zero voxel are found first, 8 bytes at a time where a row's bytes allow; only
    those rows are scanned voxel by voxel: lesions fill a few rows of a map, so a sparse map costs about one read.
    """
    array = labelmap.array
    nj, ni = array.shape[1:]
    planes = max(1, runs.SLAB_VOXELS // max(nj * ni, 1))
    indices, values = [], []
    for k0 in range(0, array.shape[0], planes):
        rows = array[k0:k0 + planes].reshape(-1, ni)
        if rows.flags.c_contiguous and (ni * rows.itemsize) % 8 == 0:
            held = np.bitwise_or.reduce(rows.view(np.uint64), axis=1)  # a row's words OR-ed: non-zero if any voxel is
        else:
            held = rows.any(axis=1)
        hit = np.flatnonzero(held)
        if not hit.size:
            continue
        lines = rows[hit]
        found = np.flatnonzero(lines != 0)
        values.append(lines.reshape(-1)[found])
        indices.append((hit[found // ni] + k0 * nj) * ni + found % ni)
    if not indices:
        return np.zeros(0, np.int64), np.zeros(0, array.dtype), np.zeros(1, np.int64)
    flat, value = np.concatenate(indices), np.concatenate(values)
    order = np.argsort(value, kind="stable")  # stable: each label's indices stay in ascending order
    value = value[order]
    starts = np.flatnonzero(np.r_[True, value[1:] != value[:-1]])
    return flat[order], value[starts], np.r_[starts, len(value)]


def label_voxel_indices(labelmap: LabelMap) -> dict[int, np.ndarray]:
    """Flat indices (into ``array.ravel()``) of every non-zero voxel, per label value, in one pass."""
    flat, values, bounds = _voxels_by_label(labelmap)
    return {int(v): flat[a:b] for v, a, b in zip(values, bounds[:-1], bounds[1:])}


def measure_labels(labelmap: LabelMap, image: Image | None = None) -> dict[int, LesionVoxels]:
    """Measure every non-zero label of ``labelmap`` in one pass over it: one table of every lesion voxel's position
    (filled label by label, so that no temporary is larger than a lesion), cut by label for the centroids and boxes."""
    flat, values, bounds = _voxels_by_label(labelmap)
    if not len(values):
        return {}
    ras = np.empty((len(flat), 3))
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        k, j, i = np.unravel_index(flat[a:b], labelmap.array.shape)
        ras[a:b] = to_ras(labelmap.affine, np.column_stack([i, j, k]))
    starts, counts = bounds[:-1], np.diff(bounds)
    centroids = np.add.reduceat(ras, starts, axis=0) / counts[:, None]
    half_voxel = 0.5 * np.abs(labelmap.affine[:3, :3]).sum(axis=1)
    low = np.minimum.reduceat(ras, starts, axis=0) - half_voxel
    high = np.maximum.reduceat(ras, starts, axis=0) + half_voxel
    samples = sample_nearest(image, ras, outside=np.nan).astype(float) if image is not None else None
    voxel_volume = labelmap.voxel_volume_mm3
    result: dict[int, LesionVoxels] = {}
    for n, (value, a, b) in enumerate(zip(values.tolist(), bounds[:-1].tolist(), bounds[1:].tolist())):
        intensity = None
        if samples is not None:
            sample = samples[a:b]
            sample = sample[np.isfinite(sample)]
            if sample.size:
                intensity = {"mean": float(sample.mean()), "sd": float(sample.std()), "min": float(sample.min()),
                             "max": float(sample.max()), "median": float(np.median(sample)), "voxels": int(sample.size)}
        result[value] = LesionVoxels(
            value=value, voxel_count=b - a, volume_mm3=(b - a) * voxel_volume, centroid_ras=centroids[n],
            bbox_min_ras=low[n], bbox_max_ras=high[n], positions_ras=ras[a:b], indices=flat[a:b], intensity=intensity)
    return result
