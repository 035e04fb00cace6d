"""The signed report: patient names as a person writes them."""

from __future__ import annotations

import pytest
from studybuilder import femur_pair, study

from CRMOAnalyzerLib.report import person_name, render_report


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
