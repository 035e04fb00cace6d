"""Property-based tests: the same anatomy under random poses and grids gives the same answers;
the study model round-trips through JSON."""

from __future__ import annotations

import json

import numpy as np
from conftest import expected, found, make_lesion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from CRMOAnalyzerLib.anatomy import bones
from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.localization.localize import analyze
from CRMOAnalyzerLib.model import Study
from CRMOAnalyzerLib.samples.phantom import Grid, Pose, make_phantom, rotation

axes = st.tuples(*(st.floats(-1, 1) for _ in range(3))).filter(lambda v: np.linalg.norm(v) > 0.2)
flips = st.tuples(*(st.sampled_from([-1.0, 1.0]) for _ in range(3)))
spacings = st.tuples(*(st.floats(3.0, 4.0) for _ in range(3)))


@st.composite
def grids(draw):
    direction = rotation(draw(axes), draw(st.floats(-180, 180))) @ np.diag(draw(flips))
    return Grid(draw(spacings), direction)


@st.composite
def poses(draw):
    turn = rotation((0, 0, 1), draw(st.floats(-30, 30))) @ rotation((1, 0, 0), draw(st.floats(-10, 10)))
    return Pose(turn, np.array([draw(st.floats(-300, 300)) for _ in range(3)]))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bone_grid=grids(), lesion_grid=grids(), pose=poses())
def test_localization_is_invariant_to_pose_and_grid(bone_grid, lesion_grid, pose):
    phantom = make_phantom(bone_grid, lesion_grid, pose)
    bonemap = BoneMap(phantom.bones, phantom.bones.names)
    by_label = analyze(bonemap, phantom.lesions)
    by_point = analyze(bonemap, phantom.points)
    answers = [expected(spec) for spec in phantom.expected]
    assert [found(l) for l in by_label.lesions] == answers
    assert [found(l) for l in by_point.lesions] == answers


names = st.sampled_from(sorted(bones()) + ["unassigned"])
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@st.composite
def lesions(draw, index):
    bone = draw(names)
    side = draw(st.sampled_from([None, "left", "right"]))
    lesion = make_lesion(f"L{index}", bone, side, draw(st.sampled_from([None, "metaphysis", "medial", "vertebral body"])),
                         draw(st.sampled_from([None, "proximal", "distal"])),
                         volume_mm3=draw(st.one_of(st.none(), st.floats(0, 1e6))), z=draw(st.floats(-1e3, 1e3)),
                         note=draw(text), marrow_edema=draw(st.booleans()))
    return lesion


@st.composite
def studies(draw):
    count = draw(st.integers(0, 12))
    return Study(patient={"id": draw(text), "name": draw(text), "sex": draw(st.sampled_from(["F", "M", "O", None]))},
                 study={"date": draw(st.sampled_from([None, "2026-01-31"])), "description": draw(text)},
                 lesions=[draw(lesions(i + 1)) for i in range(count)], warnings=draw(st.lists(text, max_size=3)))


@settings(max_examples=60, deadline=None)
@given(study=studies())
def test_study_round_trips_through_json(study):
    document = json.loads(json.dumps(study.to_dict(), ensure_ascii=False))
    back = Study.from_dict(document)
    assert back.to_dict() == study.to_dict()
    assert [l.side for l in back.lesions] == [l.side for l in study.lesions]
