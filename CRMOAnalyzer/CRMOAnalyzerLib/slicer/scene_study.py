"""The study kept in the scene, on the "CRMO report" text node: the report text (generated or the reader's), the
patient and study facts, a study linked to no lesion node, the compared baseline; and the bundled sample study
loaded into a scene.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CRMOInputError
from ..io.images import read_labelmap
from ..io.labelnames import read_label_names
from ..model import Study
from .annotations import _loads
from .nodes import _by_role, _singleton, labelmap_node

__all__ = ["REPORT_TEXT", "STUDY_INFO_ATTRIBUTE", "REPORT_EDITED_ATTRIBUTE", "STUDY_DATA_ATTRIBUTE",
           "BASELINE_ATTRIBUTE", "report_node", "set_report_text", "report_edited", "store_study", "stored_study",
           "store_baseline", "stored_baseline", "study_info", "load_sample_study"]

REPORT_TEXT = "CRMO report"

#: report text node attribute: patient, study and clinical facts of the study (JSON)
STUDY_INFO_ATTRIBUTE = "CRMOAnalyzer.study"
#: report text node attribute: "1" while the text is the reader's (edited): analysis never overwrites it
REPORT_EDITED_ATTRIBUTE = "CRMOAnalyzer.reportEdited"
#: report text node attribute: the whole study (JSON) while it is linked to no lesion node (loaded from study.json)
STUDY_DATA_ATTRIBUTE = "CRMOAnalyzer.studyData"
#: report text node attribute: the baseline study of the follow-up comparison (JSON)
BASELINE_ATTRIBUTE = "CRMOAnalyzer.baseline"


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


def study_info(scene: Any) -> dict[str, Any]:
    """Patient, study, clinical and DICOM facts :func:`publish` stored in the scene (empty if none)."""
    node = report_node(scene)
    return _loads(node.GetAttribute(STUDY_INFO_ATTRIBUTE)) if node is not None else {}


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
