"""Flat-bone and sacrum sub-locations on geometry built independently of the phantom (``localize_builder``): other
sizes, an oblique direction matrix with anisotropic voxels, a patient off-centre and rotated on a flipped grid."""

from __future__ import annotations

import numpy as np
import pytest

from localize_builder import POSES, build, chest, pelvis, shoulders

from CRMOAnalyzerLib.io.files import read_json
from CRMOAnalyzerLib.io.markups import PointLesion
from CRMOAnalyzerLib.localization import sublocation
from CRMOAnalyzerLib.localization.localize import analyze

SCALES = (0.8, 1.25)
_CACHE: dict = {}


def built(maker, scale: float, pose: str, **kwargs):
    key = (maker.__name__, scale, pose, tuple(sorted(kwargs.items())))
    if key not in _CACHE:
        shapes, lesions, low, high = maker(scale, **kwargs)
        grid, placed = POSES[pose]
        _CACHE[key] = build(shapes, lesions, grid, placed, low, high)
    return _CACHE[key]


def sacrum_frame(bonemap) -> sublocation.BoneFrame:
    """The sacrum's frame, measured as the localizer measures a flat bone's (the patient's axes from the midline)."""
    midline = bonemap.midline
    axes = sublocation.PatientAxes.of(midline.normal, midline.offset)
    value = next(v for v, bone in bonemap.bones.items() if bone.name == "sacrum")
    return sublocation.Sacrum.from_runs(bonemap.bone_runs(value), axes, bonemap.lumbar_vertebrae())


def point(b, xyz) -> np.ndarray:
    return b.pose.to_ras(np.array([xyz], float))[0]


@pytest.mark.parametrize("pose", sorted(POSES))
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("maker", [pelvis, chest, shoulders], ids=["pelvis", "chest", "shoulders"])
def test_flat_bone_parts_on_built_geometry(maker, scale, pose):
    """Hip bone parts, rib arcs, scapula parts and sternum parts, side included, on every size and pose."""
    b = built(maker, scale, pose)
    study = analyze(b.bonemap, b.points)
    wrong = [(p.label, (lesion.bone, lesion.side, lesion.sublocation), answer, lesion.warnings)
             for lesion, p, answer in zip(study.lesions, b.points, b.answers)
             if answer[0] != "sacrum" and (lesion.bone, lesion.side, lesion.sublocation) != answer]
    assert not wrong
    sacral = [(lesion.bone, lesion.side) for lesion, answer in zip(study.lesions, b.answers) if answer[0] == "sacrum"]
    assert sacral == [answer[:2] for answer in b.answers if answer[0] == "sacrum"]


@pytest.mark.parametrize("pose", sorted(POSES))
@pytest.mark.parametrize("scale", SCALES)
def test_sacral_ala_and_body_on_built_geometry(scale, pose):
    """Ala beyond the lateral margin of the L5 body (not of its transverse processes, not of the sacrum), body within,
    at S1 and below; the frame's answer agrees with the side the localizer gives."""
    b = built(pelvis, scale, pose)
    frame = sacrum_frame(b.bonemap)
    assert isinstance(frame, sublocation.Sacrum)
    assert abs(frame.body_half_width - 18 * scale) < 2.0  # the L5 body's half-width, 18 mm x scale (not 42: processes)
    study = analyze(b.bonemap, b.points)
    for lesion, p, answer in zip(study.lesions, b.points, b.answers):
        if answer[0] == "sacrum":
            where = frame.locate(p.position_ras)
            assert (lesion.side, where.sublocation) == answer[1:], p.label
            assert where.warning is None


@pytest.mark.parametrize("pose", ["oblique", "off_centre_rotated"])
def test_the_sacrums_side_follows_the_measured_body_margin_not_the_fixed_rule(pose):
    """One rule for the side and the part. A small child's sacral bodies (half-width under the fixed 15 mm): a lesion
    13 mm from the midline lies beyond the bodies: ala, with its side (the fixed rule would give it none); a large
    one's (over 15 mm): a lesion 17 mm out lies in the body: body, with no side (the fixed rule would give one). Once
    these were 'unknown' (the two rules disagreed); now the measured margin is the one rule."""
    fixed = sublocation.rules()["sided_midline_bones"]["sacrum"]["midline_half_width_mm"]
    for scale, x, answer in ((0.6, 13.0, ("right", "ala")), (1.25, 17.0, (None, "body")),
                             (0.6, -13.0, ("left", "ala")), (1.25, -17.0, (None, "body"))):
        b = built(pelvis, scale, pose)
        frame = sacrum_frame(b.bonemap)
        assert (frame.body_half_width < abs(x) <= fixed) or (fixed < abs(x) <= frame.body_half_width)
        where = frame.locate(point(b, (x, -8 * scale, 0)))
        lesion = analyze(b.bonemap, [PointLesion("sacrum", point(b, (x, -8 * scale, 0)))]).lesions[0]
        assert (frame.side(point(b, (x, -8 * scale, 0))), where.sublocation) == answer
        assert (lesion.bone, lesion.side, lesion.sublocation) == ("sacrum", *answer)
        assert where.warning is None and not lesion.warnings


@pytest.mark.parametrize("pose", sorted(POSES))
def test_the_sacrums_side_and_part_from_bodies_25_mm_wide(pose):
    """The L5 body 25 mm either side of the midline: 20 mm right is body with no side; 30 mm right is the right ala;
    30 mm left the left ala; the frame's half-width is the measured 25 mm."""
    b = built(pelvis, 1.0, pose, l5_half_width=25.0)
    frame = sacrum_frame(b.bonemap)
    assert isinstance(frame, sublocation.Sacrum) and abs(frame.body_half_width - 25.0) < 2.0
    points = [PointLesion(name, point(b, (x, -4.0, 2.0))) for name, x in (("20 R", 20.0), ("30 R", 30.0), ("30 L", -30.0))]
    study = analyze(b.bonemap, points)
    assert [(lesion.bone, lesion.side, lesion.sublocation) for lesion in study.lesions] == \
        [("sacrum", None, "body"), ("sacrum", "right", "ala"), ("sacrum", "left", "ala")]
    assert not any(lesion.warnings for lesion in study.lesions)


@pytest.mark.parametrize("lumbar, l5_half_width, scale", [((), 18.0, 1.0), (("vertebrae_L4",), 18.0, 1.25),
                                                            (("vertebrae_L5",), 4.0, 1.0)],
                         ids=["no lumbar vertebra", "L4 alone, 44 mm above", "L5 body too narrow to measure"])
def test_without_a_measured_sacral_body_the_side_follows_the_fixed_rule(lumbar, l5_half_width, scale):
    """No width to measure: the sub-location is unknown with a warning that says the side came from the fixed 15 mm;
    the side follows that fixed rule (20 mm right: right; 10 mm right and 10 mm left: none), never a guessed part."""
    b = built(pelvis, scale, "off_centre_rotated", lumbar=lumbar, l5_half_width=l5_half_width)
    frame = sacrum_frame(b.bonemap)
    assert isinstance(frame, sublocation.Sacrum) and frame.body_half_width is None
    assert frame.midline_half_width == sublocation.rules()["sided_midline_bones"]["sacrum"]["midline_half_width_mm"]
    points = [PointLesion(name, point(b, (x, -4.0, 2.0))) for name, x in (("20 R", 20.0), ("10 R", 10.0), ("10 L", -10.0),
                                                                          ("40 L", -40.0))]
    study = analyze(b.bonemap, points)
    assert [(lesion.bone, lesion.side, lesion.sublocation) for lesion in study.lesions] == \
        [("sacrum", "right", None), ("sacrum", None, None), ("sacrum", None, None), ("sacrum", "left", None)]
    for lesion in study.lesions:
        assert any("sub-location unknown (ala or body)" in w and "its side from the fixed 15 mm" in w for w in lesion.warnings)


def test_a_sacrum_too_small_to_measure_takes_the_fixed_side_rule_with_a_warning():
    """A sacrum label of 8 voxels (a scrap): no frame can be measured; 20 mm right of the midline is right, 8 mm is no
    side, by the fixed 15 mm, and each lesion says so."""
    from CRMOAnalyzerLib.samples.phantom import _Box

    shapes, _, low, high = pelvis(1.0)
    shapes = [(name, shape) for name, shape in shapes if name != "sacrum"] + [("sacrum", _Box((6.0, -1.0, 0.0), (26.0, 1.0, 1.0)))]
    grid, pose = POSES["identity"]
    b = build(shapes, [], grid, pose, low, high)
    assert b.bonemap.bone_runs(next(v for v, bone in b.bonemap.bones.items() if bone.name == "sacrum")).count < 10
    study = analyze(b.bonemap, [PointLesion(f"{x:g}", point(b, (x, 0.0, 0.5))) for x in (20.0, 8.0)])
    assert [(lesion.bone, lesion.side, lesion.sublocation) for lesion in study.lesions] == \
        [("sacrum", "right", None), ("sacrum", None, None)]
    assert all(any("too few voxels" in w and "its side from the fixed 15 mm" in w for w in lesion.warnings)
               for lesion in study.lesions)


def test_a_mandible_too_small_for_a_frame_takes_its_fixed_side_rule():
    """A mandible label of 8 voxels: no frame; its side by its fixed 10 mm (20 mm right: right; 8 mm: none)."""
    from CRMOAnalyzerLib.samples.phantom import _Box

    shapes, _, low, high = pelvis(1.0)
    shapes.append(("mandible", _Box((6.0, -1.0, 84.0), (26.0, 1.0, 85.0))))  # above L4 (whose top is at 71 mm)
    grid, pose = POSES["identity"]
    b = build(shapes, [], grid, pose, low, high)
    assert b.bonemap.bone_runs(next(v for v, bone in b.bonemap.bones.items() if bone.name == "mandible")).count < 10
    study = analyze(b.bonemap, [PointLesion(f"{x:g}", point(b, (x, 0.0, 84.5))) for x in (20.0, 8.0)])
    assert [(lesion.bone, lesion.side) for lesion in study.lesions] == [("mandible", "right"), ("mandible", None)]


def test_sacrum_without_a_lumbar_vertebra_has_no_sub_location():
    for lumbar, scale in (((), 1.0), (("vertebrae_L4",), 1.25)):  # none; L4 alone, 44 mm above the sacrum
        b = built(pelvis, scale, "oblique", lumbar=lumbar)
        frame = sacrum_frame(b.bonemap)
        where = frame.locate(point(b, (36 * scale, -4 * scale, 2 * scale)))
        assert where.sublocation is None and "no lumbar vertebra" in where.warning


def test_a_separate_s1_label_is_not_taken_for_the_vertebra_above():
    """TotalSegmentator's vertebrae_S1 holds the S1 alae: measured as 'the vertebra above', every lesion would be body."""
    b = built(pelvis, 1.0, "off_centre_rotated", s1_label=True)
    frame = sacrum_frame(b.bonemap)
    assert frame.body_half_width < 20
    assert frame.locate(point(b, (-30, -10, -25))).sublocation == "ala"
    assert frame.locate(point(b, (-4, -20, -60))).sublocation == "body"


def test_the_sacrum_with_no_midline_has_no_part():
    b = built(pelvis, 1.0, "identity")
    value = next(v for v, bone in b.bonemap.bones.items() if bone.name == "sacrum")
    frame = sublocation.Sacrum.from_runs(b.bonemap.bone_runs(value), sublocation.PatientAxes.of(None), b.bonemap.lumbar_vertebrae())
    assert frame.locate(point(b, (36, -4, 2))).sublocation is None


def test_the_sacrum_rule_is_cited_data():
    rule = sublocation.rules()["sacrum"]
    assert any("Denis" in source for source in rule["sources"])
    assert any("tool convention" in source for source in rule["sources"])


def test_the_sacrums_side_rule_is_described_as_it_is():
    """One rule (the measured bodies), the fixed half-width only as the fallback: no text describes the old
    'disagreement' rule any more."""
    texts = sublocation.rules()["sacrum"]["rule"] + " ".join(sublocation.rules()["sided_midline_bones"]["sources"]) \
        + sublocation.rules()["sided_midline_bones"]["rule"]
    assert "disagree" not in texts.replace("never disagree", "")
    assert "fallback" in texts and "measured" in texts


def test_sacral_lesions_are_reported_with_their_part():
    from importlib import resources

    b = built(pelvis, 1.0, "oblique")
    study = analyze(b.bonemap, [PointLesion("ala", point(b, (36, -4, 2))), PointLesion("body", point(b, (3, -4, 2)))])
    assert [(lesion.side, lesion.sublocation) for lesion in study.lesions] == [("right", "ala"), (None, "body")]
    root = resources.files("CRMOAnalyzerLib") / "resources"
    assert "ala" in read_json(root / "study.schema.json", "schema")["$defs"]["lesion"]["properties"]["sublocation"]["enum"]
    assert "ala" in read_json(root / "exports" / "codes.json", "codes")["local"]["sublocations"]


@pytest.mark.parametrize("right", [(1.0, 0.0, 0.0), (0.94, 0.34, 0.0), (-0.9, 0.3, 0.3)])
def test_the_hip_bone_parts_by_direction_from_the_acetabulum_in_any_patient_frame(right):
    """Seen from the side, from the acetabulum's centre (0 degrees superior, +90 anterior): the ilium from -90 to
    +60 degrees, the pubis in front below that, the ischium behind; in a rotated patient frame too."""
    axes = sublocation.PatientAxes.of(np.asarray(right) / np.linalg.norm(right), 0.0)
    centre = np.array([40.0, -20.0, 300.0])
    degrees = [0, 50, 70, 120, 170, -80, -100, -170]
    points = [centre + 30 * (np.cos(np.radians(a)) * axes.superior + np.sin(np.radians(a)) * axes.anterior) + 5 * axes.right
              for a in degrees]
    assert list(sublocation.HipBone._parts(axes, centre, np.array(points))) == \
        ["ilium", "ilium", "pubis", "pubis", "pubis", "ilium", "ischium", "ischium"]
