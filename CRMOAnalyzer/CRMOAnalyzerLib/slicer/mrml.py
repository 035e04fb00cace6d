"""The MRML adapter: Slicer scene nodes in, a :class:`~CRMOAnalyzerLib.model.Study` out, and back.

The adapter (this module and the modules beside it) is the only code of the package that imports ``slicer`` and
``vtk`` (never ``qt``): it runs inside 3D Slicer and headless with the ``slicer-core`` wheel. It converts node
geometry (``IJKToRAS``, the segments' image-to-world matrices, linear parent transforms) into the core's
``LabelMap``/``Image`` (``array[k, j, i]`` + ``ijk -> RAS``) and ``PointLesion``, then calls
:func:`localize.analyze`; it does no localization itself.

This module reads the bone map (once, until its node changes), analyses the scene's nodes and publishes the
tables and the report. The rest lives in the parts, whose public names are re-exported here (``mrml.X`` is the
adapter's interface):

- :mod:`.nodes`: scene set-up, node geometry as core images, nodes found by role, label map nodes, views;
- :mod:`.annotations`: what a reader records per lesion, stored in the scene (segment tags, node attributes);
- :mod:`.terminology`: the Slicer terminology of lesion segments;
- :mod:`.scene_study`: the report node, the study and baseline kept in the scene, the sample study;
- :mod:`.candidates`: lesion candidates, proposed AUTOMATIC, accepted or rejected by the reader.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import slicer
import vtk

from ..anatomy import find_bone, totalsegmentator_ids
from ..errors import CRMOInputError
from ..io.images import LabelMap
from ..io.markups import PointLesion
from ..localization.bonemap import BoneMap
from ..localization.localize import analyze
from ..model import Study
from ..pipeline import no_lesion_study, swapped_bones, swapped_lesions
from ..reading.read import Reading, as_reading
from ..reading.tables import DISTRIBUTION_COLUMNS, LESION_COLUMNS, distribution_rows, lesion_rows
from .annotations import (FINDINGS_TAG, LESION_DATA_ATTRIBUTE, OVERRIDES_TAG, _restore_annotations, apply_annotations,
                          lesion_key, store_annotations)
from .candidates import (ALGORITHM_NAME_TAG, ALGORITHM_TYPE_TAG, CANDIDATE_TAG, CANDIDATES_SEGMENTATION,
                         accept_candidate, candidate_segments, mark_edited_candidates, publish_candidates)
from .nodes import (ROLE_ATTRIBUTE, _is, _name, _segments, _singleton, centre_views, labelmap_node, place_beside,
                    prepare_scene, segmentation_labelmap, volume_image)
from .scene_study import (BASELINE_ATTRIBUTE, REPORT_EDITED_ATTRIBUTE, REPORT_TEXT, STUDY_DATA_ATTRIBUTE,
                          STUDY_INFO_ATTRIBUTE, load_sample_study, report_edited, report_node, set_report_text,
                          store_baseline, store_study, stored_baseline, stored_study, study_info)
from .terminology import TERMINOLOGY_FILES, load_terminologies, terminology_context_names, terminology_entry

if TYPE_CHECKING:
    from ..reading.compare import Comparison

__all__ = [
    # tables and report
    "LESIONS_TABLE", "DISTRIBUTION_TABLE", "REPORT_TEXT", "COMPARISON_TABLE", "DISTRIBUTION_COLUMNS", "COMPARISON_COLUMNS",
    "publish", "publish_comparison",
    # bone map and analysis
    "bone_map", "bone_map_is_cached", "forget_bone_map", "analyze_nodes", "SwappedInputs", "lesion_voxels",
    # .nodes
    "ROLE_ATTRIBUTE", "prepare_scene", "volume_image", "segmentation_labelmap", "labelmap_node", "place_beside",
    "centre_views",
    # .annotations
    "FINDINGS_TAG", "OVERRIDES_TAG", "LESION_DATA_ATTRIBUTE", "lesion_key", "apply_annotations", "store_annotations",
    # .terminology
    "TERMINOLOGY_FILES", "terminology_entry", "terminology_context_names", "load_terminologies",
    # .scene_study
    "STUDY_INFO_ATTRIBUTE", "REPORT_EDITED_ATTRIBUTE", "STUDY_DATA_ATTRIBUTE", "BASELINE_ATTRIBUTE", "report_node",
    "set_report_text", "report_edited", "store_study", "stored_study", "store_baseline", "stored_baseline", "study_info",
    "load_sample_study",
    # .candidates
    "ALGORITHM_TYPE_TAG", "ALGORITHM_NAME_TAG", "CANDIDATE_TAG", "CANDIDATES_SEGMENTATION", "publish_candidates",
    "candidate_segments", "accept_candidate", "mark_edited_candidates",
]

LESIONS_TABLE = "CRMO lesions"
DISTRIBUTION_TABLE = "CRMO distribution"
COMPARISON_TABLE = "CRMO comparison"
#: a row per lesion of a follow-up comparison (fields of ``compare.LesionChange``)
COMPARISON_COLUMNS = ["baseline_label", "followup_label", "bone", "side", "sublocation", "status", "volume_change",
                      "volume_change_percent", "baseline_id", "followup_id"]


# ---- the bone map, read once and reused until its node changes -------------------------------------------

def _color_names(node: Any, values: Iterable[int]) -> dict[int, str]:
    display = node.GetDisplayNode()
    colors = display.GetColorNode() if display is not None else None
    if colors is None:
        return {}
    names = {}
    for value in values:
        name = colors.GetColorName(int(value)) if 0 <= int(value) < colors.GetNumberOfColors() else ""
        if name and name != "(none)":
            names[int(value)] = name
    return names


def _mtimes(node: Any) -> tuple[int, ...]:
    """Modification times of everything a bone map node's content depends on (voxels, geometry, names, transforms)."""
    times = [node.GetMTime()]
    parent = node.GetParentTransformNode()
    while parent is not None:
        times.append(parent.GetMTime())
        parent = parent.GetParentTransformNode()
    if _is(node, "vtkMRMLSegmentationNode"):
        segmentation = node.GetSegmentation()
        times.append(segmentation.GetMTime())
        for segment_id, segment in _segments(node):
            image = node.GetBinaryLabelmapInternalRepresentation(segment_id)
            times += [segment.GetMTime(), image.GetMTime() if image is not None else 0]
    else:
        data = node.GetImageData()
        display = node.GetDisplayNode()
        colors = display.GetColorNode() if display is not None else None
        times += [data.GetMTime() if data is not None else 0, colors.GetMTime() if colors is not None else 0]
    return tuple(times)


#: the last bone map read: {key: (BoneMap, names source, warnings)}; reused until the node changes
_BONE_MAPS: dict[tuple, tuple[BoneMap, str, list[str]]] = {}


def _bone_map(bones: Any, bone_names: dict[int, str] | None) -> tuple[BoneMap, str, list[str]]:
    """The bone map of a node, read once and reused until the node (voxels, geometry, names) changes."""
    if bones is None:
        return _read_bone_map(bones, bone_names)
    key = (bones.GetID(), id(bones.GetScene()), _mtimes(bones), tuple(sorted((bone_names or {}).items())))
    if key not in _BONE_MAPS:
        _BONE_MAPS.clear()  # one at a time: a bone map holds a copy of its voxels
        _BONE_MAPS[key] = _read_bone_map(bones, bone_names)
    bonemap, source, warnings = _BONE_MAPS[key]
    return bonemap, source, list(warnings)


def bone_map_is_cached(bones: Any) -> bool:
    """Whether :func:`analyze_nodes` would reuse the bone map read last (no new read of its voxels)."""
    return any(key[:3] == (bones.GetID(), id(bones.GetScene()), _mtimes(bones)) for key in _BONE_MAPS)


def forget_bone_map() -> None:
    """Drop the cached bone map (its voxels): when the scene closes."""
    _BONE_MAPS.clear()


def _read_bone_map(bones: Any, bone_names: dict[int, str] | None) -> tuple[BoneMap, str, list[str]]:
    if bones is None:
        raise CRMOInputError("bone map", "no bone map selected: choose a bone segmentation or label map "
                             "(for example from TotalSegmentator)")
    warnings: list[str] = []
    if _is(bones, "vtkMRMLSegmentationNode"):
        labelmap, _, segment_warnings = segmentation_labelmap(bones, "bone segmentation")
        return BoneMap(labelmap, labelmap.names, _name(bones)), f"segment names of {_name(bones)}", segment_warnings
    if _is(bones, "vtkMRMLLabelMapVolumeNode"):
        labelmap = volume_image(bones, "bone map", label=True)
        present = [int(v) for v in np.unique(labelmap.array) if v != 0]
        if bone_names:
            names, source = {int(k): v for k, v in bone_names.items()}, "the given bone names"
        else:
            names, source = _color_names(bones, present), f"color table of {_name(bones)}"
            if not any(find_bone(n) for n in names.values()):
                names = totalsegmentator_ids()
                source = "TotalSegmentator task 'total' label ids"
                warnings.append(f"{_name(bones)}: its color table names no bone; assuming the {source}")
        labelmap.names = names
        return BoneMap(labelmap, names, source), source, warnings
    raise CRMOInputError(_name(bones), "the bone map must be a segmentation or a label map volume")


def bone_map(bones: Any, bone_names: dict[int, str] | None = None) -> BoneMap:
    """The bone map of a segmentation or label map node (read once and reused until the node changes)."""
    return _bone_map(bones, bone_names)[0]


# ---- analysis ------------------------------------------------------------------------------------

def _points(node: Any) -> tuple[list[PointLesion], list[str]]:
    points, ids = [], []
    world = np.zeros(3)
    defined = slicer.vtkMRMLMarkupsNode.PositionDefined
    for index in range(node.GetNumberOfControlPoints()):
        if node.GetNthControlPointPositionStatus(index) != defined:
            continue
        node.GetNthControlPointPositionWorld(index, world)
        points.append(PointLesion(node.GetNthControlPointLabel(index) or f"P{index + 1}", world.copy(),
                                  node.GetNthControlPointDescription(index) or ""))
        ids.append(node.GetNthControlPointID(index))
    return points, ids


class SwappedInputs(CRMOInputError):
    """The inputs look swapped (a bone map as lesions, a lesion map as bones): analyse only when the reader confirms."""


def _refuse_swapped(reason: str | None, node: Any, force: bool, warnings: list[str]) -> None:
    if reason is None:
        return
    if not force:
        raise SwappedInputs(_name(node), reason)
    warnings.append(f"{_name(node)}: {reason} (analysed as given, at the reader's request)")


def lesion_voxels(lesions: Any) -> LabelMap | None:
    """The lesion label map of a lesion node, valued as :func:`analyze_nodes` numbers lesions; ``None`` for points."""
    if _is(lesions, "vtkMRMLSegmentationNode"):
        return segmentation_labelmap(lesions, "lesion segmentation")[0]
    if _is(lesions, "vtkMRMLLabelMapVolumeNode"):
        return volume_image(lesions, "lesion map", label=True)
    return None


def analyze_nodes(lesions: Any, bones: Any, volume: Any = None, bone_names: dict[int, str] | None = None,
                  patient: dict | None = None, study: dict | None = None, force: bool = False) -> Study:
    """Localize the lesions of scene nodes and return the study, with findings and overrides stored in the scene.

    Parameters
    ----------
    lesions: vtkMRMLSegmentationNode | vtkMRMLLabelMapVolumeNode | vtkMRMLMarkupsFiducialNode
        A segment, a label value, or a control point per lesion.
    bones: vtkMRMLSegmentationNode | vtkMRMLLabelMapVolumeNode
        The bone map; names from its segments, from ``bone_names``, or from its color table.
    volume: vtkMRMLScalarVolumeNode | None
        Intensity image (e.g. STIR) for intensity features.
    bone_names: dict[int, str] | None
        Label value -> bone name, for a label map bone map.
    patient, study: dict | None
        Patient and study facts for the record.
    force: bool
        Analyse although the inputs look swapped (the study records a warning).

    A lesion node that marks no lesion (no segment, only empty segments, an empty label map, no placed point)
    gives a valid study with no lesion.

    Raises
    ------
    SwappedInputs
        The inputs look swapped (a bone map as lesions, a lesion map as bones) and ``force`` is false.
    CRMOInputError
        No bone map, inputs that do not overlap, an unsupported node.
    """
    if lesions is not None and lesions.GetScene() is not None:
        prepare_scene(lesions.GetScene())
    bonemap, names_source, warnings = _bone_map(bones, bone_names)
    _refuse_swapped(swapped_bones(bonemap), bones, force, warnings)
    image = volume_image(volume, "image") if volume is not None else None
    inputs = {"bones": _name(bones), "bone_names": names_source, "lesions": _name(lesions) if lesions is not None else None}
    if image is not None:
        inputs["image"] = _name(volume)
    keys: list[dict[str, str]] = []
    labelmap: LabelMap | None = None
    if lesions is None:
        raise CRMOInputError("lesions", "no lesion node selected: choose a segmentation, label map or point list")
    if _is(lesions, "vtkMRMLSegmentationNode"):
        labelmap, segment_ids, segment_warnings = segmentation_labelmap(lesions, "lesion segmentation", empty_ok=True)
        if labelmap is None:
            return _no_lesions(bonemap, patient, study, inputs, warnings + segment_warnings)
        warnings += segment_warnings
        result = analyze(bonemap, labelmap, image, "segment", patient, study, inputs)
        keys = [{"segment_id": segment_ids[lesion.source["value"]]} for lesion in result.lesions]
    elif _is(lesions, "vtkMRMLLabelMapVolumeNode"):
        labelmap = volume_image(lesions, "lesion map", label=True)
        if not labelmap.array.any():
            return _no_lesions(bonemap, patient, study, inputs,
                               [*warnings, f"{_name(lesions)}: the lesion map has no non-zero voxel: no lesion annotated"])
        labelmap.names = _color_names(lesions, [int(v) for v in np.unique(labelmap.array) if v != 0])
        result = analyze(bonemap, labelmap, image, "label", patient, study, inputs)
        keys = [{} for _ in result.lesions]
    elif _is(lesions, "vtkMRMLMarkupsFiducialNode"):
        points, point_ids = _points(lesions)
        if not points:
            return _no_lesions(bonemap, patient, study, inputs,
                               [*warnings, f"{_name(lesions)}: the point list has no placed control point: no lesion annotated"])
        result = analyze(bonemap, points, None, "point", patient, study, inputs)
        keys = [{"point_id": point_id} for point_id in point_ids]
    else:
        raise CRMOInputError(_name(lesions), "lesions must be a segmentation, a label map volume or a point list")
    if labelmap is not None:
        _refuse_swapped(swapped_lesions(result, bonemap, labelmap), lesions, force, warnings)
    for lesion, key in zip(result.lesions, keys):
        lesion.source.update(key)
    result.warnings = warnings + result.warnings
    _restore_annotations(result, lesions)
    return result


def _no_lesions(bonemap: BoneMap, patient: dict | None, study: dict | None, inputs: dict, warnings: list[str]) -> Study:
    """A valid study with no lesion (a normal exam, or every lesion resolved at follow-up)."""
    result = no_lesion_study(bonemap, patient, study, inputs, warnings[-1])
    result.warnings = warnings[:-1] + result.warnings
    return result


# ---- publishing ----------------------------------------------------------------------------------

def _fill_table(node: Any, columns: list[str], rows: list[dict[str, Any]]) -> None:
    table = vtk.vtkTable()
    for column in columns:
        values = vtk.vtkStringArray()
        values.SetName(column)
        values.SetNumberOfValues(len(rows))
        for index, row in enumerate(rows):
            value = row.get(column, "")
            values.SetValue(index, "" if value is None else str(value))
        table.AddColumn(values)
    was = node.StartModify()
    node.SetAndObserveTable(table)
    if hasattr(node, "SetUseColumnTitleAsColumnHeader"):
        node.SetUseColumnTitleAsColumnHeader(True)
    node.SetLocked(True)  # edits go through the panel, which keeps the scene annotations in step
    node.EndModify(was)


def publish(study: Study | Reading, scene: Any, report: bool | str = True, comparison: Comparison | None = None,
            parent: Any = None) -> dict[str, Any]:
    """Create or update (never duplicate) the study's table and text nodes in ``scene``, from one reading.

    Parameters
    ----------
    study: Study | Reading
        The analysed study, or its reading (which then carries the comparison).
    scene: vtkMRMLScene
        Where the nodes live.
    report: bool | str
        ``True``: write the generated report, unless the reader edited the text (:func:`set_report_text`):
        a reader's text is never overwritten; a string: write that text as the reader's; ``False``: leave
        the report text as it is (the node is still created if missing).
    comparison: Comparison | None
        A comparison with an earlier exam (given a study): the generated report gets its follow-up paragraph.
    parent: vtkMRMLNode | None
        A node whose subject-hierarchy parent (the patient's study) the results go under, e.g. the lesion node.

    Returns
    -------
    dict
        ``{"CRMO lesions": vtkMRMLTableNode, "CRMO distribution": vtkMRMLTableNode, "CRMO report": vtkMRMLTextNode}``
    """
    reading = as_reading(study, comparison)
    study = reading.study
    lesions = _singleton(scene, "vtkMRMLTableNode", LESIONS_TABLE, "lesions")
    _fill_table(lesions, LESION_COLUMNS, lesion_rows(study))
    distribution = _singleton(scene, "vtkMRMLTableNode", DISTRIBUTION_TABLE, "distribution")
    _fill_table(distribution, DISTRIBUTION_COLUMNS, distribution_rows(reading))
    text = _singleton(scene, "vtkMRMLTextNode", REPORT_TEXT, "report")
    if isinstance(report, str):
        set_report_text(scene, report)
    elif report and text.GetAttribute(REPORT_EDITED_ATTRIBUTE) != "1":
        text.SetText(reading.generated_text)
    info = {key: getattr(study, key) for key in ("patient", "study", "clinical", "dicom")}
    text.SetAttribute(STUDY_INFO_ATTRIBUTE, json.dumps(info, sort_keys=True, default=str))
    nodes = {LESIONS_TABLE: lesions, DISTRIBUTION_TABLE: distribution, REPORT_TEXT: text}
    place_beside(parent, nodes.values())
    return nodes


def publish_comparison(comparison: Comparison, scene: Any) -> Any:
    """Create or update (never duplicate) the table node "CRMO comparison": a row per lesion change."""
    node = _singleton(scene, "vtkMRMLTableNode", COMPARISON_TABLE, "comparison")
    _fill_table(node, COMPARISON_COLUMNS, [row.to_dict() for row in comparison.lesions])
    return node
