"""DICOM SR TID 1500 Measurement Report of a study (highdicom ``Comprehensive3DSR``).

One TID 1411 volumetric measurement group per lesion: tracking identifier (lesion id, and the UID the
SEG segment carries), finding = Lesion (SCT 52988006), finding site = the bone's SNOMED CT code with
laterality and, for long bones, the end (proximal/distal) as topographical modifier; sub-location and
the reader's findings as qualitative evaluations; volume (SCT 118565006, mm3). A lesion drawn as voxels
references its segment of the DICOM SEG (:mod:`.dicom_seg`); a point lesion references its position
as a 3D point on the series' frame of reference. Then one TID 1501 measurement group (no image region) per
score or criterion and one for the red flags: tracking identifier = its name, finding = its local code, the total
as a numeric measurement in ``{points}`` (UCUM) when it is a number, "Partial result" Yes/No as a qualitative
evaluation, and the result and the missing items as TEXT items.

With a follow-up comparison (:class:`~CRMOAnalyzerLib.reading.compare.Comparison`), one TID 1501 group per lesion change:
finding = Lesion, its finding site (bone, laterality, end), the change as a qualitative evaluation (local codes
new, resolved, increased, decreased, stable, or persistent when unmeasured, as in FHIR), the volume change in
percent (UCUM %), the baseline and follow-up lesion ids as TEXT items, and a TID 1502 time point context
("follow-up", order 2, offset in days from the Baseline event, DCM 121079, when both exams are dated); then one
"Follow-up comparison" group: the baseline exam date (DATE), the RAI-CROMRIS change in ``{points}`` with
"Partial result" Yes/No, and the follow-up paragraph. Codes: ``resources/exports/codes.json``; the local scheme
99CRMO is declared in the Coding Scheme Identification Sequence.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CRMOInputError
from ..model import Lesion, Study
from ..reading.read import Reading, as_reading
from ..reading.report import finding_lines
from .common import StructuredResult, change_code, clean_text, export_config, local_code, structured_results, \
    sublocation_concept
from .dicom_seg import lesion_segmentation, segment_numbers, tracking_uids
from .dicom_series import _uid

__all__ = ["DicomExport", "measurement_report", "dicom_exports"]


@dataclass
class DicomExport:
    """The SR and, when the lesions are voxels, the SEG it references (pydicom datasets)."""

    sr: Any
    seg: Any | None = None


def _code(code: dict[str, str]):
    import highdicom as hd  # noqa: PLC0415

    return hd.sr.CodedConcept(code["code"], code["scheme"], code["meaning"])


def _local(code: str, meaning: str):
    import highdicom as hd  # noqa: PLC0415

    return hd.sr.CodedConcept(code[:16], export_config("codes")["local"]["scheme"], meaning[:64])


def _evaluations(lesion: Lesion) -> list:
    import highdicom as hd  # noqa: PLC0415

    codes = export_config("codes")
    local = codes["local"]
    evaluations = []
    if lesion.sublocation:
        meaning = local["sublocations"].get(lesion.sublocation, str(lesion.sublocation))
        concept = sublocation_concept(lesion)  # SNOMED CT where a verified exact concept exists, else the local code
        evaluations.append(hd.sr.QualitativeEvaluation(
            _local(local["sublocation"]["code"], local["sublocation"]["meaning"]),
            _code(concept) if concept is not None else _local(str(lesion.sublocation).replace(" ", "_").upper(), meaning)))
    for key, value in (lesion.findings or {}).items():
        name = local["findings"].get(key)
        if name is None or key == "note":
            continue
        if isinstance(value, bool):
            evaluations.append(hd.sr.QualitativeEvaluation(_local(key.upper(), name), _code(codes["yes" if value else "no"])))
        elif key == "character" and value in local["characters"]:
            evaluations.append(hd.sr.QualitativeEvaluation(_local(key.upper(), name),
                                                           _local(str(value).upper(), local["characters"][value])))
    return evaluations


def _sites(finding_site: dict | None, laterality: dict | None, bone_end: str | None) -> list | None:
    import highdicom as hd  # noqa: PLC0415

    if not finding_site:
        return None
    modifier = export_config("codes")["bone_end"].get(bone_end or "")
    return [hd.sr.FindingSite(anatomic_location=_code(finding_site), laterality=_code(laterality) if laterality else None,
                              topographical_modifier=_code(modifier) if modifier else None)]


def _finding_sites(lesion: Lesion) -> list | None:
    return _sites(lesion.finding_site, lesion.laterality, lesion.bone_end) if lesion.assigned else None


def _group(lesion: Lesion, tracking_uid: str, seg, numbers: dict[str, int], datasets: Sequence, finding: str = ""):
    """TID 1411 group of one lesion; its tracking identifier is the lesion id (baselines are read back by it), and a
    RESULT text gives its findings line as the report writes it, with its label ("#3 Left femur, ...")."""
    import highdicom as hd  # noqa: PLC0415

    codes = export_config("codes")
    kwargs: dict[str, Any] = {}
    if seg is not None and lesion.id in numbers:
        kwargs["referenced_segment"] = hd.sr.ReferencedSegment.from_segmentation(seg, segment_number=numbers[lesion.id])
    else:
        lps = np.asarray(lesion.centroid_ras, dtype=float) * np.array([-1.0, -1.0, 1.0])
        kwargs["referenced_volume_surface"] = hd.sr.VolumeSurface(
            graphic_type=hd.sr.GraphicTypeValues3D.POINT, graphic_data=lps.reshape(1, 3),
            frame_of_reference_uid=str(datasets[0].FrameOfReferenceUID),
            source_series=hd.sr.SourceSeriesForSegmentation(str(datasets[0].SeriesInstanceUID)))
    measurements = []
    if lesion.volume_mm3 is not None:
        measurements.append(hd.sr.Measurement(name=_code(codes["volume"]), value=float(lesion.volume_mm3),
                                              unit=_code(codes["volume_unit"])))
    from pydicom.sr.codedict import codes as dcm  # noqa: PLC0415

    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=lesion.id[:64]),
        finding_type=dcm.SCT.Lesion, finding_sites=_finding_sites(lesion), measurements=measurements or None,
        qualitative_evaluations=_evaluations(lesion) or None, **kwargs)
    if finding:
        group[0].ContentSequence.append(_text_item(local_code("result_text"), clean_text(finding)))
    return group


def _text_item(code: dict[str, str], text: str):
    import highdicom as hd  # noqa: PLC0415

    return hd.sr.TextContentItem(name=_code(code), value=text, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)


def _result_group(result: StructuredResult, seed: str):
    """TID 1501 measurement group of a score, criterion or the red flags (document level, no image region)."""
    import highdicom as hd  # noqa: PLC0415

    codes = export_config("codes")
    measurements = None
    if result.value is not None:
        measurements = [hd.sr.Measurement(name=_code(result.code), value=float(result.value), unit=_code(codes["points_unit"]))]
    partial = hd.sr.QualitativeEvaluation(_code(local_code("partial")), _code(codes["yes" if result.partial else "no"]))
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid(seed, "score", result.id), identifier=result.name[:64]),
        finding_type=_code(result.code), measurements=measurements, qualitative_evaluations=[partial])
    container = group[0].ContentSequence
    container.append(_text_item(local_code("result_text"), result.text))
    if result.partial:
        container.append(_text_item(local_code("missing"), "; ".join(result.missing) or "items missing"))
    if result.provenance():
        container.append(_text_item(local_code("source"), result.provenance()))
    return group


def _change_sites(change, study: Study) -> list | None:
    """The finding site of a lesion change: its follow-up lesion's, or (resolved) from the bone vocabulary."""
    from ..anatomy import LATERALITY_CODES, bones  # noqa: PLC0415

    lesion = next((l for l in study.lesions if l.id == change.followup_id), None)
    if lesion is not None:
        return _finding_sites(lesion)
    spec = bones().get(change.bone)
    if spec is None:
        return None
    return _sites(spec.finding_site, LATERALITY_CODES.get(change.side) if change.side else None, change.bone_end)


def _date(value) -> _dt.date | None:
    try:
        return _dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _time_point(comparison):
    """TID 1502: the follow-up time point, days after the Baseline event when both exams are dated."""
    import highdicom as hd  # noqa: PLC0415

    codes = export_config("codes")
    offset, before, after = None, _date(comparison.baseline.get("date")), _date(comparison.followup.get("date"))
    if before and after:
        offset = hd.sr.LongitudinalTemporalOffsetFromEvent(value=float((after - before).days), unit=_code(codes["day_unit"]),
                                                           event_type=_code(codes["baseline_event"]))
    return hd.sr.TimePointContext(time_point="follow-up", time_point_order=2, temporal_offset_from_event=offset)


def _change_group(change, study: Study, comparison, seed: str):
    """TID 1501 measurement group of one lesion change (new, resolved, or persistent with its volume change)."""
    import highdicom as hd  # noqa: PLC0415
    from pydicom.sr.codedict import codes as dcm  # noqa: PLC0415

    codes = export_config("codes")
    label = f"{change.baseline_id or 'new'} -> {change.followup_id or 'resolved'}"  # seeds the UID: by id, as before
    # the identifier a reader sees names the lesions as the reports do; BASELINEID / FOLLOWUPID keep the ids
    shown = (f"{change.followup_label} (baseline {change.baseline_label})" if change.baseline_id and change.followup_id
             else f"{change.followup_label} (new)" if change.followup_id else f"baseline {change.baseline_label} (resolved)")
    measurements = None
    if change.volume_change_percent is not None:
        measurements = [hd.sr.Measurement(name=_code(local_code("volume_change_percent")),
                                          value=float(change.volume_change_percent), unit=_code(codes["percent_unit"]))]
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid(seed, "change", label), identifier=shown[:64]),
        time_point_context=_time_point(comparison), finding_type=dcm.SCT.Lesion,
        finding_sites=_change_sites(change, study), measurements=measurements,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(_code(local_code("lesion_change")), _code(change_code(change)))])
    container = group[0].ContentSequence
    for key, lesion_id in (("baseline_lesion", change.baseline_id), ("followup_lesion", change.followup_id)):
        if lesion_id:
            container.append(_text_item(local_code(key), str(lesion_id)))
    return group


def _followup_group(comparison, seed: str):
    """TID 1501 group of the comparison as a whole: baseline date, RAI-CROMRIS change, the follow-up paragraph."""
    import highdicom as hd  # noqa: PLC0415

    codes = export_config("codes")
    cromris = comparison.cromris or {}
    measurements, evaluations = None, None
    if cromris:
        measurements = [hd.sr.Measurement(name=_code(local_code("cromris_change")), value=float(cromris["change"]),
                                          unit=_code(codes["points_unit"]))]
        evaluations = [hd.sr.QualitativeEvaluation(_code(local_code("partial")),
                                                   _code(codes["yes" if cromris.get("partial") else "no"]))]
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid(seed, "followup"), identifier="Follow-up comparison"),
        time_point_context=_time_point(comparison), finding_type=_code(local_code("followup")),
        measurements=measurements, qualitative_evaluations=evaluations)
    container = group[0].ContentSequence
    date = _date(comparison.baseline.get("date"))
    if date is not None:
        container.append(hd.sr.DateContentItem(name=_code(local_code("baseline_date")), value=date,
                                               relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    container.append(_text_item(local_code("result_text"), clean_text(comparison.paragraph())))
    return group


def measurement_report(study: Study | Reading, datasets: Sequence, seg=None, seed: str | None = None,
                       series_number: int = 902, final: bool = False, comparison=None,
                       baseline_tracking: dict[str, str] | None = None):
    """The ``highdicom.sr.Comprehensive3DSR`` of a reading with ``datasets`` (and ``seg``) as evidence.

    ``comparison`` (:class:`~CRMOAnalyzerLib.reading.compare.Comparison` of ``study`` with a baseline) adds a group per
    lesion change and one for the comparison as a whole, and a lesion matched to a baseline lesion keeps the
    baseline's Tracking Unique Identifier (:func:`~.dicom_seg.tracking_uids`; ``baseline_tracking`` as read from the
    baseline's SR by :func:`tracking_uids_from_sr` takes precedence).
    """
    import highdicom as hd  # noqa: PLC0415
    from pydicom.dataset import Dataset  # noqa: PLC0415
    from pydicom.sr.codedict import codes as dcm  # noqa: PLC0415

    from .. import __version__  # noqa: PLC0415

    reading = as_reading(study, comparison)
    study, comparison = reading.study, reading.comparison
    if not datasets:
        raise CRMOInputError("--dicom", "no DICOM evidence: the SR refers to the series the lesions were read on")
    seed = seed or f"{datasets[0].SeriesInstanceUID}/{uuid.uuid4()}"
    codes = export_config("codes")
    numbers = segment_numbers(study) if seg is not None else {}
    observer = hd.sr.ObserverContext(
        observer_type=dcm.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_uid(seed, "device"), name="CRMO Analyzer", model_name=f"crmo-analyzer {__version__}"))
    procedure = codes["procedure"].get(str(getattr(datasets[0], "Modality", "")), codes["procedure"]["default"])
    tracking = tracking_uids(study, seed, comparison, baseline_tracking)
    findings = finding_lines(study, reading.labels)
    groups = [_group(lesion, tracking[lesion.id], seg, numbers, datasets, findings[lesion.id]) for lesion in study.lesions]
    groups += [_result_group(result, seed) for result in structured_results(reading)]
    if comparison is not None:
        groups += [_change_group(change, study, comparison, seed) for change in comparison.lesions]
        groups.append(_followup_group(comparison, seed))
    report = hd.sr.MeasurementReport(observation_context=hd.sr.ObservationContext(observer_device_context=observer),
                                     procedure_reported=_code(procedure), imaging_measurements=groups or None)
    evidence = list(datasets) + ([seg] if seg is not None else [])
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence, content=report, series_instance_uid=_uid(seed, "sr-series"), series_number=series_number,
        sop_instance_uid=_uid(seed, "sr-instance"), instance_number=1, manufacturer="CRMO Analyzer",
        is_complete=True, is_final=final, is_verified=False, series_description="CRMO lesion measurements (SR)")
    local = codes["local"]
    item = Dataset()
    item.CodingSchemeDesignator = local["scheme"]
    item.CodingSchemeUID = local["uid"]
    item.CodingSchemeName = local["name"]
    item.CodingSchemeResponsibleOrganization = "CRMO Analyzer"
    sr.CodingSchemeIdentificationSequence = [item]
    # the text holds non-ASCII (mm³, names): UTF-8, said explicitly (highdicom 0.28 copies the evidence's character
    # set; 0.27, which Slicer 5.12 bundles, leaves the default repertoire and the file cannot be decoded)
    sr.SpecificCharacterSet = "ISO_IR 192"
    return sr


def dicom_exports(study: Study | Reading, datasets: Sequence, labelmap=None, seed: str | None = None,
                  comparison=None, baseline_tracking: dict[str, str] | None = None) -> DicomExport:
    """SR (and SEG when the lesions are voxels and ``labelmap`` is given) of a reading, sharing tracking UIDs; its
    comparison (or ``comparison``, given a study) adds the follow-up groups to the SR and keeps the baseline's
    tracking UIDs of matched lesions."""
    reading = as_reading(study, comparison)
    study, comparison = reading.study, reading.comparison
    seed = seed or f"{datasets[0].SeriesInstanceUID}/{uuid.uuid4()}" if datasets else ""
    seg = None
    if labelmap is not None and segment_numbers(study):
        seg = lesion_segmentation(study, datasets, labelmap, seed,
                                  tracking=tracking_uids(study, seed, comparison, baseline_tracking))
    return DicomExport(measurement_report(reading, datasets, seg, seed,
                                          baseline_tracking=baseline_tracking), seg)


def tracking_uids_from_sr(path) -> dict[str, str]:
    """Tracking Identifier -> Tracking Unique Identifier of the lesion groups of an SR this module wrote (the
    baseline's), for :func:`dicom_exports` ``baseline_tracking``. CRMOInputError when the file is not such an SR."""
    import highdicom as hd  # noqa: PLC0415
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415

    try:
        sr = hd.sr.srread(path)
        groups = sr.content.get_volumetric_roi_measurement_groups()
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise CRMOInputError(path, f"not a readable DICOM SR measurement report: {type(error).__name__}") from error
    return {str(group.tracking_identifier): str(group.tracking_uid) for group in groups if group.tracking_uid}
