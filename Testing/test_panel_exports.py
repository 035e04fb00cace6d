"""The panel's exports write what ``crmo-analyzer report --format`` writes, and refuse with the field to fill."""

from __future__ import annotations

import json

import pytest
from studybuilder import femur_pair, lesion, study

from CRMOAnalyzerLib.cli.main import main
from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.exports.formats import FORMATS
from CRMOAnalyzerLib.model import load_study, save_study
from CRMOAnalyzerLib.slicer.panel_exports import PANEL_FORMATS, export_study


def a_study():
    current = study(*femur_pair(), lesion("L3", "clavicula_right", sublocation="medial"))
    current.patient["name"] = "Doe^Jane"
    return current


def test_every_panel_format_is_a_cli_report_format():
    for chosen in PANEL_FORMATS.values():
        assert chosen.label and chosen.outputs
        for report_format, _name in chosen.outputs:
            assert report_format in FORMATS, report_format


def test_csv_tables_are_the_bytes_the_cli_writes(tmp_path):
    current = a_study()
    written = export_study(current, "csv", tmp_path / "panel")
    assert [p.name for p in written] == ["lesions.csv", "distribution.csv", "scores.csv"]
    save_study(current, tmp_path / "study.json")
    for report_format, path in (("csv", written[0]), ("distribution-csv", written[1]), ("scores-csv", written[2])):
        cli_out = tmp_path / f"cli-{path.name}"
        assert main(["-q", "report", str(tmp_path / "study.json"), "--format", report_format, "--out", str(cli_out)]) == 0
        assert path.read_bytes() == cli_out.read_bytes()


def test_study_json_reads_back(tmp_path):
    (path,) = export_study(a_study(), "json", tmp_path)
    assert path == tmp_path / "study.json"
    assert [l.id for l in load_study(path).lesions] == ["L1", "L2", "L3"]


def test_fhir_bundle_and_hl7_message(tmp_path):
    (bundle,) = export_study(a_study(), "fhir", tmp_path)
    assert json.loads(bundle.read_text(encoding="utf-8"))["resourceType"] == "Bundle"
    (message,) = export_study(a_study(), "hl7", tmp_path, accession="ACC123")
    text = message.read_text(encoding="utf-8")
    assert text.startswith("MSH|") and "ACC123" in text


def test_the_readers_edited_report_is_what_goes_out(tmp_path):
    edited = "FINDINGS\nReader's edit: no change since March.\n\nIMPRESSION\nReader's impression.\n"
    (message,) = export_study(a_study(), "hl7", tmp_path, accession="ACC123", text=edited)
    sent = message.read_text(encoding="utf-8")
    assert "Reader's edit: no change since March." in sent and "Reader's impression." in sent
    assert "Distribution" not in sent  # nothing of the generated report
    (bundle,) = export_study(a_study(), "fhir", tmp_path, text=edited)
    assert json.loads(bundle.read_text(encoding="utf-8"))["resourceType"] == "Bundle"
    assert "Reader's impression." in bundle.read_text(encoding="utf-8")
    (table, *_) = export_study(a_study(), "csv", tmp_path, text=edited)  # formats without text ignore it
    assert "Reader's" not in table.read_text(encoding="utf-8")


def test_research_export_with_a_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv("CRMO_RESEARCH_KEY", raising=False)
    key = tmp_path / "key.txt"
    key.write_text("a long enough secret key\n")
    written = export_study(a_study(), "research", tmp_path / "out", key_file=key)
    assert {p.name for p in written} == {"study.json", "report.txt", "lesions.csv", "distribution.csv", "scores.csv"}
    assert all(p.parent == tmp_path / "out" / "research" for p in written)


@pytest.mark.parametrize("panel_format, options, match", [
    ("sr", {}, "DICOM series: .*choose that series' folder"),
    ("research", {}, "key file: .*choose it"),
    ("hl7", {}, "accession: .*enter it"),
    ("pdf", {}, "export format: 'pdf' is not one of"),
    ("csv", {"out_dir": ""}, "output folder: no output folder"),
])
def test_missing_inputs_are_one_line_messages_naming_the_field(tmp_path, monkeypatch, panel_format, options, match):
    monkeypatch.delenv("CRMO_RESEARCH_KEY", raising=False)
    out_dir = options.get("out_dir", tmp_path / "out")
    with pytest.raises(CRMOInputError, match=match) as error:
        export_study(a_study(), panel_format, out_dir)
    assert "\n" not in str(error.value) and "--" not in str(error.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(CRMOInputError, match="not a folder"):
        export_study(a_study(), "json", tmp_path / "taken")


def a_baseline():
    """The current study's exam three months earlier: the same femora, no clavicle lesion, a right tibia lesion."""
    earlier = study(*femur_pair(), lesion("L3", "tibia", "right", "metaphysis", "proximal", position=0.1),
                    date="2025-12-01")
    earlier.patient.update(id="P9", name="Doe^Jane")  # another id: the reader forced the comparison in the panel
    return earlier


def test_the_panels_baseline_reaches_the_comparison_formats(tmp_path):
    import csv

    written = export_study(a_study(), "csv", tmp_path / "csv", baseline=a_baseline())
    assert [p.name for p in written] == ["lesions.csv", "distribution.csv", "scores.csv", "comparison.csv"]
    rows = list(csv.DictReader(written[3].open(encoding="utf-8")))
    assert [(r["baseline_id"], r["followup_id"], r["status"]) for r in rows] == [
        ("L1", "L1", "persistent"), ("L2", "L2", "persistent"), ("", "L3", "new"), ("L3", "", "resolved")]
    assert {r["baseline_date"] for r in rows} == {"2025-12-01"}
    (bundle,) = export_study(a_study(), "fhir", tmp_path / "fhir", baseline=a_baseline())
    codes = [e["resource"].get("code", {}).get("coding", [{}])[0].get("code")
             for e in json.loads(bundle.read_text(encoding="utf-8"))["entry"]]
    assert "FOLLOWUP" in codes


def test_research_export_carries_the_panels_comparison(tmp_path, monkeypatch):
    monkeypatch.setenv("CRMO_RESEARCH_KEY", "a long enough secret key")
    written = export_study(a_study(), "research", tmp_path, baseline=a_baseline())
    assert {p.name for p in written} == {"study.json", "report.txt", "lesions.csv", "distribution.csv",
                                         "scores.csv", "comparison.json", "comparison.csv"}
    for path in written:
        data = path.read_text(encoding="utf-8")
        assert "Doe" not in data and "P9" not in data and "baseline.json" not in data and "crmo-export-" not in data
    comparison = json.loads((tmp_path / "research" / "comparison.json").read_text(encoding="utf-8"))
    assert comparison["summary"]["new"] == 1 and comparison["summary"]["resolved"] == 1
