"""De-identified research export: planted identifiers must not survive in any output file."""

from __future__ import annotations

import datetime

import pytest

from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.exports.research import ResearchKey, deidentify, write_research_export
from CRMOAnalyzerLib.model import load_study
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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["distribution.csv", "lesions.csv", "report.txt", "study.json"]
    for path in written.values():
        data = path.read_bytes().decode("utf-8").lower()
        for secret in PLANTED:
            assert secret.lower() not in data, (secret, path.name)
    study = load_study(written["study"])
    assert study.patient["id"].startswith("CRMO-") and "name" not in study.patient
    assert study.lesions[0].bone == "femur_left" and study.lesions[0].volume_mm3 == 1200.0


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
