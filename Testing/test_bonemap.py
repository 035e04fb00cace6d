"""The bone map's answers: the bone under each lesion voxel (``BoneMap.values_under``: read by index when the lesion map
lies on the bone map's grid, sampled at the voxel centres otherwise; both give what sampling every voxel centre gives),
and the trunk's centre."""

from __future__ import annotations

import numpy as np

from CRMOAnalyzerLib.io.images import LabelMap
from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.localization.measure import measure_labels


def _oblique(spacing=(1.5, 2.0, 3.0), origin=(-40.0, 25.0, 310.0)) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(3, 3)))
    affine = np.eye(4)
    affine[:3, :3], affine[:3, 3] = q * np.asarray(spacing), origin
    return affine


def _maps(lesion_affine: np.ndarray) -> tuple[BoneMap, LabelMap]:
    rng = np.random.default_rng(2)
    bones = np.zeros((20, 18, 16), np.uint8)
    bones[2:18, 3:9, 2:14] = 1
    bones[2:18, 9:15, 2:14] = 2
    bones[5:8, 5:12, 5:8] = 7  # an organ: not a bone of the vocabulary
    lesions = np.where(rng.random(bones.shape) < 0.05, rng.integers(1, 5, bones.shape), 0).astype(np.uint8)
    bonemap = BoneMap(LabelMap(bones, _oblique(), "bones"), {1: "femur_right", 2: "femur_left", 7: "liver"})
    return bonemap, LabelMap(lesions, lesion_affine, "lesions")


def test_by_index_on_the_same_grid_equals_sampling_every_voxel_centre():
    bonemap, lesions = _maps(_oblique())
    voxels = [v for _, v in sorted(measure_labels(lesions).items())]
    expected = bonemap.values_at(np.concatenate([v.positions_ras for v in voxels]))
    found = bonemap.values_under(lesions, voxels)
    assert np.array_equal(found, expected)
    assert set(np.unique(found)) <= {0, 1, 2} and {1, 2} <= set(np.unique(found))  # the organ reads 0


def test_another_grid_is_sampled_at_the_voxel_centres():
    bonemap, lesions = _maps(_oblique(origin=(-38.5, 25.0, 310.0)))  # shifted 1.5 mm: another grid
    assert not lesions.same_grid(bonemap.labelmap)
    voxels = [v for _, v in sorted(measure_labels(lesions).items())]
    expected = bonemap.values_at(np.concatenate([v.positions_ras for v in voxels]))
    assert np.array_equal(bonemap.values_under(lesions, voxels), expected)
    by_index = bonemap.labelmap.array.reshape(-1)[np.concatenate([v.indices for v in voxels])]
    assert not np.array_equal(np.where(np.isin(by_index, [1, 2]), by_index, 0), expected)  # the index would be wrong


def test_the_trunk_centre_is_the_trunk_bones_alone_whatever_else_the_map_holds():
    """Vertebrae, sacrum, sternum, ribs and hip bones make the trunk, weighted by volume; the skull, the mandible and
    the limbs never move it (the proximal end of a long bone is told from it)."""
    bones = np.zeros((30, 20, 40), np.uint8)
    bones[2:10, 5:10, 18:22] = 1  # a vertebra: 8 x 5 x 4 voxels
    bones[12:14, 5:10, 10:30] = 2  # the sacrum: 2 x 5 x 20
    bones[20:28, 2:18, 12:28] = 3  # the skull: large, it would pull the centre up
    bones[22:26, 2:6, 16:24] = 4  # the mandible
    bones[0:30, 14:18, 0:4] = 5  # a femur along the whole image
    affine = _oblique()
    bonemap = BoneMap(LabelMap(bones, affine, "bones"),
                      {1: "vertebrae_L5", 2: "sacrum", 3: "skull", 4: "mandible", 5: "femur_right"})
    trunk = np.isin(bones, [1, 2])
    k, j, i = np.nonzero(trunk)
    expected = (np.column_stack([i, j, k]).astype(float) @ affine[:3, :3].T + affine[:3, 3]).mean(axis=0)
    np.testing.assert_allclose(bonemap.trunk_centre, expected, atol=1e-6)
