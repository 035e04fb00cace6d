"""Overlap: a lesion belongs to the bone that holds most of it, never to the lowest label value."""

from __future__ import annotations

import numpy as np
import pytest

from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.io.images import LabelMap
from CRMOAnalyzerLib.localization.localize import SECOND_BONE_FRACTION, analyze

AFFINE = np.diag([-2.0, -2.0, 2.0, 1.0])
AFFINE[:3, 3] = [10.0, -4.0, 7.0]
NAMES = {1: "vertebrae_L2", 2: "vertebrae_L1"}  # the lower label value is the wrong answer in every test here


def bones() -> BoneMap:
    array = np.zeros((20, 20, 20), np.uint8)
    array[2:18, 2:18, 0:10] = 1  # i 0..9
    array[2:18, 2:18, 10:20] = 2  # i 10..19
    return BoneMap(LabelMap(array, AFFINE, "two bones"), NAMES)


def lesions(*blocks) -> LabelMap:
    array = np.zeros((20, 20, 20), np.uint8)
    for value, (k, j, i) in enumerate(blocks, start=1):
        array[k, j, i] = value
    return LabelMap(array, AFFINE, "lesions", {n: f"lesion {n}" for n in range(1, len(blocks) + 1)})


def test_most_of_the_lesion_wins_and_a_large_share_elsewhere_is_reported():
    study = analyze(bones(), lesions((slice(5, 9), slice(5, 9), slice(7, 17))))  # i 7..16: 3 in bone 1, 7 in bone 2
    lesion = study.lesions[0]
    assert lesion.bone == "vertebrae_L1" and lesion.localization["overlap_fraction"] == pytest.approx(0.7)
    assert lesion.localization["also_in"] == [{"bone": "vertebrae_L2", "bone_label_value": 1, "overlap_fraction": 0.3}]
    assert any("30% of the lesion lies in the" in w and "spans both bones" in w for w in lesion.warnings)


def test_a_small_share_elsewhere_is_recorded_without_a_warning():
    study = analyze(bones(), lesions((slice(5, 9), slice(5, 9), slice(9, 19))))  # 1 of 10 columns in bone 1
    lesion = study.lesions[0]
    assert lesion.bone == "vertebrae_L1" and lesion.localization["other_bones"] == {"vertebrae_L2": 0.1}
    assert 0.1 < SECOND_BONE_FRACTION and "also_in" not in lesion.localization and lesion.warnings == []


def test_just_over_a_fifth_in_a_second_bone_is_reported():
    study = analyze(bones(), lesions((slice(5, 9), slice(5, 9), slice(8, 17))))  # 2 of 9 columns in bone 1: 22%
    assert study.lesions[0].localization["also_in"][0]["bone"] == "vertebrae_L2"


def test_an_exact_tie_goes_to_the_bone_at_the_centre_not_the_lower_label():
    array = np.zeros((20, 20, 20), np.uint8)
    array[5:9, 4:8, 8:10] = 1  # 4 x 4 x 2 = 32 voxels in bone 1
    array[5:9, 4:6, 10:14] = 1  # 4 x 2 x 4 = 32 voxels in bone 2; the centroid lies at i = 10: bone 2
    study = analyze(bones(), LabelMap(array, AFFINE, "lesions", {1: "tie"}))
    lesion = study.lesions[0]
    assert lesion.localization["overlap_fraction"] == 0.5 and lesion.bone == "vertebrae_L1"
    assert any("split evenly" in w for w in lesion.warnings)


def test_a_lesion_mostly_outside_bone_warns():
    study = analyze(bones(), lesions((slice(5, 9), slice(16, 20), slice(12, 16))))  # j 16..19: 2 of 4 rows in bone
    assert study.lesions[0].bone == "vertebrae_L1"
    study = analyze(bones(), lesions((slice(5, 9), slice(17, 20), slice(12, 16))))  # 1 of 3 rows in bone
    assert any("only 33% of the lesion lies inside a bone" in w for w in study.lesions[0].warnings)


def test_an_empty_segment_keeps_its_number_and_warns():
    labels = lesions((slice(5, 7), slice(5, 7), slice(2, 4)), (slice(5, 7), slice(5, 7), slice(14, 16)))
    array = np.where(labels.array == 2, 3, labels.array).astype(np.uint8)
    segments = LabelMap(array, AFFINE, "lesions.seg.nrrd", {1: "first", 2: "empty", 3: "third"})
    study = analyze(bones(), segments, kind="segment")
    assert [(l.id, l.source["name"], l.bone) for l in study.lesions] == [("L1", "first", "vertebrae_L2"),
                                                                        ("L3", "third", "vertebrae_L1")]
    assert any("'empty'" in w and "no lesion L2" in w for w in study.warnings)


def test_an_empty_segment_survives_a_seg_nrrd(tmp_path):
    from CRMOAnalyzerLib.io.segmentation_file import read_seg_nrrd, write_seg_nrrd

    labels = lesions((slice(5, 7), slice(5, 7), slice(2, 4)), (slice(5, 7), slice(5, 7), slice(14, 16)))
    array = np.where(labels.array == 2, 3, labels.array).astype(np.uint8)
    path = write_seg_nrrd(tmp_path / "lesions.seg.nrrd", LabelMap(array, AFFINE, "lesions", {1: "first", 2: "empty", 3: "third"}))
    segments = read_seg_nrrd(path)
    study = analyze(bones(), segments, kind="segment")
    assert [(l.id, l.source["name"]) for l in study.lesions] == [("L1", "first"), ("L3", "third")]
    assert any("'empty'" in w for w in study.warnings)


def test_the_bones_under_every_lesion_are_counted_at_once_as_lesion_by_lesion():
    """One count over all lesions gives each lesion's own bones and voxel counts: a lesion outside every bone or off
    the grid has none, large label values keep apart, and no lesion's bones leak into the next one's."""
    from CRMOAnalyzerLib.localization.localize import _bones_under

    rng = np.random.default_rng(4)
    lesions = [rng.choice([0, -1, 3, 7, 2_000_000_000], size=n) for n in (5, 1, 40, 3, 12)]
    lesions[1][:] = 0  # outside every bone
    lesions[3][:] = -1  # off the bone map's grid
    found = _bones_under(np.concatenate(lesions), [len(v) for v in lesions])
    assert len(found) == len(lesions)
    for values, (bones, counts) in zip(lesions, found):
        expected, expected_counts = np.unique(values[values > 0], return_counts=True)
        np.testing.assert_array_equal(bones, expected)
        np.testing.assert_array_equal(counts, expected_counts)
    assert len(found[1][0]) == 0 and len(found[3][0]) == 0
    (none, none_counts), = _bones_under(np.array([-1, 0]), [2])  # one lesion, in no bone: no value to span
    assert len(none) == 0 and len(none_counts) == 0
