"""One lesion label everywhere: "#3" is the report's third finding, and every other output names that lesion "#3".

The lesions are created in an order other than the report's (head to toe), so a label taken from the id or from the
creation order would differ: here the lesion with id "L7" is the report's finding #3, and "L2" (which a reader could
take for the second lumbar vertebra) is a femur lesion, finding #6.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from importlib import resources
from pathlib import Path

import pytest
from studybuilder import lesion, study

from CRMOAnalyzerLib.cli.main import main
from CRMOAnalyzerLib.reading.compare import compare_studies
from CRMOAnalyzerLib.model import find_lesion, lesion_labels
from CRMOAnalyzerLib.model import Study, load_study, save_study, validate
from CRMOAnalyzerLib.reading.read import read, render_report

ID_WORD = re.compile(r"\bL\d+\b")  # a lesion id, or a lumbar vertebra: neither may name a lesion in any text


def _exam(**clinical) -> Study:
    """Ten lesions created in scrambled order; findings #1-#10 head to toe are L4 L10 L7 L6 L1 L2 L8 L3 L9 L5."""
    lesions = [
        lesion("L1", "femur_right", sublocation="metaphysis", bone_end="distal", marrow_edema=True, volume=1500, position=0.86),
        lesion("L2", "femur_left", sublocation="metaphysis", bone_end="distal", marrow_edema=True, volume=1200, position=0.86),
        lesion("L3", "tibia", "left", "metaphysis", "proximal", marrow_edema=True, volume=900, position=0.1),
        lesion("L4", "clavicula_right", sublocation="medial", marrow_edema=True, volume=2100, position=0.1),
        lesion("L5", "fibula", "left", "metaphysis", "distal", marrow_edema=True, volume=300, position=0.9),
        lesion("L6", "vertebrae_S1", sublocation="vertebral body", marrow_edema=True, volume=500),
        lesion("L7", "vertebrae_T8", sublocation="vertebral body", marrow_edema=True, cortical_destruction=True,
               volume=3000),
        lesion("L8", "tibia", "right", "metaphysis", "proximal", marrow_edema=True, volume=800, position=0.1),
        lesion("L9", "fibula", "left", "metaphysis", "proximal", marrow_edema=True, volume=350, position=0.1),
        lesion("L10", "humerus_left", sublocation="metaphysis", bone_end="proximal", marrow_edema=True, volume=700,
               position=0.1),
    ]
    for item in lesions:  # head to toe by height, whatever the creation order
        item.centroid_ras = [0.0, 0.0, {"L4": 300.0, "L10": 250.0, "L7": 200.0, "L6": 0.0, "L8": -450.0, "L1": -400.0,
                                        "L2": -400.0, "L3": -450.0, "L5": -700.0, "L9": -480.0}[item.id]]
    exam = study(*lesions, **clinical)
    exam.patient["name"], exam.study["accession"] = "Doe^Jane", "A1"
    return exam


def _findings(text: str) -> dict[str, str]:
    """Label -> the rest of its findings line, from a report text."""
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in text.splitlines() if re.match(r"#\d+ ", line)}


def test_report_findings_are_numbered_head_to_toe_with_the_labels():
    exam = _exam()
    findings = _findings(read(exam).parts.report)
    assert list(findings) == [f"#{n}" for n in range(1, 11)]
    assert findings["#3"].startswith("T8 vertebra, vertebral body: lesion (marrow edema, cortical destruction), 3.0 cm³")
    assert findings["#6"].startswith("Left femur, distal metaphysis: ")  # the lesion whose id is "L2"
    assert lesion_labels(exam.lesions) == {"L4": "#1", "L10": "#2", "L7": "#3", "L6": "#4", "L1": "#5", "L2": "#6",
                                           "L8": "#7", "L3": "#8", "L9": "#9", "L5": "#10"}


def test_the_finding_numbered_3_is_the_lesion_every_output_names_3(tmp_path):
    from CRMOAnalyzerLib.exports.fhir import diagnostic_bundle
    from CRMOAnalyzerLib.exports.hl7v2 import HL7Options, oru_r01
    from CRMOAnalyzerLib.exports.summary import map_numbers
    from CRMOAnalyzerLib.reading.tables import lesion_rows, score_rows

    exam = _exam()
    parts = read(exam).parts
    assert _findings(parts.report)["#3"].startswith("T8 vertebra")
    # red flag, in the signed report and the decision support
    assert "RED FLAG: cortical destruction (#3): rare and atypical in CNO" in parts.report
    assert "RED FLAG: cortical destruction (#3)" in parts.decision_support
    # scores: RINBO's largest active lesion and spinal lesions, CROMRIS's missing items
    assert "- RINBO: 10 active lesions; largest 3.0 cm³ (#3); extramedullary not recorded; spinal yes." in parts.report
    assert "spinal involvement: yes (#3, #4)" in parts.decision_support  # T8 and S1
    assert "vertebral collapse not recorded for #3, #4" in parts.decision_support  # T8 and S1
    # the lesion table (the panel shows its label column) and the scores table
    row = next(r for r in lesion_rows(exam) if r["label"] == "#3")
    assert (row["id"], row["site"]) == ("L7", "T8 vertebra, vertebral body")
    assert [r["label"] for r in lesion_rows(exam)] == [f"#{n}" for n in range(1, 11)]
    flag = next(r for r in score_rows(exam) if r["id"] == "cortical_destruction")
    assert (flag["status"], flag["lesions"]) == ("present", "#3")
    # the body map
    assert map_numbers(exam)["L7"] == "#3"
    # study.json: the label beside the id
    save_study(exam, tmp_path / "study.json")
    written = json.loads((tmp_path / "study.json").read_text(encoding="utf-8"))
    assert {(l["id"], l["label"]) for l in written["lesions"]} >= {("L7", "#3"), ("L2", "#6")}
    # FHIR: the report's result list and the presented form
    bundle = diagnostic_bundle(exam)
    report = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    assert "#3: T8 vertebra, vertebral body" in [r["display"] for r in report["result"]]
    observation = next(e["resource"] for e in bundle["entry"] if e["resource"].get("identifier", [{}])[0].get("value") == "L7")
    assert observation["note"][0]["text"] == "#3 " + _findings(parts.report)["#3"]  # the report's line; the id stays
    # HL7: the findings text and the red flags result
    message = oru_r01(exam, HL7Options(control_id="C1", timestamp=datetime.datetime(2026, 3, 2, 8, 30)))
    assert "#3 T8 vertebra, vertebral body" in message and "cortical destruction (#3)" in message
    # no text names a lesion by its id (L7) or a word that reads as a lumbar vertebra (L2)
    for text in (parts.text, message, json.dumps(report), json.dumps(score_rows(exam))):
        assert not ID_WORD.search(text), ID_WORD.search(text)


def test_follow_up_names_lesions_by_the_labels_of_each_exam():
    """Matching is by position along the bone, not by id: the follow-up's ids differ from the baseline's."""
    baseline = _exam()
    followup = copy.deepcopy(baseline)
    followup.study["date"] = "2026-09-01"
    for item in followup.lesions:
        item.id = {"L7": "L1", "L1": "L7"}.get(item.id, item.id)  # ids swapped, lesions unchanged
    followup.lesions = [l for l in followup.lesions if l.id != "L4"]  # the clavicle lesion resolved (#1 then)
    followup.lesion("L7").volume_mm3 = 600.0  # the right femur lesion (#5 then, #4 now) shrank
    comparison = compare_studies(baseline, followup)
    text = comparison.paragraph()
    assert "1 lesion no longer seen: Right clavicle, medial third (baseline #1)." in text
    assert "Right femur, distal metaphysis (#4, baseline #5: 1.5 cm³ -> 0.6 cm³, -60%): decreased in volume." in text
    now, then = _findings(render_report(followup, comparison)), _findings(render_report(baseline))
    assert now["#4"].startswith("Right femur, distal metaphysis") and then["#5"].startswith("Right femur, distal metaphysis")
    assert then["#1"].startswith("Right clavicle, medial third")
    vertebra = next(r for r in comparison.lesions if r.bone == "vertebrae_T8")
    assert (vertebra.baseline_id, vertebra.followup_id, vertebra.baseline_label, vertebra.followup_label) == \
        ("L7", "L1", "#3", "#2")
    from CRMOAnalyzerLib.reading.tables import comparison_rows

    row = next(r for r in comparison_rows(comparison) if r["status"] == "resolved")
    assert (row["baseline_label"], row["baseline_id"], row["followup_label"]) == ("#1", "L4", "")
    assert not ID_WORD.search(render_report(followup, comparison))


def test_summary_map_marks_a_resolved_lesion_with_its_baseline_label():
    from CRMOAnalyzerLib.exports.summary import _changes

    baseline = _exam()
    followup = copy.deepcopy(baseline)
    followup.study["date"] = "2026-09-01"
    followup.lesions = [l for l in followup.lesions if l.id != "L4"]
    labels = {key: label for key, _position, _side, label in _changes(followup, compare_studies(baseline, followup))
              if key == "resolved"}
    assert labels == {"resolved": "(#1)"}
    marks = [label for _key, _position, _side, label in _changes(followup, compare_studies(baseline, followup))]
    assert "#2" in marks and "L7" not in marks  # the T8 lesion is the follow-up's finding #2


@pytest.mark.parametrize("name", ["#3", "# 3", "Lesion 3", "lesion #3", "lesion3"])
def test_cli_finding_takes_the_label(tmp_path, capsys, name):
    exam = _exam()
    save_study(exam, tmp_path / "study.json")
    assert main(["-q", "clinical", str(tmp_path / "study.json"), "--finding", f"{name}:signal_extent=25-50%"]) == 0
    saved = load_study(tmp_path / "study.json")
    assert [l.id for l in saved.lesions if l.findings.get("signal_extent")] == ["L7"]  # finding #3, not lesion "L3"
    assert "#3 T8 vertebra" in render_report(saved)


def test_cli_finding_still_takes_the_id_of_older_studies(tmp_path, capsys):
    exam = _exam()
    document = exam.to_dict()
    for item in document["lesions"]:
        del item["label"]  # as an older version wrote it
    (tmp_path / "old.json").write_text(json.dumps(document), encoding="utf-8")
    assert main(["-q", "clinical", str(tmp_path / "old.json"), "--finding", "L2:signal_extent=>50%"]) == 0
    saved = load_study(tmp_path / "old.json")
    assert saved.lesion("L2").findings["signal_extent"] == ">50%" and saved.lesion("L2").bone == "femur_left"
    assert saved.lesion("#6") is saved.lesion("L2")


def test_cli_finding_of_no_such_lesion_lists_the_labels(tmp_path, capsys):
    save_study(_exam(), tmp_path / "study.json")
    before = (tmp_path / "study.json").read_bytes()
    assert main(["clinical", str(tmp_path / "study.json"), "--finding", "#11:marrow_edema=yes"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no lesion '#11'" in err and "#3 (L7)" in err
    assert (tmp_path / "study.json").read_bytes() == before


def test_find_lesion_reads_labels_and_ids_only():
    exam = _exam()
    assert find_lesion(exam.lesions, "#3").id == "L7" and find_lesion(exam.lesions, "L3").id == "L3"
    assert find_lesion(exam.lesions, "#0") is None and find_lesion(exam.lesions, "#11") is None
    assert find_lesion(exam.lesions, "3") is None  # a bare number is neither a label nor an id


def test_study_json_with_labels_stays_readable_by_an_older_reader():
    """The label is added, never renamed: an older schema (without it) accepts the file and an older reader drops it."""
    import jsonschema

    document = _exam().to_dict()
    schema = json.loads((resources.files("CRMOAnalyzerLib") / "resources" / "study.schema.json").read_text(encoding="utf-8"))
    del schema["$defs"]["lesion"]["properties"]["label"]
    jsonschema.Draft202012Validator(schema).validate(document)  # the schema as it was before the label
    validate(document)
    assert [(l["id"], l["label"]) for l in document["lesions"]][:3] == [("L1", "#5"), ("L2", "#6"), ("L3", "#8")]
    loaded = Study.from_dict(document)  # the label is derived: read back as the id's lesion, recomputed on writing
    assert [l.to_dict() for l in loaded.lesions] == [l.to_dict() for l in _exam().lesions]
    assert loaded.to_dict()["lesions"] == document["lesions"]


def test_tracking_uids_still_derive_from_the_id():
    """Labels renumber when lesions are added; tracking UIDs do not move: they come from the id, as before."""
    from CRMOAnalyzerLib.exports.dicom_seg import _exam_uid, tracking_uids

    exam = _exam()
    uids = tracking_uids(exam)
    assert uids["L7"] == _exam_uid("P1", exam.study, "L7")
    exam.lesions.append(lesion("L11", "clavicula_left", sublocation="medial", volume=400))
    exam.lesions[-1].centroid_ras = [0.0, 0.0, 400.0]  # now finding #1: every other label moves by one
    assert lesion_labels(exam.lesions)["L7"] == "#4" and tracking_uids(exam)["L7"] == uids["L7"]


def test_only_model_lesion_labels_writes_a_label():
    """Nobody formats a label themselves: no other module builds '#' and a number."""
    package = Path(resources.files("CRMOAnalyzerLib"))
    pattern = re.compile(r"""f["']#\{|["']#["']\s*\+|["']#%d""")
    found = [str(path.relative_to(package)) for path in package.rglob("*.py")
             if pattern.search(path.read_text(encoding="utf-8")) and path.name != "model.py"]
    assert found == [], found
    assert pattern.search((package / "model.py").read_text(encoding="utf-8"))


def test_score_items_name_their_lesions_by_label_too():
    """Items keep the ids (data) and carry the labels the text uses: Jansson's vertebral, clavicular or sternal item
    is the clavicle (#1), T8 (#3) and S1 (#4), as the report numbers them."""
    from CRMOAnalyzerLib.reading.scores import evaluate_score

    exam = _exam()
    item = next(i for i in evaluate_score(exam, "jansson").items if i.lesions and "clavicular" in i.display)
    assert (sorted(item.lesions), item.labels) == (["L4", "L6", "L7"], ["#1", "#3", "#4"])
    findings = _findings(render_report(exam))
    assert [findings[label].split(",")[0] for label in item.labels] == ["Right clavicle", "T8 vertebra", "S1 vertebra"]
