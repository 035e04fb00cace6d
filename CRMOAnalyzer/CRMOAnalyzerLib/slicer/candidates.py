"""Lesion candidates in the scene: proposed AUTOMATIC, accepted or rejected by the reader.

Candidates are not lesions: nothing enters the study or the report unless the reader accepts one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..errors import CRMOInputError
from .annotations import _dumps, _loads, _tag
from .nodes import _is, _name, _segments, _singleton, labelmap_node

__all__ = ["ALGORITHM_TYPE_TAG", "ALGORITHM_NAME_TAG", "CANDIDATE_TAG", "CANDIDATES_SEGMENTATION", "publish_candidates",
           "candidate_segments", "accept_candidate", "mark_edited_candidates"]

#: segment tags of DICOM SEG (as QuantitativeReporting and dcmqi read them)
ALGORITHM_TYPE_TAG = "DICOM.SegmentAlgorithmType"
ALGORITHM_NAME_TAG = "DICOM.SegmentAlgorithmName"
#: segment tag of a candidate: score and why it was proposed (JSON); on an accepted one, its volume when accepted
CANDIDATE_TAG = "CRMOAnalyzer.candidate"
CANDIDATES_SEGMENTATION = "CRMO candidates (AUTOMATIC)"


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
