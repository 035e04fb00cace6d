"""The signed report: patient names as a person writes them."""

from __future__ import annotations

import pytest
from studybuilder import femur_pair, study

from CRMOAnalyzerLib.reading.read import render_report
from CRMOAnalyzerLib.reading.report import person_name


@pytest.mark.parametrize("dicom, written", [
    ("Demo^Synthetic", "Synthetic Demo"),
    ("Doe^Jane^Ann^Dr^PhD", "Dr Jane Ann Doe, PhD"),
    ("Doe^Jane^^^", "Jane Doe"),
    ("Doe", "Doe"),
    ("^Jane", "Jane"),
    ("Yamada^Tarou=山田^太郎=やまだ^たろう", "Tarou Yamada"),
    ("Synthetic  Demo", "Synthetic Demo"),
    ("", ""),
])
def test_person_name_reads_as_written(dicom, written):
    assert person_name(dicom) == written


def test_report_shows_the_patient_name_without_carets():
    s = study(*femur_pair())
    s.patient["name"] = "Demo^Synthetic"
    text = render_report(s)
    patient = next(line for line in text.splitlines() if line.startswith("Patient: "))
    assert patient.startswith("Patient: Synthetic Demo, P1") and "^" not in text


def _ten_lesions(**clinical):
    from studybuilder import lesion

    lesions = [lesion("L1", "femur_right", sublocation="metaphysis", bone_end="distal", marrow_edema=True, volume=1500),
               lesion("L2", "femur_left", sublocation="metaphysis", bone_end="distal", marrow_edema=True, volume=1200),
               lesion("L3", "tibia", "left", "metaphysis", "proximal", marrow_edema=True, periosteal_reaction=True, volume=900),
               lesion("L4", "tibia", "right", "metaphysis", "proximal", marrow_edema=True, volume=800),
               lesion("L5", "clavicula_right", sublocation="medial", marrow_edema=True, bony_expansion=True, volume=2100),
               lesion("L6", "vertebrae_T8", sublocation="vertebral body", marrow_edema=True, volume=600),
               lesion("L7", "vertebrae_S1", sublocation="vertebral body", marrow_edema=True, volume=500),
               lesion("L8", "fibula", "left", "metaphysis", "distal", marrow_edema=True, volume=300),
               lesion("L9", "fibula", "right", "metaphysis", "distal", marrow_edema=True, volume=350),
               lesion("L10", "humerus_left", sublocation="metaphysis", bone_end="proximal", marrow_edema=True, volume=700)]
    return study(*lesions, **clinical)


def test_signed_report_is_short_and_the_decision_support_is_a_separate_section():
    from CRMOAnalyzerLib.reading.redflags import red_flags
    from CRMOAnalyzerLib.reading.read import read
    from CRMOAnalyzerLib.reading.scores import evaluate_all

    s = _ten_lesions(crp_mg_l=8.0, bone_pain=True, temperature_c=37.1, blood_count_normal=True)
    s.patient["name"], s.study["description"] = "Demo^Synthetic", "Whole-body MRI"
    parts = read(s).parts
    lines = parts.report.splitlines()
    # 26 lines for 10 lesions (was 33 with blanks): title, patient and study, FINDINGS and 10 lines, DISTRIBUTION,
    # IMPRESSION and its line, RED FLAGS and its line, CRITERIA AND SCORES and 6 lines, the caveat
    assert len(lines) == 26 and all(line.strip() for line in lines), parts.report
    assert lines[1] == "Patient: Synthetic Demo, P1, born 2015-01-01. Study: 2026-03-01, MR, Whole-body MRI"
    distribution_line = next(n for n, line in enumerate(lines) if line.startswith("DISTRIBUTION: Multifocal, 10 lesions"))
    findings = lines[lines.index("FINDINGS") + 1: distribution_line]
    assert [line.split(" ", 1)[0] for line in findings] == [f"#{n}" for n in range(1, 11)]
    # one line per lesion: label, site, side, sub-location, recorded findings, size
    assert findings[0] == "#1 Right clavicle, medial third: lesion (marrow edema, bony expansion), 2.1 cm³"
    assert lines[distribution_line + 1: distribution_line + 4] == [
        "IMPRESSION", "Distribution consistent with CRMO: multifocal, bilateral, symmetric lesions at typical sites "
        "(long-bone metaphyses, medial clavicle, vertebral bodies and pelvis).", "RED FLAGS"]
    assert lines[distribution_line + 4] == ("No red flag found among the 5 checked; 6 not assessed (items not recorded; "
                                            "listed under DECISION SUPPORT).")
    criteria = [line for line in lines if line.startswith("- ")]
    assert len(criteria) == 6 and all(len(line) < 220 for line in criteria), max(criteria, key=len)
    assert ("- Bristol criteria: imaging supports criterion 1 (more than one bone, CRP 8 mg/L). PARTIAL, missing: "
            "significant local inflammation at a painful site, infection.") in lines
    assert "- RINBO: 10 active lesions; largest 2.1 cm³ (#1); extramedullary yes; spinal yes." in lines  # L5, finding #1
    # statuses, items and sources are not in the signed report: they are the decision support
    assert "Score sources" not in parts.report and "as cited" not in parts.report and "verified" not in parts.report
    support = parts.decision_support
    assert support.startswith("DECISION SUPPORT")
    for result in evaluate_all(s):
        assert f"- {result.line()}" in support
    for line in red_flags(s).lines():
        assert line in support
    assert "Score sources: " in support and "Jansson AF et al. Clinical score for nonbacterial osteitis" in support
    assert render_report(s) == parts.report + "\n" + support
    text = render_report(s)
    assert text.index("IMPRESSION") < text.index("RED FLAGS") < text.index("CRITERIA AND SCORES") < text.index("\nDECISION SUPPORT (")


def test_criterion_lines_say_partial_and_what_is_missing():
    from CRMOAnalyzerLib.reading.report import criterion_line
    from CRMOAnalyzerLib.reading.scores import evaluate_score

    s = _ten_lesions()
    jansson = criterion_line(evaluate_score(s, "jansson"))
    assert jansson.startswith("Jansson score: 25 points from the items available, up to 63 with the missing items: "
                              "they decide the threshold of 39.")
    assert jansson.endswith("PARTIAL, missing: normal blood cell count; lesions with marginal sclerosis; "
                            "normal body temperature; CRP >= 1 mg/dL.")
    complete = criterion_line(evaluate_score(_ten_lesions(crp_mg_l=12.0, blood_count_normal=True, temperature_c=36.8,
                                                          **{}), "jansson"))
    assert "PARTIAL" in complete  # marginal sclerosis still not recorded
    eular = criterion_line(evaluate_score(s, "eular_acr_2025"))
    assert "5 exclusions" in eular and "entry not decided" in eular


def test_red_flags_found_stay_in_the_signed_report_with_their_reason():
    from studybuilder import lesion

    from CRMOAnalyzerLib.reading.read import read

    s = study(lesion("L1", "tibia", "left", "metaphysis", "distal", cortical_destruction=True), fever=True)
    report = read(s).parts.report
    assert "RED FLAG: cortical destruction (#1): rare and atypical in CNO" in report
    assert "RED FLAG: fever: think of infection and malignancy. Other red flags: 7 not assessed (items not recorded; " \
           "listed under DECISION SUPPORT)." in report
