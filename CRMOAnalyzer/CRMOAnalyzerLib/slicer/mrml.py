"""The MRML adapter: Slicer scene nodes in, a :class:`~CRMOAnalyzerLib.model.Study` out, and back.

The only module of the package that imports ``slicer`` and ``vtk`` (never ``qt``): it runs inside 3D
Slicer and headless with the ``slicer-core`` wheel. It converts node geometry (``IJKToRAS``, the
segments' image-to-world matrices, linear parent transforms) into the core's ``LabelMap``/``Image``
(``array[k, j, i]`` + ``ijk -> RAS``) and ``PointLesion``, then calls :func:`localize.analyze`; it
does no localization itself.

What a reader records per lesion lives in the scene, so saving and reopening the scene keeps it:

- segmentation lesions: segment tags ``CRMOAnalyzer.findings`` / ``CRMOAnalyzer.overrides`` (JSON),
  plus the segment's Slicer terminology (Lesion, anatomic region = the bone, laterality modifier);
- label map lesions: node attribute ``CRMOAnalyzer.lesions`` (JSON keyed by label value);
- point lesions: node attribute ``CRMOAnalyzer.lesions`` (JSON keyed by control point ID); the
  free-text note is the control point's description.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..anatomy import UNASSIGNED, find_bone, totalsegmentator_ids
from ..localization.bonemap import BoneMap
from ..model import lesion_labels
from ..errors import CRMOInputError
from ..io.images import Image, LabelMap, read_labelmap
from ..io.labelnames import read_label_names
from ..localization.localize import analyze
from ..io.markups import PointLesion
from ..model import FINDINGS, Lesion, Study
from ..pipeline import no_lesion_study, swapped_bones, swapped_lesions
from ..reading.read import render_report
from ..reading.tables import DISTRIBUTION_COLUMNS, LESION_COLUMNS, distribution_rows, lesion_rows

if TYPE_CHECKING:
    from ..reading.compare import Comparison

__all__ = [
    "LESIONS_TABLE", "DISTRIBUTION_TABLE", "REPORT_TEXT", "COMPARISON_TABLE", "DISTRIBUTION_COLUMNS", "COMPARISON_COLUMNS",
    "FINDINGS_TAG", "OVERRIDES_TAG",
    "LESION_DATA_ATTRIBUTE", "ROLE_ATTRIBUTE", "STUDY_INFO_ATTRIBUTE", "REPORT_EDITED_ATTRIBUTE", "STUDY_DATA_ATTRIBUTE",
    "TERMINOLOGY_FILES", "report_node", "set_report_text", "report_edited", "store_study", "stored_study", "store_baseline",
    "stored_baseline", "apply_annotations", "load_sample_study", "labelmap_node", "bone_map", "publish_candidates", "candidate_segments",
    "accept_candidate", "mark_edited_candidates", "CANDIDATES_SEGMENTATION", "ALGORITHM_TYPE_TAG", "place_beside", "bone_map_is_cached", "forget_bone_map", "BASELINE_ATTRIBUTE",
    "prepare_scene", "analyze_nodes", "SwappedInputs", "publish", "publish_comparison", "lesion_voxels", "store_annotations", "terminology_entry", "terminology_context_names",
    "load_terminologies", "volume_image", "segmentation_labelmap", "lesion_key", "study_info", "centre_views",
]

logger = logging.getLogger(__name__)

LESIONS_TABLE = "CRMO lesions"
DISTRIBUTION_TABLE = "CRMO distribution"
REPORT_TEXT = "CRMO report"
COMPARISON_TABLE = "CRMO comparison"
#: a row per lesion of a follow-up comparison (fields of ``compare.LesionChange``)
COMPARISON_COLUMNS = ["baseline_label", "followup_label", "bone", "side", "sublocation", "status", "volume_change",
                      "volume_change_percent", "baseline_id", "followup_id"]

#: node attribute marking the nodes :func:`publish` owns (so a renamed node is still found, not duplicated)
ROLE_ATTRIBUTE = "CRMOAnalyzer.role"
#: segment tags holding a lesion's findings and overrides (JSON)
FINDINGS_TAG = "CRMOAnalyzer.findings"
OVERRIDES_TAG = "CRMOAnalyzer.overrides"
#: label map / point list attribute: JSON ``{key: {"findings": {...}, "overrides": {...}}}``
LESION_DATA_ATTRIBUTE = "CRMOAnalyzer.lesions"
#: report text node attribute: patient, study and clinical facts of the study (JSON)
STUDY_INFO_ATTRIBUTE = "CRMOAnalyzer.study"
#: report text node attribute: "1" while the text is the reader's (edited): analysis never overwrites it
REPORT_EDITED_ATTRIBUTE = "CRMOAnalyzer.reportEdited"
#: report text node attribute: the whole study (JSON) while it is linked to no lesion node (loaded from study.json)
STUDY_DATA_ATTRIBUTE = "CRMOAnalyzer.studyData"
#: report text node attribute: the baseline study of the follow-up comparison (JSON)
BASELINE_ATTRIBUTE = "CRMOAnalyzer.baseline"

TERMINOLOGY_FILES = {
    "terminology": "SegmentationCategoryTypeModifier-CRMOAnalyzer.term.json",
    "region": "AnatomicRegionAndModifier-CRMOAnalyzer.term.json",
}
_OVERRIDABLE = ("bone", "side", "sublocation", "bone_end")


# ---- scene set-up --------------------------------------------------------------------------------

def prepare_scene(scene: Any) -> None:
    """Register what a bare scene (``slicer-core`` without the application) lacks; no-op in Slicer.

    Registers the markups JSON storage node class in ``scene`` and, once per process, the
    segmentation converter rules (binary labelmap <-> closed surface).
    """
    if not scene.IsNodeClassRegistered("vtkMRMLMarkupsJsonStorageNode"):
        scene.RegisterNodeClass(slicer.vtkMRMLMarkupsJsonStorageNode())
    _register_converter_rules()


@lru_cache(maxsize=None)
def _register_converter_rules() -> None:
    if hasattr(slicer, "app"):
        return  # the application registered them at start-up
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())
    factory.RegisterConverterRule(slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule())


# ---- geometry: nodes -> core images --------------------------------------------------------------

def _name(node: Any) -> str:
    return node.GetName() or node.GetID() or node.GetClassName()


def _array(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _to_world(node: Any) -> np.ndarray:
    """4x4 from the node's coordinates to world RAS (its linear parent transforms), identity if none."""
    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        raise CRMOInputError(_name(node), f"is under the non-linear transform {_name(parent)!r}: harden the transform first")
    matrix = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(matrix)
    return _array(matrix)


def volume_image(node: Any, what: str = "image", label: bool = False, names: dict[int, str] | None = None) -> Image:
    """A scalar or label map volume node as a core :class:`Image` (or :class:`LabelMap`), in world RAS."""
    data = node.GetImageData() if node is not None else None
    if data is None or min(data.GetDimensions()) < 1:
        raise CRMOInputError(_name(node) if node is not None else what, f"the {what} volume has no voxels")
    if data.GetNumberOfScalarComponents() != 1:
        raise CRMOInputError(_name(node), f"the {what} volume has {data.GetNumberOfScalarComponents()} components per voxel, expected 1")
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    affine = _to_world(node) @ _array(ijk_to_ras)
    array = np.array(slicer.util.arrayFromVolume(node), copy=True)
    if label:
        if array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                raise CRMOInputError(_name(node), f"the {what} holds non-integer values: not a label map")
            array = array.astype(np.int32)
        return LabelMap(array, affine, _name(node), dict(names or {}))
    return Image(array, affine, _name(node))


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


def _segments(node: Any) -> list[tuple[str, Any]]:
    segmentation = node.GetSegmentation()
    return [(segmentation.GetNthSegmentID(i), segmentation.GetNthSegment(i)) for i in range(segmentation.GetNumberOfSegments())]


def segmentation_labelmap(node: Any, what: str = "segmentation",
                          empty_ok: bool = False) -> tuple[LabelMap | None, dict[int, str], list[str]]:
    """All segments of a segmentation node on one grid: value ``n`` is the ``n``-th segment.

    Returns the label map (names = segment names), the segment ID of each value, and warnings
    (empty segments, overlapping segments). Segments on other grids are mapped onto the first
    segment's grid (nearest voxel). A segmentation with no (non-empty) segment is an error, or with
    ``empty_ok`` gives ``None`` and a warning that says so.
    """
    segments = _segments(node)
    if not segments:
        if empty_ok:
            return None, {}, [f"{_name(node)}: the {what} has no segment: no lesion annotated"]
        raise CRMOInputError(_name(node), f"the {what} has no segment")
    labelmap_name = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    segmentation = node.GetSegmentation()
    if not segmentation.ContainsRepresentation(labelmap_name):
        segmentation.CreateRepresentation(labelmap_name)
    world = _to_world(node)
    reference: np.ndarray | None = None
    pieces: list[tuple[int, np.ndarray]] = []
    warnings: list[str] = []
    names: dict[int, str] = {}
    ids: dict[int, str] = {}
    layers: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # shared layers: non-zero voxels sorted by value, once
    for value, (segment_id, segment) in enumerate(segments, start=1):
        names[value], ids[value] = segment.GetName(), segment_id
        image = node.GetBinaryLabelmapInternalRepresentation(segment_id)
        extent = image.GetExtent() if image is not None else (0, -1, 0, -1, 0, -1)
        if image is None or extent[0] > extent[1] or extent[2] > extent[3] or extent[4] > extent[5]:
            warnings.append(f"segment {segment.GetName()!r} of {_name(node)} is empty: no lesion for it")
            continue
        dims = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
        layer = image.GetAddressAsString("vtkObject")
        if layer not in layers:
            flat = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(-1)
            nonzero = np.flatnonzero(flat)
            order = np.argsort(flat[nonzero], kind="stable")
            layers[layer] = (nonzero[order], flat[nonzero][order])
        nonzero, values = layers[layer]
        label = segment.GetLabelValue()
        found = nonzero[np.searchsorted(values, label, "left"):np.searchsorted(values, label, "right")]
        if found.size == 0:
            warnings.append(f"segment {segment.GetName()!r} of {_name(node)} is empty: no lesion for it")
            continue
        matrix = vtk.vtkMatrix4x4()
        image.GetImageToWorldMatrix(matrix)
        to_world = world @ _array(matrix)
        k, j, i = np.unravel_index(found, dims)
        ijk = np.column_stack([i + extent[0], j + extent[2], k + extent[4]]).astype(np.int64)
        if reference is None:
            reference = to_world
        elif not np.allclose(to_world, reference, atol=1e-6):
            ras = ijk @ to_world[:3, :3].T + to_world[:3, 3]
            inverse = np.linalg.inv(reference)
            ijk = np.rint(ras @ inverse[:3, :3].T + inverse[:3, 3]).astype(np.int64)
        pieces.append((value, ijk))
    if reference is None:
        if empty_ok:
            return None, {}, [f"{_name(node)}: every segment of the {what} is empty: no lesion annotated"]
        raise CRMOInputError(_name(node), f"every segment of the {what} is empty")
    low = np.min([p.min(axis=0) for _, p in pieces], axis=0)
    high = np.max([p.max(axis=0) for _, p in pieces], axis=0)
    size = high - low + 1
    dtype = np.uint8 if len(segments) < 256 else np.uint16
    array = np.zeros((size[2], size[1], size[0]), dtype=dtype)
    for value, ijk in pieces:
        local = ijk - low
        previous = array[local[:, 2], local[:, 1], local[:, 0]]
        overlapped = sorted({names[int(v)] for v in np.unique(previous[previous > 0])})
        if overlapped:
            warnings.append(f"segment {names[value]!r} of {_name(node)} overlaps {', '.join(map(repr, overlapped))}: "
                            f"shared voxels count for {names[value]!r}")
        array[local[:, 2], local[:, 1], local[:, 0]] = value
    affine = reference.copy()
    affine[:3, 3] = reference[:3, :3] @ low + reference[:3, 3]
    return LabelMap(array, affine, _name(node), names), ids, warnings


def _is(node: Any, class_name: str) -> bool:
    return node is not None and node.IsA(class_name)


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


# ---- analysis ------------------------------------------------------------------------------------

class SwappedInputs(CRMOInputError):
    """The inputs look swapped (a bone map as lesions, a lesion map as bones): analyse only when the reader confirms."""


def _refuse_swapped(reason: str | None, node: Any, force: bool, warnings: list[str]) -> None:
    if reason is None:
        return
    if not force:
        raise SwappedInputs(_name(node), reason)
    warnings.append(f"{_name(node)}: {reason} (analysed as given, at the reader's request)")


def lesion_key(lesion: Lesion) -> str:
    """The key that ties a lesion to its annotation in the scene (segment ID, point ID or label value)."""
    source = lesion.source
    return str(source.get("segment_id") or source.get("point_id") or source.get("value"))


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


def _tag(segment: Any, name: str) -> str:
    """A segment's tag ("" when it has none)."""
    value = vtk.reference("")
    segment.GetTag(name, value)
    return str(value)


def _loads(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        logger.warning("ignoring a stored CRMO annotation that is not JSON: %.60s", text)
        return {}
    return value if isinstance(value, dict) else {}


def _dumps(value: Any) -> str:
    # "|" separates segment tags in .seg.nrrd files: keep it out of the text (JSON escapes stay valid)
    return json.dumps(value, sort_keys=True, ensure_ascii=False).replace("|", "\\u007c")


def _stored(lesions: Any) -> dict[str, dict]:
    """Findings and overrides stored in a lesion node, by :func:`lesion_key`."""
    if _is(lesions, "vtkMRMLSegmentationNode"):
        out = {}
        for segment_id, segment in _segments(lesions):
            out[segment_id] = {"findings": _loads(_tag(segment, FINDINGS_TAG)), "overrides": _loads(_tag(segment, OVERRIDES_TAG))}
        return out
    return {str(k): v for k, v in _loads(lesions.GetAttribute(LESION_DATA_ATTRIBUTE)).items() if isinstance(v, dict)}


def _restore_annotations(study: Study, lesions: Any) -> None:
    _apply(study, _stored(lesions))


def _apply(study: Study, stored: dict[str, dict]) -> int:
    """Put stored findings and overrides (by :func:`lesion_key`) onto the study's lesions; returns how many matched."""
    labels = lesion_labels(study.lesions)
    matched = 0
    for lesion in study.lesions:
        data = stored.get(lesion_key(lesion))
        if data is None:
            continue
        matched += 1
        findings = {k: v for k, v in (data.get("findings") or {}).items() if k in FINDINGS}
        lesion.findings.update(findings)
        overrides = {k: v for k, v in (data.get("overrides") or {}).items() if k in _OVERRIDABLE}
        if "bone" in overrides:  # the bone first: it resets the site codes that side/sub-location refine
            overrides = {"bone": overrides.pop("bone"), **overrides}
        for name, value in overrides.items():
            try:
                lesion.override(**{name: value})
            except ValueError as error:
                lesion.warnings.append(f"stored override ignored: {error}")
                study.warnings.append(f"{labels.get(lesion.id, lesion.id)}: stored override ignored: {error}")
    return matched


def apply_annotations(study: Study, source: Study) -> int:
    """Findings and overrides of ``source`` (e.g. a saved study.json) onto the same lesions of ``study``.

    Lesions are the same when they come from the same segment, point or label value (:func:`lesion_key`).
    Returns how many lesions matched.
    """
    return _apply(study, {lesion_key(lesion): {"findings": lesion.findings, "overrides": _overrides(lesion)}
                          for lesion in source.lesions})


def _overrides(lesion: Lesion) -> dict[str, Any]:
    return {name: getattr(lesion, name) for name in lesion.overrides if name in _OVERRIDABLE}


def store_annotations(study: Study, lesions: Any, lesion_ids: Iterable[str] | None = None) -> None:
    """Write the findings, overrides (and, for segments, the terminology) of lesions into their node.

    ``lesion_ids`` limits the work to the lesions just edited (default: all). A study with no lesion node
    (loaded from study.json) is kept with :func:`store_study` instead.
    """
    if lesions is None:
        raise CRMOInputError("lesions", "no lesion node to store the findings in: keep the study with store_study")
    wanted = set(lesion_ids) if lesion_ids is not None else None
    chosen = [lesion for lesion in study.lesions if wanted is None or lesion.id in wanted]
    if _is(lesions, "vtkMRMLSegmentationNode"):
        segmentation = lesions.GetSegmentation()
        for lesion in chosen:
            segment = segmentation.GetSegment(lesion.source.get("segment_id", ""))
            if segment is None:
                continue
            segment.SetTag(FINDINGS_TAG, _dumps(lesion.findings))
            segment.SetTag(OVERRIDES_TAG, _dumps(_overrides(lesion)))
            segment.SetTerminology(terminology_entry(lesion))
        return
    stored = _stored(lesions)
    was = lesions.StartModify()
    try:
        point_index = {}
        if _is(lesions, "vtkMRMLMarkupsFiducialNode"):
            point_index = {lesions.GetNthControlPointID(i): i for i in range(lesions.GetNumberOfControlPoints())}
        for lesion in chosen:
            key = lesion_key(lesion)
            stored[key] = {"findings": dict(lesion.findings), "overrides": _overrides(lesion)}
            if key in point_index:
                lesions.SetNthControlPointDescription(point_index[key], str(lesion.findings.get("note") or ""))
        lesions.SetAttribute(LESION_DATA_ATTRIBUTE, _dumps(stored))
    finally:
        lesions.EndModify(was)


# ---- terminology ---------------------------------------------------------------------------------

def _terminology_path(kind: str):
    return resources.files("CRMOAnalyzerLib") / "resources" / "terminology" / TERMINOLOGY_FILES[kind]


@lru_cache(maxsize=None)
def terminology_context_names() -> tuple[str, str]:
    """(terminology context name, anatomic region context name) of the project's terminology files."""
    from ..io.files import read_json  # noqa: PLC0415

    terminology = read_json(_terminology_path("terminology"), "CRMO terminology")
    region = read_json(_terminology_path("region"), "CRMO anatomic context")
    return terminology["SegmentationCategoryTypeContextName"], region["AnatomicContextName"]


@lru_cache(maxsize=None)
def _lesion_codes() -> tuple[str, str]:
    from ..io.files import read_json  # noqa: PLC0415

    category = read_json(_terminology_path("terminology"), "CRMO terminology")["SegmentationCodes"]["Category"][0]
    kind = category["Type"][0]
    triple = "{CodingSchemeDesignator}^{CodeValue}^{CodeMeaning}"
    return triple.format(**category), triple.format(**kind)


def terminology_entry(lesion: Lesion) -> str:
    """Slicer's serialized terminology entry of a lesion segment: Lesion, in the bone, on its side.

    Format (vtkSlicerTerminologiesModuleLogic): ``context~category~type~typeModifier~regionContext~region~regionModifier``.
    """
    context, region_context = terminology_context_names()
    category, kind = _lesion_codes()
    site = lesion.finding_site if lesion.bone != UNASSIGNED else None
    region = f"SCT^{site['code']}^{site['meaning']}" if site else "^^"
    laterality = lesion.laterality if site else None
    modifier = f"SCT^{laterality['code']}^{laterality['meaning']}" if laterality else "^^"
    return f"{context}~{category}~{kind}~^^~{region_context}~{region}~{modifier}"


def load_terminologies(logic: Any = None) -> tuple[str, str]:
    """Load the project's terminology and anatomic context files into a terminologies logic.

    ``logic`` defaults to Slicer's ``slicer.modules.terminologies.logic()``; returns the two context
    names the logic reports (empty strings if it rejected a file).
    """
    if logic is None:
        logic = slicer.modules.terminologies.logic()
    terminology = logic.LoadTerminologyFromFile(str(_terminology_path("terminology")))
    load_region = getattr(logic, "LoadRegionContextFromFile", None) or logic.LoadAnatomicContextFromFile  # Slicer < 5.10
    return terminology, load_region(str(_terminology_path("region")))


# ---- publishing ----------------------------------------------------------------------------------

def _nodes(scene: Any, class_name: str) -> list[Any]:
    nodes = scene.GetNodesByClass(class_name)
    return [nodes.GetItemAsObject(index) for index in range(nodes.GetNumberOfItems())]


def _by_role(scene: Any, class_name: str, role: str) -> Any | None:
    """The node :func:`publish` made for ``role`` (found by its role attribute, whatever its name), or None."""
    return next((node for node in _nodes(scene, class_name) if node.GetAttribute(ROLE_ATTRIBUTE) == role), None)


def _singleton(scene: Any, class_name: str, name: str, role: str) -> Any:
    found = (_by_role(scene, class_name, role) or next((n for n in _nodes(scene, class_name) if n.GetName() == name), None)
             or scene.AddNewNodeByClass(class_name, name))
    found.SetAttribute(ROLE_ATTRIBUTE, role)
    return found


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


def publish(study: Study, scene: Any, report: bool | str = True, comparison: Comparison | None = None,
            parent: Any = None) -> dict[str, Any]:
    """Create or update (never duplicate) the study's table and text nodes in ``scene``.

    Parameters
    ----------
    study: Study
        The analysed study.
    scene: vtkMRMLScene
        Where the nodes live.
    report: bool | str
        ``True``: write the generated report, unless the reader edited the text (:func:`set_report_text`):
        a reader's text is never overwritten; a string: write that text as the reader's; ``False``: leave
        the report text as it is (the node is still created if missing).
    comparison: Comparison | None
        A comparison with an earlier exam: the generated report gets its follow-up paragraph.
    parent: vtkMRMLNode | None
        A node whose subject-hierarchy parent (the patient's study) the results go under, e.g. the lesion node.

    Returns
    -------
    dict
        ``{"CRMO lesions": vtkMRMLTableNode, "CRMO distribution": vtkMRMLTableNode, "CRMO report": vtkMRMLTextNode}``
    """
    lesions = _singleton(scene, "vtkMRMLTableNode", LESIONS_TABLE, "lesions")
    _fill_table(lesions, LESION_COLUMNS, lesion_rows(study))
    distribution = _singleton(scene, "vtkMRMLTableNode", DISTRIBUTION_TABLE, "distribution")
    _fill_table(distribution, DISTRIBUTION_COLUMNS, distribution_rows(study))
    text = _singleton(scene, "vtkMRMLTextNode", REPORT_TEXT, "report")
    if isinstance(report, str):
        set_report_text(scene, report)
    elif report and text.GetAttribute(REPORT_EDITED_ATTRIBUTE) != "1":
        text.SetText(render_report(study, comparison=comparison))
    info = {key: getattr(study, key) for key in ("patient", "study", "clinical", "dicom")}
    text.SetAttribute(STUDY_INFO_ATTRIBUTE, json.dumps(info, sort_keys=True, default=str))
    nodes = {LESIONS_TABLE: lesions, DISTRIBUTION_TABLE: distribution, REPORT_TEXT: text}
    place_beside(parent, nodes.values())
    return nodes


def place_beside(reference: Any, nodes: Iterable[Any]) -> None:
    """Put nodes under the subject-hierarchy parent of ``reference`` (its patient's study), if it has one."""
    if reference is None or reference.GetScene() is None:
        return
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(reference.GetScene())
    if hierarchy is None:
        return
    item = hierarchy.GetItemByDataNode(reference)
    parent = hierarchy.GetItemParent(item) if item else 0
    if not parent or parent == hierarchy.GetSceneItemID():
        return
    for node in nodes:
        item = hierarchy.GetItemByDataNode(node)
        if not item:  # Slicer's subject hierarchy plugins add an item for each new node; a bare scene does not
            hierarchy.CreateItem(parent, node)
        elif hierarchy.GetItemParent(item) != parent:
            hierarchy.SetItemParent(item, parent)


def report_node(scene: Any) -> Any | None:
    """The "CRMO report" text node of the scene (found by its role), or None."""
    return _by_role(scene, "vtkMRMLTextNode", "report")


def set_report_text(scene: Any, text: str | None) -> Any:
    """Store the reader's report text at once (``None``: drop the reader's text, so the next publish regenerates it)."""
    node = _singleton(scene, "vtkMRMLTextNode", REPORT_TEXT, "report")
    if text is None:
        node.RemoveAttribute(REPORT_EDITED_ATTRIBUTE)
    else:
        node.SetText(text)
        node.SetAttribute(REPORT_EDITED_ATTRIBUTE, "1")
    return node


def report_edited(scene: Any) -> bool:
    """Whether the scene's report text is the reader's (edited) rather than generated."""
    node = report_node(scene)
    return node is not None and node.GetAttribute(REPORT_EDITED_ATTRIBUTE) == "1"


def store_study(study: Study | None, scene: Any) -> None:
    """Keep a study that is linked to no lesion node (loaded from study.json) in the scene, edits included.

    ``None`` removes it (the study is linked to scene nodes again, which hold its annotations).
    """
    _set_study_attribute(scene, STUDY_DATA_ATTRIBUTE, study)


def stored_study(scene: Any) -> Study | None:
    """The study :func:`store_study` kept in the scene, or None."""
    return _study_attribute(scene, STUDY_DATA_ATTRIBUTE)


def store_baseline(baseline: Study | None, scene: Any) -> None:
    """Keep the compared baseline study in the scene, so the comparison comes back with a saved scene."""
    _set_study_attribute(scene, BASELINE_ATTRIBUTE, baseline)


def stored_baseline(scene: Any) -> Study | None:
    """The baseline study :func:`store_baseline` kept in the scene, or None."""
    return _study_attribute(scene, BASELINE_ATTRIBUTE)


def _set_study_attribute(scene: Any, attribute: str, study: Study | None) -> None:
    node = _singleton(scene, "vtkMRMLTextNode", REPORT_TEXT, "report")
    if study is None:
        node.RemoveAttribute(attribute)
    else:
        node.SetAttribute(attribute, json.dumps(study.to_dict(), sort_keys=True, default=str))


def _study_attribute(scene: Any, attribute: str) -> Study | None:
    node = report_node(scene)
    text = node.GetAttribute(attribute) if node is not None else None
    if not text:
        return None
    return Study.from_dict(json.loads(text), f"{REPORT_TEXT} node attribute {attribute}")


def publish_comparison(comparison: Comparison, scene: Any) -> Any:
    """Create or update (never duplicate) the table node "CRMO comparison": a row per lesion change."""
    node = _singleton(scene, "vtkMRMLTableNode", COMPARISON_TABLE, "comparison")
    _fill_table(node, COMPARISON_COLUMNS, [row.to_dict() for row in comparison.lesions])
    return node


def study_info(scene: Any) -> dict[str, Any]:
    """Patient, study, clinical and DICOM facts :func:`publish` stored in the scene (empty if none)."""
    node = report_node(scene)
    return _loads(node.GetAttribute(STUDY_INFO_ATTRIBUTE)) if node is not None else {}


def labelmap_node(scene: Any, labelmap: LabelMap, name: str) -> Any:
    """A label map volume node of a core :class:`LabelMap`: its voxels and geometry, and, when it has names, a color
    table naming its values (which :func:`analyze_nodes` reads back as bone or lesion names)."""
    node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", name)
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(labelmap.affine))
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(labelmap.array))
    if labelmap.names:
        colors = scene.AddNewNodeByClass("vtkMRMLColorTableNode", f"{name} names")
        colors.SetTypeToUser()
        colors.SetNumberOfColors(max(labelmap.names) + 1)
        for value, label in labelmap.names.items():
            colors.SetColor(value, label, 0.95, 0.85, 0.6, 1.0)
        node.CreateDefaultDisplayNodes()
        node.GetDisplayNode().SetAndObserveColorNodeID(colors.GetID())
    return node


def _read_node(scene: Any, class_name: str, name: str, path: Path, storage_class: str) -> Any:
    node = scene.AddNewNodeByClass(class_name, name)
    storage = scene.AddNewNodeByClass(storage_class)
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    if not storage.ReadData(node):
        raise CRMOInputError(str(path), "Slicer could not read this file")
    node.CreateDefaultDisplayNodes()
    return node


def load_sample_study(scene: Any, folder: str | Path) -> dict[str, Any]:
    """Load the bundled sample study into ``scene``: STIR image, bone map named by its labels file, lesion segments.

    Returns ``{"image": ..., "bones": ..., "lesions": ...}``; the patient and study facts go where
    :func:`study_info` finds them, so the analysis records them.
    """
    folder = Path(folder)
    image = _read_node(scene, "vtkMRMLScalarVolumeNode", "CRMO sample STIR", folder / "stir.nii.gz",
                       "vtkMRMLVolumeArchetypeStorageNode")
    bonemap = read_labelmap(folder / "bones.nii.gz", "sample bone map")
    bonemap.names = read_label_names(folder / "bones.labels.json")
    bones = labelmap_node(scene, bonemap, "CRMO sample bones")
    lesions = _read_node(scene, "vtkMRMLSegmentationNode", "CRMO sample lesions", folder / "lesions.seg.nrrd",
                         "vtkMRMLSegmentationStorageNode")
    info = json.loads((folder / "study-info.json").read_text(encoding="utf-8"))
    report = _singleton(scene, "vtkMRMLTextNode", REPORT_TEXT, "report")
    report.SetAttribute(STUDY_INFO_ATTRIBUTE, json.dumps({key: info.get(key) or {} for key in ("patient", "study")}))
    return {"image": image, "bones": bones, "lesions": lesions}


# ---- lesion candidates: proposed AUTOMATIC, accepted or rejected by the reader ----------------------------

#: segment tags of DICOM SEG (as QuantitativeReporting and dcmqi read them)
ALGORITHM_TYPE_TAG = "DICOM.SegmentAlgorithmType"
ALGORITHM_NAME_TAG = "DICOM.SegmentAlgorithmName"
#: segment tag of a candidate: score and why it was proposed (JSON); on an accepted one, its volume when accepted
CANDIDATE_TAG = "CRMOAnalyzer.candidate"
CANDIDATES_SEGMENTATION = "CRMO candidates (AUTOMATIC)"


def bone_map(bones: Any, bone_names: dict[int, str] | None = None) -> BoneMap:
    """The bone map of a segmentation or label map node (read once and reused until the node changes)."""
    return _bone_map(bones, bone_names)[0]




def publish_candidates(result: Any, scene: Any, reference: Any = None) -> Any:
    """The candidates of ``candidates.find_candidates`` as the segmentation "CRMO candidates (AUTOMATIC)" (replaced,
    never duplicated): a segment per candidate, named with its rank, side and bone, tagged AUTOMATIC, its score and
    why in a tag. Candidates are not lesions: nothing enters the study or the report unless the reader accepts one."""
    node = _singleton(scene, "vtkMRMLSegmentationNode", CANDIDATES_SEGMENTATION, "candidates")
    node.GetSegmentation().RemoveAllSegments()
    if reference is not None:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    if not result.candidates:
        return node
    temporary = labelmap_node(scene, result.labelmap, "CRMO candidates (temporary)")
    try:
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(temporary, node):
            raise CRMOInputError(CANDIDATES_SEGMENTATION, "the candidates could not be made into segments")
    finally:
        scene.RemoveNode(temporary)
    by_label = {candidate.label: candidate for candidate in result.candidates}
    segmentation = node.GetSegmentation()
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        candidate = by_label.get(segment.GetLabelValue())
        if candidate is None:
            continue
        where = " ".join(part for part in (candidate.side, candidate.bone) if part)
        segment.SetName(f"candidate {candidate.label}: {where} (score {candidate.score:.2f})")
        segment.SetTag(ALGORITHM_TYPE_TAG, "AUTOMATIC")
        segment.SetTag(ALGORITHM_NAME_TAG, "CRMO Analyzer candidates")
        segment.SetTag(CANDIDATE_TAG, _dumps({"score": candidate.score, "why": candidate.why, "bone": candidate.bone,
                                              "side": candidate.side, "centroid_ras": list(candidate.centroid_ras)}))
        segment.SetColor(1.0, 0.85, 0.0)
    return node


def candidate_segments(node: Any) -> list[tuple[str, str, dict]]:
    """(segment ID, name, candidate facts) of each candidate still to decide on."""
    out = []
    for segment_id, segment in _segments(node):
        out.append((segment_id, segment.GetName(), _loads(_tag(segment, CANDIDATE_TAG))))
    return out


def accept_candidate(candidates: Any, segment_id: str, lesions: Any) -> str:
    """Make a candidate a lesion of ``lesions`` (a segmentation: the segment is copied; a point list: a point at its
    centre) and take it off the candidates. Returns the new segment or point ID."""
    segment = candidates.GetSegmentation().GetSegment(segment_id)
    if segment is None:
        raise CRMOInputError(_name(candidates), f"no candidate {segment_id!r}")
    facts = _loads(_tag(segment, CANDIDATE_TAG))
    if _is(lesions, "vtkMRMLSegmentationNode"):
        target = lesions.GetSegmentation()
        if not target.CopySegmentFromSegmentation(candidates.GetSegmentation(), segment_id):
            raise CRMOInputError(_name(lesions), "the candidate could not be copied into the lesion segmentation")
        copied = target.GetSegment(segment_id) or target.GetNthSegment(target.GetNumberOfSegments() - 1)
        new_id = target.GetSegmentIdBySegment(copied)
        copied.SetName(f"Lesion {target.GetNumberOfSegments()} (accepted {segment.GetName().split(':')[0]})")
        copied.SetTag(CANDIDATE_TAG, _dumps({**facts, "accepted_voxels": _voxels(lesions, new_id)}))
    elif _is(lesions, "vtkMRMLMarkupsFiducialNode"):
        index = lesions.AddControlPoint(vtk.vtkVector3d(*facts["centroid_ras"]), segment.GetName().split(":")[0])
        new_id = lesions.GetNthControlPointID(index)
    else:
        raise CRMOInputError(_name(lesions), "candidates are accepted into a lesion segmentation or a point list")
    candidates.GetSegmentation().RemoveSegment(segment_id)
    return new_id


def _voxels(node: Any, segment_id: str) -> int:
    image = node.GetBinaryLabelmapInternalRepresentation(segment_id)
    label = node.GetSegmentation().GetSegment(segment_id).GetLabelValue()
    return int(np.count_nonzero(numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()) == label))


def mark_edited_candidates(lesions: Any) -> list[str]:
    """Accepted candidates whose voxels the reader changed since become SEMIAUTOMATIC; returns their segment IDs."""
    if not _is(lesions, "vtkMRMLSegmentationNode"):
        return []
    edited = []
    for segment_id, segment in _segments(lesions):
        accepted = _loads(_tag(segment, CANDIDATE_TAG)).get("accepted_voxels")
        if _tag(segment, ALGORITHM_TYPE_TAG) == "AUTOMATIC" and accepted is not None and _voxels(lesions, segment_id) != accepted:
            segment.SetTag(ALGORITHM_TYPE_TAG, "SEMIAUTOMATIC")
            edited.append(segment_id)
    return edited


def centre_views(scene: Any, ras: Iterable[float]) -> int:
    """Centre every slice view of the scene on a RAS point; returns how many views moved."""
    r, a, s = (float(x) for x in ras)
    nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    for index in range(nodes.GetNumberOfItems()):
        nodes.GetItemAsObject(index).JumpSliceByCentering(r, a, s)
    return nodes.GetNumberOfItems()
