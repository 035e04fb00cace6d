"""From files to a study: what ``crmo-analyzer analyze`` and ``demo`` run (no printing here)."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .anatomy import totalsegmentator_ids
from .bonemap import BoneMap
from .errors import CRMOInputError
from .files import read_json, write_json, write_text
from .images import read_image, read_labelmap
from .localize import analyze
from .markups import read_points
from .model import Study
from .report import render_report

__all__ = ["AnalysisInputs", "analyze_files", "write_outputs", "read_info"]

logger = logging.getLogger(__name__)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class AnalysisInputs:
    """The files (and patient/study facts) of one analysis."""

    bones: Path
    lesions: Path | None = None
    points: Path | None = None
    bone_labels: Path | None = None
    image: Path | None = None
    task: str | None = None
    patient: dict | None = None
    study: dict | None = None
    dicom: dict | None = None


def read_info(path: str | os.PathLike) -> tuple[dict, dict]:
    """Patient and study facts from a JSON file ``{"patient": {...}, "study": {...}}``."""
    doc = read_json(path, "study information file")
    if not isinstance(doc, dict):
        raise CRMOInputError(path, 'expected a JSON object with "patient" and "study"')
    patient, study = doc.get("patient") or {}, doc.get("study") or {}
    if not isinstance(patient, dict) or not isinstance(study, dict):
        raise CRMOInputError(path, '"patient" and "study" must be JSON objects')
    check_facts(patient, study, path)
    return patient, study


def check_facts(patient: dict, study: dict, source) -> None:
    """Dates as YYYY-MM-DD and sex as F/M/O, or an error naming ``source``."""
    for label, value in (("birth date", patient.get("birth_date")), ("study date", study.get("date"))):
        if value is not None and not (isinstance(value, str) and _DATE.match(value)):
            raise CRMOInputError(source, f"{label} {value!r} is not a date YYYY-MM-DD")
    if patient.get("sex") not in (None, "F", "M", "O"):
        raise CRMOInputError(source, f"sex {patient.get('sex')!r} must be F, M or O")


def analyze_files(inputs: AnalysisInputs) -> Study:
    """Read the inputs, localize every lesion, return the study."""
    if (inputs.lesions is None) == (inputs.points is None):
        raise CRMOInputError(None, "give the lesions either as a label map/segmentation or as points, not both")
    bones = read_labelmap(inputs.bones, "bone map")
    if inputs.bone_labels is not None:
        from .labelnames import read_label_names  # noqa: PLC0415

        names, names_source = read_label_names(inputs.bone_labels), os.fspath(inputs.bone_labels)
    elif bones.names:
        names, names_source = bones.names, os.fspath(inputs.bones)
    else:
        names = totalsegmentator_ids(inputs.task)
        names_source = f"TotalSegmentator task '{inputs.task or 'total'}' label ids"
        logger.warning("%s: no label names given (--bone-labels); assuming the %s", inputs.bones, names_source)
    bonemap = BoneMap(bones, names, names_source)
    record = {"bones": os.fspath(inputs.bones), "bone_names": names_source}
    image = read_image(inputs.image, "image") if inputs.image else None
    if inputs.image:
        record["image"] = os.fspath(inputs.image)
    if inputs.lesions is not None:
        lesions = read_labelmap(inputs.lesions, "lesion map")
        kind = "segment" if str(inputs.lesions).lower().endswith(".seg.nrrd") else "label"
        record["lesions"] = os.fspath(inputs.lesions)
        study = analyze(bonemap, lesions, image, kind, inputs.patient, inputs.study, record)
    else:
        points = read_points(inputs.points)
        record["lesions"] = os.fspath(inputs.points)
        study = analyze(bonemap, points, None, "point", inputs.patient, inputs.study, record)
    study.dicom = inputs.dicom
    return study


def write_outputs(study: Study, out: str | os.PathLike) -> dict[str, Path]:
    """Write ``study.json`` and ``report.txt`` into ``out`` (created if needed); each atomically."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CRMOInputError(out, f"cannot create the output folder: {error.strerror or error}") from error
    document, text = study.to_dict(), render_report(study)  # compute everything before writing anything
    return {"study": write_json(out / "study.json", document), "report": write_text(out / "report.txt", text)}
