"""Runs and the one-pass label scan give the same numbers as the plain per-voxel computation."""

from __future__ import annotations

import numpy as np
import pytest

from CRMOAnalyzerLib.localization import measure, runs
from CRMOAnalyzerLib.io.geometry import to_ras
from CRMOAnalyzerLib.io.images import LabelMap
from CRMOAnalyzerLib.localization.runs import Runs, label_runs


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


def _runs(mask: np.ndarray, affine: np.ndarray) -> Runs:
    return label_runs(mask.astype(np.uint8), affine).of(1)


def _voxels(found: Runs, shape) -> np.ndarray:
    """The runs painted back into a mask."""
    mask = np.zeros(shape, bool)
    for k, j, a, b in zip(found.k, found.j, found.start, found.stop):
        mask[k, j, a:b] = True
    return mask


def _points(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    k, j, i = np.nonzero(mask)
    return to_ras(affine, np.column_stack([i, j, k]))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
@pytest.mark.parametrize("slab, chunk", [(7, 1), (300, 5), (1 << 20, 1 << 16)])
def test_label_runs_hold_every_voxel_of_every_label_and_nothing_else(monkeypatch, dtype, slab, chunk):
    monkeypatch.setattr(runs, "SLAB_VOXELS", slab)  # several slabs; a slab smaller than a plane
    monkeypatch.setattr(runs, "SUM_CHUNK", chunk)  # labels' sums over chunks of runs: a label across several
    rng = np.random.default_rng(11)
    array = rng.choice(np.array([0, 0, 0, 3, 5, 2_000_000_000 if dtype == np.int32 else 200], dtype=dtype), size=(9, 13, 11))
    array[2, 4, :] = 5  # a run the length of a row
    affine = _oblique_affine(rng)
    found = label_runs(array, affine)
    assert found.values.tolist() == [int(v) for v in np.unique(array) if v]
    for n, value in enumerate(found.values):
        mask = array == value
        np.testing.assert_array_equal(_voxels(found.of(int(value)), array.shape), mask)
        assert found.counts[n] == np.count_nonzero(mask)
        np.testing.assert_allclose(found.centroids_ras[n], _points(mask, affine).mean(axis=0), atol=1e-9)
    assert found.of(4).count == 0


def test_label_runs_of_a_view_and_of_an_empty_map():
    array = np.zeros((6, 7, 8), np.uint8)
    array[1:4, 2, 3:7] = 2
    view = array.transpose(2, 1, 0)  # not contiguous
    found = label_runs(view, np.eye(4))
    np.testing.assert_array_equal(_voxels(found.of(2), view.shape), view == 2)
    empty = label_runs(np.zeros((3, 4, 5), np.uint16), np.eye(4))
    assert len(empty.values) == 0 and empty.of(1).count == 0


@pytest.mark.parametrize("seed", range(4))
def test_moments_are_those_of_the_voxel_centres(seed):
    rng = np.random.default_rng(seed)
    mask, affine = _blob(rng), _oblique_affine(rng)
    centre, covariance = _runs(mask, affine).moments()
    points = _points(mask, affine)
    np.testing.assert_allclose(centre, points.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(covariance, np.cov(points.T, bias=True), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_extent_is_that_of_the_voxel_centres(seed):
    rng = np.random.default_rng(seed)
    mask, affine = _blob(rng), _oblique_affine(rng)
    found = _runs(mask, affine)
    for direction, origin in zip(rng.normal(size=(5, 3)), rng.uniform(-50, 50, (5, 3))):
        along = (_points(mask, affine) - origin) @ direction
        assert found.extent(direction, origin) == pytest.approx((along.min(), along.max()), abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("closed", ["left", "right", "both"])
def test_clip_keeps_exactly_the_voxels_in_the_range(seed, closed):
    rng = np.random.default_rng(seed)
    mask, affine = _blob(rng), _oblique_affine(rng)
    found = _runs(mask, affine)
    k, j, i = np.indices(mask.shape)
    for direction in rng.normal(size=(4, 3)):
        along = (np.stack([i, j, k], axis=-1).reshape(-1, 3) @ affine[:3, :3].T + affine[:3, 3]) @ direction
        along = along.reshape(mask.shape)
        low, high = np.quantile(along[mask], [0.3, 0.6]) + 1e-7  # no voxel exactly on a bound
        inside = {"left": (along >= low) & (along < high), "right": (along > low) & (along <= high),
                  "both": (along >= low) & (along <= high)}[closed]
        np.testing.assert_array_equal(_voxels(found.clip(direction, low, high, closed=closed), mask.shape), mask & inside)


def test_clip_at_a_bound_on_a_voxel_follows_closed():
    mask = np.zeros((3, 4, 10), bool)
    mask[1, 2, :] = True
    found = _runs(mask, np.eye(4))  # x = i
    assert found.clip([1, 0, 0], 2.0, 5.0, closed="left").count == 3  # 2, 3, 4
    assert found.clip([1, 0, 0], 2.0, 5.0, closed="right").count == 3  # 3, 4, 5
    assert found.clip([1, 0, 0], 2.0, 5.0, closed="both").count == 4
    assert found.clip([0, 1, 0], 2.0, 5.0).count == 10  # constant along the run: all of it
    assert found.clip([0, 1, 0], 2.5, 5.0).count == 0
    assert found.clip([1, 0, 0], 5.0, 2.0).count == 0  # an empty range
    assert found.clip([1, 0, 0], np.nan, 5.0).count == 0


def test_split_divides_the_voxels_by_the_plane():
    rng = np.random.default_rng(3)
    mask, affine = _blob(rng), _oblique_affine(rng)
    found = _runs(mask, affine)
    normal = np.array([0.6, 0.0, 0.8])
    along = _points(mask, affine) @ normal
    offset = float(np.median(along))
    above, below = found.split(normal, offset)
    assert (above.count, below.count) == (np.count_nonzero(along > offset), np.count_nonzero(along <= offset))
    assert not np.any(_voxels(above, mask.shape) & _voxels(below, mask.shape))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
@pytest.mark.parametrize("ni", [11, 16, 24])  # rows of 11 voxels: read voxel by voxel; 16 and 24: 8 bytes at a time
def test_label_scan_finds_every_voxel_of_every_label(monkeypatch, dtype, ni):
    monkeypatch.setattr(runs, "SLAB_VOXELS", 300)  # several slabs, some empty
    rng = np.random.default_rng(11)
    array = np.zeros((9, 13, ni), dtype)
    array[rng.random(array.shape) < 0.05] = 3
    array[2, 4:7, 1] = 200
    array[8, 12, ni - 1] = 1  # the last voxel of the last row
    array[5, 0, 0] = 2  # the first voxel of a row that is otherwise empty
    array[6, 3, :] = 0
    array[6, 3, ni // 2] = 4  # one voxel in the middle of a row (of a word, where rows are read a word at a time)
    found = measure.label_voxel_indices(LabelMap(array, np.eye(4), "x.nii"))
    assert sorted(found) == sorted(int(v) for v in np.unique(array) if v)
    for value, flat in found.items():
        np.testing.assert_array_equal(flat, np.flatnonzero(array == value))


def test_label_scan_of_a_map_whose_rows_are_not_contiguous(monkeypatch):
    """A map given as a view with other strides (a panel's array, a flipped grid) is scanned voxel by voxel."""
    monkeypatch.setattr(runs, "SLAB_VOXELS", 64)
    rng = np.random.default_rng(3)
    base = np.zeros((6, 8, 16), np.uint8)
    base[rng.random(base.shape) < 0.1] = 5
    base[1, 2, 15] = 9
    array = base[:, :, ::-1]  # rows read backwards: no 8-byte words
    found = measure.label_voxel_indices(LabelMap(array, np.eye(4), "x.nii"))
    assert sorted(found) == [5, 9]
    for value, flat in found.items():
        np.testing.assert_array_equal(flat, np.flatnonzero(array == value))


def test_measured_labels_match_the_per_label_computation_on_an_oblique_grid(monkeypatch):
    """All labels measured at once (one table of voxels, cut by label) give each label's own count, centroid, box,
    positions and intensity statistics, on an oblique grid, with an image on another grid that misses some voxels."""
    from CRMOAnalyzerLib.io.images import Image

    monkeypatch.setattr(runs, "SLAB_VOXELS", 200)
    rng = np.random.default_rng(5)
    affine = _oblique_affine(rng)
    array = np.zeros((8, 9, 10), np.uint16)
    array[3:6, 2:6, 3:5] = 7  # its first plane off the image
    array[6:8, 1, 1:9] = 300
    array[0, 0, 0] = 2  # off the image
    image_affine = affine.copy()
    image_affine[:3, 3] += affine[:3, :3] @ [0, 0, 4]  # the image starts 4 planes on
    intensities = rng.normal(100, 30, (8, 9, 10))
    measured = measure.measure_labels(LabelMap(array, affine, "x.nii"), Image(intensities, image_affine, "i.nii"))
    assert sorted(measured) == [2, 7, 300]
    half = 0.5 * np.abs(affine[:3, :3]).sum(axis=1)
    volume = abs(np.linalg.det(affine[:3, :3]))
    for value, found in measured.items():
        k, j, i = np.nonzero(array == value)
        ras = to_ras(affine, np.column_stack([i, j, k]))
        assert found.voxel_count == len(ras) and found.volume_mm3 == pytest.approx(len(ras) * volume)
        np.testing.assert_allclose(found.centroid_ras, ras.mean(axis=0), atol=1e-9)
        np.testing.assert_allclose(found.bbox_min_ras, ras.min(axis=0) - half)
        np.testing.assert_allclose(found.bbox_max_ras, ras.max(axis=0) + half)
        np.testing.assert_allclose(found.positions_ras, ras)
        np.testing.assert_array_equal(found.indices, np.flatnonzero(array == value))
        on_image = k >= 4  # image plane k - 4
        if not on_image.any():
            assert found.intensity is None
            continue
        sample = intensities[k[on_image] - 4, j[on_image], i[on_image]]
        assert found.intensity["voxels"] == on_image.sum()
        for name, expected in (("mean", sample.mean()), ("sd", sample.std()), ("min", sample.min()),
                               ("max", sample.max()), ("median", np.median(sample))):
            assert found.intensity[name] == pytest.approx(expected)
    assert measured[2].intensity is None and (measured[7].intensity["voxels"], measured[7].voxel_count) == (16, 24)
    assert (measured[300].intensity["voxels"], measured[300].voxel_count) == (16, 16)


def test_label_scan_of_an_empty_map_finds_nothing():
    assert measure.label_voxel_indices(LabelMap(np.zeros((4, 5, 6), np.uint8), np.eye(4), "x.nii")) == {}


def test_an_image_given_as_a_bone_map_is_refused_early(monkeypatch):
    from CRMOAnalyzerLib.localization.bonemap import BoneMap
    from CRMOAnalyzerLib.errors import CRMOInputError

    monkeypatch.setattr(runs, "MAX_RUNS", 1000)
    monkeypatch.setattr(runs, "SLAB_VOXELS", 20 * 30)  # a plane at a time
    slabs = []
    contiguous = np.ascontiguousarray
    monkeypatch.setattr(runs.np, "ascontiguousarray", lambda a: slabs.append(a.shape) or contiguous(a))
    image = np.random.default_rng(0).integers(1, 4000, size=(20, 20, 30), dtype=np.uint16)  # like an MRI
    with pytest.raises(CRMOInputError, match=r"^mri\.nii: bone map: its value changes at (9\d|100)% of the voxels"):
        BoneMap(LabelMap(image, np.eye(4), "mri.nii"), {})
    assert slabs.count((1, 20, 30)) == 2  # stopped after 2 of 20 planes (1,200 voxels, over 1,000 runs)
    monkeypatch.undo()
    bones = np.zeros((20, 20, 30), np.uint8)
    bones[2:18, 2:18, 3:27] = 1
    assert BoneMap(LabelMap(bones, np.eye(4), "bones.nii"), {1: "femur_left"}).voxel_count(1) == 16 * 16 * 24
