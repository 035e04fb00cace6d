"""The MRML adapter against real MRML classes (the ``slicer-core`` wheel), headless.

Scenes are built from the phantom, whose every lesion has a known bone, side and sub-location.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import expected, found, need  # noqa: E402

slicer = need("slicer", "the MRML adapter is tested against slicer-core's real MRML classes")
vtk = need("vtk", "slicer-core's VTK")

from mrmlscenes import add_labelmap, add_segmentation, load_scene, new_scene, node_named, read_points_node, save_scene  # noqa: E402
from studybuilder import lesion, study  # noqa: E402

from CRMOAnalyzerLib.slicer import mrml  # noqa: E402
from CRMOAnalyzerLib.reading.compare import compare_studies  # noqa: E402
from CRMOAnalyzerLib.errors import CRMOInputError  # noqa: E402
from CRMOAnalyzerLib.io.markups import write_points  # noqa: E402
from CRMOAnalyzerLib.reading.read import render_report  # noqa: E402
from CRMOAnalyzerLib.reading.tables import LESION_COLUMNS, distribution_rows, lesion_rows  # noqa: E402

TERMINOLOGY = Path(mrml.__file__).parents[1] / "resources" / "terminology"


def assert_known_answers(study, phantom):
    assert len(study.lesions) == len(phantom.expected)
    by_name = {analysed.source["name"]: analysed for analysed in study.lesions}
    for spec in phantom.expected:
        assert found(by_name[spec["name"]]) == expected(spec), spec["name"]


# ---- localization through scene nodes ------------------------------------------------------------

@pytest.mark.parametrize("case", ["identity", "oblique"])
def test_labelmap_nodes_give_the_phantom_answers(phantoms, case):
    phantom = phantoms(case)
    scene = new_scene()
    bones = add_labelmap(scene, phantom.bones, "Bones")
    lesions = add_labelmap(scene, phantom.lesions, "Lesions")
    study = mrml.analyze_nodes(lesions=lesions, bones=bones)
    assert_known_answers(study, phantom)
    assert [lesion.source["kind"] for lesion in study.lesions] == ["label"] * 9
    assert study.inputs["bone_names"] == "color table of Bones"
    # the same voxels measured by the core straight from the arrays
    from CRMOAnalyzerLib.localization.bonemap import BoneMap
    from CRMOAnalyzerLib.localization.localize import analyze

    direct = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.lesions)
    assert [lesion.volume_mm3 for lesion in study.lesions] == [lesion.volume_mm3 for lesion in direct.lesions]
    assert np.allclose([lesion.centroid_ras for lesion in study.lesions], [lesion.centroid_ras for lesion in direct.lesions])


def test_labelmap_without_color_names_uses_given_bone_names(phantoms):
    phantom = phantoms("identity")
    scene = new_scene()
    bones = add_labelmap(scene, phantom.bones, "Bones", with_colors=False)
    lesions = add_labelmap(scene, phantom.lesions, "Lesions")
    study = mrml.analyze_nodes(lesions=lesions, bones=bones, bone_names=phantom.bones.names)
    assert_known_answers(study, phantom)
    assert study.inputs["bone_names"] == "the given bone names"


def test_segmentation_nodes_give_the_phantom_answers(phantoms):
    phantom = phantoms("oblique")
    scene = new_scene()
    bones = add_segmentation(scene, phantom.bones, "Bone segmentation")
    lesions = add_segmentation(scene, phantom.lesions, "Lesion segmentation")
    study = mrml.analyze_nodes(lesions=lesions, bones=bones)
    assert_known_answers(study, phantom)
    segmentation = lesions.GetSegmentation()
    for analysed in study.lesions:
        assert analysed.source["kind"] == "segment"
        assert segmentation.GetSegment(analysed.source["segment_id"]).GetName() == analysed.source["name"]
    counts = np.bincount(phantom.lesions.array.ravel())
    volume = abs(np.linalg.det(phantom.lesions.affine[:3, :3]))
    by_name = {analysed.source["name"]: analysed for analysed in study.lesions}
    for value, spec in enumerate(phantom.expected, start=1):
        assert by_name[spec["name"]].voxel_count == counts[value]
        assert by_name[spec["name"]].volume_mm3 == pytest.approx(counts[value] * volume, abs=0.01)


def test_points_read_from_mrk_json_give_the_phantom_answers(phantoms, tmp_path):
    phantom = phantoms("oblique")
    path = tmp_path / "lesions.mrk.json"
    write_points(path, phantom.points, coordinate_system="LPS")
    scene = new_scene()
    bones = add_labelmap(scene, phantom.bones, "Bones")
    points = read_points_node(scene, path)
    assert points.GetNumberOfControlPoints() == 9
    study = mrml.analyze_nodes(lesions=points, bones=bones)
    assert_known_answers(study, phantom)
    assert np.allclose([lesion.centroid_ras for lesion in study.lesions], [p.position_ras for p in phantom.points], atol=0.01)
    assert [lesion.source["point_id"] for lesion in study.lesions] == [points.GetNthControlPointID(i) for i in range(9)]
    assert all(lesion.volume_mm3 is None for lesion in study.lesions)


def test_points_under_a_linear_transform_are_read_in_world_coordinates(phantoms):
    phantom = phantoms("identity")
    scene = new_scene()
    bones = add_labelmap(scene, phantom.bones, "Bones")
    shift = np.array([40.0, -25.0, 60.0])
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Points")
    for point in phantom.points:
        points.AddControlPoint(vtk.vtkVector3d(*(point.position_ras - shift)), point.label)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "Shift")
    matrix = np.eye(4)
    matrix[:3, 3] = shift
    transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(matrix))
    points.SetAndObserveTransformNodeID(transform.GetID())
    study = mrml.analyze_nodes(lesions=points, bones=bones)
    assert_known_answers(study, phantom)


# ---- publishing ----------------------------------------------------------------------------------

def table_rows(node) -> list[dict[str, str]]:
    table = node.GetTable()
    columns = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    return [{columns[c]: table.GetValue(r, c).ToString() for c in range(len(columns))} for r in range(table.GetNumberOfRows())]


def as_text(rows):
    return [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]


def test_publish_twice_updates_the_same_nodes(phantoms):
    phantom = phantoms("identity")
    scene = new_scene()
    study = mrml.analyze_nodes(lesions=add_labelmap(scene, phantom.lesions, "Lesions"),
                               bones=add_labelmap(scene, phantom.bones, "Bones"))
    first = mrml.publish(study, scene)
    study.lesions[0].findings["marrow_edema"] = True
    study.lesions[0].override(sublocation="diaphysis")
    first[mrml.LESIONS_TABLE].SetName("renamed by the user")
    second = mrml.publish(study, scene)
    assert {k: v.GetID() for k, v in first.items()} == {k: v.GetID() for k, v in second.items()}
    assert scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == 2
    assert scene.GetNodesByClass("vtkMRMLTextNode").GetNumberOfItems() == 1

    rows = table_rows(second[mrml.LESIONS_TABLE])
    assert list(rows[0]) == LESION_COLUMNS
    assert rows == as_text(lesion_rows(study))
    edited = next(row for row in rows if row["id"] == study.lesions[0].id)
    assert (edited["marrow_edema"], edited["sublocation"], edited["edited"]) == ("yes", "diaphysis", "sublocation")
    assert table_rows(second[mrml.DISTRIBUTION_TABLE]) == as_text(distribution_rows(study))
    assert second[mrml.REPORT_TEXT].GetText() == render_report(study)

    second[mrml.REPORT_TEXT].SetText("edited by the reader")
    mrml.publish(study, scene, report=False)
    assert second[mrml.REPORT_TEXT].GetText() == "edited by the reader"
    mrml.publish(study, scene, report="final text")
    assert second[mrml.REPORT_TEXT].GetText() == "final text"



# ---- follow-up comparison ------------------------------------------------------------------------

def follow_up_exams():
    """Baseline: left distal femur, right medial clavicle. Follow-up: the femur halved, a new right distal tibia."""
    femur = {"sublocation": "metaphysis", "bone_end": "distal"}
    baseline = study(lesion("L1", "femur_left", volume=2000.0, position=0.85, **femur),
                     lesion("L2", "clavicula_right", sublocation="medial", volume=800.0, position=0.1), date="2025-09-01")
    followup = study(lesion("L1", "femur_left", volume=1000.0, position=0.86, **femur),
                     lesion("L2", "tibia", side="right", sublocation="metaphysis", bone_end="distal", volume=500.0, position=0.9))
    return baseline, followup


def test_publish_comparison_gives_known_statuses_and_never_duplicates():
    baseline, followup = follow_up_exams()
    comparison = compare_studies(baseline, followup)
    scene = new_scene()
    first = mrml.publish_comparison(comparison, scene)
    rows = table_rows(first)
    assert list(rows[0]) == mrml.COMPARISON_COLUMNS
    assert [(r["baseline_id"], r["followup_id"], r["status"]) for r in rows] == [
        ("L1", "L1", "persistent"), ("", "L2", "new"), ("L2", "", "resolved")]
    assert (rows[0]["bone"], rows[0]["volume_change"], float(rows[0]["volume_change_percent"])) == ("femur_left", "decreased", -50.0)
    assert (rows[1]["bone"], rows[1]["side"], rows[1]["sublocation"], rows[1]["volume_change_percent"]) == ("tibia", "right", "metaphysis", "")
    assert (rows[2]["bone"], rows[2]["sublocation"]) == ("clavicula_right", "medial")

    first.SetName("renamed by the user")
    followup.lesions.pop()  # the new tibial lesion was a mistake
    second = mrml.publish_comparison(compare_studies(baseline, followup), scene)
    assert second.GetID() == first.GetID()
    assert scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == 1
    assert [r["status"] for r in table_rows(second)] == ["persistent", "resolved"]


def test_report_with_a_comparison_has_the_follow_up_paragraph():
    baseline, followup = follow_up_exams()
    comparison = compare_studies(baseline, followup)
    scene = new_scene()
    text = mrml.publish(followup, scene, comparison=comparison)[mrml.REPORT_TEXT].GetText()
    assert text == render_report(followup, comparison=comparison)
    assert comparison.paragraph() in text and "Compared with 2025-09-01" in text
    assert "Compared with" not in mrml.publish(followup, scene)[mrml.REPORT_TEXT].GetText()


def test_lesion_voxels_are_valued_as_the_analysed_lesions(phantoms):
    phantom = phantoms("identity")
    scene = new_scene()
    node = add_labelmap(scene, phantom.lesions, "Lesions")
    analysed = mrml.analyze_nodes(lesions=node, bones=add_labelmap(scene, phantom.bones, "Bones"))
    voxels = mrml.lesion_voxels(node)
    assert {int(v) for v in np.unique(voxels.array) if v} == {l.source["value"] for l in analysed.lesions}
    assert mrml.lesion_voxels(scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode")) is None


# ---- findings and overrides survive save and reload ----------------------------------------------

EDITS = {"character": "sclerotic", "marrow_edema": True, "periosteal_reaction": False,
         "note": 'pain at night | "worse"; swelling: yes'}


def annotate(study):
    """A finding set on one lesion, an override on another: what the reader did."""
    first, second = study.lesions[0], study.lesions[1]
    first.findings.update(EDITS)
    second.override(bone="tibia", side="left", sublocation="diaphysis")
    return first.id, second.id


@pytest.mark.parametrize("kind", ["segmentation", "labelmap", "points"])
def test_save_and_reload_restores_findings_and_overrides(phantoms, tmp_path, kind):
    phantom = phantoms("identity")
    scene = new_scene()
    bones = add_labelmap(scene, phantom.bones, "Bones")
    if kind == "segmentation":
        lesions = add_segmentation(scene, phantom.lesions, "Lesions")
    elif kind == "labelmap":
        lesions = add_labelmap(scene, phantom.lesions, "Lesions")
    else:
        write_points(tmp_path / "in.mrk.json", phantom.points)
        lesions = read_points_node(scene, tmp_path / "in.mrk.json", "Lesions")
    study = mrml.analyze_nodes(lesions=lesions, bones=bones)
    edited_id, overridden_id = annotate(study)
    mrml.store_annotations(study, lesions)
    mrml.publish(study, scene)
    before = {lesion.id: lesion.to_dict() for lesion in study.lesions}

    path = save_scene(scene, tmp_path / "saved")
    reloaded = load_scene(path)
    again = mrml.analyze_nodes(lesions=node_named(reloaded, "Lesions"), bones=node_named(reloaded, "Bones"))
    after = {lesion.id: lesion.to_dict() for lesion in again.lesions}
    assert after == before
    assert again.lesion(edited_id).findings == {**EDITS}
    overridden = again.lesion(overridden_id)
    assert (overridden.bone, overridden.side, overridden.sublocation) == ("tibia", "left", "diaphysis")
    assert overridden.finding_site["code"] == "12611008"
    assert sorted(overridden.overrides) == ["bone", "side", "sublocation"]
    # the published nodes came back too, once each
    assert reloaded.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == 2
    assert node_named(reloaded, mrml.REPORT_TEXT).GetText() == render_report(study)
    if kind == "segmentation":
        segmentation = node_named(reloaded, "Lesions").GetSegmentation()
        segment = segmentation.GetSegment(overridden.source["segment_id"])
        assert segment.GetTerminology() == mrml.terminology_entry(overridden)
        assert "~SCT^12611008^Tibia~SCT^7771000^Left" in segment.GetTerminology()
    if kind == "points":
        points = node_named(reloaded, "Lesions")
        assert points.GetNthControlPointDescription(0) == EDITS["note"]


def test_study_facts_are_kept_in_the_scene(phantoms):
    phantom = phantoms("identity")
    scene = new_scene()
    study = mrml.analyze_nodes(lesions=add_labelmap(scene, phantom.lesions, "Lesions"),
                               bones=add_labelmap(scene, phantom.bones, "Bones"),
                               patient={"id": "P7", "sex": "F"}, study={"date": "2024-05-01"})
    mrml.publish(study, scene)
    assert mrml.study_info(scene)["patient"] == {"id": "P7", "sex": "F"}
    assert mrml.study_info(scene)["study"] == {"date": "2024-05-01"}


# ---- terminology ---------------------------------------------------------------------------------

def test_terminology_files_load_in_slicer_terminology_logic(phantoms):
    logic = slicer.vtkSlicerTerminologiesModuleLogic()
    names = mrml.load_terminologies(logic)
    assert names == mrml.terminology_context_names() == ("Segmentation category and type - CRMO Analyzer",
                                                         "Anatomic codes - CRMO Analyzer bones")
    assert logic.GetNumberOfCategoriesInTerminology(names[0]) == 1
    bone_codes = {bone.code for bone in __import__("CRMOAnalyzerLib.anatomy", fromlist=["bones"]).bones().values()}
    assert logic.GetNumberOfRegionsInRegionContext(names[1]) == len(bone_codes)

    phantom = phantoms("identity")
    scene = new_scene()
    study = mrml.analyze_nodes(lesions=add_labelmap(scene, phantom.lesions, "Lesions"),
                               bones=add_labelmap(scene, phantom.bones, "Bones"))
    femur = next(lesion for lesion in study.lesions if lesion.bone == "femur_left")
    entry = slicer.vtkSlicerTerminologyEntry()
    assert logic.DeserializeTerminologyEntry(mrml.terminology_entry(femur), entry)
    assert logic.UpdateEntryFromLoadedTerminologies(entry, [names[0]], [names[1]])
    assert entry.GetCategoryObject().GetCodeValue() == "49755003"
    assert (entry.GetTypeObject().GetCodeValue(), entry.GetTypeObject().GetCodeMeaning()) == ("52988006", "Lesion")
    assert (entry.GetRegionObject().GetCodeValue(), entry.GetRegionObject().GetCodeMeaning()) == ("71341001", "Femur")
    assert entry.GetRegionModifierObject().GetCodeValue() == "7771000"
    vertebra = next(lesion for lesion in study.lesions if lesion.bone == "vertebrae_T8")
    assert mrml.terminology_entry(vertebra).endswith("~SCT^11068009^T8 vertebra~^^")


def test_terminology_files_carry_the_schema_strings_slicer_demands():
    terminology = json.loads((TERMINOLOGY / mrml.TERMINOLOGY_FILES["terminology"]).read_text())
    region = json.loads((TERMINOLOGY / mrml.TERMINOLOGY_FILES["region"]).read_text())
    assert terminology["@schema"] == "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/segment-context-schema.json#"
    assert region["@schema"] == "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/anatomic-context-schema.json#"
    assert terminology["sources"] and region["sources"]


# ---- bad input: a clear message, no traceback ----------------------------------------------------

def test_no_bone_map_is_a_clear_error(phantoms):
    scene = new_scene()
    lesions = add_labelmap(scene, phantoms("identity").lesions, "Lesions")
    with pytest.raises(CRMOInputError, match="no bone map selected"):
        mrml.analyze_nodes(lesions=lesions, bones=None)


def test_empty_segment_is_a_warning_and_the_others_are_analysed(phantoms):
    phantom = phantoms("identity")
    scene = new_scene()
    lesions = add_segmentation(scene, phantom.lesions, "Lesions")
    lesions.GetSegmentation().AddEmptySegment("", "Lesion 10")
    study = mrml.analyze_nodes(lesions=lesions, bones=add_labelmap(scene, phantom.bones, "Bones"))
    assert len(study.lesions) == 9
    assert any("'Lesion 10'" in w and "empty" in w for w in study.warnings)


def test_every_segment_empty_and_no_placed_point_are_studies_with_no_lesion(phantoms):
    """Zero lesions is a study (a normal exam); the warning names the node and why."""
    phantom = phantoms("identity")
    scene = new_scene()
    bones = add_labelmap(scene, phantom.bones, "Bones")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Empty")
    segmentation.GetSegmentation().AddEmptySegment("", "Lesion 1")
    study = mrml.analyze_nodes(lesions=segmentation, bones=bones)
    assert study.lesions == [] and any(w.startswith("Empty: every segment of the lesion segmentation is empty")
                                       for w in study.warnings)
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "No points")
    points.AddControlPoint(vtk.vtkVector3d(0.0, 0.0, 0.0), "unplaced")
    points.UnsetNthControlPointPosition(0)
    study = mrml.analyze_nodes(lesions=points, bones=bones)
    assert study.lesions == [] and any(w.startswith("No points: the point list has no placed control point")
                                       for w in study.warnings)
    with pytest.raises(CRMOInputError, match="^Bones: the bone segmentation has no segment"):
        mrml.analyze_nodes(lesions=points, bones=scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Bones"))


def test_lesion_outside_every_bone_is_unassigned_with_a_warning(phantoms):
    phantom = phantoms("identity")
    scene = new_scene()
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Points")
    points.AddControlPoint(vtk.vtkVector3d(*phantom.points[0].position_ras), "in femur")
    points.AddControlPoint(vtk.vtkVector3d(0.0, 120.0, 0.0), "in the abdomen")
    study = mrml.analyze_nodes(lesions=points, bones=add_labelmap(scene, phantom.bones, "Bones"))
    assert [lesion.bone for lesion in study.lesions] == ["femur_right", "unassigned"]
    assert any("#2: not in or within" in w for w in study.warnings)  # named by its label
    assert mrml.terminology_entry(study.lesions[1]).endswith("~Anatomic codes - CRMO Analyzer bones~^^~^^")


def test_centre_views_moves_every_slice_view():
    scene = new_scene()
    red = scene.AddNewNodeByClass("vtkMRMLSliceNode", "Red")
    red.SetLayoutName("Red")
    red.SetOrientationToAxial()
    assert mrml.centre_views(scene, (10.0, -20.0, 30.0)) == 1
    centre = slicer.util.arrayFromVTKMatrix(red.GetSliceToRAS())[:3, 3]
    assert np.allclose(centre, (10.0, -20.0, 30.0))


def test_publishing_derives_the_distribution_once_for_the_tables_and_the_report(monkeypatch):
    from studybuilder import femur_pair
    from studybuilder import study as make_study

    from CRMOAnalyzerLib.reading import conditions, distribution
    from CRMOAnalyzerLib.reading.read import read

    current = make_study(*femur_pair())
    assert read(current).text  # score and flag files are checked on a probe study when first loaded: not counted
    calls = []
    monkeypatch.setattr(conditions, "distribution", lambda s: calls.append(s) or distribution.distribution(s))
    nodes = mrml.publish(current, new_scene())
    assert len(calls) == 1 and calls[0] is current
    assert table_rows(nodes[mrml.DISTRIBUTION_TABLE]) == as_text(distribution_rows(current))
    assert nodes[mrml.REPORT_TEXT].GetText() == render_report(current)
