"""DICOM Segmentation (highdicom) of a study's lesions on the DICOM series they were read on.

The study stores lesion centroids and volumes, not voxels, so the lesion label map comes from the file
the study was analysed from (``study.inputs["lesions"]``) or from the caller. It is resampled
(nearest neighbour) onto the series grid; a lesion too small to cover any voxel of that grid keeps the
voxel at its centroid, and a warning says so. One segment per lesion, in study order, labelled
``"<id> <site>"``, tracking id = lesion id (as Slicer's QuantitativeReporting does).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import CRMOInputError
from ..geometry import to_index
from ..images import LabelMap, read_labelmap
from ..model import Lesion, Study
from ..report import site_phrase
from .common import export_config
from .dicom_series import _uid, resample_onto, series_image

__all__ = ["lesion_labelmap", "lesion_segmentation", "segment_numbers"]

logger = logging.getLogger(__name__)

LABEL_KINDS = ("label", "segment")


def segment_numbers(study: Study) -> dict[str, int]:
    """Lesion id -> SEG segment number (1, 2, ... in study order) for lesions drawn as voxels."""
    return {lesion.id: n for n, lesion in enumerate(
        (lesion for lesion in study.lesions if lesion.source.get("kind") in LABEL_KINDS), start=1)}


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


def lesion_segmentation(study: Study, datasets: Sequence, labelmap: LabelMap, seed: str = "", series_number: int = 901):
    """A ``highdicom.seg.Segmentation`` (BINARY) of the study's voxel lesions on the series ``datasets``."""
    import highdicom as hd  # noqa: PLC0415
    from pydicom.sr.codedict import codes as dcm  # noqa: PLC0415

    from .. import __version__  # noqa: PLC0415

    numbers = segment_numbers(study)
    grid = series_image(datasets)
    on_grid = resample_onto(labelmap, grid, nearest=True)
    pixels = np.zeros(on_grid.shape, dtype=np.uint16 if len(numbers) > 255 else np.uint8)
    lesions: list[Lesion] = [lesion for lesion in study.lesions if lesion.id in numbers]
    for lesion in lesions:
        value = lesion.source.get("value")
        mask = on_grid == value if value is not None else np.zeros(on_grid.shape, dtype=bool)
        if not mask.any():
            i, j, k = np.round(to_index(grid.affine, np.array([lesion.centroid_ras]))[0]).astype(int)
            if not (0 <= k < pixels.shape[0] and 0 <= j < pixels.shape[1] and 0 <= i < pixels.shape[2]):
                raise CRMOInputError("--dicom", f"lesion {lesion.id} lies outside the DICOM series: is it the series the lesions were drawn on?")
            logger.warning("lesion %s covers no voxel of the DICOM grid; its SEG segment is the voxel at its centroid", lesion.id)
            mask = np.zeros(on_grid.shape, dtype=bool)
            mask[k, j, i] = True
        pixels[mask & (pixels == 0)] = numbers[lesion.id]
    codes = export_config("codes")
    descriptions = []
    for lesion in lesions:
        label = f"{lesion.id} {site_phrase(lesion)}"
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=numbers[lesion.id], segment_label=label[:64],
            segmented_property_category=_code(codes["lesion_category"]), segmented_property_type=dcm.SCT.Lesion,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL, tracking_id=lesion.id[:64],
            tracking_uid=_uid(seed, "tracking", lesion.id),
            anatomic_regions=[_code(lesion.finding_site)] if lesion.assigned and lesion.finding_site else None))
    return hd.seg.Segmentation(
        source_images=list(datasets), pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=_uid(seed, "seg-series"), series_number=series_number,
        sop_instance_uid=_uid(seed, "seg-instance"), instance_number=1, manufacturer="CRMO Analyzer",
        manufacturer_model_name="crmo-analyzer", software_versions=__version__, device_serial_number="0",
        content_label="LESIONS", content_description="CRMO lesions", series_description="CRMO lesions (SEG)")
