"""One-pass measurement of every lesion of a label map, and sampling of other grids.

All lesions are measured together in one pass over the map (no full-volume mask per lesion):
voxel count, volume, centroid and bounding box in RAS, and intensity statistics from an image
on any grid. The dense bone map is summarised by SimpleITK's run-length statistics, on a
sample of it when it is large.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from .geometry import to_index, to_ras
from .images import Image, LabelMap

__all__ = ["LabelSummary", "LesionVoxels", "grow_box", "label_box", "label_summaries", "label_voxel_indices", "measure_labels",
           "sample_nearest", "sample_step"]

#: voxels per slab when a map is scanned slab by slab
SLAB_VOXELS = 1 << 21
#: a label map is summarised from about this many voxels (see :func:`label_summaries`)
SAMPLE_VOXELS = 1 << 22


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


@dataclass(frozen=True)
class LabelSummary:
    """Size, centroid and index box of one label; estimated from every ``step``-th voxel when ``step`` > 1."""

    voxels: int
    centroid_ijk: np.ndarray
    start_ijk: np.ndarray  # box: first index
    stop_ijk: np.ndarray  # box: one past the last index
    step: int = 1


def sample_step(shape: tuple[int, ...]) -> int:
    """The sampling step that leaves about ``SAMPLE_VOXELS`` of a grid (1: every voxel)."""
    return max(1, int((float(np.prod(shape)) / SAMPLE_VOXELS) ** (1 / 3)))


def label_summaries(labelmap: LabelMap) -> dict[int, LabelSummary]:
    """Every label's size, centroid and box, from SimpleITK's run-length statistics in one pass.

    A map of more than about 8 x ``SAMPLE_VOXELS`` voxels is summarised from a regular sample
    (every ``step``-th voxel along each axis): sizes and centroids are estimates, boxes are widened
    by the step, and a label thinner than the step may be missing (see ``BoneMap.values_at``).
    """
    step = sample_step(labelmap.array.shape)
    if step == 1:
        image = labelmap.as_sitk()
    else:
        image = sitk.GetImageFromArray(np.ascontiguousarray(labelmap.array[::step, ::step, ::step]))
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.SetComputePerimeter(False)
    stats.SetComputeFeretDiameter(False)
    stats.Execute(image)
    size = np.array(labelmap.shape_ijk)
    result = {}
    for value in stats.GetLabels():
        box = np.array(stats.GetBoundingBox(value))
        first, last = box[:3] * step, (box[:3] + box[3:] - 1) * step
        centroid = np.array(image.TransformPhysicalPointToContinuousIndex(stats.GetCentroid(value))) * step
        result[int(value)] = LabelSummary(
            voxels=int(stats.GetNumberOfPixels(value)) * step ** 3, centroid_ijk=centroid,
            start_ijk=np.maximum(first - (step - 1), 0), stop_ijk=np.minimum(last + step, size), step=step)
    return result


def _slabs(array: np.ndarray, compare, operand) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(k0, slab, compare(slab, operand))`` for slabs of about ``SLAB_VOXELS`` of ``array``, the boolean result in
    one reused buffer: no temporary is as large as the map."""
    rows = max(1, SLAB_VOXELS // max(int(np.prod(array.shape[1:])), 1))
    buffer = np.empty((min(rows, array.shape[0]),) + array.shape[1:], dtype=bool)
    for k0 in range(0, array.shape[0], rows):
        slab = array[k0:k0 + rows]
        found = buffer[:len(slab)]
        compare(slab, operand, out=found)
        yield k0, slab, found


def label_box(labelmap: LabelMap, value: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The exact index box (start, stop) of ``value``, from a slab-wise pass over the whole map; ``None`` if absent."""
    start, stop = None, None
    for k0, _, found in _slabs(labelmap.array, np.equal, value):
        if not found.any():
            continue
        k = np.flatnonzero(found.any(axis=(1, 2))) + k0
        j = np.flatnonzero(found.any(axis=(0, 2)))
        i = np.flatnonzero(found.any(axis=(0, 1)))
        low, high = np.array([i[0], j[0], k[0]]), np.array([i[-1], j[-1], k[-1]]) + 1
        start = low if start is None else np.minimum(start, low)
        stop = high if stop is None else np.maximum(stop, high)
    return None if start is None else (start, stop)


def grow_box(labelmap: LabelMap, value: int, start: np.ndarray, stop: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Widen an index box by ``step`` on every side where ``value`` touches its border, until it touches none.

    The box then holds every voxel of ``value`` connected to those inside it.
    """
    array, size = labelmap.array, np.array(labelmap.shape_ijk)
    start, stop = np.array(start), np.array(stop)
    while True:
        grown = False
        for axis in range(3):  # i, j, k; the array is [k, j, i]
            for edge, index in (("start", start[axis]), ("stop", stop[axis] - 1)):
                if (edge == "start" and index == 0) or (edge == "stop" and index == size[axis] - 1):
                    continue
                face = [slice(start[2], stop[2]), slice(start[1], stop[1]), slice(start[0], stop[0])]
                face[2 - axis] = index
                if np.any(array[tuple(face)] == value):
                    if edge == "start":
                        start[axis] = max(start[axis] - step, 0)
                    else:
                        stop[axis] = min(stop[axis] + step, size[axis])
                    grown = True
        if not grown:
            return start, stop


def label_voxel_indices(labelmap: LabelMap) -> dict[int, np.ndarray]:
    """Flat indices (into ``array.ravel()``) of every non-zero voxel, per label value, in one pass.

    The map is read in slabs of about ``SLAB_VOXELS`` through one reused boolean buffer, so
    no temporary is as large as the map and a sparse lesion map costs about one read of it.
    """
    plane = int(np.prod(labelmap.array.shape[1:]))
    indices, values = [], []
    for k0, slab, found in _slabs(labelmap.array, np.not_equal, 0):
        flat = np.flatnonzero(found)
        if flat.size:
            values.append(slab.reshape(-1)[flat])
            indices.append(flat + k0 * plane)
    if not indices:
        return {}
    flat, value = np.concatenate(indices), np.concatenate(values)
    order = np.argsort(value, kind="stable")  # stable: each label's indices stay in ascending order
    value = value[order]
    starts = np.flatnonzero(np.r_[True, value[1:] != value[:-1]])
    stops = np.r_[starts[1:], len(value)]
    return {int(value[a]): flat[order[a:b]] for a, b in zip(starts, stops)}


def measure_labels(labelmap: LabelMap, image: Image | None = None) -> dict[int, LesionVoxels]:
    """Measure every non-zero label of ``labelmap`` in one pass over it (:func:`label_voxel_indices`)."""
    voxel_volume = labelmap.voxel_volume_mm3
    half_voxel = 0.5 * np.abs(labelmap.affine[:3, :3]).sum(axis=1)
    result: dict[int, LesionVoxels] = {}
    for value, flat in label_voxel_indices(labelmap).items():
        k, j, i = np.unravel_index(flat, labelmap.array.shape)
        ras = to_ras(labelmap.affine, np.column_stack([i, j, k]))
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
