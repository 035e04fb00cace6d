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
