"""Follow-up comparison: known new, resolved and changed lesions, on different grids and patient positions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from studybuilder import femur_pair, lesion, study

from CRMOAnalyzerLib.samples import phantom as ph
from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.cli.main import main
from CRMOAnalyzerLib.reading.compare import compare_studies, rules, volume_change
from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.localization.localize import analyze
from CRMOAnalyzerLib.model import save_study
from CRMOAnalyzerLib.samples.phantom import Grid, Pose, make_phantom, rotation

NEW = {"name": "R distal tibia", "centre": lambda: ph._along("tibia", "right", from_distal_mm=36), "radius": 7,
       "bone": "tibia", "side": "right", "sublocation": "metaphysis", "bone_end": "distal"}
#: the follow-up patient lies rotated and shifted 207 mm towards the head: the left distal tibial lesion now sits
#: where the left proximal one was in scanner coordinates, so matching by coordinates would swap them
FOLLOWUP_POSE = Pose(rotation((0, 0, 1), 12) @ rotation((1, 0, 0), 5), np.array([30.0, -20.0, 207.0]))
FOLLOWUP_GRID = Grid((4.5, 4.0, 5.0), rotation((0.2, 1, 0), -15))


def _followup_lesions() -> list[dict]:
    specs = []
    for spec in ph.LESIONS:
        if spec["name"] == "R medial clavicle":
            continue  # resolved
        spec = dict(spec)
        if spec["name"] == "L distal femur":
            spec["radius"] = 5  # 8 -> 5 mm: volume -76%
        if spec["name"] == "R distal femur":
            spec["radius"] = 12  # 9 -> 12 mm: volume +137%
        specs.append(spec)
    specs.insert(3, NEW)  # new, and it shifts the lesion ids of the follow-up
    return specs


def _study(phantom, date, lesion_findings=None):
    result = analyze(BoneMap(phantom.bones, phantom.bones.names), phantom.lesions,
                     patient={"id": "P7", "birth_date": "2016-05-14"}, study={"date": date, "modality": "MR"})
    for lesion_ in result.lesions:
        lesion_.findings.update((lesion_findings or {}).get(lesion_.source["name"], {}))
    return result


@pytest.fixture(scope="module")
def exams_graded():
    grade = {"marrow_edema": True, "signal_extent": "<=25%", "periosteal_reaction": False, "soft_tissue_inflammation": False,
             "bony_expansion": False, "vertebral_collapse": False}
    baseline = _study(make_phantom(Grid((4.0, 4.0, 4.0))), "2026-03-01", {spec["name"]: grade for spec in ph.LESIONS})
    later = {spec["name"]: dict(grade) for spec in _followup_lesions()}
    later["R distal femur"]["signal_extent"] = ">50%"
    later["R distal femur"]["bony_expansion"] = True
    followup = _study(make_phantom(FOLLOWUP_GRID, pose=FOLLOWUP_POSE, lesions=_followup_lesions()), "2026-09-01", later)
    return baseline, followup


def test_known_new_resolved_and_changed_lesions_across_grids_and_poses(exams_graded):
    baseline, followup = exams_graded
    comparison = compare_studies(baseline, followup)
    names_a = {l.id: l.source["name"] for l in baseline.lesions}
    names_b = {l.id: l.source["name"] for l in followup.lesions}
    persistent = comparison.of_status("persistent")
    assert len(persistent) == 8
    assert all(names_a[r.baseline_id] == names_b[r.followup_id] for r in persistent), \
        [(names_a[r.baseline_id], names_b[r.followup_id]) for r in persistent]
    assert [names_b[r.followup_id] for r in comparison.of_status("new")] == ["R distal tibia"]
    assert [names_a[r.baseline_id] for r in comparison.of_status("resolved")] == ["R medial clavicle"]
    by_name = {names_a[r.baseline_id]: r for r in persistent}
    assert by_name["L distal femur"].volume_change == "decreased" and by_name["L distal femur"].volume_change_percent < -50
    assert by_name["R distal femur"].volume_change == "increased" and by_name["R distal femur"].volume_change_percent > 80
    unchanged = [r for name, r in by_name.items() if name not in ("L distal femur", "R distal femur", "L ilium")]
    assert all(r.volume_change == "stable" for r in unchanged), [(r.site, r.volume_change_percent) for r in unchanged]
    new = comparison.of_status("new")[0]
    assert (new.bone, new.side, new.sublocation, new.bone_end) == ("tibia", "right", "metaphysis", "distal")
    # CROMRIS: every lesion 2 points (hyperintensity + extent <=25%); the right femur rises to 1 + 3 + 1 = 5
    # (the new right distal tibial lesion joins the right tibia unit already scored 2; the clavicle unit goes)
    assert comparison.cromris == {"baseline": 16, "followup": 16 - 2 + 3, "change": 1, "partial": False}


def test_scanner_coordinates_would_have_swapped_the_left_tibial_lesions(exams_graded):
    """The case discriminates: nearest-centroid matching fails here, position along the bone does not."""
    baseline, followup = exams_graded
    a = {l.source["name"]: np.array(l.centroid_ras) for l in baseline.lesions}
    b = {l.source["name"]: np.array(l.centroid_ras) for l in followup.lesions}
    nearest = min(b, key=lambda name: np.linalg.norm(b[name] - a["L proximal tibia"]))
    assert nearest == "L distal tibia"
    comparison = compare_studies(baseline, followup)
    row = next(r for r in comparison.lesions if r.baseline_id and baseline.lesion(r.baseline_id).source["name"] == "L proximal tibia")
    assert followup.lesion(row.followup_id).source["name"] == "L proximal tibia"
    assert row.match == "position along the bone" and row.position_difference < 0.05


def test_comparison_document_and_paragraph(exams_graded):
    baseline, followup = exams_graded
    comparison = compare_studies(baseline, followup)
    document = comparison.to_dict()
    assert (document["schema"], document["schema_version"]) == ("crmo-analyzer/comparison", 1)
    assert document["baseline"]["date"] == "2026-03-01" and document["followup"]["date"] == "2026-09-01"
    assert document["summary"]["new"] == 1 and document["summary"]["resolved"] == 1 and document["summary"]["persistent"] == 8
    assert document["thresholds"]["volume_change_percent"] == rules()["volume"]["change_percent"]
    for row in document["lesions"]:
        assert {"baseline_id", "followup_id", "baseline_label", "followup_label", "status", "volume_change",
                "volume_change_percent", "bone", "sublocation"} <= set(row)
    text = comparison.paragraph()
    # lesions are named by their labels: the follow-up's report findings, and the baseline's for resolved lesions
    assert text.startswith("Compared with 2026-03-01: 9 lesions then, 9 now. 1 new lesion: Right tibia, distal metaphysis (#7).")
    assert "1 lesion no longer seen: Right clavicle, medial third (baseline #1)." in text
    assert "Left femur, distal metaphysis (#4, baseline #5: 2.2 cm³ -> 0.5 cm³, -76%): decreased in volume." in text
    from CRMOAnalyzerLib.reading.read import read

    now, then = read(followup).parts.report.splitlines(), read(baseline).parts.report.splitlines()
    assert any(line.startswith("#7 Right tibia, distal metaphysis: ") for line in now)
    assert any(line.startswith("#4 Left femur, distal metaphysis: ") for line in now)
    assert any(line.startswith("#1 Right clavicle, medial third: ") for line in then)
    assert any(line.startswith("#5 Left femur, distal metaphysis: ") for line in then)
    assert "L7" not in text and "L2" not in text  # ids, never shown
    assert "RAI-CROMRIS total 16 then, 17 now (change +1)." in text
    assert "patient" not in json.dumps(document).lower() or "P7" not in json.dumps(document)


def test_volume_thresholds_are_the_documented_ones():
    assert rules()["volume"]["change_percent"] == 25.0 and rules()["volume"]["min_change_mm3"] == 50.0
    assert volume_change(1000.0, 1200.0) == ("stable", 20.0)
    assert volume_change(1000.0, 700.0) == ("decreased", -30.0)
    assert volume_change(1000.0, 1250.0) == ("increased", 25.0)
    assert volume_change(100.0, 130.0) == ("stable", 30.0)  # +30% but only 30 mm³
    assert volume_change(None, 500.0) == (None, None)


def test_matching_stays_within_bone_and_side_and_uses_position():
    a = study(lesion("L1", "tibia", "left", "metaphysis", "proximal", volume=2000, position=0.16),
              lesion("L2", "tibia", "left", "metaphysis", "distal", volume=1500, position=0.85),
              lesion("L3", "tibia", "right", "metaphysis", "proximal", volume=2000, position=0.16))
    b = study(lesion("L1", "tibia", "left", "metaphysis", "distal", volume=1500, position=0.83),
              lesion("L2", "tibia", "right", "metaphysis", "distal", volume=2000, position=0.86),
              lesion("L3", "tibia", "left", "metaphysis", "proximal", volume=900, position=0.18), date="2026-06-01")
    comparison = compare_studies(a, b)
    pairs = {(r.baseline_id, r.followup_id, r.status) for r in comparison.lesions}
    assert pairs == {("L1", "L3", "persistent"), ("L2", "L1", "persistent"), ("L3", None, "resolved"), (None, "L2", "new")}
    far = compare_studies(study(lesion("L1", "femur_left", sublocation="diaphysis", position=0.45)),
                          study(lesion("L1", "femur_left", sublocation="metaphysis", bone_end="distal", position=0.85)))
    assert [r.status for r in far.lesions] == ["new", "resolved"]  # 0.40 apart > 0.15: not the same lesion


def test_bones_without_position_match_by_sublocation_and_are_flagged_when_ambiguous():
    one = compare_studies(study(lesion("L1", "hip_left", volume=3000)), study(lesion("L1", "hip_left", volume=1000)))
    assert one.lesions[0].match == "only lesion in this bone" and one.lesions[0].volume_change == "decreased"
    two = compare_studies(study(lesion("L1", "hip_left", volume=3000), lesion("L2", "hip_left", volume=500)),
                          study(lesion("L1", "hip_left", volume=400), lesion("L2", "hip_left", volume=2800)))
    assert {(r.baseline_id, r.followup_id) for r in two.lesions} == {("L1", "L2"), ("L2", "L1")}
    assert "Check the matching of" in two.paragraph()


def test_point_annotations_have_no_volume_change():
    comparison = compare_studies(study(*[l for l in femur_pair()]), study(*[l for l in femur_pair()]))
    for l in comparison.lesions:
        assert l.status == "persistent"
    points = [lesion("L1", "femur_right", sublocation="metaphysis", position=0.86, volume=None)]
    row = compare_studies(study(*points), study(*points)).lesions[0]
    assert (row.volume_change, row.volume_change_percent) == (None, None)


def test_bad_input_different_patients_empty_studies():
    a, b = study(*femur_pair()), study(*femur_pair(), patient_id="P2")
    with pytest.raises(CRMOInputError, match=r"not the same patient as baseline: patient id differs \(P1 vs P2\); refusing"):
        compare_studies(a, b)
    forced = compare_studies(a, b, force=True)
    assert forced.warnings == ["compared although the patient facts differ: patient id differs (P1 vs P2)"]
    nothing = compare_studies(study(date="2026-01-01"), study())
    assert nothing.lesions == [] and nothing.paragraph().startswith("Compared with 2026-01-01: 0 lesions then, 0 now.")
    all_new = compare_studies(study(), study(*femur_pair()))
    assert [r.status for r in all_new.lesions] == ["new", "new"] and "baseline has no lesion" in all_new.warnings
    assert all_new.cromris == {}


def test_cli_compare_writes_comparison_and_refuses_other_patients(tmp_path, capsys):
    a = study(lesion("L1", "femur_left", sublocation="metaphysis", bone_end="distal", volume=2000, position=0.86))
    b = study(lesion("L1", "femur_left", sublocation="metaphysis", bone_end="distal", volume=800, position=0.85), date="2026-09-01")
    save_study(a, tmp_path / "a.json")
    save_study(b, tmp_path / "b.json")
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "out")]) == 0
    document = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert document["lesions"][0]["volume_change"] == "decreased" and document["lesions"][0]["volume_change_percent"] == -60.0
    assert (tmp_path / "out" / "followup.txt").read_text().startswith("Compared with 2026-03-01: 1 lesion then, 1 now.")
    other = study(*b.lesions, patient_id="P9")
    save_study(other, tmp_path / "c.json")
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "c.json"), "--out", str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err
    assert "c.json: not the same patient as" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out2").exists()
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "c.json"), "--force"]) == 0


def test_report_has_the_follow_up_paragraph_before_the_impression():
    from CRMOAnalyzerLib.reading.read import render_report

    a = study(lesion("L1", "femur_left", sublocation="metaphysis", bone_end="distal", volume=2000, position=0.86))
    b = study(lesion("L1", "femur_left", sublocation="metaphysis", bone_end="distal", volume=800, position=0.85),
              lesion("L2", "clavicula_right", sublocation="medial", volume=900, position=0.2), date="2026-09-01")
    text = render_report(b, comparison=compare_studies(a, b))
    follow = text.index("FOLLOW-UP\nCompared with 2026-03-01: 1 lesion then, 2 now. 1 new lesion: Right clavicle, medial third (#1).")
    assert text.index("DISTRIBUTION") < follow < text.index("IMPRESSION")
    assert "Left femur, distal metaphysis (#2, baseline #1: 2.0 cm³ -> 0.8 cm³, -60%): decreased in volume." in text
    assert "\n#1 Right clavicle, medial third: " in text and "\n#2 Left femur, distal metaphysis: " in text
    assert "FOLLOW-UP" not in render_report(b)


def _exam(date="2026-03-01", accession=None, uid=None, where="study"):
    exam = study(*femur_pair(), date=date)
    if accession:
        exam.study["accession"] = accession
    if uid:
        if where == "study":
            exam.study["study_instance_uid"] = uid
        else:
            exam.dicom = {"study_instance_uid": uid}
    return exam


@pytest.mark.parametrize("a, b, why", [
    (_exam(accession="A7"), _exam(accession="a7 "), "both are dated 2026-03-01 with accession A7"),
    (_exam(uid="1.2.3"), _exam(date="2026-09-01", uid="1.2.3", where="dicom"), "both have study instance UID 1.2.3"),
    (_exam(date="2026-01-01", uid="1.2.3", where="dicom"), _exam(uid="1.2.3", where="dicom"), "both have study instance UID 1.2.3"),
])
def test_the_same_exam_twice_is_refused_unless_forced(a, b, why):
    with pytest.raises(CRMOInputError, match=f"follow-up: the same exam as baseline: {why}; refusing .* --force"):
        compare_studies(a, b)
    forced = compare_studies(a, b, force=True)
    assert forced.warnings == [f"compared although both are the same exam: {why}"]
    assert [r.status for r in forced.lesions] == ["persistent", "persistent"]


@pytest.mark.parametrize("a, b", [
    (_exam(accession="A7"), _exam(accession="A8")),  # same day, another exam
    (_exam(accession="A7"), _exam(date="2026-09-01", accession="A7")),  # an accession reused on another day
    (_exam(), _exam()),  # same date, no accession: nothing says it is the same exam
    (_exam(uid="1.2.3"), _exam(date="2026-09-01", uid="1.2.4")),
])
def test_different_exams_are_compared(a, b):
    assert not compare_studies(a, b).warnings


def test_cli_compare_refuses_the_same_file_and_a_copy_of_the_exam(tmp_path, capsys):
    save_study(_exam(date="2026-01-01"), tmp_path / "a.json")
    save_study(_exam(accession="X1"), tmp_path / "b.json")
    save_study(_exam(accession="X1"), tmp_path / "copy.json")
    (tmp_path / "link.json").symlink_to(tmp_path / "a.json")
    for first, second, why in (("a.json", "a.json", "it is the same file"), ("a.json", "link.json", "it is the same file"),
                               ("b.json", "copy.json", "both are dated 2026-03-01 with accession X1")):
        argv = ["compare", str(tmp_path / first), str(tmp_path / second), "--out", str(tmp_path / "out")]
        capsys.readouterr()
        assert main(argv) == 1
        out, err = capsys.readouterr()
        assert not out and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert f"{tmp_path / second}: the same exam as {tmp_path / first}: {why}" in err and "--force" in err
        assert not (tmp_path / "out").exists()
        assert main(["report", str(tmp_path / second), "--compare", str(tmp_path / first)]) == 1
        assert why in capsys.readouterr().err
        assert main(["-q", "compare", *argv[1:], "--force"]) == 0
        assert "same exam" in capsys.readouterr().err
        assert json.loads((tmp_path / "out" / "comparison.json").read_text())["summary"]["persistent"] == 2
        for path in (tmp_path / "out").iterdir():
            path.unlink()
        (tmp_path / "out").rmdir()
