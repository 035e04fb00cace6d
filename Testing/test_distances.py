"""Distances between voxel sets (``localization.distances``): exact against brute force over every pair of voxel
centres, on isotropic, anisotropic, oblique and sheared grids; connected pieces by face or by corner."""

from __future__ import annotations

import numpy as np
import pytest

from CRMOAnalyzerLib.localization.distances import components, contact, distances, distances_to
from CRMOAnalyzerLib.localization.runs import Runs, label_runs


def _rotation(seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q


GRIDS = {  # voxel (i, j, k) -> RAS: the columns of the matrix
    "isotropic": np.diag([1.0, 1.0, 1.0]),
    "anisotropic LPS": np.diag([-0.5, -1.0, 2.0]),
    "oblique": _rotation(3) @ np.diag([0.75, 1.25, 2.0]),
    "sheared": np.array([[1.0, 0.4, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 1.5]]),  # axes not at right angles
}


def _sets(seed: int, affine: np.ndarray) -> tuple[Runs, Runs]:
    """Two random blobs of voxels on a 24 x 20 x 28 grid (labels 1 and 2, never on the same voxel)."""
    rng = np.random.default_rng(seed)
    array = np.zeros((28, 20, 24), np.uint8)
    for value, count in ((1, 6), (2, 4)):
        for _ in range(count):
            centre = rng.integers(0, array.shape)
            radius = rng.integers(1, 5)
            k, j, i = np.ogrid[:28, :20, :24]
            ball = (k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2]) ** 2 <= radius ** 2
            array[ball & (array == 0)] = value
    runs = label_runs(array, affine)
    return runs.of(1), runs.of(2)


def _centres(runs: Runs) -> np.ndarray:
    i, j, k = runs.voxels()
    return np.column_stack([i, j, k]).astype(float) @ runs.affine[:3, :3].T + runs.affine[:3, 3]


def _brute(points: np.ndarray, others: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None, :] - others[None, :, :], axis=2).min(axis=1)


@pytest.mark.parametrize("grid", sorted(GRIDS))
@pytest.mark.parametrize("seed", range(3))
def test_distances_and_contact_equal_brute_force(grid, seed):
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = GRIDS[grid], (-40.0, 12.5, 300.0)  # off-centre
    bone, other = _sets(seed, affine)
    assert bone.count and other.count
    everything = _brute(_centres(bone), _centres(other))
    for within in (2.0, 5.0, 12.0):
        ras, found = distances(bone, other, within)
        # every voxel within reach is among those returned, each with its true distance
        expected = {tuple(np.round(p, 6)) for p in _centres(bone)[everything <= within]}
        assert expected <= {tuple(np.round(p, 6)) for p in ras}
        finite = np.isfinite(found)
        assert np.allclose(found[finite], _brute(ras[finite], _centres(other)), atol=1e-5)
        assert np.all(_brute(ras[~finite], _centres(other)) > within)
    for reach, margin in ((1.0, 0.5), (4.0, 2.0), (15.0, 3.0)):
        _check_contact(bone, other, everything, reach, margin)


def _check_contact(bone: Runs, other: Runs, everything: np.ndarray, reach: float, margin: float) -> None:
    """:func:`contact` against brute force (``everything``: each voxel of ``bone``'s distance to ``other``)."""
    face, nearest = contact(bone, other, reach, margin), everything.min()
    if nearest > reach:
        assert face is None
    else:
        want = _centres(bone)[everything <= nearest + margin + 1e-9]
        assert face is not None and sorted(map(tuple, np.round(face, 6))) == sorted(map(tuple, np.round(want, 6)))


def test_distances_to_points_off_the_grid_equal_brute_force():
    affine = np.eye(4)
    affine[:3, :3] = GRIDS["oblique"]
    bone, _ = _sets(7, affine)
    points = np.random.default_rng(1).uniform(-10, 40, size=(300, 3))
    assert np.allclose(distances_to(bone, points), _brute(points, _centres(bone)))
    assert np.isinf(distances_to(bone.crop(np.array([99, 99, 99]), np.array([100, 100, 100])), points[:2])).all()


def test_contact_with_nothing_is_none():
    bone, _ = _sets(1, np.eye(4))
    assert contact(bone, None, 10.0, 2.0) is None
    far = Runs(bone.k + 500, bone.j, bone.start, bone.stop, bone.affine)
    assert contact(bone, far, 10.0, 2.0) is None


def test_components_by_face_and_by_corner_largest_first():
    mask = np.zeros((6, 6, 6), bool)
    mask[0:2, 0:2, 0:2] = True  # 8 voxels
    mask[2:5, 2:5, 2:5] = True  # 27 voxels touching the first at a corner only
    labels, count = components(mask, fully_connected=False)
    assert count == 2 and (labels == 1).sum() == 27 and (labels == 2).sum() == 8
    labels, count = components(mask, fully_connected=True)
    assert count == 1 and (labels == 1).sum() == 35


def test_crop_mask_and_join():
    bone, other = _sets(2, np.eye(4))
    low, high = bone.box()
    assert bone.crop(low, high).count == bone.count
    half = bone.crop(low, (low + high) // 2)
    i, j, k = half.voxels()
    assert np.all((i <= (low + high)[0] // 2) & (j <= (low + high)[1] // 2) & (k <= (low + high)[2] // 2))
    mask, corner = bone.mask()
    assert mask.sum() == bone.count and list(corner) == list(low)
    joined = Runs.join([bone, other])
    assert joined.count == bone.count + other.count and Runs.join([]) is None


@pytest.mark.parametrize("grid", sorted(GRIDS))
@pytest.mark.parametrize("gap", [1, 3, 5, 8, 12, 17])
@pytest.mark.parametrize("stray", [False, True])
def test_contact_widens_its_search_until_the_nearest_distance_and_its_margin_are_in_it(grid, gap, stray):
    """A slab ``gap`` voxels from another along k, its face ragged (up to 3 voxels deep): with a reach of 16 mm the
    nearest distance falls in each share of the search in turn, or beyond the reach; the face is the brute force's.
    ``stray``: a voxel of the other bone far off along i at the slab's height, so that their boxes overlap and
    only the search's widening can tell the distance."""
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = GRIDS[grid], (25.0, -130.0, 60.0)
    array = np.zeros((34, 8, 30), np.uint8)
    array[:6, :, :7] = 2
    if stray:
        array[30, 4, 29] = 2
    depth = np.random.default_rng(gap).integers(0, 4, size=(8, 7))
    for j, i in np.ndindex(8, 7):
        array[5 + gap + depth[j, i]:, j, i] = 1
    runs = label_runs(array, affine)
    bone, other = runs.of(1), runs.of(2)
    everything = _brute(_centres(bone), _centres(other))
    for reach, margin in ((16.0, 3.0), (16.0, 0.5)):
        _check_contact(bone, other, everything, reach, margin)


def test_mask_of_abutting_runs_cut_by_a_box_equals_its_voxels():
    """Runs of two labels that meet along a row (one stops where the next starts), joined, some ending at the box's
    edge and some cut by it."""
    array = np.zeros((5, 6, 9), np.uint8)
    array[1:4, 1:5, 0:4], array[1:4, 1:5, 4:9], array[2, 3, 6:8] = 1, 2, 0
    runs = label_runs(array, np.eye(4))
    joined = Runs.join([runs.of(1), runs.of(2)])
    for low, high in (((0, 0, 0), (8, 5, 4)), ((2, 2, 1), (8, 4, 3)), ((0, 1, 1), (3, 4, 3))):
        mask, corner = joined.mask(np.array(low), np.array(high))
        want = array[low[2]:high[2] + 1, low[1]:high[1] + 1, low[0]:high[0] + 1] > 0
        assert list(corner) == list(low) and mask.shape == want.shape and np.array_equal(mask, want)


def test_a_strongly_sheared_grid_finds_voxels_far_apart_in_index_but_near_in_space():
    """Axes 10 degrees apart: 25 voxels along i and back along j lie 4.4 mm apart."""
    angle = np.radians(10.0)
    affine = np.eye(4)
    affine[:3, :3] = [[1.0, np.cos(angle), 0.0], [0.0, np.sin(angle), 0.0], [0.0, 0.0, 1.0]]
    array = np.zeros((3, 40, 40), np.uint8)
    array[1, 5, 30], array[1, 30, 5] = 1, 2
    runs = label_runs(array, affine)
    ras, found = distances(runs.of(1), runs.of(2), 6.0)
    assert len(found) == 1 and found[0] == pytest.approx(_brute(_centres(runs.of(1)), _centres(runs.of(2)))[0])
    assert found[0] == pytest.approx(np.linalg.norm(affine[:3, :3] @ [25.0, -25.0, 0.0]))
    assert contact(runs.of(1), runs.of(2), 5.0, 1.0) is not None
