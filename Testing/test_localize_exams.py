"""Inputs radiologists have: side-named segments, one leg, knee and limb fields of view, partial bones.

Every map is cut or relabelled from the phantom, in the poses and on the grids of CASES, so the answer is known.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CASES, expected, found

from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.io.geometry import to_index, to_ras
from CRMOAnalyzerLib.io.images import LabelMap
from CRMOAnalyzerLib.localization.localize import analyze
from CRMOAnalyzerLib.io.markups import PointLesion
from CRMOAnalyzerLib.samples.phantom import _limb_axis, _limbs, make_phantom, skeleton_shapes

BONE_NAMES = {name for name, _ in skeleton_shapes()[0]}


def anatomical(phantom, bones: LabelMap | None = None) -> np.ndarray:
    """The anatomical position (x right, y anterior, z superior, mm) of every voxel of ``bones`` (default: the
    phantom's bone map), shaped like its array."""
    bones = bones if bones is not None else phantom.bones
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


def crop(phantom, low, high, drop=(), segmented_only=False) -> BoneMap:
    """The bone map as an exam with a smaller field of view: the grid cut to the index box around the anatomical box
    ``low``..``high`` (so the bones it cuts touch the image's edge), without the bones named in ``drop``;
    ``segmented_only``: bones segmented only inside the anatomical box (one leg of two)."""
    bones = phantom.bones
    if segmented_only:
        x = anatomical(phantom)
        inside = np.all((x >= np.asarray(low)) & (x <= np.asarray(high)), axis=-1)
        bones = LabelMap(np.where(inside, bones.array, 0), bones.affine, bones.source, bones.names)
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
    ijk = to_index(bones.affine, phantom.pose.to_ras(corners))
    start = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, bones.shape_ijk)
    stop = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 0, bones.shape_ijk)
    array = bones.array[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]].copy()
    for value in [v for v, n in bones.names.items() if n in drop]:
        array[array == value] = 0
    affine = bones.affine.copy()
    affine[:3, 3] = to_ras(bones.affine, start[None])[0]
    present = set(np.unique(array).tolist()) - {0}
    names = {v: n for v, n in bones.names.items() if v in present}
    return BoneMap(LabelMap(array, affine, "cropped phantom", names), names)


def along(name: str, side: str, from_tip_mm: float, end: str, arms: str = "down") -> np.ndarray:
    """A point on the axis of a phantom long bone, ``from_tip_mm`` in from the tip of its ``end``."""
    p0, p1 = _limb_axis(name, side, arms)
    radius = next(r for n, _, _, r in _limbs(1.0) if n == name)
    u = (p1 - p0) / np.linalg.norm(p1 - p0)
    return p0 - u * (radius - from_tip_mm) if end == "proximal" else p1 + u * (radius - from_tip_mm)


def points(phantom, specs) -> list[PointLesion]:
    return [PointLesion(spec[0], phantom.pose.to_ras(along(*spec[1])[None])[0]) for spec in specs]


#: (name, (bone, side, mm from the tip, end), expected bone, side, sub-location, end)
KNEE = [
    ("R femur distal metaphysis", ("femur", "right", 32, "distal"), "femur_right", "right", "metaphysis", "distal"),
    ("R femur distal epiphysis", ("femur", "right", 7, "distal"), "femur_right", "right", "epiphysis", "distal"),
    ("L femur distal metaphysis", ("femur", "left", 34, "distal"), "femur_left", "left", "metaphysis", "distal"),
    ("R tibia proximal metaphysis", ("tibia", "right", 30, "proximal"), "tibia", "right", "metaphysis", "proximal"),
    ("L tibia proximal epiphysis", ("tibia", "left", 6, "proximal"), "tibia", "left", "epiphysis", "proximal"),
    ("L fibula proximal metaphysis", ("fibula", "left", 16, "proximal"), "fibula", "left", "metaphysis", "proximal"),
]
AXIS_ALIGNED = ["identity", "ras_flipped", "k_flipped_left_handed", "anisotropic", "sagittal_axes", "off_centre"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_knee_field_of_view(phantoms, case):
    """Both knees, 250 mm high: the femora and tibiae are cut by the image's edge, the cut is not their end."""
    phantom = phantoms(case)
    bonemap = crop(phantom, (-115, -30, -660), (115, 60, -410))
    study = analyze(bonemap, points(phantom, KNEE))
    for lesion, spec in zip(study.lesions, KNEE):
        assert found(lesion) == tuple(spec[2:]), spec[0]
        assert not any("unknown" in w for w in lesion.warnings), spec[0]
    if case in AXIS_ALIGNED:
        assert study.lesions[0].localization["cut_by_image_edge"] == ["proximal"]
        assert study.lesions[3].localization["cut_by_image_edge"] == ["distal"]
    near_cut = PointLesion("R femur near the cut", phantom.pose.to_ras(along("femur", "right", 110, "distal")[None])[0])
    lesion = analyze(bonemap, [near_cut]).lesions[0]
    if case in AXIS_ALIGNED:
        assert (lesion.bone, lesion.side, lesion.sublocation, lesion.bone_end) == ("femur_right", "right", None, None)
        assert any("cut by the edge of the image at its proximal end" in w for w in lesion.warnings)
    else:
        assert lesion.sublocation in (None, "diaphysis")  # the oblique box may hold the whole femur


LIMB = [
    ("R femur proximal metaphysis", ("femur", "right", 45, "proximal"), "femur_right", "right", "metaphysis", "proximal"),
    ("L femur distal metaphysis", ("femur", "left", 40, "distal"), "femur_left", "left", "metaphysis", "distal"),
    ("R femur diaphysis", ("femur", "right", 190, "proximal"), "femur_right", "right", "diaphysis", None),
    ("L tibia distal metaphysis", ("tibia", "left", 40, "distal"), "tibia", "left", "metaphysis", "distal"),
    ("L tibia diaphysis", ("tibia", "left", 80, "proximal"), "tibia", "left", "diaphysis", None),  # past the square
    ("R tibia proximal epiphysis", ("tibia", "right", 8, "proximal"), "tibia", "right", "epiphysis", "proximal"),
    ("L humerus proximal metaphysis", ("humerus", "left", 40, "proximal"), "humerus_left", "left", "metaphysis", "proximal"),
    ("R radius distal metaphysis", ("radius", "right", 25, "distal"), "radius", "right", "metaphysis", "distal"),
    ("L ulna proximal epiphysis", ("ulna", "left", 6, "proximal"), "ulna", "left", "epiphysis", "proximal"),
    ("R fibula distal epiphysis", ("fibula", "right", 5, "distal"), "fibula", "right", "epiphysis", "distal"),
]
TRUNK_AND_HEAD = {n for n in BONE_NAMES if n.startswith(("vertebrae", "rib_", "sacrum", "sternum", "hip_", "skull",
                                                         "mandible", "clavicula", "scapula"))}


@pytest.mark.parametrize("case", sorted(CASES))
def test_limb_only_map(phantoms, case):
    """TotalSegmentator appendicular_bones plus the named humeri and femora: no trunk, no skull, nothing on the midline."""
    phantom = phantoms(case)
    bonemap = crop(phantom, (-250, -150, -950), (250, 200, 700), drop=TRUNK_AND_HEAD)
    assert bonemap.trunk_centre is None
    study = analyze(bonemap, points(phantom, LIMB))
    for lesion, spec in zip(study.lesions, LIMB):
        assert found(lesion) == tuple(spec[2:]), spec[0]
        assert "articulation" in lesion.localization["bone_end_basis"] or "beside" in lesion.localization["bone_end_basis"]


FEMUR = [("R femur distal metaphysis", ("femur", "right", 45, "distal")), ("L femur proximal epiphysis", ("femur", "left", 8, "proximal"))]


@pytest.mark.parametrize("case", ["identity", "oblique", "rotated_patient"])
def test_with_no_articulating_bone_the_trunk_tells_the_ends(phantoms, case):
    phantom = phantoms(case)
    bonemap = only(BoneMap(phantom.bones, phantom.bones.names), {"femur_left", "femur_right", "vertebrae_L3", "vertebrae_T12"})
    study = analyze(bonemap, points(phantom, FEMUR))
    assert [found(l) for l in study.lesions] == [("femur_right", "right", "metaphysis", "distal"),
                                                 ("femur_left", "left", "epiphysis", "proximal")]
    assert all(l.localization["bone_end_basis"] == "the end nearer the trunk" for l in study.lesions)


@pytest.mark.parametrize("case", ["identity", "sagittal_axes", "off_centre"])
def test_with_nothing_to_tell_the_ends_the_end_is_unknown(phantoms, case):
    """Femora alone (no hip, knee or trunk): never a guess, 'end unknown' with a warning."""
    phantom = phantoms(case)
    bonemap = only(BoneMap(phantom.bones, phantom.bones.names), {"femur_left", "femur_right"})
    assert bonemap.trunk_centre is None
    study = analyze(bonemap, points(phantom, FEMUR))
    assert [found(l) for l in study.lesions] == [("femur_right", "right", "metaphysis", None), ("femur_left", "left", "epiphysis", None)]
    assert all(any(w.startswith("end unknown") for w in l.warnings) for l in study.lesions)
    assert all(l.localization.get("position_along_bone") is None for l in study.lesions)


def test_the_skull_and_mandible_are_not_the_trunk(phantoms):
    phantom = phantoms("identity")
    bonemap = only(BoneMap(phantom.bones, phantom.bones.names), {"femur_left", "femur_right", "skull", "mandible"})
    assert bonemap.trunk_centre is None
    lesion = analyze(bonemap, points(phantom, FEMUR[:1])).lesions[0]
    assert lesion.bone_end is None and any(w.startswith("end unknown") for w in lesion.warnings)


ONE_KNEE = [
    ("R femur distal metaphysis", ("femur", "right", 32, "distal"), "femur_right", "right", "metaphysis", "distal"),
    ("R tibia proximal metaphysis", ("tibia", "right", 30, "proximal"), "tibia", "right", "metaphysis", "proximal"),
    ("R tibia proximal epiphysis", ("tibia", "right", 6, "proximal"), "tibia", "right", "epiphysis", "proximal"),
    ("R fibula proximal metaphysis", ("fibula", "right", 16, "proximal"), "fibula", "right", "metaphysis", "proximal"),
]


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_knee_takes_the_side_of_the_named_femur(phantoms, case):
    """The right knee alone: no midline; tibia, fibula and patella articulate with the right femur only."""
    phantom = phantoms(case)
    bonemap = crop(phantom, (30, -30, -660), (115, 60, -410))
    assert set(bonemap.names.values()) <= {"femur_right", "tibia", "fibula", "patella"}
    assert bonemap.midline is None
    patella = PointLesion("patella", phantom.pose.to_ras(np.array([[66.0, 38.0, -528.0]]))[0])
    study = analyze(bonemap, points(phantom, ONE_KNEE) + [patella])
    for lesion, spec in zip(study.lesions, ONE_KNEE):
        assert found(lesion) == tuple(spec[2:]), spec[0]
        if lesion.bone != "femur_right":
            assert lesion.localization["side_basis"] == "articulates with the right Femur" or "right" in lesion.localization["side_basis"]
    assert (study.lesions[-1].bone, study.lesions[-1].side) == ("patella", "right")


ONE_LEG = [
    ("R femur proximal metaphysis", ("femur", "right", 45, "proximal"), "femur_right", "right", "metaphysis", "proximal"),
    ("R tibia distal metaphysis", ("tibia", "right", 40, "distal"), "tibia", "right", "metaphysis", "distal"),
    ("R fibula distal epiphysis", ("fibula", "right", 5, "distal"), "fibula", "right", "epiphysis", "distal"),
]


@pytest.mark.parametrize("case", ["identity", "oblique", "off_centre", "rotated_patient"])
def test_one_leg_pelvis_to_foot(phantoms, case):
    phantom = phantoms(case)
    bonemap = crop(phantom, (38, -60, -950), (130, 140, -40), segmented_only=True)
    assert bonemap.midline is None and not any(b.midline for b in bonemap.bones.values())
    tarsus = PointLesion("tarsus", phantom.pose.to_ras(np.array([[60.0, 10.0, -862.0]]))[0])
    study = analyze(bonemap, points(phantom, ONE_LEG) + [tarsus])
    for lesion, spec in zip(study.lesions, ONE_LEG):
        assert found(lesion) == tuple(spec[2:]), spec[0]
    assert (study.lesions[-1].bone, study.lesions[-1].side) == ("tarsal", "right")  # through the tibia


def partial(phantom, bonemap: BoneMap, name: str, keep) -> BoneMap:
    """``bonemap`` with the bone ``name`` kept only where ``keep(anatomical xyz)`` holds (partly segmented)."""
    value = next(v for v, n in bonemap.names.items() if n == name)
    array = bonemap.labelmap.array.copy()
    array[(array == value) & ~keep(anatomical(phantom, bonemap.labelmap))] = 0
    return BoneMap(LabelMap(array, bonemap.labelmap.affine, "partly segmented", bonemap.names), bonemap.names)


TIBIAE = [("R tibia proximal metaphysis", ("tibia", "right", 35, "proximal"), "tibia", "right", "metaphysis", "proximal"),
          ("L tibia proximal metaphysis", ("tibia", "left", 35, "proximal"), "tibia", "left", "metaphysis", "proximal"),
          ("L tibia distal metaphysis", ("tibia", "left", 35, "distal"), "tibia", "left", "metaphysis", "distal")]


@pytest.mark.parametrize("case", ["identity", "oblique", "rotated_patient", "off_centre"])
def test_a_partly_segmented_femur_is_left_out_of_the_midline(phantoms, case):
    """Lower limbs, the left femur segmented in its lower third only: its pair would tilt the midline."""
    phantom = phantoms(case)
    lower = only(BoneMap(phantom.bones, phantom.bones.names), {"hip_left", "hip_right", "femur_left", "femur_right", "tibia", "fibula"})
    bonemap = partial(phantom, lower, "femur_left", lambda x: x[..., 2] < -400)
    assert "1 left/right bone pairs" in bonemap.midline.basis
    assert bonemap.midline.normal @ phantom.pose.rotation[:, 0] > 0.99
    study = analyze(bonemap, points(phantom, TIBIAE))
    assert [found(l) for l in study.lesions] == [tuple(s[2:]) for s in TIBIAE]
    assert any("femur pair is left out" in w and "left one has" in w for w in study.warnings)
    assert study.midline["left_out"]


def test_a_mislabelled_pair_is_left_out_of_the_midline(phantoms):
    phantom = phantoms("rotated_patient")
    names = dict(phantom.bones.names)
    left, right = (next(v for v, n in names.items() if n == f"humerus_{s}") for s in ("left", "right"))
    names[left], names[right] = "humerus_right", "humerus_left"
    bonemap = BoneMap(phantom.bones, names)
    assert any("humerus pair is left out" in w and "degrees" in w for w in bonemap.midline.warnings)
    assert bonemap.midline.normal @ phantom.pose.rotation[:, 0] > 0.99


def test_a_side_less_bone_near_both_sides_stays_unknown(phantoms):
    """Both knees, the left femur partly segmented (its pair left out, so no midline): the one tibia label
    touches femora of both sides, so its side is unknown, with a warning, never a guess."""
    phantom = phantoms("identity")
    knees = crop(phantom, (-115, -30, -660), (115, 60, -410))
    bonemap = partial(phantom, knees, "femur_left", lambda x: x[..., 2] < -500)
    assert bonemap.midline is None
    study = analyze(bonemap, points(phantom, KNEE[3:5]))
    assert [(l.bone, l.side) for l in study.lesions] == [("tibia", None), ("tibia", None)]
    assert all(any(w.startswith("side unknown") for w in l.warnings) for l in study.lesions)


FOREARMS = [("R radius distal metaphysis", ("radius", "right", 25, "distal", "on_chest"), "radius", "right", "metaphysis", "distal"),
            ("L ulna proximal epiphysis", ("ulna", "left", 6, "proximal", "on_chest"), "ulna", "left", "epiphysis", "proximal"),
            ("R ulna distal epiphysis", ("ulna", "right", 5, "distal", "on_chest"), "ulna", "right", "epiphysis", "distal")]


@pytest.mark.parametrize("case", ["identity", "oblique", "rotated_patient"])
def test_forearms_resting_on_the_chest(phantoms, case):
    """The wrists lie nearer the trunk than the elbows: the elbow joint, not the trunk, tells the proximal end."""
    phantom = phantoms(case, arms="on_chest")
    bonemap = BoneMap(phantom.bones, phantom.bones.names)
    trunk = phantom.pose.to_anatomical(bonemap.trunk_centre[None])[0]
    p0, p1 = _limb_axis("radius", "right", "on_chest")
    assert np.linalg.norm(p1 - trunk) < np.linalg.norm(p0 - trunk) - 20  # the trunk rule alone would swap the ends
    study = analyze(bonemap, points(phantom, FOREARMS))
    for lesion, spec in zip(study.lesions, FOREARMS):
        assert found(lesion) == tuple(spec[2:]), spec[0]
        assert "humerus" in lesion.localization["bone_end_basis"] and "articulation" in lesion.localization["bone_end_basis"]


@pytest.mark.parametrize("case", ["identity", "oblique"])
def test_knee_field_of_view_with_label_lesions(case):
    """The same knee lesions as spheres on the lesion grid: overlap, then the same ends and sub-locations."""
    specs = [{"name": name, "centre": (lambda where=where: along(*where)), "radius": 4, "bone": bone, "side": side,
              "sublocation": sub, "bone_end": end} for name, where, bone, side, sub, end in KNEE]
    phantom = make_phantom(*CASES[case], lesions=specs)
    bonemap = crop(phantom, (-115, -30, -660), (115, 60, -410))
    study = analyze(bonemap, phantom.lesions)
    for lesion, spec in zip(study.lesions, KNEE):
        assert found(lesion) == tuple(spec[2:]), spec[0]
        assert lesion.localization["method"] == "overlap"


@pytest.mark.parametrize("case", ["identity", "oblique", "off_centre", "rotated_patient"])
def test_long_bones_shaped_like_real_ones(phantoms, case):
    """Femoral head, neck and trochanter, condyles, tibial plateau and humeral head: the whole skeleton, the limbs
    alone and the knees give the same answers."""
    phantom = phantoms(case, shaped=True)
    whole = BoneMap(phantom.bones, phantom.bones.names)
    study = analyze(whole, phantom.points)
    assert [found(l) for l in study.lesions] == [expected(s) for s in phantom.expected]
    limbs = crop(phantom, (-250, -150, -950), (250, 200, 700), drop=TRUNK_AND_HEAD)
    knees = crop(phantom, (-115, -30, -660), (115, 60, -410))
    for bonemap, specs in ((whole, LIMB), (limbs, LIMB), (knees, KNEE)):
        study = analyze(bonemap, points(phantom, specs))
        assert [found(l) for l in study.lesions] == [tuple(s[2:]) for s in specs]


def test_one_tibia_alone_keeps_its_sub_location_but_not_side_or_end(phantoms):
    """The right knee without femur and patella: one tibia, nothing named, no trunk: side and end unknown, the metaphysis known."""
    phantom = phantoms("rotated_patient")
    bonemap = crop(phantom, (30, -30, -660), (115, 60, -410), drop={"femur_right", "patella"})
    assert bonemap.pieces(next(v for v, n in bonemap.names.items() if n == "tibia")) == 1
    lesion = analyze(bonemap, points(phantom, ONE_KNEE[1:2])).lesions[0]
    assert found(lesion) == ("tibia", None, "metaphysis", None)
    assert any(w.startswith("side unknown") for w in lesion.warnings) and any(w.startswith("end unknown") for w in lesion.warnings)
