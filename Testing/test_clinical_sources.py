"""Corrections from the sources (issue 15): each test fails on the rule as it was before the correction."""

from __future__ import annotations

import copy
import json
from importlib import resources

from studybuilder import femur_pair, lesion, study

from CRMOAnalyzerLib.reading.scores import evaluate_score, load_score

BRISTOL_CLINICAL = dict(bone_pain=True, local_inflammation=False, infection=False)


def _published() -> dict:
    path = resources.files("CRMOAnalyzerLib") / "resources" / "cohort" / "published.json"
    return json.loads(path.read_text(encoding="utf-8"))


# ---- Bristol ---------------------------------------------------------------------------------------

def test_bristol_infection_or_local_inflammation_recorded_means_criterion_1_is_not_met():
    lesions = femur_pair(marrow_edema=True)
    met = evaluate_score(study(*lesions, **BRISTOL_CLINICAL, crp_mg_l=8.0), "bristol")
    assert met.details["met"] and met.summary.startswith("criterion 1 met")
    infected = evaluate_score(study(*lesions, **{**BRISTOL_CLINICAL, "infection": True}, crp_mg_l=8.0), "bristol")
    assert not infected.details["met"] and infected.summary.startswith("criteria not met (infection recorded")
    inflamed = evaluate_score(study(*lesions, **{**BRISTOL_CLINICAL, "local_inflammation": True}, crp_mg_l=8.0), "bristol")
    assert inflamed.summary.startswith("criteria not met (significant local inflammation recorded")


def test_bristol_infection_not_entered_leaves_the_result_partial():
    result = evaluate_score(study(*femur_pair(marrow_edema=True), bone_pain=True, crp_mg_l=8.0), "bristol")
    assert result.partial and not result.details["met"]
    assert any(m.startswith("typical clinical findings:") and "infection" in m and "local inflammation" in m
               for m in result.missing)


def test_bristol_reads_the_typical_imaging_findings_from_its_data_file():
    only_periosteal = femur_pair(periosteal_reaction=True)
    s = study(*only_periosteal, **BRISTOL_CLINICAL, crp_mg_l=8.0)
    assert evaluate_score(s, "bristol").details["met"]
    definition = copy.deepcopy(load_score("bristol"))
    definition["imaging"]["findings"] = {"marrow_edema": True}  # periosteal reaction no longer counts as typical
    result = evaluate_score(s, definition)
    assert not result.details["met"] and "no typical imaging finding recorded" not in result.summary
    assert any("marrow edema" in m for m in result.missing)  # recorded for no lesion: not assessable, not typical
    definition["imaging"]["findings"] = {"periosteal_reaction": False}
    assert evaluate_score(s, definition).summary.startswith("criteria not met (no typical imaging finding recorded")


def test_bristol_structure_rests_on_the_2014_conference_abstract():
    definition = load_score("bristol")
    assert (definition["structure"]["status"], definition["structure"]["source"]) == ("conference abstract 2014", "a75_2014")
    result = evaluate_score(study(*femur_pair(marrow_edema=True), **BRISTOL_CLINICAL, crp_mg_l=8.0), "bristol")
    assert "structure conference abstract 2014 (2014 conference abstract A75)" in result.statuses
    assert "structure verified" not in result.statuses


# ---- titles ----------------------------------------------------------------------------------------

def test_jansson_and_rinbo_cite_the_papers_titles():
    assert "Clinical score for nonbacterial osteitis in children and adults. Arthritis Rheum 2009" in load_score("jansson")["source"]
    assert ("Whole-body MRI in patients with non-bacterial osteitis: radiological findings and correlation with clinical data. "
            "Eur Radiol 2017;27:2391-9") in load_score("rinbo")["source"]
    clinical = json.loads((resources.files("CRMOAnalyzerLib") / "resources" / "clinical.json").read_text(encoding="utf-8"))
    assert "in children and adults" in clinical["sources"]["jansson2009"]
    assert "2025 EULAR" not in clinical["sources"]["eular2025"]


# ---- RINBO -----------------------------------------------------------------------------------------

def test_rinbo_extramedullary_mapping_and_active_lesion_rule_are_tool_conventions():
    definition = load_score("rinbo")
    by_id = {p["id"]: p for p in definition["parameters"]}
    assert by_id["active_lesions"]["rule_status"] == "tool convention"
    assert by_id["extramedullary"]["findings_status"] == "tool convention"
    result = evaluate_score(study(*femur_pair(marrow_edema=True, periosteal_reaction=True)), "rinbo")
    assert ("how measured (radiologically active lesions rule; size of the largest active lesion rule; "
            "extramedullary involvement findings): tool convention") in result.statuses


# ---- Jansson ---------------------------------------------------------------------------------------

def test_jansson_vertebral_item_counts_s1_by_bone_kind():
    s1 = lesion("L1", "vertebrae_S1", sublocation="vertebral body")
    result = evaluate_score(study(s1), "jansson")
    axial = next(i for i in result.items if i.id == "axial_site")
    assert axial.value is True and axial.lesions == ["L1"] and axial.points == 8
    sternum = next(i for i in evaluate_score(study(lesion("L1", "sternum")), "jansson").items if i.id == "axial_site")
    assert sternum.value is True
    tibia = next(i for i in evaluate_score(study(lesion("L1", "tibia", "left", "metaphysis", "distal")), "jansson").items
                 if i.id == "axial_site")
    assert tibia.value is False
    rinbo = evaluate_score(study(s1), "rinbo")
    assert rinbo.details["spinal"] is True  # the same lesion counts for every score


# ---- published cohorts -----------------------------------------------------------------------------

def test_published_andronikou_long_bone_figures_are_percent_of_lesions():
    andronikou = next(c for c in _published()["cohorts"] if c["id"] == "andronikou")
    assert andronikou["long_bone_sublocation_lesions_pct"] == {"metaphysis": 65, "epiphysis": 35}
    assert andronikou["long_bone_distal_metaphysis_lesions_pct"] == 42
    assert not any(k.startswith("long_bone") and k.endswith("_pct") and "lesions" not in k for k in andronikou)


def test_published_walsh_has_its_6_unifocal_patients():
    walsh = next(c for c in _published()["cohorts"] if c["id"] == "walsh2015")
    assert (walsh["unifocal_patients_n"], walsh["patients"]) == (6, 34)


# ---- citations -------------------------------------------------------------------------------------

def test_no_data_file_cites_the_unshipped_reference_note():
    root = resources.files("CRMOAnalyzerLib") / "resources"
    paths = [root / "red_flags.json", root / "clinical.json", root / "cohort" / "published.json",
             *[root / "scores" / f"{name}.json" for name in ("andronikou", "bristol", "cromris", "eular_acr_2025", "jansson", "rinbo")]]
    for path in paths:
        assert "crmo-domain" not in path.read_text(encoding="utf-8"), path.name
