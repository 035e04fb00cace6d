"""One-page summary: PDF and PNG written, lesions placed on the body map on their side."""

from __future__ import annotations

from CRMOAnalyzerLib.exports.summary import lesion_map_positions, write_summary
from CRMOAnalyzerLib.model import Lesion
from CRMOAnalyzerLib.anatomy import LATERALITY_CODES, bones
from test_export_hl7 import make_study


def test_summary_files_and_positions(tmp_path):
    study = make_study()
    tibia = bones()["tibia"]
    study.lesions.append(Lesion(id="L2", source={"kind": "point"}, bone="tibia", finding_site=tibia.finding_site,
                                laterality=dict(LATERALITY_CODES["right"]), sublocation="metaphysis",
                                centroid_ras=[60.0, 0.0, -500.0], volume_mm3=None, bone_end="proximal"))
    study.lesions.append(Lesion(id="L3", source={"kind": "point"}, bone="unassigned", finding_site=None, laterality=None,
                                sublocation=None, centroid_ras=[0.0, 0.0, 0.0], volume_mm3=None))
    positions = lesion_map_positions(study)
    assert set(positions) == {"L1", "L2"}
    assert positions["L1"][0] < 0 < positions["L2"][0]          # left femur on the left, right tibia on the right
    assert positions["L2"][1] < positions["L1"][1]              # proximal tibia below distal femur
    written = write_summary(study, tmp_path / "summary")
    assert written["pdf"].read_bytes()[:5] == b"%PDF-"
    png = written["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


def test_map_numbers_are_the_report_line_numbers():
    from CRMOAnalyzerLib.exports.summary import map_numbers
    from CRMOAnalyzerLib.reading.read import render_report
    from CRMOAnalyzerLib.reading.report import site_phrase

    study = make_study()
    tibia = bones()["tibia"]
    # listed after the femur lesion in the study, but the report orders the lesions by region
    study.lesions.insert(0, Lesion(id="L9", source={"kind": "point"}, bone="tibia", finding_site=tibia.finding_site,
                                   laterality=dict(LATERALITY_CODES["right"]), sublocation="metaphysis",
                                   centroid_ras=[60.0, 0.0, -500.0], volume_mm3=None, bone_end="proximal"))
    report = render_report(study).splitlines()
    numbers = map_numbers(study)
    assert numbers == {"L1": "#1", "L9": "#2"}  # the tibia, listed first in the study, is the report's second finding
    for lesion in study.lesions:
        line = next(line for line in report if line.startswith(f"{numbers[lesion.id]} "))
        assert line[3:].lower().startswith(site_phrase(lesion).lower())


def test_a_paired_bone_of_unknown_side_is_listed_not_drawn_between_the_legs():
    study = make_study()
    tibia = bones()["tibia"]
    study.lesions.append(Lesion(id="L4", source={"kind": "point"}, bone="tibia", finding_site=tibia.finding_site,
                                laterality=None, sublocation="metaphysis", centroid_ras=[0.0, 0.0, -500.0],
                                volume_mm3=None, bone_end="proximal"))
    assert "L4" not in lesion_map_positions(study) and "L1" in lesion_map_positions(study)


def test_the_body_map_is_drawn_from_its_own_cited_atlas_not_the_test_phantom():
    import ast
    from pathlib import Path

    from CRMOAnalyzerLib.exports.body_atlas import atlas

    package = Path(__file__).resolve().parents[1] / "CRMOAnalyzer" / "CRMOAnalyzerLib"
    for path in (package / "exports" / "summary.py", package / "cohort" / "figures.py", package / "exports" / "body_atlas.py"):
        imported = {node.module for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom)}
        assert not any(name and name.endswith("phantom") for name in imported), path
    data = atlas()
    assert "Drillis" in data["source"] and data["status"].startswith("as cited")


def test_no_line_of_the_report_is_cut_and_decision_support_has_its_own_pages():
    from CRMOAnalyzerLib.exports.summary import _pages

    support = "\n".join(f"DECISION SUPPORT item {n}: " + "detail " * 12 for n in range(200))
    text = "REPORT\n" + "\n".join(f"{n}. finding line" for n in range(1, 120)) + "\n\n" + support
    pages = _pages(text)
    flat = " ".join(" ".join(page) for page in pages).split()
    assert flat == text.split()  # every word, in order: nothing cut
    assert pages[0][0] == "REPORT" and all(len(page) <= 86 for page in pages)
    first_support = next(n for n, page in enumerate(pages) if page and page[0].startswith("DECISION SUPPORT"))
    assert first_support >= 2 and not any("DECISION SUPPORT" in line for page in pages[:first_support] for line in page)


def test_follow_up_marks_new_resolved_grown_and_shrunk_lesions_at_their_sites():
    from CRMOAnalyzerLib.reading.compare import compare_studies
    from CRMOAnalyzerLib.exports.summary import _changes
    from studybuilder import lesion, study

    femur = {"sublocation": "metaphysis", "bone_end": "distal"}
    baseline = study(lesion("L1", "femur_left", volume=1000.0, position=0.85, **femur),
                     lesion("L2", "femur_right", volume=1000.0, position=0.85, **femur),
                     lesion("L3", "clavicula_right", sublocation="medial", volume=800.0, position=0.1), date="2025-09-01")
    followup = study(lesion("L1", "femur_left", volume=3000.0, position=0.85, **femur),
                     lesion("L2", "femur_right", volume=300.0, position=0.85, **femur),
                     lesion("L3", "tibia", side="right", sublocation="metaphysis", bone_end="proximal", volume=500.0, position=0.1))
    marks = {key: (position, side) for key, position, side, _label in _changes(followup, compare_studies(baseline, followup))}
    assert set(marks) == {"increased", "decreased", "new", "resolved"}
    assert marks["increased"][0][0] < 0 < marks["decreased"][0][0]  # left femur grew, right femur shrank
    assert marks["resolved"][1] == "right" and marks["resolved"][0][1] > marks["new"][0][1]  # clavicle above the tibia
