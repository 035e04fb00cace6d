"""One reading per study state: every export derives the distribution, scores, red flags and report once."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE
from studybuilder import femur_pair, lesion, study

from CRMOAnalyzerLib.cli.demo import sample_inputs
from CRMOAnalyzerLib.exports.formats import FORMATS, ExportOptions, export
from CRMOAnalyzerLib.pipeline import analyze_files
from CRMOAnalyzerLib.reading import conditions, distribution, redflags, report, scores
from CRMOAnalyzerLib.reading.read import as_reading, read


@pytest.fixture(scope="module")
def sample():
    """The bundled sample study: voxel lesions, a DICOM series, a patient and an accession."""
    found = analyze_files(sample_inputs(SAMPLE))
    found.study.setdefault("accession", "ACC-1")
    return found


@pytest.fixture
def counted(monkeypatch):
    """Counts of each derivation: distributions, score evaluations (all scores at once), red flag sets, reports."""
    counts = {"distribution": 0, "scores": 0, "red flags": 0, "report": 0}
    assert read(study(*femur_pair())).text  # score and flag files are checked (on a probe study) when first loaded

    def counting(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(conditions, "distribution", counting("distribution", distribution.distribution))
    monkeypatch.setattr(scores, "evaluate_all", counting("scores", scores.evaluate_all))
    monkeypatch.setattr(redflags, "red_flags", counting("red flags", redflags.red_flags))
    monkeypatch.setattr(report, "render_parts", counting("report", report.render_parts))
    return counts


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_one_export_of_each_format_derives_the_distribution_once(name, sample, counted, tmp_path, monkeypatch):
    monkeypatch.setenv("CRMO_RESEARCH_KEY", "a long enough secret key")
    baseline = study(*femur_pair())
    baseline.patient, baseline.study = dict(sample.patient), {"date": "2024-01-01"}
    reading = read(sample, baseline=baseline, force=True) if FORMATS[name].needs_comparison else read(sample)
    result = export(reading, name, tmp_path / f"out-{name}", ExportOptions(accession="ACC-1"))
    assert result
    studies = 2 if FORMATS[name].needs_comparison else 1  # the baseline's own distribution, for the CROMRIS change
    assert counted["distribution"] == (0 if name == "csv" else studies), counted  # the lesion table needs none
    assert counted["scores"] <= 1 and counted["red flags"] <= 1 and counted["report"] <= 1, counted


def test_a_reading_computes_each_part_once_however_often_it_is_asked(sample, counted):
    reading = read(sample)
    for _ in range(3):
        assert reading.distribution.lesion_count == len(sample.lesions)
        assert reading.scores and reading.red_flags.flags and "IMPRESSION" in reading.text
        assert reading.document["distribution"]["lesion_count"] == len(sample.lesions)
    assert counted == {"distribution": 1, "scores": 1, "red flags": 1, "report": 1}
    assert as_reading(reading) is reading


def test_the_reading_of_a_changed_study_is_a_new_reading(counted):
    current = study(*femur_pair())
    first = read(current)
    assert first.distribution.bilateral
    current.lesions.append(lesion("L3", "clavicula_right", sublocation="medial"))
    second = read(current)
    assert second.distribution.lesion_count == 3 and first.distribution.lesion_count == 2
    assert counted["distribution"] == 2


def test_the_reader_text_goes_everywhere_the_report_text_goes(sample, tmp_path):
    reading = read(sample, text="IMPRESSION\nThe reader's own words.\n")
    assert reading.text.endswith("own words.\n") and "DECISION SUPPORT" in reading.generated_text
    bundle = json.loads(export(reading, "fhir"))
    report_resource = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    assert "The reader's own words." in report_resource["conclusion"]
    assert b"The reader's own words." in export(reading, "text")
