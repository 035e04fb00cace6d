"""De-identified research export: planted identifiers must not survive in any output file."""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest

from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.exports.research import ResearchKey, deidentify, write_research_export
from CRMOAnalyzerLib.model import load_study, save_study
from CRMOAnalyzerLib.reading.tables import SCORE_COLUMNS, score_table_csv
from test_export_hl7 import make_study

KEY = ResearchKey("correct horse battery staple")
PLANTED = ["Zebulon", "Quixote", "MRN99887766", "ACC5551234", "2014-07-09", "20140709", "09.07.2014", "07/09/2014",
           "/home/zquixote"]


def planted_study():
    study = make_study(note="pt Zebulon QUIXOTE MRN99887766 dob 07/09/2014 acc ACC5551234 seen 2026-01-02 /home/zquixote/x.nii",
                       id="MRN99887766", name="Quixote^Zebulon", birth_date="2014-07-09", sex="M")
    study.study.update(accession="ACC5551234", description="MRI of zebulon quixote 09.07.2014", order_number="ACC5551234")
    study.lesions[0].source = {"kind": "segment", "value": 1, "name": "Zebulon left femur"}
    study.lesions[0].warnings = ["drawn by Quixote family 20140709"]
    study.inputs = {"lesions": "/home/zquixote/lesions.seg.nrrd"}
    study.dicom = {"series_dir": "/home/zquixote/dicom"}
    study.warnings = ["/home/zquixote/bones.nii.gz: no names"]
    return study


def test_no_planted_identifier_survives(tmp_path):
    written = write_research_export(planted_study(), KEY, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["distribution.csv", "lesions.csv", "report.txt", "scores.csv",
                                                          "study.json"]
    assert set(written.values()) == set(tmp_path.iterdir())
    for path in tmp_path.iterdir():
        data = path.read_bytes().decode("utf-8").lower()
        for secret in PLANTED:
            assert secret.lower() not in data, (secret, path.name)
    study = load_study(written["study"])
    assert study.patient["id"].startswith("CRMO-") and "name" not in study.patient
    assert study.lesions[0].bone == "femur_left" and study.lesions[0].volume_mm3 == 1200.0


def test_scores_table_is_the_deidentified_studys_with_no_patient_fact(tmp_path):
    written = write_research_export(planted_study(), KEY, tmp_path)
    text = written["scores"].read_text(encoding="utf-8")
    clean, pseudonym = deidentify(planted_study(), KEY)
    assert text == score_table_csv(clean)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == SCORE_COLUMNS
    by_id = {r["id"]: r for r in rows}
    assert {r["id"] for r in rows if r["kind"] == "score"} >= {"andronikou", "bristol", "cromris", "eular_acr_2025"}
    assert [(by_id[i]["kind"], by_id[i]["status"], by_id[i]["outcome"], by_id[i]["lesions"]) for i in (
        "bristol", "jansson", "solitary_non_clavicular", "diaphyseal_symmetric", "fever")] == [
        ("score", "partial", "criterion 2", ""), ("score", "partial", "below threshold", ""),
        ("red flag", "present", "", "#1"), ("red flag", "absent", "", ""), ("red flag", "not assessed", "", "")]
    lesions = list(csv.DictReader(io.StringIO(written["lesions"].read_text(encoding="utf-8"))))
    assert [(r["label"], r["id"]) for r in lesions] == [("#1", "L1")]
    assert "\n#1 Left femur" in written["report"].read_text(encoding="utf-8")
    assert [l["label"] for l in json.loads(written["study"].read_text(encoding="utf-8"))["lesions"]] == ["#1"]
    for fact in (pseudonym, clean.patient["birth_date"], "/home/", ".nii", ".json"):
        assert fact.lower() not in text.lower(), fact


def short_name_study():
    """Name parts of two letters ("Ma", "Li") that lie inside clinical enum values, findings and plain words."""
    study = make_study(note="Li said the pain is clinical; Ma^Li; scan of ma li at /home/mali/x.nii, li_scan2",
                       id="P77", name="Ma^Li")
    study.clinical = {"biopsy": "malignancy", "fever": True, "crp_mg_l": 12.0, "blood_count_normal": False}
    study.lesions[0].findings.update(character="mixed", signal_extent="25-50%", marrow_edema=True)
    return study


def test_short_name_part_leaves_coded_values_and_other_words_alone(tmp_path):
    """"Li" is inside "malignancy" and "clinical": coded values stay as they are (the export validates them), and in
    free text only the whole words (and any part of a file path) are replaced."""
    written = write_research_export(short_name_study(), KEY, tmp_path)
    study = load_study(written["study"])
    assert study.clinical == {"biopsy": "malignancy", "fever": True, "crp_mg_l": 12.0, "blood_count_normal": False}
    findings = study.lesions[0].findings
    assert {k: findings[k] for k in ("character", "signal_extent", "marrow_edema")} == {
        "character": "mixed", "signal_extent": "25-50%", "marrow_edema": True}
    pseudonym = study.patient["id"]
    assert findings["note"].startswith(f"{pseudonym} said the pain is clinical; {pseudonym}; scan of {pseudonym} "
                                       f"{pseudonym} at /home/"), findings["note"]
    assert findings["note"].endswith(f"{pseudonym}_scan2"), findings["note"]
    for word in ("ma", "li", "mali"):
        assert word not in findings["note"].lower().replace("clinical", ""), word
    assert written["scores"].read_text(encoding="utf-8") == score_table_csv(short_name_study())


def test_clinical_text_that_is_no_coded_value_is_scrubbed():
    study = short_name_study()
    study.clinical = {"biopsy": "sent by Li"}  # not one of the biopsy values: free text, scrubbed like a note
    clean, pseudonym = deidentify(study, KEY)
    assert clean.clinical == {"biopsy": f"sent by {pseudonym}"}


def test_pseudonym_and_date_shift_follow_the_key():
    a, pseudonym = deidentify(planted_study(), KEY)
    b, again = deidentify(planted_study(), KEY)
    _, other = deidentify(planted_study(), ResearchKey("another secret key of ours"))
    assert pseudonym == again != other
    assert a.to_dict()["patient"] == b.to_dict()["patient"]
    shift = datetime.date(2014, 7, 9) - datetime.date.fromisoformat(a.patient["birth_date"])
    assert 1 <= shift.days <= 365
    assert datetime.date(2026, 3, 1) - datetime.date.fromisoformat(a.study["date"]) == shift  # intervals kept
    assert (datetime.date(2026, 1, 2) - shift).isoformat() in a.lesions[0].findings["note"]


def test_short_key_is_refused():
    with pytest.raises(CRMOInputError, match="at least 16"):
        ResearchKey("short")


def test_cli_research_needs_a_key(tmp_path, capsys, monkeypatch):
    from CRMOAnalyzerLib.cli.main import main
    from CRMOAnalyzerLib.model import save_study

    monkeypatch.delenv("CRMO_RESEARCH_KEY", raising=False)
    save_study(planted_study(), tmp_path / "study.json")
    assert main(["report", str(tmp_path / "study.json"), "--format", "research", "--out", str(tmp_path / "r")]) == 1
    assert "secret key" in capsys.readouterr().err
    (tmp_path / "key").write_text("a long enough secret key\n")
    assert main(["-q", "report", str(tmp_path / "study.json"), "--format", "research", "--out", str(tmp_path / "r"),
                 "--key-file", str(tmp_path / "key")]) == 0
    assert "zebulon" not in (tmp_path / "r" / "report.txt").read_text().lower()


def planted_followup_pair(tmp_path):
    """The planted study as follow-up; a baseline of the same patient 101 days earlier, with its own accession and
    paths: its femoral lesion was bigger (decreased), its clavicle lesion is gone (resolved), one lesion unassigned."""
    from studybuilder import lesion

    from CRMOAnalyzerLib.model import save_study

    baseline = planted_study()
    baseline.study.update(date="2025-11-20", accession="ACC7770001", order_number="ACC7770001",
                          description="prior MRI Quixote 2025-11-20")
    baseline.lesions[0].volume_mm3 = 2000.0
    clavicle = lesion("L2", "clavicula_right", sublocation="medial", position=0.1)
    clavicle.findings["note"] = "Zebulon, see /home/zquixote/prior"
    unassigned = lesion("L9", "femur_left")
    unassigned.bone, unassigned.finding_site, unassigned.laterality = "unassigned", None, None
    baseline.lesions += [clavicle, unassigned]
    baseline.inputs = {"lesions": "/home/zquixote/prior/lesions.nii.gz"}
    folder = tmp_path / "zquixote"
    folder.mkdir()
    save_study(baseline, folder / "base.json")
    save_study(planted_study(), folder / "follow.json")
    return folder / "base.json", folder / "follow.json"


def test_comparison_is_deidentified_and_keeps_the_interval(tmp_path):
    from CRMOAnalyzerLib.model import load_study

    base, follow = planted_followup_pair(tmp_path)
    written = write_research_export(load_study(follow), KEY, tmp_path / "out", baseline=load_study(base),
                                    sources=(str(base), str(follow)))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "comparison.csv", "comparison.json", "distribution.csv", "lesions.csv", "report.txt", "scores.csv",
        "study.json"]
    assert set(written.values()) == set((tmp_path / "out").iterdir())
    for path in (tmp_path / "out").iterdir():
        data = path.read_bytes().decode("utf-8").lower()
        for secret in [*PLANTED, "ACC7770001", "2025-11-20", "2026-03-01", "zquixote", str(tmp_path).lower()]:
            assert secret.lower() not in data, (secret, path.name)
    document = json.loads(written["comparison"].read_text(encoding="utf-8"))
    before, after = (datetime.date.fromisoformat(document[k]["date"]) for k in ("baseline", "followup"))
    assert (after - before).days == 101  # 2025-11-20 to 2026-03-01
    assert document["followup"]["date"] == load_study(written["study"]).study["date"]
    assert set(document["baseline"]) == {"date", "modality", "description", "lesion_count"}
    assert document["baseline"]["description"].startswith("prior MRI CRMO-")
    changes = {(r["baseline_id"], r["followup_id"]): (r["status"], r["volume_change"], r["volume_change_percent"])
               for r in document["lesions"]}
    assert changes == {("L1", "L1"): ("persistent", "decreased", -40.0), ("L2", None): ("resolved", None, None),
                       ("L9", None): ("resolved", None, None)}
    # L9, unassigned, is the baseline's last finding (#3 of 3): the warning names it so
    assert "baseline #3 is not assigned to a bone and cannot be matched" in document["warnings"]
    assert f"Compared with {before.isoformat()}" in document["paragraph"]
    assert f"Compared with {before.isoformat()}" in written["report"].read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(written["comparison_table"].read_text(encoding="utf-8"))))
    assert [(r["baseline_date"], r["followup_date"], r["baseline_id"], r["baseline_label"], r["followup_label"], r["status"],
             r["volume_change_percent"]) for r in rows] == [
        (before.isoformat(), after.isoformat(), "L1", "#2", "#1", "persistent", "-40.0"),  # baseline: clavicle #1, femur #2
        (before.isoformat(), after.isoformat(), "L2", "#1", "", "resolved", ""),
        (before.isoformat(), after.isoformat(), "L9", "#3", "", "resolved", "")]


def test_cli_research_with_compare(tmp_path, capsys):
    from CRMOAnalyzerLib.cli.main import main

    base, follow = planted_followup_pair(tmp_path)
    (tmp_path / "key").write_text("correct horse battery staple\n")
    args = ["report", str(follow), "--format", "research", "--compare", str(base), "--key-file", str(tmp_path / "key"),
            "--out", str(tmp_path / "r")]
    assert main(["-q", *args]) == 0
    assert "warning: " in capsys.readouterr().err  # the comparison's warnings, as for every format with --compare
    document = json.loads((tmp_path / "r" / "comparison.json").read_text(encoding="utf-8"))
    direct = write_research_export(load_study(follow), KEY, tmp_path / "direct", baseline=load_study(base),
                                   sources=(str(base), str(follow)))
    assert document == json.loads(direct["comparison"].read_text(encoding="utf-8"))
    other = load_study(base)
    other.patient["id"] = "MRN11112222"
    save_study(other, base)
    assert main([*args[:-1], str(tmp_path / "r2")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not the same patient" in err and "--force" in err
    assert not (tmp_path / "r2").exists()


def test_comparison_warnings_name_no_input_path_even_when_one_contains_the_other(tmp_path):
    """The baseline's name "study.json" lies inside the follow-up's path: each still becomes its role, no folder is left."""
    import dataclasses

    from CRMOAnalyzerLib.reading.compare import compare_studies
    from CRMOAnalyzerLib.exports.research import deidentify_comparison
    from CRMOAnalyzerLib.model import load_study

    base, follow = (load_study(p) for p in planted_followup_pair(tmp_path))
    sources = ("study.json", "/data/MillerAnna/study.json")
    comparison = dataclasses.replace(compare_studies(base, follow), warnings=[
        "/data/MillerAnna/study.json L2 is not assigned to a bone", "study.json L9 is not assigned to a bone"])
    clean = deidentify_comparison(comparison, base, follow, KEY, sources)
    assert clean.warnings == ["follow-up L2 is not assigned to a bone", "baseline L9 is not assigned to a bone"]
