"""HL7 v2.5.1 ORU^R01: structure, and user text that survives two independent parsers."""

from __future__ import annotations

import datetime

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from CRMOAnalyzerLib.anatomy import LATERALITY_CODES, bones
from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.exports import report_sections
from CRMOAnalyzerLib.exports.hl7v2 import HL7Options, mllp_frame, oru_r01
from CRMOAnalyzerLib.model import Lesion, Study

SCORE_CODES = {"ANDRONIKOU", "JANSSON", "BRISTOL", "EULARACR2025", "RAICROMRIS", "RINBO", "REDFLAGS"}
NASTY = "pipe | caret ^ tilde ~ backslash \\ amp & esc \\E\\ fmt \\.br\\ hex \\X0D\\ Ünïcødé 漢字 🦴"


def make_study(note: str = "", **patient) -> Study:
    femur = bones()["femur_left"]
    lesion = Lesion(id="L1", source={"kind": "point"}, bone="femur_left", finding_site=femur.finding_site,
                    laterality=dict(LATERALITY_CODES["left"]), sublocation="metaphysis", centroid_ras=[-60.0, 0.0, -400.0],
                    volume_mm3=1200.0, bone_end="distal", findings={"note": note} if note else {})
    return Study(patient={"id": "P1", "name": "Doe^Jane", "birth_date": "2015-02-03", "sex": "F", **patient},
                 study={"date": "2026-03-01", "modality": "MR", "accession": "A123"}, lesions=[lesion])


def message(study: Study, **options) -> str:
    return oru_r01(study, HL7Options(control_id="C1", timestamp=datetime.datetime(2026, 3, 2, 8, 30), **options))


def texts_hl7apy(er7: str) -> dict[str, str]:
    """Section text from hl7apy's STRICT parse (structure) and python-hl7's unescape (hl7apy has none)."""
    parsed = parse_message(er7, validation_level=VALIDATION_LEVEL.STRICT)
    assert parsed.validate()
    unescape = hl7.parse(er7).unescape
    out: dict[str, list[str]] = {}
    group = parsed.oru_r01_patient_result.oru_r01_order_observation
    for observation in group.oru_r01_observation:
        obx = observation.obx
        code = obx.obx_3.to_er7().split("^")[0]
        out.setdefault(code, []).append(unescape(obx.obx_5.to_er7()) if obx.obx_5 else "")
    return {k: "\n".join(v) for k, v in out.items()}


def texts_python_hl7(er7: str) -> dict[str, str]:
    parsed = hl7.parse(er7)
    out: dict[str, list[str]] = {}
    for obx in parsed.segments("OBX"):
        out.setdefault(str(obx[3][0][0]), []).append(parsed.unescape(str(obx[5])))
    return {k: "\n".join(v) for k, v in out.items()}


def same_text(received: str, sent: str) -> bool:
    """Equal but for where long lines were wrapped: the same characters apart from spaces and line breaks."""
    def squeeze(text: str) -> str:
        return "".join(text.split())
    return squeeze(received) == squeeze(sent) and len(received.split("\n")) >= len(sent.split("\n"))


@pytest.mark.parametrize("note", [NASTY, "x" * 10_000 + " | ^ ~ \\ & end", "line one\r\nline two\nline three\ttab"])
def test_user_text_survives_both_parsers(note):
    study = make_study(note)
    er7 = message(study)
    sections = report_sections(study)
    for received in (texts_hl7apy(er7), texts_python_hl7(er7)):
        assert {"18782-3", "19005-8"} <= set(received) and all(c in SCORE_CODES for c in set(received) - {"18782-3", "19005-8"})
        assert same_text(received["18782-3"], sections.findings)
        assert same_text(received["19005-8"], sections.impression)
    assert " ".join(note.split())[:200] in sections.findings  # the note is in the report that travelled
    values = [str(obx[5]) for obx in hl7.parse(er7).segments("OBX")]
    assert max(len(v) for v in values) <= 199 and len(values) >= len(sections.findings.split("\n")) + 1


def test_short_lines_travel_unchanged():
    study = make_study("a short note")
    sections = report_sections(study)
    received = texts_python_hl7(message(study))
    assert max(len(line) for line in sections.findings.split("\n")) < 150
    assert received["18782-3"] == sections.findings
    assert max(len(line) for line in sections.impression.split("\n")) > 199  # the cited sources run long
    assert same_text(received["19005-8"], sections.impression)
    assert received["19005-8"].count("\n") > sections.impression.count("\n")


def test_long_lines_wrap_between_words():
    words = [f"word{n}|^" for n in range(300)]  # escapes make each word longer on the wire than in the report
    study = make_study(" ".join(words))
    er7 = message(study)
    parsed = hl7.parse(er7)
    lines = [parsed.unescape(str(obx[5])) for obx in parsed.segments("OBX")]
    note_lines = [line for line in lines if "word" in line]
    assert len(note_lines) > 5
    assert all(len(str(obx[5])) <= 199 for obx in parsed.segments("OBX"))
    assert " ".join(note_lines).split() [-300:] == words  # every word whole and in order
    assert not any(line.startswith(" ") or line.endswith(" ") for line in note_lines[1:-1])


def test_delimiters_in_patient_fields_are_escaped():
    study = make_study(NASTY, name="O'Brien|Evil^Jo~hn&Co\\x", id="ID|7^8")
    er7 = message(study)
    parsed = hl7.parse(er7)
    pid = parsed.segment("PID")
    assert parsed.unescape(str(pid[3][0][0])) == "ID|7^8"
    assert parsed.unescape(str(pid[5][0][0])) == "O'Brien|Evil"
    assert parsed.unescape(str(pid[5][0][1])) == "Jo~hn&Co\\x"
    assert len(parsed.segments("PID")) == 1 and len(parsed.segments("OBR")) == 1


def test_structure_codes_and_options():
    er7 = message(make_study(), sending_application="RIS^X", sending_facility="HOSP", result_status="F",
                  procedure_code="36801-9^MRI whole body^LN", order_number="ORD9")
    segments = er7.split("\r")
    assert [s[:3] for s in segments[:4]] == ["MSH", "PID", "ORC", "OBR"]
    msh = hl7.parse(er7).segment("MSH")
    assert str(msh[3]) == "RIS\\S\\X" and str(msh[4]) == "HOSP" and str(msh[9]) == "ORU^R01^ORU_R01"
    assert str(msh[12]) == "2.5.1" and str(msh[18]) == "UNICODE UTF-8"
    obr = hl7.parse(er7).segment("OBR")
    assert str(obr[4]) == "36801-9^MRI whole body^LN"
    assert (str(obr[2]), str(obr[3]), str(obr[18]), str(obr[25]), str(obr[7])) == ("ORD9", "A123", "A123", "F", "20260301")
    statuses = {str(obx[11]) for obx in hl7.parse(er7).segments("OBX")}
    assert statuses == {"F"}


def test_default_procedure_and_mllp():
    er7 = message(make_study())
    assert "|18748-4^Diagnostic imaging study^LN|" in er7
    framed = mllp_frame(er7)
    assert framed.startswith(b"\x0b") and framed.endswith(b"\x1c\r") and framed[1:-2].decode("utf-8") == er7


@pytest.mark.parametrize("change, match", [
    ({"patient": {}}, "no patient id"),
    ({"study": {"date": "2026-03-01"}}, "no accession number"),
    ({"study": {"date": "1 March", "accession": "A1"}}, "not a date"),
])
def test_bad_input_is_a_clear_error(change, match):
    study = make_study()
    for key, value in change.items():
        setattr(study, key, value)
    with pytest.raises(CRMOInputError, match=match):
        message(study)


def test_bad_options_are_clear_errors():
    with pytest.raises(CRMOInputError, match="result-status"):
        message(make_study(), result_status="X")
    with pytest.raises(CRMOInputError, match="procedure code"):
        message(make_study(), procedure_code="a^b^c^d")


def test_missing_accession_allowed_on_request_and_unassigned_lesion():
    study = make_study()
    study.study.pop("accession")
    study.lesions[0].override(bone="unassigned")
    er7 = message(study, require_accession=False)
    assert "Unassigned" in texts_python_hl7(er7)["18782-3"]


def test_cli_hl7(tmp_path, capsys):
    from CRMOAnalyzerLib.cli.main import main
    from CRMOAnalyzerLib.model import save_study

    path = tmp_path / "study.json"
    save_study(make_study(NASTY), path)
    assert main(["report", str(path), "--format", "hl7", "--mllp", "--out", str(tmp_path / "m.hl7")]) == 0
    data = (tmp_path / "m.hl7").read_bytes()
    assert data[:1] == b"\x0b" and b"|18782-3^" in data
    save_study(Study(lesions=[]), path)
    assert main(["report", str(path), "--format", "hl7"]) == 1
    assert "no patient id" in capsys.readouterr().err
