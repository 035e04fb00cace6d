"""A long bone's length is its true length, edge to edge: a straight bone of N voxels at spacing s along an axis is
N x s long, not (N - 1) x s (the extremes of its voxel centres), on any grid; positions along it, the physis at
``epiphysis_fraction`` of its length, the metaphysis cap and the end slabs all follow from that length."""

from __future__ import annotations

import numpy as np
import pytest

from CRMOAnalyzerLib.io.images import LabelMap
from CRMOAnalyzerLib.io.markups import PointLesion
from CRMOAnalyzerLib.localization import sublocation
from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.localization.localize import analyze
from CRMOAnalyzerLib.samples.phantom import rotation

N, STEP = 100, 2.0  # the bone: 100 voxels at 2 mm along the grid's i axis, 200 mm long
PAD = 6  # voxels of background around the bones (no bone touches the image's edge)


def _affine(direction: np.ndarray, spacing) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = direction @ np.diag(spacing)
    affine[:3, 3] = (10.0, -20.0, 30.0)
    return affine


#: RAS affines: an LPS file's identity direction matrix (RAS x and y flipped), and an oblique direction matrix
#: with anisotropic voxels; the bone's axis runs along i (spacing STEP) in both
SPACINGS = {"lps": (STEP, STEP, STEP), "oblique": (STEP, 1.5, 3.0)}
GRIDS = {"lps": _affine(np.diag([-1.0, -1.0, 1.0]), SPACINGS["lps"]),
         "oblique": _affine(rotation((1, 1, 0.3), 25), SPACINGS["oblique"])}


def rod(grid: str, length: int = N, width: int = 5, trunk: bool = True, gap: int | None = None) -> tuple[BoneMap, np.ndarray]:
    """A right femur of ``length`` x ``width`` x ``width`` voxels along i and, with ``trunk``, a vertebra beyond its
    low-i end (so that end is proximal); ``gap``: the voxel layer (from the low end, 0 first) left empty, a physis.
    Returns the map and the RAS point of the femur's proximal edge on its axis."""
    affine = GRIDS[grid]
    shape_ijk = (length + 2 * PAD + 12, width + 2 * PAD, width + 2 * PAD)
    array = np.zeros(shape_ijk[::-1], np.uint8)
    i0 = PAD + 12
    array[PAD:PAD + width, PAD:PAD + width, i0:i0 + length] = 1
    if gap is not None:
        array[:, :, i0 + gap] = 0
    names = {1: "femur_right"}
    if trunk:
        array[PAD:PAD + width, PAD:PAD + width, 2:8] = 2
        names[2] = "vertebrae_L5"
    centre = (width - 1) / 2 + PAD
    edge_ijk = np.array([i0 - 0.5, centre, centre])  # half a voxel before the first voxel centre
    edge = affine[:3, :3] @ edge_ijk + affine[:3, 3]
    return BoneMap(LabelMap(array, affine, "rod", names), names), edge


def frame_of(bonemap: BoneMap, grid: str):
    """The femur's frame, its proximal end the one at low i."""
    u = along_i(grid)
    return sublocation.LongBone.from_runs(bonemap.bone_runs(1), lambda low, high: ("low" if low @ u < high @ u else "high",
                                                                                   "low i"), lambda runs: False)


def along_i(grid: str) -> np.ndarray:
    column = GRIDS[grid][:3, 0]
    return column / np.linalg.norm(column)


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_a_straight_bone_of_n_voxels_is_n_voxels_long(grid):
    bonemap, _ = rod(grid)
    frame = frame_of(bonemap, grid)
    assert isinstance(frame, sublocation.LongBone)
    assert frame.axis.high - frame.axis.low == pytest.approx(N * STEP, abs=1e-6)  # 200 mm, not 198
    assert frame.physis_basis == {"low": "estimated from the bone's length", "high": "estimated from the bone's length"}
    fraction = sublocation.rules()["long_bone"]["epiphysis_fraction"]
    assert frame.physis == {"low": pytest.approx(fraction * N * STEP, abs=1e-6), "high": pytest.approx(fraction * N * STEP, abs=1e-6)}  # 12 mm, not 11.88


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_the_clavicle_and_the_sternum_axes_reach_the_bones_edges(grid):
    bonemap, _ = rod(grid, trunk=False)
    runs = bonemap.bone_runs(1)
    axes = sublocation.PatientAxes.of(None, 0.0)
    for frame in (sublocation.Sternum.from_runs(runs, axes, False),
                  sublocation.Clavicle.from_runs(runs, lambda p: float(p @ along_i(grid)))):
        assert frame.axis.high - frame.axis.low == pytest.approx(N * STEP, abs=1e-6)


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_a_lesion_at_a_known_fraction_is_reported_at_that_fraction(grid):
    """Points at known fractions of the true length from the proximal edge: position_along_bone is that fraction;
    the physis lies at 6% of 200 mm = 12 mm from the edge (11.5 mm: epiphysis, 12.5 mm: metaphysis)."""
    bonemap, edge = rod(grid)
    u = along_i(grid)
    fractions = (0.05, 0.25, 0.5, 0.8)
    depths = (11.5, 12.5)
    points = [PointLesion(f"{f:g}", edge + f * N * STEP * u) for f in fractions] + \
             [PointLesion(f"{d:g} mm", edge + d * u) for d in depths]
    study = analyze(bonemap, points)
    got = [lesion.localization["position_along_bone"] for lesion in study.lesions[:len(fractions)]]
    assert got == [pytest.approx(f, abs=1e-3) for f in fractions]
    assert all(lesion.bone_end in ("proximal", None) for lesion in study.lesions)
    assert [(lesion.sublocation, lesion.bone_end) for lesion in study.lesions[len(fractions):]] == \
        [("epiphysis", "proximal"), ("metaphysis", "proximal")]


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_the_metaphysis_cap_is_a_fraction_of_the_true_length(grid):
    """A short, wide bone (20 voxels, 40 mm, by 15 voxels): the metaphysis would be as long as the bone is wide, but is
    capped at metaphysis_max_fraction x 40 mm (not x 38 mm)."""
    bonemap, _ = rod(grid, length=20, width=15 if grid == "lps" else 11)
    frame = frame_of(bonemap, grid)
    cap = sublocation.rules()["long_bone"]["metaphysis_max_fraction"] * 20 * STEP
    assert frame.axis.high - frame.axis.low == pytest.approx(20 * STEP, abs=1e-6)
    assert frame.metaphysis == {"low": pytest.approx(cap, abs=1e-6), "high": pytest.approx(cap, abs=1e-6)}


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_an_end_slab_is_the_last_end_slab_mm_of_the_bone(grid):
    """The slab of 10 mm at each end holds the 5 voxel layers whose centres lie within 10 mm of the bone's edge
    (1, 3, 5, 7 and 9 mm), not 6 layers measured from the outermost centres."""
    bonemap, _ = rod(grid, trunk=False)
    runs = bonemap.bone_runs(1)
    slabs = sublocation.end_slabs(runs, along_i(grid))
    layers = int(sublocation.rules()["long_bone"]["end_slab_mm"] / STEP)
    assert {end: part.count for end, part in slabs.items()} == {"low": layers * 25, "high": layers * 25}


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_the_physis_the_map_shows_lies_at_the_epiphysis_far_edge(grid):
    """An epiphysis of 5 voxel layers (10 mm) cut off by an empty layer: the physis lies 10 mm from the bone's edge
    (the far edge of the epiphysis's deepest voxels), not at their centres (9 mm)."""
    bonemap, _ = rod(grid, width=9, gap=5)
    frame = frame_of(bonemap, grid)
    assert frame.physis_basis[frame.proximal] == "physis seen in the bone map"
    assert frame.physis[frame.proximal] == pytest.approx(5 * STEP, abs=1e-6)


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_the_metaphysis_is_as_long_as_the_bone_is_wide_edge_to_edge(grid):
    """The square rule: the metaphysis is as long as the bone is wide at the physis, and that width, like the length,
    runs edge to edge: 5 voxels across are 5 x the spacing wide (10 mm; 15 mm across the 3 mm voxels), not 4 x."""
    bonemap, _ = rod(grid)
    frame = frame_of(bonemap, grid)
    wide = 5 * max(SPACINGS[grid][1:]) * sublocation.rules()["long_bone"]["metaphysis_width_factor"]
    assert frame.metaphysis == {"low": pytest.approx(wide, abs=1e-6), "high": pytest.approx(wide, abs=1e-6)}
