"""A label's voxels as a mask in its box of the grid, and the measures the sub-location frames need.

A bone of millions of voxels is never turned into a list of RAS points: its moments come from
three 2D projections of the mask, and linear measures (position along an axis, height, depth)
are computed a chunk of the box at a time, so the cost is a few passes over the box and the
memory a few small buffers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["CHUNK_VOXELS", "Region", "region_in_box"]

#: voxels of a bone's box read at a time
CHUNK_VOXELS = 1 << 18


@dataclass(frozen=True, eq=False)
class Region:
    """Voxels ``mask[k, j, i]`` of a box whose voxel ``(0, 0, 0)`` is mapped to RAS by ``affine``."""

    mask: np.ndarray  # bool, [k, j, i]
    affine: np.ndarray  # 4x4, box index (i, j, k) -> RAS mm

    @property
    def count(self) -> int:
        """int: the number of voxels."""
        return int(np.count_nonzero(self.mask))

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Centroid (RAS) and covariance (RAS mm^2) of the voxel centres, exact, from three 2D projections."""
        mask = self.mask
        n = self.count
        if n == 0:
            raise ValueError("an empty region has no moments")
        nk, nj, ni = mask.shape
        i, j, k = (np.arange(size, dtype=float) for size in (ni, nj, nk))
        p_ji = mask.sum(axis=0, dtype=np.int64).astype(float)  # (j, i)
        p_kj = mask.sum(axis=2, dtype=np.int64).astype(float)  # (k, j)
        p_ki = mask.sum(axis=1, dtype=np.int64).astype(float)  # (k, i)
        mean = np.array([p_ji.sum(axis=0) @ i, p_ji.sum(axis=1) @ j, p_kj.sum(axis=1) @ k]) / n
        i, j, k = i - mean[0], j - mean[1], k - mean[2]
        second = np.empty((3, 3))
        second[0, 0] = p_ji.sum(axis=0) @ (i * i)
        second[1, 1] = p_ji.sum(axis=1) @ (j * j)
        second[2, 2] = p_kj.sum(axis=1) @ (k * k)
        second[0, 1] = second[1, 0] = j @ p_ji @ i
        second[1, 2] = second[2, 1] = k @ p_kj @ j
        second[0, 2] = second[2, 0] = k @ p_ki @ i
        matrix = self.affine[:3, :3]
        covariance = matrix @ (second / n) @ matrix.T
        return matrix @ mean + self.affine[:3, 3], covariance

    def values(self, directions: np.ndarray, origin: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """``directions @ (p - origin)`` at the region's voxel centres ``p``: an ``(m, n)`` float32 array per chunk.

        Works from the voxels' indices, so its cost follows the voxels: meant for sparse regions (a surface).
        """
        steps, starts = self._linear(directions, origin)
        rows = self._rows()
        for k0 in range(0, self.mask.shape[0], rows):
            k, j, i = np.nonzero(self.mask[k0:k0 + rows])
            if k.size:
                yield (steps @ np.stack([i, j, k + k0]) + starts[:, None]).astype(np.float32)

    def extent(self, direction: np.ndarray, origin: np.ndarray | None = None) -> tuple[float, float]:
        """Lowest and highest ``direction . (p - origin)`` over the region's voxel centres (taken on its surface)."""
        low, high = np.inf, -np.inf
        for (along,) in self.surface().values(direction, origin):
            low, high = min(low, float(along.min())), max(high, float(along.max()))
        return low, high

    def surface(self) -> Region:
        """The voxels with a face neighbour outside the region (or outside the box).

        The highest and lowest value of any linear measure over a region are taken at its surface.
        """
        inner = self.mask.copy()
        for axis in range(3):
            inner[(slice(None),) * axis + (0,)] = False
            inner[(slice(None),) * axis + (-1,)] = False
            forward = (slice(None),) * axis + (slice(1, None),)
            backward = (slice(None),) * axis + (slice(None, -1),)
            inner[backward] &= self.mask[forward]
            inner[forward] &= self.mask[backward]
        return Region(self.mask & ~inner, self.affine)

    def split(self, direction: np.ndarray, offset: float) -> tuple[Region, Region]:
        """The voxels with ``direction . p > offset``, and the others."""
        above = np.zeros_like(self.mask)
        for rows, grid in self._grids(direction):
            np.greater(grid[0], offset, out=above[rows])
        above &= self.mask
        return Region(above, self.affine), Region(self.mask & ~above, self.affine)

    def chunks(self, directions: np.ndarray, origin: np.ndarray | None = None,
               within: tuple[float, float] | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(mask, values) per chunk of the box that holds voxels: ``directions @ (p - origin)`` at every voxel of the
        chunk, float32 ``(m, k, j, i)``, for reductions with ``where=mask`` (no copy of the voxels).

        ``within=(low, high)`` skips the chunks where the first measure cannot reach that range.
        """
        for rows, grid in self._grids(directions, origin, within):
            chunk = self.mask[rows]
            if chunk.any():
                yield chunk, grid

    def _linear(self, directions: np.ndarray, origin: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per measure: its change per unit of i, j, k ``(m, 3)`` and its value at voxel (0, 0, 0) ``(m,)``."""
        directions = np.atleast_2d(np.asarray(directions, dtype=float))
        translation = self.affine[:3, 3] - (0.0 if origin is None else np.asarray(origin, dtype=float))
        return directions @ self.affine[:3, :3], directions @ translation

    def _rows(self) -> int:
        """k rows per chunk: about ``CHUNK_VOXELS``."""
        return max(1, CHUNK_VOXELS // max(self.mask.shape[1] * self.mask.shape[2], 1))

    def _grids(self, directions: np.ndarray, origin: np.ndarray | None = None,
               within: tuple[float, float] | None = None) -> Iterator[tuple[slice, np.ndarray]]:
        """``directions @ (p - origin)`` over the whole box, ``CHUNK_VOXELS`` at a time: (k rows, float32 ``(m, k, j, i)``).

        One buffer is reused for every chunk, so a bone of millions of voxels needs no temporary of its size.
        """
        steps, starts = self._linear(directions, origin)
        nk, nj, ni = self.mask.shape
        plane = (starts[:, None, None] + steps[:, 1, None, None] * np.arange(nj)[None, :, None]
                 + steps[:, 0, None, None] * np.arange(ni)[None, None, :]).astype(np.float32)
        heights = (np.arange(nk)[None, :] * steps[:, 2, None]).astype(np.float32)  # (m, k)
        rows = self._rows()
        buffer = np.empty((len(plane), min(rows, nk), nj, ni), dtype=np.float32)
        for k0 in range(0, nk, rows):
            k1 = min(k0 + rows, nk)
            if within is not None:  # the first measure over these rows lies in plane range + height range
                low = float(plane[0].min()) + float(heights[0, k0:k1].min())
                high = float(plane[0].max()) + float(heights[0, k0:k1].max())
                if high < within[0] or low > within[1]:
                    continue
            grid = buffer[:, :k1 - k0]
            np.add(plane[:, None], heights[:, k0:k1, None, None], out=grid)
            yield slice(k0, k1), grid


def region_in_box(array: np.ndarray, affine: np.ndarray, value: int, start_ijk, size_ijk) -> Region:
    """The voxels equal to ``value`` in the box ``start_ijk`` .. ``start_ijk + size_ijk`` of a grid."""
    i0, j0, k0 = (int(v) for v in start_ijk)
    si, sj, sk = (int(v) for v in size_ijk)
    box = np.array(affine, dtype=float)
    box[:3, 3] = affine[:3, :3] @ np.array([i0, j0, k0], dtype=float) + affine[:3, 3]
    return Region(array[k0:k0 + sk, j0:j0 + sj, i0:i0 + si] == value, box)
