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
        text_codes = {"18782-3", "19005-8", "DECSUPPORT"}
        assert text_codes <= set(received) and all(c in SCORE_CODES for c in set(received) - text_codes)
        assert same_text(received["18782-3"], sections.findings)
        assert same_text(received["19005-8"], sections.impression)
        assert same_text(received["DECSUPPORT"], sections.decision_support)  # its own OBX group
        assert "\nDECISION SUPPORT" not in received["19005-8"] and received["DECSUPPORT"].startswith("DECISION SUPPORT")
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
    ({"patient": {"id": "P1"}}, "no patient name"),
    ({"patient": {"id": "P1", "name": "^"}}, "no patient name"),
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


# ---- scores and red flags as structured results ------------------------------------------------------

def known_study(clinical: bool = True) -> Study:
    """Symmetric distal femoral lesions and a T8 lesion, all with marginal sclerosis (test_scores.py):
    Jansson 63 of 63 with the clinical items, 35 and partial without them."""
    from studybuilder import femur_pair, lesion, study

    lesions = [*femur_pair(marginal_sclerosis=True),
               lesion("L3", "vertebrae_T8", sublocation="vertebral body", marginal_sclerosis=True)]
    items = dict(blood_count_normal=True, fever=False, temperature_c=36.8, crp_mg_l=12.0) if clinical else {}
    known = study(*lesions, **items)
    known.study["accession"] = "A1"
    known.patient["name"] = "Doe^Jane"  # PID-5 is required
    return known


def crp_flag_study() -> Study:
    """The known study with CRP 40 mg/L: one red flag found, cited from Roderick 2016 (the Bristol criteria)."""
    study = known_study()
    study.clinical["crp_mg_l"] = 40.0
    return study


def score_segments(er7: str) -> dict[str, list]:
    """python-hl7: each local-code OBX with the NTE segments that follow it."""
    out: dict[str, list] = {}
    current = None
    for segment in hl7.parse(er7):
        if str(segment[0]) == "OBX" and str(segment[3][0][2]) == "99CRMO":
            current = str(segment[3][0][0])
            out.setdefault(current, []).append(segment)
        elif str(segment[0]) == "NTE" and current:
            out[current].append(segment)
    return out


def test_score_totals_travel_as_nm_obx():
    from CRMOAnalyzerLib.reading.scores import evaluate_score

    study = known_study()
    assert (evaluate_score(study, "jansson").value, evaluate_score(study, "jansson").partial) == (63, False)
    er7 = message(study)
    found = score_segments(er7)
    assert set(found) == SCORE_CODES | {"DECSUPPORT"}
    jansson = found["JANSSON"]
    assert all(str(s[0]) == "NTE" for s in jansson[1:])  # complete: no PARTIAL note, only the rule's source
    source = "".join(str(s[3]) for s in jansson[1:])
    assert source.startswith("Source: ") and "points as cited" in source and "PARTIAL" not in source
    assert (str(jansson[0][2]), str(jansson[0][5]), str(jansson[0][6])) == ("NM", "63", "{points}^points^UCUM")
    assert str(jansson[0][3]) == "JANSSON^Jansson NBO clinical score (local code)^99CRMO"
    cromris = found["RAICROMRIS"]  # no activity item recorded: a partial 0
    assert str(cromris[0][5]) == "0" and "PARTIAL" in str(cromris[1][3])
    bristol = [s for s in found["BRISTOL"] if str(s[0]) == "OBX"]
    assert {str(s[2]) for s in bristol} == {"TX"} and "criterion 1" in str(bristol[0][5])
    codes = [str(s[3][0][0]) for s in hl7.parse(er7).segments("OBX")]
    assert codes.index("JANSSON") > max(i for i, c in enumerate(codes) if c == "19005-8")  # after the report text
    assert codes.index("DECSUPPORT") > max(i for i, c in enumerate(codes) if c in SCORE_CODES)  # the detail comes last
    parsed = parse_message(er7, validation_level=VALIDATION_LEVEL.STRICT)
    assert parsed.validate()
    numeric = [o.obx for o in parsed.oru_r01_patient_result.oru_r01_order_observation.oru_r01_observation
               if o.obx.obx_2.to_er7() == "NM"]
    assert [(o.obx_3.to_er7().split("^")[0], o.obx_5.to_er7()) for o in numeric] == [("JANSSON", "63"), ("RAICROMRIS", "0")]


def test_partial_score_is_followed_by_a_partial_note_with_the_missing_items():
    er7 = message(known_study(clinical=False))
    jansson = score_segments(er7)["JANSSON"]
    assert str(jansson[0][5]) == "35"
    note = " ".join(str(s[3]) for s in jansson[1:])
    assert note.startswith("PARTIAL") and "normal blood cell count" in note and "CRP" in note
    assert [str(s[1]) for s in jansson[1:]] == [str(n) for n in range(1, len(jansson))]  # PARTIAL, then source: numbered on
    parsed = parse_message(er7, validation_level=VALIDATION_LEVEL.STRICT)
    assert parsed.validate()
    groups = parsed.oru_r01_patient_result.oru_r01_order_observation.oru_r01_observation
    with_notes = [g for g in groups if g.obx.obx_3.to_er7().startswith("JANSSON^")]
    assert with_notes[0].nte.nte_3.to_er7().startswith("PARTIAL")
    flags = " ".join(str(s[5]) for s in score_segments(er7)["REDFLAGS"] if str(s[0]) == "OBX")
    assert flags == "No red flag found among those checked."


def flag_source(er7: str) -> str:
    """The "Source: ..." NTE text of the red-flags OBX."""
    notes = " ".join(str(s[3]) for s in score_segments(er7)["REDFLAGS"] if str(s[0]) == "NTE")
    return notes[notes.index("Source: "):]


def test_red_flags_cite_the_literature_of_the_flags_found_else_of_those_checked():
    found = flag_source(message(crp_flag_study()))
    assert found.startswith("Source: Roderick MR, Shah R") and "Pediatr Rheumatol 2016;14:47." in found
    assert "Khanna G" not in found and "red_flags.json" not in found  # only the flag found
    checked = flag_source(message(known_study()))  # none found: the citations of the flags checked, once each
    assert checked.count("Roderick MR") == 1 and checked.count("Khanna G") == 1 and checked.count("UpToDate") == 1
    assert "red_flags.json" not in checked
