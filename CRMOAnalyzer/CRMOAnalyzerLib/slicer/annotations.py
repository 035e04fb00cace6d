"""What a reader records per lesion, stored in the scene, so saving and reopening the scene keeps it:

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
from typing import Any

import vtk

from ..errors import CRMOInputError
from ..model import FINDINGS, Lesion, Study, lesion_labels
from .nodes import _is, _segments
from .terminology import terminology_entry

__all__ = ["FINDINGS_TAG", "OVERRIDES_TAG", "LESION_DATA_ATTRIBUTE", "lesion_key", "apply_annotations",
           "store_annotations"]

logger = logging.getLogger(__name__)

#: segment tags holding a lesion's findings and overrides (JSON)
FINDINGS_TAG = "CRMOAnalyzer.findings"
OVERRIDES_TAG = "CRMOAnalyzer.overrides"
#: label map / point list attribute: JSON ``{key: {"findings": {...}, "overrides": {...}}}``
LESION_DATA_ATTRIBUTE = "CRMOAnalyzer.lesions"

_OVERRIDABLE = ("bone", "side", "sublocation", "bone_end")


def lesion_key(lesion: Lesion) -> str:
    """The key that ties a lesion to its annotation in the scene (segment ID, point ID or label value)."""
    source = lesion.source
    return str(source.get("segment_id") or source.get("point_id") or source.get("value"))


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
