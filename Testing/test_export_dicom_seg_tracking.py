"""Longitudinal SR and SEG: a lesion matched at follow-up keeps the Tracking Unique Identifier of the baseline's SR
(and SEG), so a viewer that tracks measurements links the exams; new lesions get their own; SR and SEG agree."""

from __future__ import annotations

import copy

import highdicom as hd
import pytest

from CRMOAnalyzerLib.cli.demo import sample_inputs
from CRMOAnalyzerLib.reading.compare import compare_studies
from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.exports.dicom_seg import lesion_labelmap
from CRMOAnalyzerLib.exports.dicom_series import read_series
from CRMOAnalyzerLib.exports.dicom_sr import dicom_exports, measurement_report, tracking_uids_from_sr
from CRMOAnalyzerLib.pipeline import analyze_files
from conftest import SAMPLE


def sr_uids(sr) -> dict[str, str]:
    """Tracking identifier -> UID of the SR's lesion groups, read back from the dataset."""
    groups = hd.sr.Comprehensive3DSR.from_dataset(sr).content.get_volumetric_roi_measurement_groups()
    return {str(g.tracking_identifier): str(g.tracking_uid) for g in groups}


def seg_uids(seg) -> dict[str, str]:
    return {str(item.TrackingID): str(item.TrackingUID) for item in seg.SegmentSequence}


@pytest.fixture(scope="module")
def exams():
    """The sample study as a baseline (2025-11-20) and as a follow-up (2026-03-01) with L9 resolved and a new L10."""
    followup = analyze_files(sample_inputs(SAMPLE))
    baseline = copy.deepcopy(followup)
    baseline.study["date"] = "2025-11-20"
    return baseline, followup, read_series(SAMPLE / "dicom"), lesion_labelmap(followup)


def test_matched_lesions_keep_the_baseline_tracking_uid_in_sr_and_seg(exams, tmp_path):
    baseline, followup, datasets, labelmap = exams
    first = dicom_exports(baseline, datasets, labelmap)
    comparison = compare_studies(baseline, followup)
    persistent = {row.followup_id: row.baseline_id for row in comparison.lesions if row.status == "persistent"}
    assert len(persistent) == len(followup.lesions) == 9
    second = dicom_exports(followup, datasets, labelmap, comparison=comparison)
    before, after = sr_uids(first.sr), sr_uids(second.sr)
    assert before == seg_uids(first.seg) and after == seg_uids(second.seg)  # SR and SEG agree in each exam
    for followup_id, baseline_id in persistent.items():
        assert after[followup_id] == before[baseline_id], followup_id
    assert len(set(after.values())) == len(after)  # one UID per lesion
    # the same exam exported again (another SR instance) keeps its lesions' UIDs
    again = dicom_exports(baseline, datasets, labelmap)
    assert sr_uids(again.sr) == before and again.sr.SOPInstanceUID != first.sr.SOPInstanceUID
    # without the comparison the follow-up's lesions are its own: other UIDs
    alone = sr_uids(dicom_exports(followup, datasets, labelmap).sr)
    assert not set(alone.values()) & set(before.values())


def test_new_lesion_gets_its_own_uid_and_a_chain_of_followups_keeps_the_first(exams, tmp_path):
    baseline, followup, datasets, _ = exams
    followup = copy.deepcopy(followup)
    followup.lesions = followup.lesions[:3]
    first = measurement_report(baseline, datasets, seed="b")
    first.save_as(tmp_path / "baseline_sr.dcm", enforce_file_format=True)
    before = tracking_uids_from_sr(tmp_path / "baseline_sr.dcm")
    assert before == sr_uids(first)
    comparison = compare_studies(baseline, followup)
    second = measurement_report(followup, datasets, seed="f", comparison=comparison)
    second.save_as(tmp_path / "followup_sr.dcm", enforce_file_format=True)
    middle = tracking_uids_from_sr(tmp_path / "followup_sr.dcm")
    assert [middle[i] for i in ("L1", "L2", "L3")] == [before[i] for i in ("L1", "L2", "L3")]
    # a third exam compared with the second, given the second's SR: the first exam's UIDs carry on; a new lesion (the
    # third exam's L4, absent from the second) gets a UID of its own
    third = copy.deepcopy(baseline)
    third.study["date"] = "2026-09-01"
    third.lesions = [copy.deepcopy(lesion) for lesion in baseline.lesions[:4]]
    comparison = compare_studies(followup, third)
    assert [row.status for row in comparison.lesions if row.followup_id == "L4"] == ["new"]
    last = sr_uids(measurement_report(third, datasets, seed="t", comparison=comparison, baseline_tracking=middle))
    assert [last[i] for i in ("L1", "L2", "L3")] == [before[i] for i in ("L1", "L2", "L3")]
    assert last["L4"] not in middle.values()
    # the baseline exam's own L4 and the third exam's new L4 are different lesions
    assert last["L4"] != before["L4"]


def test_without_patient_or_date_each_export_has_new_uids(exams):
    baseline, _, datasets, _ = exams
    anonymous = copy.deepcopy(baseline)
    anonymous.study.pop("date")
    one, two = (sr_uids(measurement_report(anonymous, datasets, seed=seed)) for seed in ("one", "two"))
    assert not set(one.values()) & set(two.values())


def test_unreadable_baseline_sr_is_one_line(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"not dicom")
    with pytest.raises(CRMOInputError, match="not a readable DICOM SR"):
        tracking_uids_from_sr(tmp_path / "x.dcm")


def test_report_sr_with_the_baseline_sr_keeps_a_chain_of_uids(exams, tmp_path, capsys):
    from CRMOAnalyzerLib.cli.main import main
    from CRMOAnalyzerLib.model import save_study

    baseline, followup, _, _ = exams
    third = copy.deepcopy(followup)
    third.study["date"] = "2026-09-01"
    for name, exam in (("a", baseline), ("b", followup), ("c", third)):
        save_study(exam, tmp_path / f"{name}.json")
    dicom = str(SAMPLE / "dicom")
    assert main(["report", str(tmp_path / "a.json"), "--format", "sr", "--dicom", dicom, "--out", str(tmp_path / "a.dcm")]) == 0
    assert main(["report", str(tmp_path / "b.json"), "--format", "sr", "--dicom", dicom, "--compare", str(tmp_path / "a.json"),
                 "--baseline-sr", str(tmp_path / "a.dcm"), "--out", str(tmp_path / "b.dcm")]) == 0
    assert main(["report", str(tmp_path / "c.json"), "--format", "sr", "--dicom", dicom, "--compare", str(tmp_path / "b.json"),
                 "--baseline-sr", str(tmp_path / "b.dcm"), "--out", str(tmp_path / "c.dcm")]) == 0
    first, last = (tracking_uids_from_sr(tmp_path / f"{name}.dcm") for name in ("a", "c"))
    assert last == first  # every lesion persists: the first exam's UIDs carry through the chain
    capsys.readouterr()
    assert main(["report", str(tmp_path / "c.json"), "--format", "sr", "--dicom", dicom,
                 "--baseline-sr", str(tmp_path / "b.dcm"), "--out", str(tmp_path / "x.dcm")]) == 1
    assert "--compare" in capsys.readouterr().err and not (tmp_path / "x.dcm").exists()
