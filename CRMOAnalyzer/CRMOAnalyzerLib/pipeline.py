"""From files to a study: what ``crmo-analyzer analyze`` and ``demo`` run (no printing here), refusing swapped inputs.

The localization's modules are imported where they are first used, not here: :func:`analyze_files` starts reading
the files (SimpleITK reads them without the GIL) and then imports them, so that they load while the files are read.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import CRMOInputError
from .io.files import read_json, write_json, write_text
from .io.geometry import to_ras
from .io.images import LabelMap, read_image, read_labelmap

if TYPE_CHECKING:
    from .localization.bonemap import BoneMap
    from .localization.measure import LesionVoxels
    from .model import Study

__all__ = ["AnalysisInputs", "analyze_files", "write_outputs", "prepare_report", "read_info", "no_lesion_study",
           "swapped_lesions", "swapped_bones"]

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


def read_bonemap(bones: str | os.PathLike, bone_labels: str | os.PathLike | None = None, task: str | None = None) -> BoneMap:
    """The named bone map of a file: names from ``bone_labels``, else the file's own (a .seg.nrrd), else the
    TotalSegmentator task's ids (with a warning). Refused in one line when no name fits."""
    labelmap = read_labelmap(bones, "bone map")
    return _bonemap(labelmap, *_bone_names(labelmap, bones, bone_labels, task), bones, bone_labels)


def _bone_names(labelmap: LabelMap, bones, bone_labels, task) -> tuple[dict[int, str], str]:
    """The bone map's names and where they come from (``--bone-labels``, the .seg.nrrd, or the task's ids)."""
    if bone_labels is not None:
        from .io.labelnames import read_label_names  # noqa: PLC0415

        return read_label_names(bone_labels), os.fspath(bone_labels)
    if labelmap.names:
        return labelmap.names, os.fspath(bones)
    from .anatomy import totalsegmentator_ids  # noqa: PLC0415

    return totalsegmentator_ids(task), f"TotalSegmentator task '{task or 'total'}' label ids"


def _bonemap(labelmap: LabelMap, names: dict[int, str], source: str, bones, bone_labels) -> BoneMap:
    from .localization.bonemap import BoneMap  # noqa: PLC0415

    try:
        bonemap = BoneMap(labelmap, names, source)
    except CRMOInputError as error:
        if bone_labels is None and not labelmap.names and error.problem.startswith(("no name", "no bone")):
            raise CRMOInputError(error.path, f"{error.problem}; give the bone names with --bone-labels") from error
        raise
    if bone_labels is None and not labelmap.names:  # said once the ids fit: a refusal stays one line
        logger.warning("%s: no label names given (--bone-labels); assuming the %s", bones, source)
    return bonemap


def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=3, thread_name_prefix="crmo-beside")


#: work beside the caller's: SimpleITK releases the GIL while it reads a file and numpy in its passes over large
#: arrays, so the two maps are read at once while the caller imports the localization's modules, and the lesion map
#: is measured on the second core while the bone map is encoded on the first; the report's imports run between them
_BESIDE = _pool()


def _after_fork_in_child() -> None:
    """A forked child (a cohort's worker) has none of its parent's threads, but a copy of the pool that counts them
    as idle, which would take its work and never run it: it gets a pool of its own, and no report being prepared."""
    global _BESIDE
    _BESIDE = _pool()
    _preparing.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _read_later(read: Callable, *args) -> tuple[Any, CRMOInputError | None]:
    """Read now, but keep a bad file's error for later: errors of the bone map come first, as they always did."""
    try:
        return read(*args), None
    except CRMOInputError as error:
        return None, error


@dataclass
class _LesionSide:
    """What the thread beside the bone map's reads: the lesion map's grid and names and its lesions' measurements
    (intensities from the image), or the first bad file's error (kept, so that the bone map's errors are said first,
    as they always were)."""

    lesions: LabelMap | None = None
    measured: dict[int, LesionVoxels] | None = None
    problem: CRMOInputError | None = None


def _read_lesion_side(inputs: AnalysisInputs) -> _LesionSide:
    """Read the image, then the lesion map, and measure the lesions: the first bad file stops it, kept for later.
    Neither the image nor the lesion map's voxels outlive the measuring (their memory is freed before the bone map's
    encoding reaches the peak); with points, the image is only checked."""
    side = _LesionSide()
    try:
        image = read_image(inputs.image, "image") if inputs.image else None
        if inputs.lesions is not None:
            lesions = read_labelmap(inputs.lesions, "lesion map")
            from .localization.measure import measure_labels  # noqa: PLC0415

            side.measured = measure_labels(lesions, image)
            side.lesions = lesions.without_voxels()
    except CRMOInputError as error:
        side.problem = error
    return side


def analyze_files(inputs: AnalysisInputs) -> Study:
    """Read the inputs, localize every lesion, return the study.

    Bad inputs are refused in the order of the options: the bone map (file, names, swapped) first, then the image,
    then the lesions. Both maps are read in threads while the localization's modules load; the lesion map (and the
    image) are then measured beside the bone map's encoding (two cores).
    """
    if (inputs.lesions is None) == (inputs.points is None):
        raise CRMOInputError(None, "give the lesions either as a label map/segmentation or as points, not both")
    reading = _BESIDE.submit(_read_later, read_labelmap, inputs.bones, "bone map")
    beside = _BESIDE.submit(_read_lesion_side, inputs)
    try:
        from .localization.localize import analyze  # noqa: PLC0415 (loads while the files are read)

        labelmap, problem = reading.result()
        if problem is not None:
            raise problem
        names, names_source = _bone_names(labelmap, inputs.bones, inputs.bone_labels, inputs.task)
        bonemap = _bonemap(labelmap, names, names_source, inputs.bones, inputs.bone_labels)
        _refuse_swapped(swapped_bones(bonemap), inputs.bones, inputs.force, hint=FORCE_HINT["bones"])
    except BaseException:
        wait([reading, beside])  # the bone map's error is the one to say
        raise
    side = beside.result()
    if side.problem is not None:
        raise side.problem
    lesions, measured = side.lesions, side.measured
    record = {"bones": os.fspath(inputs.bones), "bone_names": names_source}
    if inputs.image:
        record["image"] = os.fspath(inputs.image)
    if inputs.lesions is not None:
        kind = "segment" if str(inputs.lesions).lower().endswith(".seg.nrrd") else "label"
        record["lesions"] = os.fspath(inputs.lesions)
        if measured:
            study = analyze(bonemap, lesions, None, kind, inputs.patient, inputs.study, record, measured=measured)
            _refuse_swapped(swapped_lesions(study, bonemap, lesions), inputs.lesions, inputs.force, study,
                            hint=FORCE_HINT["lesions"])
        else:
            _check_overlap(lesions, bonemap)
            what = f"the segmentation has {_count(len(lesions.names), 'segment')}, all empty" if lesions.names else (
                "the segmentation has no segment" if kind == "segment" else "the lesion map has no non-zero voxel")
            study = no_lesion_study(bonemap, inputs.patient, inputs.study, record,
                                    f"{inputs.lesions}: {what}: no lesion annotated")
    else:
        from .io.markups import read_points  # noqa: PLC0415 (only for points)

        points = read_points(inputs.points)
        record["lesions"] = os.fspath(inputs.points)
        if points:
            study = analyze(bonemap, points, None, "point", inputs.patient, inputs.study, record)
        else:
            study = no_lesion_study(bonemap, inputs.patient, inputs.study, record,
                                    f"{inputs.points}: no point: no lesion annotated")
    study.dicom = inputs.dicom
    return study


def _refuse_swapped(why: str | None, path, force: bool, study: Study | None = None, hint: str = "") -> None:
    """Refuse a map that looks swapped (one line naming it and ``hint``), or with ``force`` go on with a warning."""
    if why is None:
        return
    why = f"{why} {hint}".strip()
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


def no_lesion_study(bonemap: BoneMap, patient: dict | None, study: dict | None, record: dict, why: str) -> Study:
    """A study with no lesion (a normal exam, or every lesion resolved at follow-up): valid, and says why.

    ``why`` (e.g. "lesions.nrrd: the lesion map has no non-zero voxel: no lesion annotated") is logged and kept
    as the study's warning; the bone map still gives the midline.
    """
    midline = bonemap.midline
    warnings = [why]
    if midline is None:
        warnings.append("no midline reference (spine, sternum, sacrum or left/right bone pairs) in the bone map")
    for warning in warnings:
        logger.warning(warning)
    from .model import Study  # noqa: PLC0415

    return Study(patient=dict(patient or {}), study=dict(study or {}), lesions=[], inputs=record,
                 midline=None if midline is None else {"normal_ras": [round(float(x), 4) for x in midline.normal],
                                                        "offset_mm": round(midline.offset, 2), "basis": midline.basis},
                 warnings=warnings)


#: the report's preparation started by :func:`prepare_report`, waited for before the report is rendered
_preparing: list[Future] = []


def prepare_report() -> None:
    """Start importing and compiling what the report needs (the reading's modules, jinja2, the templates, the score
    and rule files) in a thread, while the images are localized: numpy's passes over the maps release the GIL, so
    this work runs beside them. :func:`write_outputs` waits for it; without this call it is done there."""
    if not _preparing:
        _preparing.append(_BESIDE.submit(_prepare))


def _prepare() -> None:
    from .reading.report import prepare  # noqa: PLC0415

    prepare()


def write_outputs(study: Study, out: str | os.PathLike) -> dict[str, Path]:
    """Write ``study.json`` and ``report.txt`` into ``out`` (created if needed); each atomically."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CRMOInputError(out, f"cannot create the output folder: {error.strerror or error}") from error
    wait(_preparing)  # its errors, if any, come again (and are raised) where the report is rendered
    from .reading.read import read  # noqa: PLC0415

    reading = read(study)
    document, text = reading.document, reading.text  # compute everything before writing anything
    return {"study": write_json(out / "study.json", document), "report": write_text(out / "report.txt", text)}


# Swapped inputs: a bone map given as the lesions, or a lesion map given as the bones.
#
# Each check returns why the input looks swapped (one line, ready for an error), or ``None``. The
# signals, chosen to be robust on real maps (a whole-body bone map, a TotalSegmentator map with organs
# and muscles, a lesion map):
#
# - **lesions cover the skeleton**: CRMO lesions take a small part of the skeleton; a bone or whole-body
#   map given as lesions covers most of it (its volume is at least half the bone map's bone volume);
# - **a lesion larger than its bone**: a liver or a muscle read as a "lesion" next to a rib;
# - **lesions named as bones that fill their bones**: most labels carry bone names *and* the labels fill
#   the bones they lie in (a reader may name lesions after their bone, but a lesion does not fill it);
# - **a bone map naming almost no bone**: fewer than half of its labels name a bone of the vocabulary and
#   fewer than three bones are named (lesion names such as "T8 body" may name one bone by chance; a
#   TotalSegmentator map with organs still names dozens of bones).

#: lesions at least this share of the bone map's bone volume are no lesions
COVER_FRACTION = 0.5
#: labels whose median volume is at least this share of their bone's volume fill their bones
FILL_FRACTION = 0.5
#: at least this share of the lesion labels named as bones (and at least MIN_BONES of them)
NAMED_FRACTION = 0.8
#: a lesion this many times its bone's volume is larger than its bone (1% over: rounding and resampling)
LARGER = 1.01
#: a bone map names at least this many bones, or at least half of its labels are bones
MIN_BONES = 3

_SWAPPED = "is this the bone map given as lesions?"
#: what ``analyze`` adds to a refusal (the reasons themselves name no option: the panel asks, candidates has none)
FORCE_HINT = {"lesions": "(use --force if these are lesions)", "bones": "(use --force if it is the bone map)"}


def _bone_volumes(bonemap: BoneMap) -> dict[int, float]:
    voxel = bonemap.labelmap.voxel_volume_mm3
    return {value: bonemap.voxel_count(value) * voxel for value in bonemap.bones}


def _cm3(mm3: float) -> str:
    return f"{mm3 / 1000:.1f} cm³"


def swapped_lesions(study: Study, bonemap: BoneMap, lesions: LabelMap | None = None) -> str | None:
    """Why the lesion map of ``study`` looks like a bone (or whole-body) map, or ``None``."""
    measured = [l for l in study.lesions if l.volume_mm3 is not None]
    if not measured:
        return None
    bone_volume = _bone_volumes(bonemap)
    skeleton = sum(bone_volume.values())
    total = sum(l.volume_mm3 for l in measured)
    if skeleton > 0 and total >= COVER_FRACTION * skeleton:
        return (f"{len(measured)} labels of {_cm3(total)} in all, {100 * total / skeleton:.0f}% of the skeleton's "
                f"{_cm3(skeleton)} in the bone map {bonemap.labelmap.source}: lesions cover a small part of it; {_SWAPPED}")
    fills = []
    for lesion in measured:
        value = lesion.localization.get("bone_label_value")
        if value not in bone_volume:
            continue
        fills.append(lesion.volume_mm3 / bone_volume[value])
        if lesion.volume_mm3 > LARGER * bone_volume[value]:
            name = lesion.source.get("name") or lesion.id
            return (f"label {lesion.source.get('value')} ({name}) holds {_cm3(lesion.volume_mm3)}, more than its bone, the "
                    f"{bonemap.bones[value].display} ({_cm3(bone_volume[value])}): a lesion lies within its bone; {_SWAPPED}")
    names = [str(name) for name in (lesions.names if lesions is not None else {}).values()]
    from .anatomy import find_bone  # noqa: PLC0415

    as_bones = [name for name in names if find_bone(name) is not None]
    if (len(as_bones) >= MIN_BONES and len(as_bones) >= NAMED_FRACTION * len(names)
            and fills and float(np.median(fills)) >= FILL_FRACTION):
        shown = ", ".join(as_bones[:4]) + (", ..." if len(as_bones) > 4 else "")
        return (f"{len(as_bones)} of {len(names)} labels are named as bones ({shown}) and fill their bones "
                f"(median {100 * float(np.median(fills)):.0f}% of the bone's volume); {_SWAPPED}")
    return None


def swapped_bones(bonemap: BoneMap) -> str | None:
    """Why the bone map looks like a lesion map (its labels name almost no bone), or ``None``."""
    known, ignored = len(bonemap.bones), len(bonemap.ignored)
    if known >= MIN_BONES or known >= ignored:
        return None
    named = sorted({bone.name for bone in bonemap.bones.values()})
    others = ", ".join(sorted(set(bonemap.ignored.values()))[:4]) + (", ..." if ignored > 4 else "")
    return (f"only {known} of {known + ignored} labels name a bone ({', '.join(named)}); the others ({others}) are no "
            f"bone of the vocabulary: is this the lesion map given as bones?")
