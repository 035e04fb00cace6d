"""Cropping to the box of the other bone keeps every distance a rule uses exact (``sublocation.near``)."""

from __future__ import annotations

import numpy as np
import pytest

from CRMOAnalyzerLib.localization import sublocation


@pytest.mark.parametrize("seed", range(5))
def test_contact_on_cropped_points_equals_contact_on_all(seed):
    rng = np.random.default_rng(seed)
    bone = rng.normal((0, 0, 0), (20, 15, 30), size=(3000, 3))
    other = rng.normal((45, 5, -10), (15, 10, 10), size=(2000, 3))
    for reach, margin in ((5.0, 2.0), (15.0, 3.0), (40.0, 5.0)):
        d = np.linalg.norm(bone[:, None, :] - other[None, :, :], axis=2).min(axis=1)  # brute force, all points
        expected = bone[d <= d.min() + margin] if d.min() <= reach else None
        found = sublocation._contact(bone, other, reach, margin)
        if expected is None:
            assert found is None
        else:
            assert found is not None and sorted(map(tuple, found)) == sorted(map(tuple, expected))


def test_near_keeps_every_point_within_the_distance_and_drops_far_ones():
    points = np.array([[0.0, 0, 0], [9.9, 0, 0], [10.1, 0, 0], [0, -10.5, 0]])
    others = np.array([[-5.0, 0, 0], [0, 0, 0]])
    assert near_rows(sublocation.near(points, others, 10.0)) == [(0.0, 0.0, 0.0), (9.9, 0.0, 0.0)]
    assert len(sublocation.near(points, others[:0], 10.0)) == 0


def near_rows(array):
    return [tuple(float(x) for x in row) for row in array]
