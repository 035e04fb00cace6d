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
from .geometry import to_ras
from .images import LabelMap, read_image, read_labelmap
from .localize import analyze
from .markups import read_points
from .model import Study
from .plausibility import swapped_bones, swapped_lesions
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
    force: bool = False  # analyze even when the bone and lesion maps look swapped


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
    try:
        bonemap = BoneMap(bones, names, names_source)
    except CRMOInputError as error:
        if inputs.bone_labels is None and not bones.names and error.problem.startswith(("no name", "no bone")):
            raise CRMOInputError(error.path, f"{error.problem}; give the bone names with --bone-labels") from error
        raise
    _refuse_swapped(swapped_bones(bonemap), inputs.bones, inputs.force)
    record = {"bones": os.fspath(inputs.bones), "bone_names": names_source}
    image = read_image(inputs.image, "image") if inputs.image else None
    if inputs.image:
        record["image"] = os.fspath(inputs.image)
    if inputs.lesions is not None:
        lesions = read_labelmap(inputs.lesions, "lesion map")
        kind = "segment" if str(inputs.lesions).lower().endswith(".seg.nrrd") else "label"
        record["lesions"] = os.fspath(inputs.lesions)
        if lesions.array.any():
            study = analyze(bonemap, lesions, image, kind, inputs.patient, inputs.study, record)
            _refuse_swapped(swapped_lesions(study, bonemap, lesions), inputs.lesions, inputs.force, study)
        else:
            _check_overlap(lesions, bonemap)
            what = f"the segmentation has {_count(len(lesions.names), 'segment')}, all empty" if lesions.names else (
                "the segmentation has no segment" if kind == "segment" else "the lesion map has no non-zero voxel")
            study = no_lesion_study(bonemap, inputs, record, f"{inputs.lesions}: {what}: no lesion annotated")
    else:
        points = read_points(inputs.points)
        record["lesions"] = os.fspath(inputs.points)
        if points:
            study = analyze(bonemap, points, None, "point", inputs.patient, inputs.study, record)
        else:
            study = no_lesion_study(bonemap, inputs, record, f"{inputs.points}: no point: no lesion annotated")
    study.dicom = inputs.dicom
    return study


def _refuse_swapped(why: str | None, path, force: bool, study: Study | None = None) -> None:
    """Refuse a map that looks swapped (one line naming it), or with ``force`` go on with a warning."""
    if why is None:
        return
    if not force:
        raise CRMOInputError(path, why)
    warning = f"{path}: analyzed although it looks swapped (--force): {why}"
    logger.warning(warning)
    if study is not None:
        study.warnings.append(warning)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _box(image: LabelMap) -> tuple:
    """The RAS bounding box of a grid's corner voxels."""
    i, j, k = (size - 1 for size in image.shape_ijk)
    corners = to_ras(image.affine, [[a, b, c] for a in (0, i) for b in (0, j) for c in (0, k)])
    return corners.min(axis=0), corners.max(axis=0)


def _check_overlap(lesions: LabelMap, bonemap: BoneMap) -> None:
    """An empty lesion map still has to lie where the bone map lies (else it is another exam's)."""
    (low_a, high_a), (low_b, high_b) = _box(lesions), _box(bonemap.labelmap)
    if (low_a > high_b + 1).any() or (low_b > high_a + 1).any():
        raise CRMOInputError(lesions.source, f"the lesion map and the bone map {bonemap.labelmap.source} do not overlap in space")


def no_lesion_study(bonemap: BoneMap, inputs: AnalysisInputs, record: dict, why: str) -> Study:
    """A study with no lesion (a normal exam, or every lesion resolved at follow-up): valid, and says why."""
    midline = bonemap.midline
    warnings = [why]
    if midline is None:
        warnings.append("no midline reference (spine, sternum, sacrum or left/right bone pairs) in the bone map")
    for warning in warnings:
        logger.warning(warning)
    return Study(patient=dict(inputs.patient or {}), study=dict(inputs.study or {}), lesions=[], inputs=record,
                 midline=None if midline is None else {"normal_ras": [round(float(x), 4) for x in midline.normal],
                                                        "offset_mm": round(midline.offset, 2), "basis": midline.basis},
                 warnings=warnings)


def write_outputs(study: Study, out: str | os.PathLike) -> dict[str, Path]:
    """Write ``study.json`` and ``report.txt`` into ``out`` (created if needed); each atomically."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CRMOInputError(out, f"cannot create the output folder: {error.strerror or error}") from error
    document, text = study.to_dict(), render_report(study)  # compute everything before writing anything
    return {"study": write_json(out / "study.json", document), "report": write_text(out / "report.txt", text)}
