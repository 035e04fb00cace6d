"""The command line end to end: demo, analyze (every input kind), report formats, and bad input."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from conftest import SAMPLE, expected

from CRMOAnalyzerLib.cli import main
from CRMOAnalyzerLib.io.images import write_image
from CRMOAnalyzerLib.io.labelnames import write_label_names
from CRMOAnalyzerLib.io.markups import write_points
from CRMOAnalyzerLib.io.segmentation_file import write_seg_nrrd


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_localizes_the_sample_study(tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--out", tmp_path / "demo")
    assert code == 0, err
    assert "IMPRESSION" in out and "Distribution consistent with CRMO" in out
    assert "Right femur, distal metaphysis: lesion" in out
    assert f"{tmp_path / 'demo' / 'study.json'}" in out
    study = json.loads((tmp_path / "demo" / "study.json").read_text())
    answers = json.loads((SAMPLE / "expected.json").read_text())["lesions"]
    got = {l["source"]["name"]: (l["bone"], (l["laterality"] or {}).get("meaning"), l["sublocation"], l["bone_end"])
           for l in study["lesions"]}
    for spec in answers:
        bone, side, where, end = expected(spec)
        assert got[spec["name"]] == (bone, side and side.capitalize(), where, end), spec["name"]
    assert study["patient"]["id"] == "CRMO-DEMO-001"
    assert all(l["intensity"]["mean"] > 200 for l in study["lesions"])  # lesions are bright on the STIR-like image
    assert (tmp_path / "demo" / "report.txt").read_text(encoding="utf-8") in out


def test_demo_is_deterministic(tmp_path, capsys):
    run(capsys, "-q", "demo", "--out", tmp_path / "a")
    run(capsys, "-q", "demo", "--out", tmp_path / "b")
    assert (tmp_path / "a" / "report.txt").read_bytes() == (tmp_path / "b" / "report.txt").read_bytes()


@pytest.fixture(scope="module")
def oblique_files(tmp_path_factory):
    from CRMOAnalyzerLib.samples.phantom import Grid, Pose, make_phantom, rotation

    folder = tmp_path_factory.mktemp("oblique")
    phantom = make_phantom(Grid((3.0, 3.0, 3.0), rotation((1, 0.5, 0.2), 20)), Grid((3.5, 3.5, 4.0), rotation((0, 0, 1), 12)),
                           Pose(rotation((0, 0, 1), 10), np.array([120.0, -30.0, 80.0])))
    write_image(folder / "bones.nii.gz", phantom.bones)
    write_label_names(folder / "bones.json", phantom.bones.names)
    (folder / "bones.txt").write_text("".join(f"{v} {n} 10 20 30 255\n" for v, n in sorted(phantom.bones.names.items())))
    write_seg_nrrd(folder / "bones.seg.nrrd", phantom.bones)
    write_image(folder / "lesions.nrrd", phantom.lesions)
    write_seg_nrrd(folder / "lesions.seg.nrrd", phantom.lesions)
    write_points(folder / "lps.mrk.json", phantom.points, "LPS")
    write_points(folder / "ras.mrk.json", phantom.points, "RAS")
    return folder, phantom


@pytest.mark.parametrize("bones, labels, lesions", [
    ("bones.nii.gz", "bones.json", ("--lesions", "lesions.nrrd")),
    ("bones.nii.gz", "bones.txt", ("--lesions", "lesions.seg.nrrd")),
    ("bones.seg.nrrd", None, ("--lesions", "lesions.nrrd")),
    ("bones.nii.gz", "bones.json", ("--points", "lps.mrk.json")),
    ("bones.nii.gz", "bones.json", ("--points", "ras.mrk.json")),
])
def test_analyze_every_input_kind(tmp_path, capsys, oblique_files, bones, labels, lesions):
    folder, phantom = oblique_files
    argv = ["analyze", "--bones", folder / bones, lesions[0], folder / lesions[1], "--out", tmp_path / "out",
            "--patient-id", "X1", "--study-date", "2026-02-03"]
    if labels:
        argv += ["--bone-labels", folder / labels]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    study = json.loads((tmp_path / "out" / "study.json").read_text())
    got = [(l["bone"], {"7771000": "left", "24028007": "right"}.get((l["laterality"] or {}).get("code")), l["sublocation"],
            l["bone_end"]) for l in study["lesions"]]
    assert got == [expected(spec) for spec in phantom.expected]
    assert study["study"] == {"date": "2026-02-03", "modality": "MR"}
    kind = {"lesions.nrrd": "label", "lesions.seg.nrrd": "segment"}.get(lesions[1], "point")
    assert {l["source"]["kind"] for l in study["lesions"]} == {kind}


def test_default_totalsegmentator_ids_warn(tmp_path, capsys, oblique_files):
    from CRMOAnalyzerLib.anatomy import totalsegmentator_ids
    from CRMOAnalyzerLib.io.images import LabelMap

    folder, phantom = oblique_files
    total_only = np.where(np.isin(phantom.bones.array, list(totalsegmentator_ids("total"))), phantom.bones.array, 0)
    write_image(tmp_path / "ts.nii.gz", LabelMap(total_only.astype(np.uint8), phantom.bones.affine))
    code, _, err = run(capsys, "analyze", "--bones", tmp_path / "ts.nii.gz", "--points", folder / "lps.mrk.json",
                       "--out", tmp_path / "o")
    assert code == 0, err
    assert "no label names given" in err and "TotalSegmentator task 'total'" in err
    study = json.loads((tmp_path / "o" / "study.json").read_text())
    assert [l["bone"] for l in study["lesions"][:2]] == ["femur_right", "femur_left"]  # 'total' ids 76 and 75
    assert study["lesions"][2]["bone"] == "unassigned"  # tibia is not a class of 'total'
    # a map with values the default ids do not name is an error, not a guess
    code, _, err = run(capsys, "analyze", "--bones", folder / "bones.nii.gz", "--points", folder / "lps.mrk.json",
                       "--out", tmp_path / "p")
    assert code == 1 and "no name for label value(s) 119, 120, 121" in err


def test_report_formats(tmp_path, capsys):
    run(capsys, "-q", "demo", "--out", tmp_path)
    code, text, _ = run(capsys, "report", tmp_path / "study.json")
    assert code == 0 and text == (tmp_path / "report.txt").read_text(encoding="utf-8")
    code, out, _ = run(capsys, "report", tmp_path / "study.json", "--format", "json")
    assert json.loads(out)["schema"] == "crmo-analyzer/study"
    code, out, _ = run(capsys, "report", tmp_path / "study.json", "--format", "csv", "--out", tmp_path / "l.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "l.csv").read_text())))
    assert len(rows) == 9 and rows[0]["site"] == "Right clavicle, medial third" and rows[0]["finding_site_code"] == "51299004"


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["analyze", "--help"])
    assert stop.value.code == 0
    assert "examples:" in capsys.readouterr().out


@pytest.mark.parametrize("argv, problem, hint", [
    (["report", "s.json", "--format", "docx"], "argument --format: invalid choice: 'docx'", "crmo-analyzer report --help"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'", "crmo-analyzer --help"),
    (["analyze", "--bones"], "argument --bones: expected one argument", "crmo-analyzer analyze --help"),
    (["compare", "a.json", "b.json", "--bogus"], "unrecognized arguments: --bogus", "crmo-analyzer --help"),
])
def test_usage_error_is_one_line_and_a_hint(capsys, argv, problem, hint):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and not out
    lines = err.splitlines()
    assert len(lines) == 2 and "usage:" not in err, err
    assert lines[0].startswith("crmo-analyzer") and ": error: " in lines[0] and problem in lines[0]
    assert lines[1] == f"run '{hint}' for the usage"


def _write(folder, name, content):
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


BAD = {
    "missing bones": (lambda f, s: ["--bones", f / "none.nii.gz", "--lesions", s / "lesions.seg.nrrd"], "none.nii.gz: bone map not found"),
    "corrupt bones": (lambda f, s: ["--bones", _write(f, "c.nii.gz", b"\x1f\x8bjunk"), "--lesions", s / "lesions.seg.nrrd"], "c.nii.gz: cannot read"),
    "names miss a value": (lambda f, s: ["--bones", s / "bones.nii.gz", "--bone-labels", _write(f, "n.txt", "75 femur_left\n"),
                                         "--lesions", s / "lesions.seg.nrrd"], "n.txt: no name for label value"),
    "names not UTF-8": (lambda f, s: ["--bones", s / "bones.nii.gz", "--bone-labels", _write(f, "u.txt", b"75 f\xe9mur\n"),
                                      "--lesions", s / "lesions.seg.nrrd"], "u.txt: label names file is not UTF-8"),
    "malformed markups": (lambda f, s: ["--bones", s / "bones.nii.gz", "--bone-labels", s / "bones.labels.json",
                                        "--points", _write(f, "m.mrk.json", '{"markups": [')], "m.mrk.json: malformed JSON"),
    "points not a point file": (lambda f, s: ["--bones", s / "bones.nii.gz", "--bone-labels", s / "bones.labels.json",
                                              "--points", _write(f, "e.txt", "1 2 3\n")], "e.txt: unsupported point file .txt"),
    "points off the map": (lambda f, s: ["--bones", s / "bones.nii.gz", "--bone-labels", s / "bones.labels.json", "--points",
                                         _write(f, "o.mrk.json", '{"markups": [{"coordinateSystem": "RAS", "controlPoints": '
                                                '[{"position": [5000, 0, 0]}]}]}')], "o.mrk.json: no point lies inside the bone map"),
    # the bone map and the lesion map are read at once (in threads): the error said is still the first option's
    "bones and lesions bad": (lambda f, s: ["--bones", f / "none.nii.gz", "--lesions", _write(f, "l.nii.gz", b"\x1f\x8bjunk")],
                              "none.nii.gz: bone map not found"),
    "image and lesions bad": (lambda f, s: ["--bones", s / "bones.nii.gz", "--bone-labels", s / "bones.labels.json",
                                            "--image", _write(f, "i.nrrd", "junk"), "--lesions", f / "gone.nrrd"],
                              "i.nrrd: cannot read image"),
    "lesions bad": (lambda f, s: ["--bones", s / "bones.nii.gz", "--bone-labels", s / "bones.labels.json",
                                  "--lesions", _write(f, "l.nii.gz", b"\x1f\x8bjunk")], "l.nii.gz: cannot read lesion map"),
    "bad date": (lambda f, s: ["--bones", s / "bones.nii.gz", "--lesions", s / "lesions.seg.nrrd", "--study-date", "3/1/26"],
                 "study date '3/1/26' is not a date"),
    "info not json": (lambda f, s: ["--bones", s / "bones.nii.gz", "--lesions", s / "lesions.seg.nrrd",
                                    "--info", _write(f, "i.json", "{nope")], "i.json: malformed JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_no_partial_output(tmp_path, capsys, case):
    make, message = BAD[case]
    out = tmp_path / "out"
    code, _, err = run(capsys, "analyze", *make(tmp_path, SAMPLE), "--out", out)
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("crmo-analyzer: error:")]
    assert len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []


def test_empty_lesion_map_is_a_study_and_no_overlap_is_refused(tmp_path, capsys, oblique_files):
    folder, phantom = oblique_files
    from CRMOAnalyzerLib.io.images import LabelMap

    empty = LabelMap(np.zeros_like(phantom.lesions.array), phantom.lesions.affine)
    write_image(tmp_path / "empty.nrrd", empty)
    code, _, err = run(capsys, "analyze", "--bones", folder / "bones.nii.gz", "--bone-labels", folder / "bones.json",
                       "--lesions", tmp_path / "empty.nrrd", "--out", tmp_path / "e")
    assert code == 0 and "empty.nrrd: the lesion map has no non-zero voxel: no lesion annotated" in err  # a normal exam
    assert json.loads((tmp_path / "e" / "study.json").read_text())["lesions"] == []
    far = LabelMap(phantom.lesions.array, phantom.lesions.affine @ np.array(
        [[1, 0, 0, 5000.0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
    write_image(tmp_path / "far.nrrd", far)
    code, _, err = run(capsys, "analyze", "--bones", folder / "bones.nii.gz", "--bone-labels", folder / "bones.json",
                       "--lesions", tmp_path / "far.nrrd", "--out", tmp_path / "o")
    assert code == 1 and "do not overlap in space" in err


def test_report_of_a_bad_study(tmp_path, capsys):
    path = _write(tmp_path, "s.json", '{"schema": "crmo-analyzer/study", "schema_version": 7}')
    code, _, err = run(capsys, "report", path)
    assert code == 1 and "s.json: study schema_version 7 is not supported" in err


def _followup_pair(tmp_path, baseline_patient: str = "P1"):
    """Baseline: both distal femora and the right clavicle; follow-up: both femora and a new left tibia lesion."""
    from studybuilder import femur_pair, lesion, study

    from CRMOAnalyzerLib.model import save_study

    baseline = study(*femur_pair(), lesion("L3", "clavicula_right", sublocation="medial", position=0.1),
                     date="2026-01-01", patient_id=baseline_patient)
    followup = study(*femur_pair(), lesion("L4", "tibia", "left", "metaphysis", "proximal", position=0.1))
    for exam in (baseline, followup):
        exam.patient["name"] = "Doe^Jane"
        exam.study["accession"] = "A1"
    save_study(baseline, tmp_path / "base.json")
    save_study(followup, tmp_path / "follow.json")
    return tmp_path / "base.json", tmp_path / "follow.json"


def test_report_compare_puts_new_and_resolved_lesions_in_hl7_and_fhir(tmp_path, capsys):
    import base64

    import hl7

    base, follow = _followup_pair(tmp_path)
    code, text, _ = run(capsys, "report", follow, "--compare", base)
    assert code == 0 and "FOLLOW-UP\nCompared with 2026-01-01" in text
    # the new left tibial lesion L4 is the follow-up's finding #3; the resolved clavicle L3 was the baseline's #1
    assert "1 new lesion: Left tibia, proximal metaphysis (#3)." in text and "\n#3 Left tibia, proximal metaphysis: " in text
    assert "no longer seen: Right clavicle, medial third (baseline #1)." in text
    assert "\n#1 Right clavicle, medial third: " in run(capsys, "report", base)[1]
    assert run(capsys, "-q", "report", follow, "--compare", base, "--format", "hl7", "--out", tmp_path / "m.hl7")[0] == 0
    parsed = hl7.parse((tmp_path / "m.hl7").read_bytes().decode("utf-8"))  # segments end in CR
    findings = "\n".join(parsed.unescape(str(obx[5])) for obx in parsed.segments("OBX") if str(obx[3][0][0]) == "18782-3")
    assert "(#3)" in findings and "(baseline #1)" in findings and "Compared with 2026-01-01" in findings
    assert run(capsys, "-q", "report", follow, "--compare", base, "--format", "fhir", "--out", tmp_path / "b.json")[0] == 0
    bundle = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    report = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    assert "(baseline #1)" in base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8")
    followup = next(e["resource"] for e in bundle["entry"]
                    if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "FOLLOWUP")
    changes = {c["code"]["text"]: c["valueCodeableConcept"]["coding"][0]["code"] for c in followup["component"]
               if c["code"]["coding"][0]["code"] == "LESIONCHANGE"}
    assert sorted(changes.values()) == ["new", "resolved", "stable", "stable"]
    assert [k for k, v in changes.items() if v == "new"][0] == "Left tibia, proximal metaphysis (#3)"
    assert [k for k, v in changes.items() if v == "resolved"][0] == "Right clavicle, medial third (baseline #1)"


def test_report_compare_refuses_another_patient_unless_forced(tmp_path, capsys):
    base, follow = _followup_pair(tmp_path, baseline_patient="P2")
    code, out, err = run(capsys, "report", follow, "--compare", base)
    assert code == 1 and not out and len(err.strip().splitlines()) == 1
    assert "not the same patient" in err and "--force" in err
    code, out, err = run(capsys, "report", follow, "--compare", base, "--force")
    assert code == 0 and "(baseline #1)" in out and "patient facts differ" in err
    code, _, err = run(capsys, "report", follow, "--compare", base, "--format", "csv")
    assert code == 1 and "format csv carries no comparison" in err and "comparison-csv" in err


def test_report_sends_the_readers_edited_text(tmp_path, capsys):
    import hl7

    _, follow = _followup_pair(tmp_path)
    edited = tmp_path / "edited.txt"
    edited.write_text("FINDINGS\nEdited by the reader: left proximal tibial metaphysis | 12 mm.\n\nIMPRESSION\n"
                      "Reader's own impression.\n", encoding="utf-8")
    assert run(capsys, "-q", "report", follow, "--text", edited, "--format", "hl7", "--out", tmp_path / "m.hl7")[0] == 0
    parsed = hl7.parse((tmp_path / "m.hl7").read_bytes().decode("utf-8"))
    lines = {str(obx[3][0][0]): [] for obx in parsed.segments("OBX")}
    for obx in parsed.segments("OBX"):
        lines[str(obx[3][0][0])].append(parsed.unescape(str(obx[5])))
    assert "Edited by the reader: left proximal tibial metaphysis | 12 mm." in lines["18782-3"]
    assert lines["19005-8"] == ["Reader's own impression."]
    code, out, _ = run(capsys, "report", follow, "--text", edited)
    assert code == 0 and out == edited.read_text(encoding="utf-8")
    code, _, err = run(capsys, "report", follow, "--text", edited, "--format", "csv")
    assert code == 1 and "carries no report text" in err
    code, _, err = run(capsys, "report", follow, "--text", tmp_path / "missing.txt")
    assert code == 1 and "missing.txt" in err and "not found" in err


def test_sample_without_bone_labels_says_to_give_them(tmp_path, capsys):
    """The sample's side-less limb bones and mandible (119-129, 140) are no ids of TotalSegmentator's 'total' task
    (they come from its appendicular_bones and craniofacial tasks): without --bone-labels, one line says so."""
    code, _, err = run(capsys, "analyze", "--bones", SAMPLE / "bones.nii.gz", "--lesions", SAMPLE / "lesions.seg.nrrd",
                       "--out", tmp_path / "o")
    errors = [line for line in err.splitlines() if line.startswith("crmo-analyzer: error:")]
    assert code == 1 and len(errors) == 1 and "Traceback" not in err
    assert "no name for label value(s) 119, 120, 121" in errors[0] and errors[0].endswith(
        "give the bone names with --bone-labels")
    assert not (tmp_path / "o").exists()
    names = json.loads((SAMPLE / "bones.labels.json").read_text())
    assert {names[str(v)] for v in range(119, 130)} == {"patella", "tibia", "fibula", "tarsal", "metatarsal",
                                                        "phalanges_feet", "ulna", "radius", "carpal", "metacarpal",
                                                        "phalanges_hand"} and names["140"] == "mandible"
