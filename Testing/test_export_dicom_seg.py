"""The DICOM SEG states the volumes the SR and study.json state: read back, each segment's voxel count times the
voxel volume equals the lesion's ``volume_mm3``, and each segment lies at the lesion's centroid.

The SEG is read back with pydicom from its own per-frame plane positions (not through the writer's helpers),
as an independent reader such as dcmqi does.
"""

from __future__ import annotations

import shutil
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest

from CRMOAnalyzerLib.cli.demo import sample_inputs
from CRMOAnalyzerLib.exports.dicom_seg import lesion_labelmap, lesion_segmentation
from CRMOAnalyzerLib.exports.dicom_series import read_series, resample_onto, series_image
from CRMOAnalyzerLib.io.images import LabelMap
from CRMOAnalyzerLib.model import save_study
from CRMOAnalyzerLib.pipeline import analyze_files
from conftest import SAMPLE

LPS = np.array([-1.0, -1.0, 1.0])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from CRMOAnalyzerLib.cli.main import main

    out = tmp_path_factory.mktemp("seg")
    study = analyze_files(sample_inputs(SAMPLE))
    save_study(study, out / "study.json")
    assert main(["-q", "report", str(out / "study.json"), "--format", "sr", "--out", str(out / "sr.dcm")]) == 0
    return study, out


def segments_read_back(ds) -> dict[int, tuple[float, np.ndarray]]:
    """Segment number -> (volume mm3, centroid RAS), from the SEG's frames and plane positions alone."""
    shared = ds.SharedFunctionalGroupsSequence[0]
    orientation = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
    row_spacing, col_spacing = (float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    frames = ds.PerFrameFunctionalGroupsSequence
    positions = np.array([[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in frames])
    depths = np.unique(np.round(positions @ normal, 3))
    assert len(depths) > 1, "one plane: the slice spacing cannot be read back"
    slice_step = float(np.diff(depths).min())
    voxel = row_spacing * col_spacing * slice_step
    pixels = ds.pixel_array.reshape(len(frames), ds.Rows, ds.Columns)
    count: dict[int, int] = {}
    total: dict[int, np.ndarray] = {}
    for frame, position, plane in zip(frames, positions, pixels):
        number = int(frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        rows, cols = np.nonzero(plane)
        lps = position + np.outer(cols * col_spacing, row_dir) + np.outer(rows * row_spacing, col_dir)
        count[number] = count.get(number, 0) + len(rows)
        total[number] = total.get(number, np.zeros(3)) + lps.sum(0)
    return {n: (count[n] * voxel, total[n] / count[n] * LPS) for n in count}


def test_each_segment_volume_is_the_stated_volume(exported):
    study, out = exported
    ds = pydicom.dcmread(out / "sr_seg.dcm")
    segments = segments_read_back(ds)
    numbers = {str(item.TrackingID): int(item.SegmentNumber) for item in ds.SegmentSequence}
    assert sorted(numbers) == sorted(lesion.id for lesion in study.lesions)
    voxel = lesion_labelmap(study).voxel_volume_mm3
    for lesion in study.lesions:
        volume, centre = segments[numbers[lesion.id]]
        assert abs(volume - lesion.volume_mm3) <= 0.5 * voxel, (lesion.id, volume, lesion.volume_mm3)
        assert np.linalg.norm(centre - lesion.centroid_ras) < 1.0, (lesion.id, centre, lesion.centroid_ras)


@pytest.mark.skipif(not hasattr(hd.seg.Segmentation, "get_volume"), reason="highdicom < 0.28 has no get_volume")
def test_highdicom_volume_reader_agrees(exported):
    study, out = exported
    seg = hd.seg.segread(out / "sr_seg.dcm")
    volume = seg.get_volume(combine_segments=True, skip_overlap_checks=True)
    voxel = abs(np.linalg.det(volume.affine[:3, :3]))
    for number in range(1, seg.number_of_segments + 1):
        lesion = study.lesion(seg.get_segment_description(number).tracking_id)
        assert (volume.array == number).sum() * voxel == pytest.approx(lesion.volume_mm3), lesion.id


def test_sr_volume_and_seg_volume_agree(exported):
    _, out = exported
    sr = hd.sr.srread(out / "sr.dcm")
    ds = pydicom.dcmread(out / "sr_seg.dcm")
    segments = segments_read_back(ds)
    for group in sr.content.get_volumetric_roi_measurement_groups():
        stated = group.get_measurements(name=hd.sr.CodedConcept("118565006", "SCT", "Volume"))[0].value
        [number] = group.referenced_segment.referenced_segment_numbers
        assert segments[number][0] == pytest.approx(float(stated), abs=1.0)


def test_seg_is_on_the_lesion_maps_grid_in_the_series_frame_of_reference(exported):
    study, out = exported
    ds = pydicom.dcmread(out / "sr_seg.dcm")
    series = read_series(SAMPLE / "dicom")
    labelmap = lesion_labelmap(study)
    assert not labelmap.same_grid(series_image(series))  # the sample's map is oblique and finer than the series
    assert ds.FrameOfReferenceUID == series[0].FrameOfReferenceUID
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == series[0].SeriesInstanceUID
    spacing = [float(v) for v in ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing]
    assert spacing == pytest.approx(np.linalg.norm(labelmap.affine[:3, :3], axis=0)[[1, 0]])


def test_content_creator_name_is_present(exported, tmp_path):
    _, out = exported
    ds = pydicom.dcmread(out / "sr_seg.dcm")
    assert "ContentCreatorName" in ds and str(ds.ContentCreatorName) == ""
    study = analyze_files(sample_inputs(SAMPLE))
    study.study["reader"] = "Reader^Rita"
    seg = lesion_segmentation(study, read_series(SAMPLE / "dicom"), lesion_labelmap(study), seed="t")
    assert str(seg.ContentCreatorName) == "Reader^Rita"


def test_map_on_the_series_grid_keeps_per_frame_source_references():
    study = analyze_files(sample_inputs(SAMPLE))
    datasets = read_series(SAMPLE / "dicom")
    grid = series_image(datasets)
    labels = resample_onto(lesion_labelmap(study), grid, nearest=True)
    on_series = LabelMap(labels, grid.affine, "on-series")
    assert on_series.same_grid(grid)
    seg = lesion_segmentation(study, datasets, on_series, seed="same")
    read = seg.get_pixels_by_source_instance([ds.SOPInstanceUID for ds in datasets], combine_segments=True,
                                             skip_overlap_checks=True)
    assert read.shape == labels.shape
    for number, lesion in enumerate(study.lesions, start=1):
        assert (read == number).sum() == (labels == lesion.source["value"]).sum() > 0, lesion.id


@pytest.mark.skipif(not shutil.which("dciodvfy"), reason="dicom3tools not installed (.ci/run installs it)")
def test_dciodvfy_finds_no_error_or_warning(exported):
    _, out = exported
    result = subprocess.run(["dciodvfy", "-new", str(out / "sr_seg.dcm")], capture_output=True, text=True, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    assert [line for line in lines if line.startswith(("Error", "Warning"))] == []


def test_lesion_missing_from_the_map_is_the_voxel_at_its_centroid(caplog):
    import copy

    from CRMOAnalyzerLib.errors import CRMOInputError

    study = analyze_files(sample_inputs(SAMPLE))
    datasets, labelmap = read_series(SAMPLE / "dicom"), lesion_labelmap(study)
    missing = copy.deepcopy(study)
    missing.lesions[0].source["value"] = 250  # no such label in the map
    with caplog.at_level("WARNING", logger="CRMOAnalyzerLib"):
        seg = lesion_segmentation(missing, datasets, labelmap, seed="m")
    # lesion L1 is the report's finding #4 (head to toe): messages and the segment's label name it so, the
    # tracking id keeps the id
    from CRMOAnalyzerLib.reading.read import render_report
    from CRMOAnalyzerLib.reading.report import site_phrase

    assert f"\n#4 {site_phrase(missing.lesions[0])}: " in render_report(missing)
    assert "lesion #4 has no voxel in the lesion label map" in caplog.text
    first = seg.SegmentSequence[0]
    assert (first.SegmentLabel, first.TrackingID) == (f"#4 {site_phrase(missing.lesions[0])}"[:64], "L1")
    volume, centre = segments_read_back(seg)[1]
    assert volume == pytest.approx(labelmap.voxel_volume_mm3)
    assert np.linalg.norm(centre - missing.lesions[0].centroid_ras) < np.linalg.norm(labelmap.affine[:3, :3], axis=0).max()
    missing.lesions[0].centroid_ras = [5000.0, 0.0, 0.0]
    with pytest.raises(CRMOInputError, match="lesion #4 lies outside the lesion label map"):
        lesion_segmentation(missing, datasets, labelmap, seed="m")
    far = LabelMap(np.asarray(labelmap.array), labelmap.affine + np.array([[0, 0, 0, 3000.0]] * 3 + [[0, 0, 0, 0]]), "far")
    moved = copy.deepcopy(study)
    for lesion in moved.lesions:
        lesion.centroid_ras = list(np.asarray(lesion.centroid_ras) + 3000.0)
    with pytest.raises(CRMOInputError, match="lesions lie outside the DICOM series"):
        lesion_segmentation(moved, datasets, far, seed="f")
