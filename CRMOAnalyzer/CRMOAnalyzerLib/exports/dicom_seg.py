"""DICOM Segmentation (highdicom) of a study's lesions on the DICOM series they were read on.

The study stores lesion centroids and volumes, not voxels, so the lesion label map comes from the file
the study was analysed from (``study.inputs["lesions"]``) or from the caller. The SEG is written on the
label map's own grid, so each segment holds exactly the voxels the study's volume was measured on
(voxel count x voxel volume = ``volume_mm3``): when that grid is the series grid, the frames are the
series' slices (each frame references its source image); when it differs (another spacing, orientation
or extent), each frame carries its own plane position and the shared plane orientation and pixel
measures of the label map (highdicom ``plane_positions``), in the series' frame of reference. Resampling
onto a coarser series grid would change the volumes (the sample's L8: 924 mm3 against 1440 mm3 stated).
A lesion whose label is absent from the map keeps the voxel at its centroid, and a warning says so.
One segment per lesion, in study order, labelled ``"<id> <site>"``, tracking id = lesion id (as Slicer's
QuantitativeReporting does). ContentCreatorName (type 2) is the study's reader when recorded, else empty.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..model import lesion_labels
from ..errors import CRMOInputError
from ..io.geometry import LPS_TO_RAS, to_index
from ..io.images import Image, LabelMap, read_labelmap
from ..model import Lesion, Study
from ..reading.report import site_phrase
from .common import export_config
from .dicom_series import _uid, series_image

__all__ = ["lesion_labelmap", "lesion_segmentation", "segment_numbers", "plane_geometry", "tracking_uids"]

logger = logging.getLogger(__name__)

LABEL_KINDS = ("label", "segment")


def segment_numbers(study: Study) -> dict[str, int]:
    """Lesion id -> SEG segment number (1, 2, ... in study order) for lesions drawn as voxels."""
    return {lesion.id: n for n, lesion in enumerate(
        (lesion for lesion in study.lesions if lesion.source.get("kind") in LABEL_KINDS), start=1)}


def _exam_uid(patient_id: str, exam: dict, lesion_id: str) -> str | None:
    """The tracking UID of lesion ``lesion_id`` first seen in ``exam`` (date, modality, description) of the patient;
    ``None`` when the patient id or the exam date is missing (too little to tell exams apart)."""
    date = str(exam.get("date") or "")
    if not patient_id or not date:
        return None
    return _uid("lesion-tracking", patient_id, date, str(exam.get("modality") or ""), str(exam.get("description") or ""),
                lesion_id)


def tracking_uids(study: Study, seed: str = "", comparison=None, baseline_tracking: dict[str, str] | None = None) -> dict[str, str]:
    """Lesion id -> Tracking Unique Identifier, shared by the SR and the SEG, and kept across exams.

    A lesion's UID derives from the patient, the exam it was first seen in (date, modality, description) and its id
    there, so the baseline's SR and a follow-up's SR give a matched (persistent) lesion the same UID without either
    file being read; ``baseline_tracking`` (baseline lesion id -> UID, e.g. read from the baseline's SR with
    :func:`~CRMOAnalyzerLib.exports.dicom_sr.tracking_uids_from_sr`) takes precedence, so a chain of follow-ups keeps
    the first exam's UID. Without a patient id or exam date the UIDs derive from ``seed`` (new for each export).
    """
    patient_id = str((study.patient or {}).get("id") or "")
    matched = {}
    if comparison is not None:
        matched = {row.followup_id: row.baseline_id for row in comparison.lesions
                   if row.status == "persistent" and row.followup_id and row.baseline_id}
    uids = {}
    for lesion in study.lesions:
        baseline_id = matched.get(lesion.id)
        uid = None
        if baseline_id is not None:
            uid = (baseline_tracking or {}).get(baseline_id) or _exam_uid(patient_id, comparison.baseline, baseline_id)
        uids[lesion.id] = uid or _exam_uid(patient_id, study.study or {}, lesion.id) or _uid(seed, "tracking", lesion.id)
    return uids


def lesion_labelmap(study: Study, path: str | os.PathLike | None = None) -> LabelMap | None:
    """The lesion label map of ``study`` (``path``, else ``study.inputs["lesions"]``); ``None`` for point lesions."""
    if not segment_numbers(study):
        return None
    source = path or (study.inputs or {}).get("lesions")
    if not source:
        raise CRMOInputError("study", "the lesion label map is not recorded (inputs.lesions): give --lesions FILE")
    source = Path(source)
    if not source.is_file():
        raise CRMOInputError(source, "lesion label map not found (the DICOM SEG needs the lesion voxels): give --lesions FILE")
    return read_labelmap(source, "lesion map")


def _code(code: dict[str, str]):
    import highdicom as hd  # noqa: PLC0415

    return hd.sr.CodedConcept(code["code"], code["scheme"], code["meaning"])


def plane_geometry(grid: Image):
    """highdicom plane positions (one per k slice), plane orientation and pixel measures of ``grid``."""
    import highdicom as hd  # noqa: PLC0415

    ijk_to_lps = LPS_TO_RAS @ grid.affine
    spacing = np.linalg.norm(ijk_to_lps[:3, :3], axis=0)
    row_dir, col_dir = ijk_to_lps[:3, 0] / spacing[0], ijk_to_lps[:3, 1] / spacing[1]
    normal = np.cross(row_dir, col_dir)
    slice_step = abs(float(np.dot(normal, ijk_to_lps[:3, 2])))  # the distance between planes (a sheared k axis too)
    positions = [hd.PlanePositionSequence(coordinate_system=hd.CoordinateSystemNames.PATIENT,
                                          image_position=[float(v) for v in ijk_to_lps @ np.array([0.0, 0.0, k, 1.0])][:3])
                 for k in range(grid.array.shape[0])]
    orientation = hd.PlaneOrientationSequence(coordinate_system=hd.CoordinateSystemNames.PATIENT,
                                              image_orientation=[float(v) for v in (*row_dir, *col_dir)])
    measures = hd.PixelMeasuresSequence(pixel_spacing=[float(spacing[1]), float(spacing[0])],
                                        slice_thickness=slice_step, spacing_between_slices=slice_step)
    return positions, orientation, measures


def lesion_segmentation(study: Study, datasets: Sequence, labelmap: LabelMap, seed: str = "", series_number: int = 901,
                        tracking: dict[str, str] | None = None):
    """A ``highdicom.seg.Segmentation`` (BINARY) of the study's voxel lesions on the label map's grid.

    The referenced series ``datasets`` give the patient, study and frame of reference; the frames lie on the
    series' slices when the label map shares the series grid, else on the label map's own planes. ``tracking``:
    lesion id -> tracking UID (default :func:`tracking_uids` of the study alone).
    """
    import highdicom as hd  # noqa: PLC0415
    from pydicom.sr.codedict import codes as dcm  # noqa: PLC0415

    from .. import __version__  # noqa: PLC0415

    numbers = segment_numbers(study)
    labels = np.asarray(labelmap.array)
    grid = Image(labels, labelmap.affine, labelmap.source)
    series = series_image(datasets)
    pixels = np.zeros(labels.shape, dtype=np.uint16 if len(numbers) > 255 else np.uint8)
    lesions: list[Lesion] = [lesion for lesion in study.lesions if lesion.id in numbers]
    names = lesion_labels(study.lesions)
    for lesion in lesions:
        value = lesion.source.get("value")
        mask = labels == value if value is not None else np.zeros(labels.shape, dtype=bool)
        if not mask.any():
            i, j, k = np.round(to_index(grid.affine, np.array([lesion.centroid_ras]))[0]).astype(int)
            if not (0 <= k < pixels.shape[0] and 0 <= j < pixels.shape[1] and 0 <= i < pixels.shape[2]):
                raise CRMOInputError("--lesions", f"lesion {names[lesion.id]} lies outside the lesion label map: is it the map the study was analysed from?")
            logger.warning("lesion %s has no voxel in the lesion label map; its SEG segment is the voxel at its centroid", names[lesion.id])
            mask = np.zeros(labels.shape, dtype=bool)
            mask[k, j, i] = True
        pixels[mask & (pixels == 0)] = numbers[lesion.id]
    _check_inside(pixels, grid, series)
    tracking = tracking or tracking_uids(study, seed)
    geometry: dict = {}
    if not grid.same_grid(series):
        positions, orientation, measures = plane_geometry(grid)
        geometry = {"plane_positions": positions, "plane_orientation": orientation, "pixel_measures": measures}
    codes = export_config("codes")
    descriptions = []
    for lesion in lesions:
        label = f"{names[lesion.id]} {site_phrase(lesion)}"  # what a viewer shows; tracking_id keeps the id
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=numbers[lesion.id], segment_label=label[:64],
            segmented_property_category=_code(codes["lesion_category"]), segmented_property_type=dcm.SCT.Lesion,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL, tracking_id=lesion.id[:64],
            tracking_uid=tracking[lesion.id],
            anatomic_regions=[_code(lesion.finding_site)] if lesion.assigned and lesion.finding_site else None))
    reader = _reader(study)
    seg = hd.seg.Segmentation(
        source_images=list(datasets), pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=_uid(seed, "seg-series"), series_number=series_number,
        sop_instance_uid=_uid(seed, "seg-instance"), instance_number=1, manufacturer="CRMO Analyzer",
        manufacturer_model_name="crmo-analyzer", software_versions=__version__, device_serial_number="0",
        content_label="LESIONS", content_description="CRMO lesions", series_description="CRMO lesions (SEG)",
        content_creator_name=reader or None, **geometry)
    if "ContentCreatorName" not in seg:
        seg.ContentCreatorName = ""  # type 2: present, empty when the reader is not recorded
    return seg


def _reader(study: Study) -> str:
    """The reader's name as a DICOM PN (``Family^Given``) when the study records one, else ``""``."""
    name = (study.study or {}).get("reader")
    return name.strip() if isinstance(name, str) and name.strip() and len(name) <= 64 and "\\" not in name else ""


def _check_inside(pixels: np.ndarray, grid: Image, series: Image) -> None:
    """Refuse a label map whose lesions lie nowhere near the series (another patient or another exam)."""
    kji = np.argwhere(pixels)
    if not len(kji):
        return
    ras = kji[:, ::-1] @ grid.affine[:3, :3].T + grid.affine[:3, 3]
    ijk = to_index(series.affine, ras)
    size = np.array(series.shape_ijk)
    inside = np.all((ijk > -0.5 - 1) & (ijk < size - 0.5 + 1), axis=1)
    if not inside.any():
        raise CRMOInputError("--dicom", "the lesions lie outside the DICOM series: is it the series the lesions were drawn on?")
