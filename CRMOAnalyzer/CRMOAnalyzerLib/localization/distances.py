"""Exact distances between the voxels of one grid, and their connected pieces, with SimpleITK (already loaded to read
the maps): an exact Euclidean distance map (Maurer's) over a box around the voxels concerned, and connected
components; for points off the grid, distances to the runs themselves (each run is a segment). No k-d tree over
millions of points, and no scipy on the analyze path."""

from __future__ import annotations

import numpy as np

from .runs import Runs

__all__ = ["distances", "distances_to", "contact", "components"]

#: point-run pairs computed at a time by :func:`distances_to`
_PAIRS = 1 << 21
#: the shares of its reach that :func:`contact` searches in turn, the last whole
REACH_SHARES = (0.25, 0.5, 1.0)


def _spacing(affine: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(affine, dtype=float)[:3, :3], axis=0)


def _orthogonal(affine: np.ndarray) -> bool:
    """Whether the grid's axes are at right angles (a distance map with the voxel spacing is then exact in RAS)."""
    unit = np.asarray(affine, dtype=float)[:3, :3] / _spacing(affine)
    return bool(np.allclose(unit.T @ unit, np.eye(3), atol=1e-6))


def _reach(affine: np.ndarray, mm: float) -> np.ndarray:
    """The most voxels along each index axis (i, j, k) that a displacement of ``mm`` can span: ``mm`` x the norm of
    that row of the inverse matrix (``mm`` / spacing on a grid whose axes are at right angles; more on a sheared one)."""
    return np.ceil(mm * np.linalg.norm(np.linalg.inv(np.asarray(affine, dtype=float)[:3, :3]), axis=1) - 1e-9).astype(np.int64)


def _apart(a: Runs, b: Runs) -> float:
    """A lower bound on the distance (mm) between two voxel sets: the gap between their bounding boxes, on a grid whose
    axes are at right angles (0 on a sheared one)."""
    if not _orthogonal(a.affine):
        return 0.0
    (a_low, a_high), (b_low, b_high) = a.box(), b.box()
    gap = np.maximum(0, np.maximum(b_low - a_high, a_low - b_high))
    return float(np.linalg.norm(gap * _spacing(a.affine))) * (1 - 1e-9)  # never above it by rounding


def _ras(affine: np.ndarray, i: np.ndarray, j: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.column_stack([i, j, k]).astype(float) @ affine[:3, :3].T + affine[:3, 3]


def distances(points: Runs, other: Runs, within_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The voxels of ``points`` that may lie within ``within_mm`` of ``other`` (both on one grid): their RAS centres
    and each one's exact distance (mm) to the nearest voxel centre of ``other``. Every voxel within ``within_mm`` is
    among them (those farther may be too, with their true distance or ``inf``)."""
    ijk, found = _near(points, other, within_mm)
    return _ras(points.affine, *ijk.T), found


def _near(points: Runs, other: Runs, within_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`distances` with the voxels as indices ``(n, 3)`` (i, j, k), so that only those kept need RAS centres."""
    none = np.zeros((0, 3), np.int64), np.zeros(0)
    if not points.count or not other.count:
        return none
    affine = points.affine
    grow = _reach(affine, within_mm)
    other_low, other_high = other.box()
    kept = points.crop(other_low - grow, other_high + grow)
    if not kept.count:
        return none
    kept_low, kept_high = kept.box()
    if not _orthogonal(affine):
        ijk = np.column_stack(kept.voxels())
        return ijk, distances_to(other.crop(kept_low - grow, kept_high + grow), _ras(affine, *ijk.T))
    # the box holds the kept voxels and every voxel of ``other`` within ``within_mm`` of them
    low = np.minimum(kept_low, np.maximum(other_low, kept_low - grow))
    high = np.maximum(kept_high, np.minimum(other_high, kept_high + grow))
    inside, _ = kept.mask(low, high)
    k, j, i = np.nonzero(inside)
    ijk = np.column_stack([i + low[0], j + low[1], k + low[2]])
    mask, _ = other.mask(low, high)
    if not mask.any():
        return ijk, np.full(len(ijk), np.inf)
    import SimpleITK as sitk  # noqa: PLC0415 (loaded already to read the maps)

    image = sitk.GetImageFromArray(mask.view(np.uint8))
    del mask
    image.SetSpacing([float(s) for s in _spacing(affine)])
    squared = sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=True, useImageSpacing=True)
    at = sitk.GetArrayViewFromImage(squared)[inside]  # a copy, made while the map lives
    return ijk, np.sqrt(np.maximum(at.astype(float), 0.0))


def distances_to(runs: Runs, points: np.ndarray) -> np.ndarray:
    """mm from each of ``points`` (RAS, ``(n, 3)``) to the nearest voxel centre of ``runs``, exactly (per run, the voxel
    nearest the foot of the point on the run's row); ``inf`` for no voxel."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    if not len(runs.start):
        return np.full(len(points), np.inf)
    matrix, offset = runs.affine[:3, :3], runs.affine[:3, 3]
    rows = np.column_stack([np.zeros(len(runs.j)), runs.j, runs.k]) @ matrix.T + offset  # each run's row at i = 0
    step = matrix[:, 0]
    first, last = runs.start.astype(float), runs.stop.astype(float) - 1
    found = np.empty(len(points))
    chunk = max(1, _PAIRS // len(rows))
    for n in range(0, len(points), chunk):
        d = rows[None, :, :] - points[n:n + chunk, None, :]
        # the squared distance is a parabola in i: its nearest voxel is the one nearest its vertex, within the run
        i = np.clip(np.rint(-(d @ step) / float(step @ step)), first, last)
        d += i[:, :, None] * step
        found[n:n + chunk] = np.sqrt(np.einsum("pri,pri->pr", d, d).min(axis=1))
    return found


def contact(bone: Runs | None, other: Runs | None, reach: float, margin: float) -> np.ndarray | None:
    """The RAS centres of the voxels of ``bone`` facing ``other`` across a joint: those within ``margin`` mm of the
    nearest distance between the two, if that lies within ``reach`` mm; else ``None`` (they do not articulate, or
    either is missing).

    The search widens by :data:`REACH_SHARES` of ``reach``, from the first share that spans the gap between the two
    bones' boxes: once the nearest distance lies within the share searched, every voxel within it + ``margin`` has
    been measured, so bones that touch cost a slab ``margin`` deep, not ``reach`` + ``margin``."""
    if bone is None or other is None or not bone.count or not other.count:
        return None
    floor = _apart(bone, other)
    for share in (s for s in REACH_SHARES if reach * s >= floor):  # none when the two lie farther apart than reach
        ijk, found = _near(bone, other, reach * share + margin)
        nearest = float(found.min()) if len(found) else np.inf
        if nearest <= reach * share:
            return _ras(bone.affine, *ijk[found <= nearest + margin].T)
    return None


def components(mask: np.ndarray, fully_connected: bool) -> tuple[np.ndarray, int]:
    """The connected pieces of a boolean array: a label per voxel (0 outside, 1.. in order of size, largest first)
    and their number; face-connected, or also by edges and corners when ``fully_connected``."""
    import SimpleITK as sitk  # noqa: PLC0415 (loaded already to read the maps)

    pieces = sitk.RelabelComponent(sitk.ConnectedComponent(sitk.GetImageFromArray(mask.view(np.uint8)), fully_connected))
    labels = sitk.GetArrayFromImage(pieces)
    return labels, int(labels.max()) if labels.size else 0
