"""Zero lesions is a study: an empty lesion map, a segmentation without segments and an empty point list each give
a valid study.json with no lesion, every report format handles it, and a comparison against it resolves every lesion."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SAMPLE

from CRMOAnalyzerLib.cli import main
from CRMOAnalyzerLib.io.images import LabelMap, read_labelmap, write_image
from CRMOAnalyzerLib.model import load_study
from CRMOAnalyzerLib.io.segmentation_file import write_seg_nrrd

INFO = ["--patient-id", "CRMO-DEMO-001", "--patient-name", "Demo^Synthetic", "--birth-date", "2016-05-14", "--sex", "F"]


def _empty(tmp_path, kind: str):
    """A lesion file of ``kind`` that marks no lesion, on the sample's grid, and the message it gives."""
    grid = read_labelmap(SAMPLE / "bones.nii.gz")
    zeros = LabelMap(np.zeros(grid.array.shape, np.uint8), grid.affine)
    if kind == "empty map":
        return write_image(tmp_path / "empty.nii.gz", zeros), "the lesion map has no non-zero voxel"
    if kind == "no segment":
        return write_seg_nrrd(tmp_path / "none.seg.nrrd", zeros), "the segmentation has no segment"
    if kind == "empty segments":
        zeros.names = {1: "R femur", 2: "L tibia"}
        return write_seg_nrrd(tmp_path / "blank.seg.nrrd", zeros), "the segmentation has 2 segments, all empty"
    path = tmp_path / kind
    path.write_text({"empty.mrk.json": json.dumps({"markups": [{"type": "Fiducial", "coordinateSystem": "LPS",
                                                                "controlPoints": []}]}),
                     "empty.csv": "label,r,a,s\n",
                     "empty.fcsv": "# Markups fiducial file version = 5.0\n# CoordinateSystem = LPS\n"
                                   "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"}[kind])
    return path, "no point"


KINDS = ("empty map", "no segment", "empty segments", "empty.mrk.json", "empty.csv", "empty.fcsv")


@pytest.mark.parametrize("kind", KINDS)
def test_no_lesion_is_a_valid_study(tmp_path, capsys, kind):
    path, why = _empty(tmp_path, kind)
    option = "--points" if kind.startswith("empty.") else "--lesions"
    code = main(["analyze", "--bones", str(SAMPLE / "bones.nii.gz"), "--bone-labels", str(SAMPLE / "bones.labels.json"),
                 option, str(path), *INFO, "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "0 lesions localized" in out and f"{path}: {why}: no lesion annotated" in err and "Traceback" not in err
    study = load_study(tmp_path / "out" / "study.json")  # validates against the schema
    assert study.lesions == [] and study.midline is not None and study.inputs["lesions"] == str(path)
    document = json.loads((tmp_path / "out" / "study.json").read_text())
    assert document["lesions"] == [] and document["distribution"]["lesion_count"] == 0
    assert document["distribution"]["focality"] == "none"
    report = (tmp_path / "out" / "report.txt").read_text()
    assert "FINDINGS\nNo bone lesion was annotated." in report
    assert "No bone lesion annotated on this exam; there is no distribution to assess." in report


def test_an_empty_map_of_another_exam_is_still_refused(tmp_path, capsys):
    grid = read_labelmap(SAMPLE / "bones.nii.gz")
    shifted = grid.affine @ np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 5000.0], [0, 0, 0, 1]])
    write_image(tmp_path / "far.nii.gz", LabelMap(np.zeros((4, 4, 4), np.uint8), shifted))
    code = main(["analyze", "--bones", str(SAMPLE / "bones.nii.gz"), "--bone-labels", str(SAMPLE / "bones.labels.json"),
                 "--lesions", str(tmp_path / "far.nii.gz"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "far.nii.gz: the lesion map and the bone map" in err and "do not overlap in space" in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.fixture(scope="module")
def exams(tmp_path_factory):
    """The sample exam (9 lesions) as baseline, and a follow-up six months later where no lesion is annotated."""
    folder = tmp_path_factory.mktemp("zero")
    assert main(["-q", "demo", "--out", str(folder / "baseline")]) == 0
    path, _ = _empty(folder, "empty map")
    assert main(["-q", "analyze", "--bones", str(SAMPLE / "bones.nii.gz"), "--bone-labels",
                 str(SAMPLE / "bones.labels.json"), "--lesions", str(path), *INFO, "--study-date", "2026-09-01",
                 "--accession", "DEMO0002", "--out", str(folder / "followup")]) == 0
    return folder / "baseline" / "study.json", folder / "followup" / "study.json"


def test_compare_against_no_lesion_resolves_every_lesion(exams, tmp_path, capsys):
    baseline, followup = exams
    capsys.readouterr()
    assert main(["compare", str(baseline), str(followup), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    document = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    before = load_study(baseline).lesions
    assert len(before) == 9
    assert [row["status"] for row in document["lesions"]] == ["resolved"] * 9
    assert sorted(row["baseline_id"] for row in document["lesions"]) == sorted(l.id for l in before)
    assert document["summary"]["resolved"] == 9 and document["summary"]["followup_lesions"] == 0
    assert "Compared with 2026-03-01: 9 lesions then, 0 now. No new lesion. 9 lesions no longer seen" in out
    assert main(["compare", str(followup), str(baseline), "--out", str(tmp_path / "back")]) == 0  # and the other way
    document = json.loads((tmp_path / "back" / "comparison.json").read_text())
    assert [row["status"] for row in document["lesions"]] == ["new"] * 9


@pytest.mark.parametrize("fmt", ["text", "json", "csv", "distribution-csv", "scores-csv", "hl7", "fhir"])
def test_every_text_format_handles_no_lesion(exams, tmp_path, capsys, fmt):
    _, followup = exams
    capsys.readouterr()
    code = main(["-q", "report", str(followup), "--format", fmt, "--accession", "DEMO0002", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 0, err
    data = (tmp_path / "r").read_text(encoding="utf-8")
    if fmt == "csv":
        assert data.count("\n") == 1  # the header, no row
    if fmt == "json":
        assert json.loads(data)["lesions"] == []
    if fmt in ("text", "hl7", "fhir"):
        assert "No bone lesion was annotated" in (data if fmt != "fhir" else _fhir_text(data))


def _fhir_text(bundle: str) -> str:
    import base64

    report = next(e["resource"] for e in json.loads(bundle)["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    return base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8")


def test_followup_report_of_no_lesion_says_every_lesion_resolved(exams, capsys):
    baseline, followup = exams
    capsys.readouterr()
    assert main(["report", str(followup), "--compare", str(baseline)]) == 0
    text = capsys.readouterr().out
    assert "FOLLOW-UP\nCompared with 2026-03-01: 9 lesions then, 0 now. No new lesion. 9 lesions no longer seen" in text


def test_dicom_sr_and_summary_of_no_lesion(exams, tmp_path, capsys):
    from test_export_dicom import errors_of

    _, followup = exams
    assert main(["-q", "report", str(followup), "--format", "sr", "--dicom", str(SAMPLE / "dicom"),
                 "--out", str(tmp_path / "sr.dcm")]) == 0
    assert errors_of(tmp_path / "sr.dcm") == [] and not (tmp_path / "sr_seg.dcm").exists()
    assert main(["-q", "report", str(followup), "--format", "seg", "--dicom", str(SAMPLE / "dicom"),
                 "--out", str(tmp_path / "seg.dcm")]) == 1
    assert "no lesion annotated: there is nothing for a DICOM SEG" in capsys.readouterr().err
    assert main(["-q", "report", str(followup), "--format", "summary", "--out", str(tmp_path / "summary")]) == 0
    assert (tmp_path / "summary.pdf").stat().st_size > 1000
