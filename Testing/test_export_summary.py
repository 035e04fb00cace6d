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
    from CRMOAnalyzerLib.report import render_report, site_phrase

    study = make_study()
    tibia = bones()["tibia"]
    # listed after the femur lesion in the study, but the report orders the lesions by region
    study.lesions.insert(0, Lesion(id="L9", source={"kind": "point"}, bone="tibia", finding_site=tibia.finding_site,
                                   laterality=dict(LATERALITY_CODES["right"]), sublocation="metaphysis",
                                   centroid_ras=[60.0, 0.0, -500.0], volume_mm3=None, bone_end="proximal"))
    report = render_report(study).splitlines()
    numbers = map_numbers(study)
    assert sorted(numbers.values()) == ["1", "2"]
    for lesion in study.lesions:
        line = next(line for line in report if line.startswith(f"{numbers[lesion.id]}. "))
        assert line[3:].lower().startswith(site_phrase(lesion).lower())
