"""Inputs radiologists have: side-named segments, one leg, knee and limb fields of view, partial bones.

Every map is cut or relabelled from the phantom, in the poses and on the grids of CASES, so the answer is known.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CASES

from CRMOAnalyzerLib.bonemap import BoneMap
from CRMOAnalyzerLib.geometry import to_ras
from CRMOAnalyzerLib.images import LabelMap
from CRMOAnalyzerLib.localize import analyze
from CRMOAnalyzerLib.markups import PointLesion


def anatomical(phantom) -> np.ndarray:
    """The phantom's anatomical position (x right, y anterior, z superior, mm) of every voxel, shaped like the array."""
    bones = phantom.bones
    k, j, i = np.indices(bones.array.shape)
    ras = to_ras(bones.affine, np.column_stack([i.ravel(), j.ravel(), k.ravel()]))
    return phantom.pose.to_anatomical(ras).reshape(*bones.array.shape, 3)


def relabel(phantom, rename: dict[str, tuple[str, str]], keep=None) -> BoneMap:
    """Split each side-less bone of ``rename`` into two segments named ``(right name, left name)``; keep only
    voxels where ``keep(anatomical xyz)`` holds (a field of view), and only bones named in ``keep_bones``."""
    array = phantom.bones.array.astype(np.int32)
    names = dict(phantom.bones.names)
    x = anatomical(phantom)
    for bone, (right, left) in rename.items():
        value = next(v for v, n in names.items() if n == bone)
        new = max(names) + 1
        array[(array == value) & (x[..., 0] < 0)] = new
        names[value], names[new] = right, left
    if keep is not None:
        array[~keep(x)] = 0
    present = set(np.unique(array).tolist()) - {0}
    names = {v: n for v, n in names.items() if v in present}
    return BoneMap(LabelMap(array, phantom.bones.affine, "relabelled phantom", names), names)


def only(bonemap: BoneMap, names: set[str]) -> BoneMap:
    """The same map with only the bones named."""
    keep = [v for v, n in bonemap.names.items() if n in names]
    array = np.where(np.isin(bonemap.labelmap.array, keep), bonemap.labelmap.array, 0)
    kept = {v: n for v, n in bonemap.names.items() if v in keep}
    return BoneMap(LabelMap(array, bonemap.labelmap.affine, "subset", kept), kept)


SIDE_NAMED = {"tibia": ("Right tibia", "Left tibia"), "fibula": ("fibula_right", "fibula_left"),
              "tarsal": ("Right tarsal bones", "Left tarsal bones")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_side_named_segments_keep_their_side_without_any_midline(phantoms, case):
    """Tibiae and fibulae only, named by side: no midline can be estimated, the names give the side."""
    phantom = phantoms(case)
    bonemap = only(relabel(phantom, SIDE_NAMED), {n for pair in SIDE_NAMED.values() for n in pair})
    assert bonemap.midline is not None and "pairs" in bonemap.midline.basis  # the named pairs give one
    lower = [(p, s) for p, s in zip(phantom.points, phantom.expected) if s["bone"] in ("tibia", "fibula")]
    study = analyze(bonemap, [p for p, _ in lower])
    for lesion, (_, spec) in zip(study.lesions, lower):
        assert (lesion.bone, lesion.side) == (spec["bone"], spec["side"]), spec["name"]
        assert not any("other side" in w for w in lesion.warnings)


def test_side_named_tarsal_bones_are_recognised(phantoms):
    phantom = phantoms("rotated_patient")
    bonemap = relabel(phantom, SIDE_NAMED)
    point = phantom.pose.to_ras(np.array([[-60.0, 10.0, -862.0]]))  # centre of the left tarsus
    lesion = analyze(bonemap, [PointLesion("talus", point[0])]).lesions[0]
    assert (lesion.bone, lesion.side) == ("tarsal", "left")
    assert lesion.laterality["code"] == "7771000"
