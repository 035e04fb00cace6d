"""Regions and the one-pass label scan give the same numbers as the plain per-voxel computation."""

from __future__ import annotations

import numpy as np
import pytest

from CRMOAnalyzerLib import measure, regions
from CRMOAnalyzerLib.geometry import to_ras
from CRMOAnalyzerLib.images import LabelMap
from CRMOAnalyzerLib.regions import Region, region_in_box


def _oblique_affine(rng: np.random.Generator) -> np.ndarray:
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(rng.uniform(0.4, 2.5, 3))
    affine[:3, 3] = rng.uniform(-300, 300, 3)
    return affine


def _blob(rng: np.random.Generator, shape=(23, 31, 17)) -> np.ndarray:
    mask = rng.random(shape) < 0.3
    mask[5:15, 10:20, 3:12] = True
    return mask


def _points(region: Region) -> np.ndarray:
    k, j, i = np.nonzero(region.mask)
    return to_ras(region.affine, np.column_stack([i, j, k]))


@pytest.mark.parametrize("seed", range(4))
def test_moments_are_those_of_the_voxel_centres(seed):
    rng = np.random.default_rng(seed)
    region = Region(_blob(rng), _oblique_affine(rng))
    centre, covariance = region.moments()
    points = _points(region)
    np.testing.assert_allclose(centre, points.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(covariance, np.cov(points.T, bias=True), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("chunk", [1, 517, 1 << 18])
def test_values_are_the_linear_measures_at_every_voxel_in_order(monkeypatch, chunk):
    monkeypatch.setattr(regions, "CHUNK_VOXELS", chunk)
    rng = np.random.default_rng(7)
    region = Region(_blob(rng), _oblique_affine(rng))
    directions, origin = rng.normal(size=(3, 3)), rng.uniform(-50, 50, 3)
    got = np.concatenate(list(region.values(directions, origin)), axis=1)
    expected = directions @ (_points(region) - origin).T
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_split_divides_the_voxels_by_the_plane():
    rng = np.random.default_rng(3)
    region = Region(_blob(rng), _oblique_affine(rng))
    normal = np.array([0.6, 0.0, 0.8])
    offset = float(np.median(_points(region) @ normal))
    above, below = region.split(normal, offset)
    assert above.count + below.count == region.count
    assert above.count > 0 and below.count > 0
    assert np.all(_points(above) @ normal > offset - 1e-3)
    assert np.all(_points(below) @ normal <= offset + 1e-3)


def test_region_in_box_keeps_the_grid_positions():
    rng = np.random.default_rng(5)
    affine = _oblique_affine(rng)
    array = np.zeros((20, 30, 40), np.uint16)
    array[4:9, 10:12, 30:35] = 7
    array[0, 0, 0] = 7  # outside the box: not taken
    region = region_in_box(array, affine, 7, (30, 10, 4), (5, 2, 5))
    k, j, i = np.nonzero(array[4:9, 10:12, 30:35] == 7)
    np.testing.assert_allclose(_points(region), to_ras(affine, np.column_stack([i + 30, j + 10, k + 4])))
    assert region.count == 50


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
def test_label_scan_finds_every_voxel_of_every_label(monkeypatch, dtype):
    monkeypatch.setattr(measure, "SLAB_VOXELS", 300)  # several slabs, some empty
    rng = np.random.default_rng(11)
    array = np.zeros((9, 13, 11), dtype)
    array[rng.random(array.shape) < 0.05] = 3
    array[2, 4:7, 1] = 200
    array[8, 12, 10] = 1
    found = measure.label_voxel_indices(LabelMap(array, np.eye(4), "x.nii"))
    assert sorted(found) == sorted(int(v) for v in np.unique(array) if v)
    for value, flat in found.items():
        np.testing.assert_array_equal(flat, np.flatnonzero(array == value))


def test_label_scan_of_an_empty_map_finds_nothing():
    assert measure.label_voxel_indices(LabelMap(np.zeros((4, 5, 6), np.uint8), np.eye(4), "x.nii")) == {}


def _bonemap_with_a_thin_bone(monkeypatch, names):
    from CRMOAnalyzerLib.bonemap import BoneMap

    monkeypatch.setattr(measure, "SAMPLE_VOXELS", 40 * 40 * 40 // 27)  # every 3rd voxel
    array = np.zeros((40, 40, 40), np.uint8)
    array[5:35, 5:15, 2:18] = 1  # a large bone, in the sample
    array[5:35, 25:35, 22:38] = 2
    array[20, 20:23, 20:23] = 3  # one slice thick, between the sampled slices 18 and 21
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    bonemap = BoneMap(LabelMap(array, affine, "bones.nii"), names, "names.json")
    assert measure.sample_step(array.shape) == 3 and 3 not in bonemap.present_values
    return bonemap, affine


def test_a_bone_thinner_than_the_sampling_step_is_measured_when_a_lesion_falls_in_it(monkeypatch):
    bonemap, affine = _bonemap_with_a_thin_bone(monkeypatch, {1: "femur_left", 2: "femur_right", 3: "vertebrae_T5"})
    point = to_ras(affine, np.array([[21, 21, 20]]))
    assert bonemap.values_at(point).tolist() == [3]
    assert 3 in bonemap.bones and bonemap.voxel_count(3) == 9
    np.testing.assert_allclose(bonemap.centroid(3), point[0])


def test_a_thin_label_without_a_name_is_refused_when_a_lesion_falls_in_it(monkeypatch):
    from CRMOAnalyzerLib.errors import CRMOInputError

    bonemap, affine = _bonemap_with_a_thin_bone(monkeypatch, {1: "femur_left", 2: "femur_right"})
    with pytest.raises(CRMOInputError, match="names.json.*no name for label value 3 of bones.nii"):
        bonemap.values_at(to_ras(affine, np.array([[21, 21, 20]])))


def test_grow_box_reaches_every_voxel_connected_to_the_box():
    array = np.zeros((30, 30, 30), np.uint8)
    array[10:12, 10:12, 3:27] = 4  # a rod along i
    start, stop = measure.grow_box(LabelMap(array, np.eye(4), "x.nii"), 4, np.array([12, 9, 9]), np.array([15, 13, 13]), 2)
    assert 1 <= start[0] <= 3 and 27 <= stop[0] <= 29  # the rod's ends, at most one step beyond
    assert (start[1:].tolist(), stop[1:].tolist()) == ([9, 9], [13, 13])  # across the rod: untouched, no growth
    assert measure.label_box(LabelMap(array, np.eye(4), "x.nii"), 4)[0].tolist() == [3, 10, 10]


@pytest.mark.parametrize("seed", range(3))
def test_extent_and_surface_keep_the_extremes_of_any_linear_measure(seed):
    rng = np.random.default_rng(seed)
    region = Region(_blob(rng), _oblique_affine(rng))
    surface = region.surface()
    assert 0 < surface.count < region.count
    for direction in rng.normal(size=(5, 3)):
        along = _points(region) @ direction
        assert region.extent(direction) == pytest.approx((along.min(), along.max()), abs=1e-3)
        on_surface = _points(surface) @ direction
        assert (on_surface.min(), on_surface.max()) == pytest.approx((along.min(), along.max()), abs=1e-9)


def test_surface_of_a_block_is_its_outer_shell():
    mask = np.zeros((6, 7, 8), bool)
    mask[1:5, 1:6, 1:7] = True  # 4 x 5 x 6 voxels
    assert Region(mask, np.eye(4)).surface().count == 4 * 5 * 6 - 2 * 3 * 4


def test_chunks_within_a_range_skip_only_chunks_that_cannot_reach_it(monkeypatch):
    monkeypatch.setattr(regions, "CHUNK_VOXELS", 31 * 17)  # a chunk per k row
    rng = np.random.default_rng(2)
    affine = np.diag([0.8, 0.8, 2.0, 1.0])
    affine[:3, 3] = [-40.0, 12.0, 100.0]
    region = Region(_blob(rng), affine)  # k rows lie across the direction: most rows cannot reach a narrow range
    direction = np.array([0.1, -0.05, 0.99])
    along = _points(region) @ direction
    levels = np.unique(np.round(along, 3))
    low, high = ((levels[n] + levels[n + 1]) / 2 for n in (len(levels) * 4 // 10, len(levels) * 45 // 100))  # no voxel at a bound
    taken = [values[0][mask & (values[0] >= low) & (values[0] < high)] for mask, values in region.chunks(direction, within=(low, high))]
    assert sum(len(t) for t in taken) == np.count_nonzero((along >= low) & (along < high)) > 0
    assert len(taken) < len(list(region.chunks(direction)))
