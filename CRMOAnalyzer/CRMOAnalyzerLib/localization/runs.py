"""Labels as runs of voxels along the grid's i axis: one pass over a map, then exact measures per run.

One pass over a label map finds every run of equal non-zero values along i, the encoding SimpleITK's
label statistics use. A linear measure (position along an axis, height, depth) changes linearly along a
run, so its extremes over a run, or over the part of a run inside a slab, lie at that part's two end
voxels, and sums of powers of i over a run have closed forms. Moments, extents and slabs are therefore
exact and cost a few operations per run, never per voxel: a bone of millions of voxels is some
thousands of runs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["MAX_RUNS", "SLAB_VOXELS", "SUM_CHUNK", "LabelRuns", "NotALabelMap", "Runs", "label_runs"]

#: voxels of a map compared at a time (a slab through one reused buffer) when a map is scanned
SLAB_VOXELS = 1 << 20
#: runs summed at a time for the labels' centroids (small float buffers instead of several as long as the table)
SUM_CHUNK = 1 << 16
#: more runs than this, and more than one per 4 voxels, is an image rather than a label map (and would cost GBs)
MAX_RUNS = 1 << 22


class NotALabelMap(ValueError):
    """The map changes value so often along its rows that it is an intensity image, not a segmentation."""

Closed = Literal["left", "right", "both"]


def _sum_of_squares(m: np.ndarray) -> np.ndarray:
    """F(m) = m (m + 1) (2m + 1) / 6, so that F(b) - F(a - 1) is the sum of x^2 for x = a..b (any integers)."""
    return m * (m + 1) * (2 * m + 1) / 6


@dataclass(frozen=True, eq=False)
class Runs:
    """A set of voxels: run ``n`` holds the voxels ``(i, j[n], k[n])`` for ``i`` in ``[start[n], stop[n])``.

    ``affine`` maps the voxel index (i, j, k) to RAS mm.
    """

    k: np.ndarray
    j: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    affine: np.ndarray

    @property
    def count(self) -> int:
        """int: the number of voxels."""
        return int((self.stop - self.start).sum())

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Centroid (RAS) and covariance (RAS mm^2) of the voxel centres, exact."""
        if not len(self.start):
            raise ValueError("an empty region has no moments")
        n = (self.stop - self.start).astype(float)
        total = n.sum()
        reference = np.array([self.start[0], self.j[0], self.k[0]], dtype=float)  # sums near the voxels: no cancellation
        a, b = self.start - reference[0], self.stop - 1 - reference[0]
        j, k = self.j - reference[1], self.k - reference[2]
        sum_i = (a + b) * n / 2
        jn, kn = j * n, k * n  # products summed, not BLAS dot products (whose threads stall a busy machine)
        sums = np.array([sum_i.sum(), jn.sum(), kn.sum()])
        second = np.empty((3, 3))
        second[0, 0] = (_sum_of_squares(b) - _sum_of_squares(a - 1)).sum()
        second[1, 1] = (j * jn).sum()
        second[2, 2] = (k * kn).sum()
        second[0, 1] = second[1, 0] = (j * sum_i).sum()
        second[0, 2] = second[2, 0] = (k * sum_i).sum()
        second[1, 2] = second[2, 1] = (j * kn).sum()
        mean = sums / total
        central = second / total - np.outer(mean, mean)
        matrix = self.affine[:3, :3]
        return matrix @ (mean + reference) + self.affine[:3, 3], matrix @ central @ matrix.T

    def linear(self, direction: np.ndarray, origin: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """``direction . (p - origin)`` along each run: its value at ``i = 0`` of the run's row, and its change per i."""
        steps = np.asarray(direction, dtype=float) @ self.affine[:3, :3]
        base = float(np.asarray(direction, dtype=float) @ (self.affine[:3, 3] - (0.0 if origin is None else np.asarray(origin, dtype=float))))
        return steps[1] * self.j + steps[2] * self.k + base, float(steps[0])

    def extent(self, direction: np.ndarray, origin: np.ndarray | None = None) -> tuple[float, float]:
        """Lowest and highest ``direction . (p - origin)`` over the voxel centres (from the runs' end voxels)."""
        if not len(self.start):
            return np.inf, -np.inf
        at_zero, per_i = self.linear(direction, origin)
        first, last = at_zero + per_i * self.start, at_zero + per_i * (self.stop - 1)
        return float(min(first.min(), last.min())), float(max(first.max(), last.max()))

    def clip(self, direction: np.ndarray, low: float, high: float, origin: np.ndarray | None = None,
             closed: Closed = "left") -> Runs:
        """The voxels whose ``direction . (p - origin)`` lies between ``low`` and ``high``.

        ``low <= high``; ``closed`` tells which bounds belong to the range: "left" ``[low, high)``, "right" ``(low, high]``, "both".
        """
        if not low <= high:  # an empty (or NaN) range
            none = np.zeros(len(self.start), bool)
            return self._take(none, self.start[none], self.stop[none])
        at_zero, per_i = self.linear(direction, origin)

        def inside(i: np.ndarray) -> np.ndarray:
            value = at_zero + per_i * i
            above = value >= low if closed in ("left", "both") else value > low
            return above & ((value < high) if closed == "left" else (value <= high))

        first, last = self.start.astype(np.int64), self.stop.astype(np.int64) - 1
        if abs(per_i) < 1e-12:  # the measure is constant along every run: whole runs or none
            keep = inside(first)
            return self._take(keep, first[keep], last[keep] + 1)
        with np.errstate(invalid="ignore", over="ignore"):
            bounds = np.sort(np.stack([(low - at_zero) / per_i, (high - at_zero) / per_i]), axis=0)
        lo = np.ceil(np.clip(bounds[0], first - 1, last + 1)).astype(np.int64)
        hi = np.floor(np.clip(bounds[1], first - 1, last + 1)).astype(np.int64)
        # the division may round across a bound: one step each way settles it (the inside is one interval)
        lo = np.where(inside(lo - 1), lo - 1, lo)
        lo = np.where(inside(lo), lo, lo + 1)
        hi = np.where(inside(hi + 1), hi + 1, hi)
        hi = np.where(inside(hi), hi, hi - 1)
        lo, hi = np.maximum(lo, first), np.minimum(hi, last)
        keep = lo <= hi
        return self._take(keep, lo[keep], hi[keep] + 1)

    def voxels(self, step: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Index arrays (i, j, k) of every ``step``-th voxel, in run order; only the voxels kept are made."""
        length = (self.stop - self.start).astype(np.int64)
        flat = np.arange(0, int(length.sum()), step)
        ends = np.cumsum(length)
        row = np.searchsorted(ends, flat, side="right")
        return flat - (ends[row] - length[row]) + self.start[row], self.j[row], self.k[row]

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """The lowest and highest (i, j, k) of the voxels (their bounding box, both ends included)."""
        return (np.array([self.start.min(), self.j.min(), self.k.min()], np.int64),
                np.array([self.stop.max() - 1, self.j.max(), self.k.max()], np.int64))

    def mask(self, low: np.ndarray | None = None, high: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The voxels as a boolean array (k, j, i) over the box ``low``..``high`` (i, j, k; default: their bounding
        box), and the box's lowest (i, j, k). Voxels outside the box are left out."""
        own_low, own_high = self.box()
        low = own_low if low is None else np.asarray(low, np.int64)
        high = own_high if high is None else np.asarray(high, np.int64)
        ni, nj, nk = (int(n) for n in high - low + 1)
        inside = self.crop(low, high)
        # +1 where a run starts, -1 where it stops (a spare column per row for runs that end at the box's edge), summed
        # along each row: a pass over the box instead of an index per voxel (runs never overlap; one may stop where
        # another starts)
        row = ((inside.k.astype(np.int64) - low[2]) * nj + (inside.j - low[1])) * (ni + 1) - low[0]
        edges = np.zeros(nk * nj * (ni + 1), np.int8)
        edges[row + inside.start] = 1
        edges[row + inside.stop] -= 1
        inside_count = np.cumsum(edges.reshape(nk, nj, ni + 1), axis=2, dtype=np.int8)
        return inside_count[:, :, :ni] > 0, low

    def crop(self, low: np.ndarray, high: np.ndarray) -> Runs:
        """The voxels whose (i, j, k) lie in the box ``low``..``high`` (both ends included)."""
        keep = (self.j >= low[1]) & (self.j <= high[1]) & (self.k >= low[2]) & (self.k <= high[2]) \
            & (self.stop > low[0]) & (self.start <= high[0])
        return self._take(keep, np.maximum(self.start[keep], low[0]), np.minimum(self.stop[keep], high[0] + 1))

    def split(self, direction: np.ndarray, offset: float) -> tuple[Runs, Runs]:
        """The voxels with ``direction . p > offset``, and the others."""
        return (self.clip(direction, offset, np.inf, closed="right"),
                self.clip(direction, -np.inf, offset, closed="right"))

    def _take(self, keep: np.ndarray, start: np.ndarray, stop: np.ndarray) -> Runs:
        return Runs(self.k[keep], self.j[keep], start, stop, self.affine)

    @staticmethod
    def join(parts: list[Runs]) -> Runs | None:
        """The voxels of several sets on one grid (``None`` for none)."""
        if not parts:
            return None
        return Runs(*(np.concatenate([getattr(p, name) for p in parts]) for name in ("k", "j", "start", "stop")),
                    parts[0].affine)


@dataclass(frozen=True, eq=False)
class LabelRuns:
    """Every non-zero label's runs, sorted by label value, with each label's voxel count and centroid."""

    values: np.ndarray  # the labels present, ascending
    offsets: np.ndarray  # the runs of values[n] are offsets[n]:offsets[n + 1]
    runs: Runs  # all runs, label by label
    counts: np.ndarray  # voxels per label
    centroids_ras: np.ndarray  # (labels, 3)

    def of(self, value: int) -> Runs:
        """The runs of one label (none for a label that is absent)."""
        n = int(np.searchsorted(self.values, value))
        if n == len(self.values) or self.values[n] != value:
            a, b = 0, 0
        else:
            a, b = int(self.offsets[n]), int(self.offsets[n + 1])
        runs = self.runs
        return Runs(runs.k[a:b], runs.j[a:b], runs.start[a:b], runs.stop[a:b], runs.affine)


def _encode(array: np.ndarray) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Every run of equal non-zero values along the last axis, slab by slab in order: their values, and their
    coordinates ``k, j, start, stop`` (int32), each a list of the slabs' arrays.

    A large map is encoded in two halves along k at once, the second in a thread (numpy releases the GIL in its
    passes).
    """
    nk, nj, ni = array.shape
    planes = max(1, SLAB_VOXELS // max(nj * ni, 1))
    if nk < 4 * planes:
        return _encode_planes(array, 0, nk)
    middle = nk // 2
    with ThreadPoolExecutor(1) as pool:
        upper = pool.submit(_encode_planes, array, middle, nk)
        lower = _encode_planes(array, 0, middle)
        upper = upper.result()
    return lower[0] + upper[0], [a + b for a, b in zip(lower[1], upper[1])]


def _encode_planes(array: np.ndarray, k_start: int, k_stop: int) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """:func:`_encode` of the planes ``k_start:k_stop``, a slab of about ``SLAB_VOXELS`` at a time through one reused
    buffer."""
    _, nj, ni = array.shape
    plane = nj * ni
    planes = max(1, SLAB_VOXELS // max(plane, 1))
    buffer = np.empty(min(planes, k_stop - k_start) * plane, dtype=bool)
    values, total = [], 0
    columns: list[list[np.ndarray]] = [[], [], [], []]  # k, j, start, stop: apart, so that each can be freed alone
    for k0 in range(k_start, k_stop, planes):
        flat = np.ascontiguousarray(array[k0:min(k0 + planes, k_stop)]).reshape(-1)
        change = buffer[:flat.size]
        np.not_equal(flat[1:], flat[:-1], out=change[1:])
        change[::ni] = True  # every row starts a run: no run crosses a row
        first = np.flatnonzero(change)
        last = np.append(first[1:], flat.size)
        keep = flat[first] != 0
        first, last = first[keep], last[keep]
        row = first // ni
        for column, coordinate in zip(columns, (row // nj + k0, row % nj, first - row * ni, last - row * ni)):
            column.append(coordinate.astype(np.int32))
        values.append(flat[first])
        total += len(first)
        seen = (k0 - k_start) * plane + flat.size
        if total > MAX_RUNS // 2 and total * 4 > seen:
            raise NotALabelMap(f"its value changes at {100 * total / seen:.0f}% of the voxels along a row: an image "
                               "rather than a label map")
    return values, columns


def _label_sums(runs: Runs, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per label (the runs grouped by label, a group starting at each of ``edges``): its voxels, and the sums of its
    voxels' i, j and k; a chunk of ``SUM_CHUNK`` runs at a time, so that the float buffers stay small."""
    counts, sums = np.zeros(len(edges)), np.zeros((len(edges), 3))
    total = len(runs.start)
    for c0 in range(0, total, SUM_CHUNK):
        c1 = min(c0 + SUM_CHUNK, total)
        first, last = int(np.searchsorted(edges, c0, "right")), int(np.searchsorted(edges, c1, "left"))
        local = np.r_[0, edges[first:last] - c0]  # the chunk's groups: the first one's label is the one before
        labels = slice(first - 1, last)
        start, stop = runs.start[c0:c1], runs.stop[c0:c1]
        n = np.subtract(stop, start, dtype=float)
        product = np.add(start, stop, dtype=float)
        product -= 1
        product *= n
        product /= 2  # the sum of i over the run's voxels
        counts[labels] += np.add.reduceat(n, local)
        sums[labels, 0] += np.add.reduceat(product, local)
        for axis, coordinate in ((1, runs.j[c0:c1]), (2, runs.k[c0:c1])):
            sums[labels, axis] += np.add.reduceat(np.multiply(n, coordinate, out=product), local)
    return counts, sums


def label_runs(array: np.ndarray, affine: np.ndarray) -> LabelRuns:
    """Encode a label map ``[k, j, i]`` in one pass, a slab of about ``SLAB_VOXELS`` at a time."""
    values, columns = _encode(array)
    values = np.concatenate(values) if values else np.zeros(0, array.dtype)
    order = np.argsort(values, kind="stable")
    values = values[order]
    if len(order) <= np.iinfo(np.int32).max:  # half the memory while the coordinates are gathered (the peak)
        order = order.astype(np.int32)
    # the slabs' runs sorted by label, a coordinate at a time, each coordinate's slab pieces freed once gathered
    # (where a whole analysis reaches its peak memory, the bone map beside it)
    gathered = []
    for pieces in columns:
        gathered.append(np.concatenate(pieces)[order] if pieces else np.zeros(0, np.int32))
        pieces.clear()
    del order
    k, j, start, stop = gathered
    runs = Runs(k, j, start, stop, np.asarray(affine, dtype=float))
    edges = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if len(values) else np.zeros(0, np.int64)
    offsets = np.r_[edges, len(values)].astype(np.int64)
    if len(edges):
        counts, sums = _label_sums(runs, edges)
        centroids_ijk = sums / counts[:, None]
    else:
        counts, centroids_ijk = np.zeros(0), np.zeros((0, 3))
    centroids_ras = centroids_ijk @ runs.affine[:3, :3].T + runs.affine[:3, 3]
    return LabelRuns(values[edges] if len(edges) else values, offsets, runs, counts.astype(np.int64), centroids_ras)
