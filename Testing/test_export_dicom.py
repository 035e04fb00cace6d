"""DICOM SR TID 1500 + SEG of the sample study: dciodvfy finds no error, highdicom and dsrdump read them back."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from CRMOAnalyzerLib.cli.demo import sample_inputs
from CRMOAnalyzerLib.model import lesion_labels
from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.exports.dicom_series import read_series, series_image
from CRMOAnalyzerLib.model import save_study
from CRMOAnalyzerLib.pipeline import analyze_files
from CRMOAnalyzerLib.reading.read import render_report
from conftest import SAMPLE

#: the validators these tests run; .ci/run installs them (dicom3tools, dcmtk)
VALIDATORS = ("dciodvfy", "dsrdump")


def require_validators() -> None:
    """Skip (with the reason shown) when a validator is missing, or fail under CI=true: no check vanishes silently."""
    missing = [tool for tool in VALIDATORS if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed (dicom3tools/dcmtk; .ci/run installs them)"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason}: required when CI=true")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from CRMOAnalyzerLib.cli.main import main

    out = tmp_path_factory.mktemp("dicom")
    study = analyze_files(sample_inputs(SAMPLE))
    study.lesions[0].findings.update(marrow_edema=True, character="lytic")
    save_study(study, out / "study.json")
    assert study.dicom and study.dicom["series_dir"].endswith("dicom")
    assert main(["-q", "report", str(out / "study.json"), "--format", "sr", "--out", str(out / "sr.dcm")]) == 0
    return study, out


def errors_of(path) -> list[str]:
    """dciodvfy's errors for ``path``: its Error and Abort lines, a non-zero exit code, and a missing file."""
    require_validators()
    path = Path(path)
    if not path.is_file():
        return [f"Error - {path} does not exist"]
    result = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True, check=False)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith(("Error", "Abort"))]
    if result.returncode != 0:
        errors.append(f"Error - dciodvfy exited with code {result.returncode}")
    return errors


def dsrdump(path) -> str:
    """dsrdump's text of an SR file (fails the test when dsrdump cannot read it)."""
    require_validators()
    return subprocess.run(["dsrdump", str(path)], capture_output=True, text=True, check=True).stdout


def fake_tool(folder: Path, name: str, output: str, code: int) -> None:
    script = folder / name
    script.write_text(f"#!/bin/sh\nprintf '%s' '{output}'\nexit {code}\n")
    script.chmod(0o755)


@pytest.mark.parametrize("output, code, failed", [("", 0, False), ("Warning - a warning\n", 0, False),
                                                  ("Error - bad\n", 0, True), ("Abort - cannot read\n", 0, True),
                                                  ("", 3, True), ("Warning - a warning\n", 1, True)])
def test_errors_of_fails_on_error_and_abort_lines_and_a_nonzero_exit(tmp_path, monkeypatch, output, code, failed):
    for tool in VALIDATORS:
        fake_tool(tmp_path, tool, output, code)
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "x.dcm").write_bytes(b"x")
    assert bool(errors_of(tmp_path / "x.dcm")) == failed


def test_errors_of_fails_on_a_missing_or_unreadable_file(tmp_path):
    assert errors_of(tmp_path / "missing.dcm") == [f"Error - {tmp_path / 'missing.dcm'} does not exist"]
    (tmp_path / "garbage.dcm").write_bytes(b"not DICOM" * 20)
    assert errors_of(tmp_path / "garbage.dcm")


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception),
                                         ("false", pytest.skip.Exception)])
def test_a_missing_validator_fails_under_ci_and_skips_visibly_elsewhere(tmp_path, monkeypatch, ci, outcome):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", ci)
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception), match="dciodvfy and dsrdump not installed") as raised:
        errors_of(SAMPLE / "dicom" / "IM0001.dcm")
    assert raised.type is outcome


def test_sample_series_is_small_and_valid():
    datasets = read_series(SAMPLE / "dicom")
    assert 10 <= len(datasets) <= 40
    assert sum(p.stat().st_size for p in (SAMPLE / "dicom").iterdir()) < 5e6
    grid = series_image(datasets)
    assert np.allclose(np.abs(grid.affine[:3, 2] / np.linalg.norm(grid.affine[:3, 2])), [0, 1, 0])  # coronal slices
    assert errors_of(SAMPLE / "dicom" / "IM0001.dcm") == []


def test_dciodvfy_finds_no_error(exported):
    _, out = exported
    assert errors_of(out / "sr.dcm") == []
    assert errors_of(out / "sr_seg.dcm") == []


def test_sr_reads_back_one_group_per_lesion(exported):
    study, out = exported
    sr = hd.sr.srread(out / "sr.dcm")
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == [lesion.id for lesion in study.lesions]
    seg = hd.seg.segread(out / "sr_seg.dcm")
    for group, lesion in zip(groups, study.lesions):
        site = group.finding_sites[0]
        assert site.value.value == lesion.finding_site["code"]
        if lesion.laterality:
            assert site.laterality.value == lesion.laterality["code"]
        volume = group.get_measurements(name=hd.sr.CodedConcept("118565006", "SCT", "Volume"))[0]
        assert volume.value == pytest.approx(lesion.volume_mm3)
        assert group.reference_type == hd.sr.CodedConcept("121191", "DCM", "Referenced Segment")
        assert group.referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID
    first = {e.name.meaning: e.value.meaning for e in groups[0].get_qualitative_evaluations()}
    assert first["Marrow edema"] == "Yes" and first["Lesion character"] == "Lytic"
    assert study.lesions[0].sublocation == "metaphysis" and first["Sub-location"] == "Metaphysis"


def test_seg_has_one_segment_per_lesion_with_its_centroid_and_volume(exported):
    """The SEG lies on the lesion map's own grid (highdicom plane positions): each segment's centre and volume are
    the lesion's, read back through highdicom's volume of the SEG (LPS)."""
    study, out = exported
    seg = hd.seg.segread(out / "sr_seg.dcm")
    assert seg.number_of_segments == len(study.lesions)
    volume = seg.get_volume(combine_segments=True)
    voxel_mm3 = abs(np.linalg.det(volume.affine[:3, :3]))
    for number, lesion in enumerate(study.lesions, start=1):
        kji = np.argwhere(volume.array == number)
        assert len(kji), lesion.id
        centre_ras = (volume.affine[:3, :3] @ kji.mean(0) + volume.affine[:3, 3]) * [-1, -1, 1]
        assert np.linalg.norm(centre_ras - lesion.centroid_ras) < 0.1, lesion.id
        assert len(kji) * voxel_mm3 == pytest.approx(lesion.volume_mm3, rel=1e-6), lesion.id
        assert seg.get_segment_description(number).tracking_id == lesion.id


def test_dsrdump_shows_the_findings(exported):
    _, out = exported
    dump = dsrdump(out / "sr.dcm")
    assert '<contains CODE:(,,"Finding")=(52988006,SCT,"Lesion")>' in dump
    assert '<has concept mod CODE:(,,"Laterality")=(7771000,SCT,"Left")>' in dump
    assert dump.count('CONTAINER:(,,"Measurement Group")') == 9 + 7  # lesions; 6 scores and the red flags


def test_no_evidence_is_a_clear_error(exported, tmp_path, capsys):
    from CRMOAnalyzerLib.cli.main import main

    study, _ = exported
    study.dicom = None
    save_study(study, tmp_path / "study.json")
    assert main(["report", str(tmp_path / "study.json"), "--format", "sr", "--out", str(tmp_path / "x.dcm")]) == 1
    assert "no DICOM evidence" in capsys.readouterr().err
    with pytest.raises(CRMOInputError, match="no DICOM image"):
        read_series(tmp_path)
    assert not (tmp_path / "x.dcm").exists()


def test_known_scores_read_back_from_the_sr(tmp_path):
    """Hand-built study (Jansson 63 complete, CROMRIS 0 partial) on the sample series: srread and dsrdump."""
    from test_export_hl7 import known_study

    from CRMOAnalyzerLib.exports.dicom_sr import measurement_report

    sr = measurement_report(known_study(), read_series(SAMPLE / "dicom"), seed="known")
    sr.save_as(tmp_path / "scores.dcm", enforce_file_format=True)
    groups = hd.sr.srread(tmp_path / "scores.dcm").content.get_image_measurement_groups()
    by_id = {g.tracking_identifier: g for g in groups}
    assert set(by_id) == {"Andronikou pattern", "Jansson score", "Bristol criteria", "EULAR/ACR 2025 criteria", "CROMRIS",
                          "RINBO", "Red flags"}
    points = hd.sr.CodedConcept("{points}", "UCUM", "points")
    for name, code, value, partial in (("Jansson score", "JANSSON", 63, "No"), ("CROMRIS", "RAICROMRIS", 0, "Yes")):
        measurement = by_id[name].get_measurements()[0]
        assert (measurement.name.value, measurement.value, measurement.unit) == (code, value, points)
        evaluation = by_id[name].get_qualitative_evaluations()[0]
        assert (evaluation.name.value, evaluation.value.meaning) == ("PARTIAL", partial)
    assert not by_id["Bristol criteria"].get_measurements()
    texts = {item.name.value: item.value for item in by_id["CROMRIS"][0].ContentSequence if item.ValueType == "TEXT"}
    assert "bone marrow hyperintensity not recorded" in texts["MISSING"] and texts["RESULT"].startswith("RAI-CROMRIS total 0")
    jansson = {item.name.value: item.value for item in by_id["Jansson score"][0].ContentSequence if item.ValueType == "TEXT"}
    assert jansson["SOURCE"].startswith("Source: ") and "points as cited" in jansson["SOURCE"]
    assert errors_of(tmp_path / "scores.dcm") == []
    dump = dsrdump(tmp_path / "scores.dcm")
    assert 'NUM:(,,"Jansson NBO clinical score (local code)")="63.0" ({points},UCUM,"points")' in dump
    assert 'CODE:(,,"Partial result: items missing (local code)")=(373066001,SCT,"Yes")' in dump


def test_red_flags_group_cites_the_literature_of_the_flags_found(tmp_path):
    from test_export_hl7 import crp_flag_study

    from CRMOAnalyzerLib.exports.dicom_sr import measurement_report

    sr = measurement_report(crp_flag_study(), read_series(SAMPLE / "dicom"), seed="flags")
    sr.save_as(tmp_path / "flags.dcm", enforce_file_format=True)
    groups = hd.sr.srread(tmp_path / "flags.dcm").content.get_image_measurement_groups()
    flags = next(g for g in groups if g.tracking_identifier == "Red flags")
    texts = {item.name.value: item.value for item in flags[0].ContentSequence if item.ValueType == "TEXT"}
    assert texts["SOURCE"].startswith("Source: Roderick MR, Shah R") and "red_flags.json" not in texts["SOURCE"]
    assert "markedly raised CRP" in texts["RESULT"]


def followup_of_known_study():
    """Baseline 2025-11-20: the known study (both distal femora, T8). Follow-up 2026-03-01 (101 days later): the right
    femoral lesion grew from 1000 to 1600 mm3 (+60%), the left is unchanged, T8 is gone, a left tibial lesion is new."""
    from studybuilder import lesion
    from test_export_hl7 import known_study

    from CRMOAnalyzerLib.reading.compare import compare_studies

    baseline, followup = known_study(), known_study()
    baseline.study["date"] = "2025-11-20"
    followup.lesions[0].volume_mm3 = 1600.0
    followup.lesions[2:] = [lesion("L4", "tibia", "left", "metaphysis", "proximal", position=0.1)]
    return baseline, followup, compare_studies(baseline, followup)


def test_followup_comparison_reads_back_from_the_sr(tmp_path):
    from CRMOAnalyzerLib.exports.dicom_sr import measurement_report

    _, followup, comparison = followup_of_known_study()
    sr = measurement_report(followup, read_series(SAMPLE / "dicom"), seed="known", comparison=comparison)
    sr.save_as(tmp_path / "followup.dcm", enforce_file_format=True)
    groups = hd.sr.srread(tmp_path / "followup.dcm").content.get_image_measurement_groups()
    by_id = {g.tracking_identifier: g for g in groups}
    # identifiers name the lesions by their labels, as the reports do (follow-up #1 was the baseline's #2: the
    # baseline listed T8 first); BASELINEID / FOLLOWUPID keep the ids, the lesion groups' tracking identifiers
    changes = {"#1 (baseline #2)": ("increased", 60.0, "71341001", "24028007", "L1", "L1"),
               "#2 (baseline #3)": ("stable", 0.0, "71341001", "7771000", "L2", "L2"),
               "#3 (new)": ("new", None, "12611008", "7771000", None, "L4"),
               "baseline #1 (resolved)": ("resolved", None, "11068009", None, "L3", None)}
    assert set(changes) | {"Follow-up comparison"} <= set(by_id)
    assert render_report(followup, comparison).count("\n#1 Right femur, distal metaphysis: ") == 1
    assert "\n#3 Left tibia" in render_report(followup, comparison)
    for label, (change, percent, site, side, before, after) in changes.items():
        group = by_id[label]
        assert group.finding_type == hd.sr.CodedConcept("52988006", "SCT", "Lesion")
        (evaluation,) = group.get_qualitative_evaluations()
        assert (evaluation.name.value, evaluation.value.value, evaluation.value.scheme_designator) == (
            "LESIONCHANGE", change, "99CRMO")
        percent_code = hd.sr.CodedConcept("VOLCHANGEPCT", "99CRMO", "Lesion volume change since baseline (local code)")
        assert [m.value for m in group.get_measurements(name=percent_code)] == ([] if percent is None else [percent])
        found = group.finding_sites[0]
        assert found.value.value == site and (found.laterality.value if found.laterality else None) == side
        items = {item.name.value: item for item in group[0].ContentSequence}
        assert items["126073"].value == 2  # TID 1502 time point order: the follow-up
        offset = items["128740"]  # longitudinal temporal offset from event: the baseline, 101 days earlier
        assert (offset.value, offset.unit.value) == (101, "d")
        assert offset.ContentSequence[0].ConceptCodeSequence[0].CodeValue == "121079"
        ids = {item.name.value: item.value for item in group[0].ContentSequence if item.ValueType == "TEXT"}
        assert (ids.get("BASELINEID"), ids.get("FOLLOWUPID")) == (before, after)
    summary = {item.name.value: item for item in by_id["Follow-up comparison"][0].ContentSequence}
    assert summary["BASELINEDATE"].value == datetime.date(2025, 11, 20)
    assert summary["CROMRISCHANGE"].value == 0 and summary["RESULT"].value.startswith("Compared with 2025-11-20")
    assert errors_of(tmp_path / "followup.dcm") == []
    dump = dsrdump(tmp_path / "followup.dcm")
    assert '<has obs context TEXT:(,,"Tracking Identifier")="#3 (new)">' in dump
    assert 'CODE:(,,"Lesion change since baseline (local code)")=(increased,99CRMO,"Increased in volume")' in dump
    assert 'NUM:(,,"Lesion volume change since baseline (local code)")="60.0" (%,UCUM,"percent")' in dump
    assert 'NUM:(,,"Longitudinal Temporal Offset from Event")="101.0" (d,UCUM,"day")' in dump
    assert 'CODE:(,,"Longitudinal Temporal Event Type")=(121079,DCM,"Baseline")' in dump
    assert 'DATE:(,,"Baseline exam date (local code)")="20251120"' in dump
    assert dump.count('CONTAINER:(,,"Measurement Group")') == 3 + 7 + 4 + 1  # lesions, scores, changes, follow-up


def test_cli_sr_with_compare(exported, tmp_path):
    from CRMOAnalyzerLib.cli.main import main
    from CRMOAnalyzerLib.model import load_study

    study, out = exported
    baseline = load_study(out / "study.json")
    baseline.study["date"] = "2025-01-01"
    gone = baseline.lesions.pop()
    save_study(baseline, tmp_path / "baseline.json")
    assert main(["-q", "report", str(out / "study.json"), "--format", "sr", "--no-seg", "--compare",
                 str(tmp_path / "baseline.json"), "--out", str(tmp_path / "sr.dcm")]) == 0
    groups = hd.sr.srread(tmp_path / "sr.dcm").content.get_image_measurement_groups()
    labels = [g.tracking_identifier for g in groups]
    assert f"{lesion_labels(study.lesions)[gone.id]} (new)" in labels and "Follow-up comparison" in labels
    assert sum("(baseline #" in label or label.endswith(" (new)") for label in labels) == len(study.lesions)  # persistent or new
    assert errors_of(tmp_path / "sr.dcm") == []


def test_sr_lesion_groups_carry_the_report_findings_line_with_its_label(exported):
    """Each lesion group keeps the id as its tracking identifier (baselines are read back by it) and states the
    lesion as the report's findings do: "#4 Left femur, ..." is the lesion the report numbers #4."""
    study, out = exported
    findings = [line for line in render_report(study).splitlines() if line[:1] == "#"]
    groups = hd.sr.srread(out / "sr.dcm").content.get_volumetric_roi_measurement_groups()
    texts = {str(g.tracking_identifier): next(item.value for item in g[0].ContentSequence
                                               if item.ValueType == "TEXT" and item.name.value == "RESULT")
             for g in groups}
    assert set(texts) == {lesion.id for lesion in study.lesions}
    assert sorted(texts.values(), key=lambda t: int(t.split()[0][1:])) == findings
    first = study.lesions[0]  # L1, lytic with marrow edema: the report's fourth finding (head to toe)
    assert texts[first.id].startswith(f"{lesion_labels(study.lesions)[first.id]} ") and "(lytic, marrow edema)" in texts[first.id]
    assert texts[first.id].startswith("#4 ")
