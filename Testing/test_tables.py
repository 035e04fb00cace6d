"""The score and comparison tables: known studies in, known rows out; the CSV formats of ``report``."""

from __future__ import annotations

import csv
import io

from test_export_dicom import followup_of_known_study
from test_export_hl7 import known_study

from CRMOAnalyzerLib.cli.main import main
from CRMOAnalyzerLib.model import save_study
from CRMOAnalyzerLib.reading.redflags import flag_rules
from CRMOAnalyzerLib.reading.tables import COMPARISON_COLUMNS, SCORE_COLUMNS, comparison_rows, score_rows


def by_id(rows):
    return {row["id"]: row for row in rows}


def test_score_rows_of_the_known_study():
    rows = score_rows(known_study())
    assert all(list(row) == SCORE_COLUMNS for row in rows)
    scores = by_id(r for r in rows if r["kind"] == "score")
    assert list(scores) == ["andronikou", "jansson", "bristol", "eular_acr_2025", "cromris", "rinbo"]
    jansson = scores["jansson"]
    assert (jansson["value"], jansson["maximum"], jansson["threshold"], jansson["outcome"], jansson["status"],
            jansson["missing"], jansson["not_verified"]) == (63, 63, 39, "at or above threshold", "complete", "", "as cited")
    assert jansson["source"].startswith("Jansson AF") and "points as cited" in jansson["value_statuses"]
    assert "secondary report" in scores["eular_acr_2025"]["not_verified"]  # not "verified" for want of "as cited"
    assert "tool convention" in scores["andronikou"]["not_verified"]
    assert (scores["bristol"]["outcome"], scores["bristol"]["status"], scores["bristol"]["value"]) == ("criterion 1", "partial", "")
    assert "bone pain" in scores["bristol"]["missing"]
    assert (scores["cromris"]["value"], scores["cromris"]["status"]) == (0, "partial")
    assert scores["andronikou"]["outcome"] == "other" and scores["eular_acr_2025"]["threshold"] == 55
    flags = by_id(r for r in rows if r["kind"] == "red flag")
    assert list(flags) == [spec["id"] for spec in flag_rules()["flags"]]
    assert flags["solitary_non_clavicular"]["status"] == "absent" and flags["fever"]["status"] == "absent"
    assert flags["cortical_destruction"]["status"] == "not assessed" and flags["cortical_destruction"]["missing"]
    assert flags["solitary_non_clavicular"]["source"].startswith("Roderick MR")
    assert flags["fever"]["source"].startswith("Khanna G, Sato TSP, Ferguson P")


def test_score_rows_without_the_clinical_items_are_partial_and_say_what_is_missing():
    rows = score_rows(known_study(clinical=False))
    jansson = by_id(rows)["jansson"]
    assert (jansson["value"], jansson["status"], jansson["outcome"]) == (35, "partial", "")  # 35 + 28 missing could reach 39
    assert len(jansson["missing"].split(" | ")) == 3 and "normal blood cell count" in jansson["missing"]
    assert by_id(rows)["fever"]["status"] == "not assessed"


def test_a_present_red_flag_names_its_lesion():
    from studybuilder import lesion, study

    rows = by_id(score_rows(study(lesion("L1", "tibia", "left", "diaphysis", cortical_destruction=True))))
    assert (rows["cortical_destruction"]["status"], rows["cortical_destruction"]["lesions"]) == ("present", "#1")
    assert rows["solitary_non_clavicular"]["status"] == "present"
    assert rows["bristol"]["outcome"].startswith("criterion 2")


def test_comparison_rows_of_a_known_followup():
    _, _, comparison = followup_of_known_study()
    rows = comparison_rows(comparison)
    assert all(list(row) == COMPARISON_COLUMNS for row in rows)
    got = [(r["baseline_id"], r["followup_id"], r["status"], r["volume_change"], r["volume_change_percent"], r["bone"])
           for r in rows]
    assert got == [("L1", "L1", "persistent", "increased", 60.0, "femur_right"),
                   ("L2", "L2", "persistent", "stable", 0.0, "femur_left"),
                   ("", "L4", "new", "", "", "tibia"), ("L3", "", "resolved", "", "", "vertebrae_T8")]
    assert {(r["baseline_date"], r["followup_date"]) for r in rows} == {("2025-11-20", "2026-03-01")}
    assert rows[0]["volume_baseline_mm3"] == 1000.0 and rows[0]["volume_followup_mm3"] == 1600.0


def test_report_scores_csv_and_comparison_csv(tmp_path, capsys):
    baseline, followup, _ = followup_of_known_study()
    save_study(baseline, tmp_path / "base.json")
    save_study(followup, tmp_path / "follow.json")
    assert main(["report", str(tmp_path / "follow.json"), "--format", "scores-csv"]) == 0  # no T8 lesion: 63 - 8
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert by_id(rows)["jansson"]["value"] == "55" and len(rows) == 6 + len(flag_rules()["flags"])
    assert main(["report", str(tmp_path / "follow.json"), "--format", "comparison-csv", "--compare",
                 str(tmp_path / "base.json")]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["status"], r["volume_change"]) for r in rows] == [
        ("persistent", "increased"), ("persistent", "stable"), ("new", ""), ("resolved", "")]


def test_comparison_csv_needs_a_baseline(tmp_path, capsys):
    save_study(known_study(), tmp_path / "follow.json")
    assert main(["report", str(tmp_path / "follow.json"), "--format", "comparison-csv"]) == 1
    out, err = capsys.readouterr()
    assert not out and len(err.strip().splitlines()) == 1
    assert "follow.json" in err and "give --compare BASELINE.json" in err
    assert main(["report", str(tmp_path / "follow.json"), "--format", "scores-csv", "--compare",
                 str(tmp_path / "follow.json")]) == 1
    assert "format scores-csv carries no comparison" in capsys.readouterr().err
