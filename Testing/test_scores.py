"""Each criterion's branches on hand-built studies whose answer follows from the published rule."""

from __future__ import annotations

import json

import pytest
from studybuilder import femur_pair, lesion, study

from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.reading.scores import SCORES, evaluate_all, evaluate_score, load_score, load_weights


def test_every_score_file_cites_source_version_imaging_items_and_statuses():
    for name in SCORES:
        definition = load_score(name)
        assert definition["source"] and definition["version"] and definition["imaging_items"], name
        text = json.dumps(definition)
        # Bristol: nothing was confirmed in the 2016 paper's abstract; its structure rests on the 2014 conference abstract A75
        assert ('"status": "verified"' in text) == (name != "bristol"), name
        assert '"status"' in text and definition["status_legend"], name


# ---- Jansson ---------------------------------------------------------------------------------------

def test_jansson_all_items_give_63():
    s = study(*femur_pair(marginal_sclerosis=True), lesion("L3", "vertebrae_T8", sublocation="vertebral body", marginal_sclerosis=True),
              blood_count_normal=True, fever=False, temperature_c=36.8, crp_mg_l=12.0)
    result = evaluate_score(s, "jansson")
    assert (result.value, result.partial) == (63, False)
    assert "at or above the published threshold of 39" in result.summary
    assert "item points as cited" in result.statuses and "threshold verified" in result.statuses


def test_jansson_items_are_verified_and_points_as_cited_in_the_output():
    result = evaluate_score(study(*femur_pair(marginal_sclerosis=True), blood_count_normal=True), "jansson")
    assert {(i.status, i.points_status) for i in result.items} == {("verified", "as cited")}
    line = result.line()
    assert line.endswith("[threshold verified; range verified; items verified (published abstract, PubMed 19333943); "
                         "item points as cited]")
    assert all(spec["points"] for spec in load_score("jansson")["items"])  # the points themselves are unchanged
    assert sum(spec["points"] for spec in load_score("jansson")["items"]) == 63


def test_jansson_exactly_39_reaches_threshold_and_fever_drops_below():
    # symmetric 10 + more than one lesion 7 + normal blood count 13 + normal temperature 9 = 39
    lesions = femur_pair(marginal_sclerosis=False)
    at = evaluate_score(study(*lesions, blood_count_normal=True, temperature_c=37.0, crp_mg_l=5.0), "jansson")
    assert (at.value, at.partial) == (39, False) and "at or above" in at.summary
    below = evaluate_score(study(*lesions, blood_count_normal=True, temperature_c=38.4, crp_mg_l=5.0), "jansson")
    assert below.value == 30 and "below the published threshold" in below.summary
    conflicting = evaluate_score(study(*lesions, blood_count_normal=True, fever=False, temperature_c=38.4, crp_mg_l=5.0), "jansson")
    assert conflicting.value == 30  # a measured fever is not a normal temperature


def test_jansson_partial_names_missing_items_and_bounds():
    s = study(*femur_pair(marginal_sclerosis=True), lesion("L3", "clavicula_right", sublocation="medial", marginal_sclerosis=True))
    result = evaluate_score(s, "jansson")  # imaging only: 10 + 10 + 8 + 7
    assert result.partial and result.value == 35
    assert result.details["max_with_missing"] == 63
    assert "the missing items decide" in result.summary
    missing = " ".join(result.missing)
    for item in ("normal blood cell count (13 points", "normal body temperature (9 points", "CRP >= 1 mg/dL"):
        assert item in missing
    reached = evaluate_score(study(*s.lesions, blood_count_normal=True), "jansson")
    assert reached.value == 48 and "reached whatever the missing items" in reached.summary
    hopeless = evaluate_score(study(lesion("L1", "tibia", "left", "metaphysis", "proximal", marginal_sclerosis=False),
                                    blood_count_normal=False, fever=True), "jansson")
    assert hopeless.value == 0 and hopeless.details["max_with_missing"] == 6 and "cannot be reached" in hopeless.summary


def test_jansson_imaging_item_not_recorded_is_missing_not_zero():
    result = evaluate_score(study(*femur_pair(), blood_count_normal=True, fever=False, crp_mg_l=2.0), "jansson")
    assert result.partial and "marginal sclerosis not recorded for any lesion" in " ".join(result.missing)
    assert result.value == 13 + 10 + 9 + 7


# ---- Bristol ---------------------------------------------------------------------------------------

#: typical clinical findings: bone pain without significant local inflammation or infection
BRISTOL_CLINICAL = dict(bone_pain=True, local_inflammation=False, infection=False)

def test_bristol_criterion_1_multifocal_low_crp():
    result = evaluate_score(study(*femur_pair(marrow_edema=True), **BRISTOL_CLINICAL, crp_mg_l=8.0), "bristol")
    assert not result.partial and result.details["branch"] == "1" and result.details["met"]
    assert result.summary.startswith("criterion 1 met")


def test_bristol_crp_missing_says_what_imaging_supports():
    result = evaluate_score(study(*femur_pair(marrow_edema=True), **BRISTOL_CLINICAL), "bristol")
    assert result.partial and "imaging supports criterion 1 (more than one bone) if CRP < 30 mg/L" in result.summary
    assert any("CRP" in m for m in result.missing)


def test_bristol_clavicle_alone_is_criterion_1():
    s = study(lesion("L1", "clavicula_left", sublocation="medial", marrow_edema=True), **BRISTOL_CLINICAL, crp_mg_l=4.0)
    result = evaluate_score(s, "bristol")
    assert result.details["met"] and result.details["branch"] == "1" and "clavicle alone" in result.summary


def test_bristol_solitary_non_clavicular_needs_biopsy_then_criterion_2():
    solitary = lesion("L1", "tibia", "right", "metaphysis", "distal", marrow_edema=True)
    needs = evaluate_score(study(solitary, **BRISTOL_CLINICAL, crp_mg_l=4.0), "bristol")
    assert needs.partial and needs.details["branch"] == "2" and not needs.details["met"]
    assert "biopsy needed (criterion 2): solitary lesion outside the clavicle" in needs.summary
    assert any("biopsy" in m for m in needs.missing)
    met = evaluate_score(study(solitary, **BRISTOL_CLINICAL, crp_mg_l=4.0, biopsy="sterile_inflammation"), "bristol")
    assert met.details["met"] and met.summary.startswith("criterion 2 met")
    other = evaluate_score(study(solitary, **BRISTOL_CLINICAL, biopsy="lch"), "bristol")
    assert other.summary.startswith("criteria not met") and not other.details["met"]


@pytest.mark.parametrize("crp", [30.0, 45.0])
def test_bristol_crp_30_or_more_needs_biopsy(crp):
    result = evaluate_score(study(*femur_pair(marrow_edema=True), **BRISTOL_CLINICAL, crp_mg_l=crp), "bristol")
    assert result.details["branch"] == "2" and f"CRP {crp:g} mg/L is not below 30" in result.summary


def test_bristol_names_the_unencoded_2014_biopsy_reason_only_when_criterion_1_is_in_reach():
    met = evaluate_score(study(*femur_pair(marrow_edema=True), **BRISTOL_CLINICAL, crp_mg_l=8.0), "bristol")
    assert met.details["met"] and met.details["not_evaluated"] == ["atypical features such as age"]
    assert ("still to check: atypical features such as age, which the 2014 conference abstract A75 also sends to biopsy "
            "(not evaluated)") in met.summary
    open_crp = evaluate_score(study(*femur_pair(marrow_edema=True), **BRISTOL_CLINICAL), "bristol")
    assert "atypical features such as age" in open_crp.summary
    for needs_biopsy in (study(*femur_pair(marrow_edema=True), **BRISTOL_CLINICAL, crp_mg_l=45.0),
                         study(lesion("L1", "tibia", "right", "metaphysis", "distal", marrow_edema=True), **BRISTOL_CLINICAL)):
        result = evaluate_score(needs_biopsy, "bristol")
        assert result.details["branch"] == "2" and "atypical features" not in result.summary
    assert "rule as cited; criterion 1 site rule: conference abstract 2014" in met.statuses
    assert "A75: Proposal of the Bristol Criteria" in met.source and met.source.startswith("Roderick MR")
    assert load_score("bristol")["criterion_1"]["crp_below_mg_l"] == 30.0  # still as cited
    assert load_score("bristol")["criterion_1"]["status"] == "as cited"


def test_bristol_no_bone_pain_is_not_met():
    result = evaluate_score(study(*femur_pair(marrow_edema=True), bone_pain=False, crp_mg_l=3.0), "bristol")
    assert result.summary.startswith("criteria not met") and "no bone pain" in result.summary


# ---- CROMRIS ---------------------------------------------------------------------------------------

def _cromris_study(**overrides):
    l1 = lesion("L1", "tibia", "left", "metaphysis", "proximal", marrow_edema=True, signal_extent="<=25%",
                periosteal_reaction=True, soft_tissue_inflammation=False, bony_expansion=False, vertebral_collapse=False)
    l2 = lesion("L2", "tibia", "left", "metaphysis", "distal", marrow_edema=True, signal_extent=">50%",
                periosteal_reaction=False, soft_tissue_inflammation=False, bony_expansion=True, vertebral_collapse=False)
    l3 = lesion("L3", "vertebrae_T8", None, "vertebral body", marrow_edema=True, signal_extent="25-50%",
                periosteal_reaction=False, soft_tissue_inflammation=False, bony_expansion=False, vertebral_collapse=True)
    l4 = lesion("L4", "tibia", "right", "metaphysis", "proximal", marrow_edema=False, signal_extent="<=25%",
                periosteal_reaction=False, soft_tissue_inflammation=False, bony_expansion=False, vertebral_collapse=False)
    for lesion_id, values in overrides.items():
        target = {"L1": l1, "L2": l2, "L3": l3, "L4": l4}[lesion_id]
        for key, value in values.items():
            if value is None:
                target.findings.pop(key)
            else:
                target.findings[key] = value
    return study(l1, l2, l3, l4)


def test_cromris_sums_items_per_bone_unit():
    result = evaluate_score(_cromris_study(), "cromris")
    units = {u["unit"]: u["score"] for u in result.details["units"]}
    # left tibia (L1+L2): hyperintensity 1 + extent >50% 3 + periosteal 1 + expansion 1 + collapse 0 (not a vertebra) = 6
    # T8: 1 + 2 + 0 + 0 + 1 = 4;  right tibia: 0 + 1 (extent <=25%) = 1
    assert units == {"tibia_left": 6, "vertebrae_T8": 4, "tibia_right": 1}
    assert result.value == 11 and not result.partial
    assert "RAI-CROMRIS total 11 over 3 bone units" in result.summary


def test_cromris_says_the_binary_hyperintensity_grading_is_unconfirmed():
    line = evaluate_score(_cromris_study(), "cromris").line()
    assert ("Bone marrow hyperintensity: scored present 1 / absent 0 here, but the CROMRIS abstract (Zhao 2020) describes "
            "grading of signal intensity: the binary scoring is unconfirmed (as cited)") in line
    assert "item grading as cited" in line


def test_cromris_partial_when_items_missing():
    result = evaluate_score(_cromris_study(L2={"signal_extent": None}, L3={"vertebral_collapse": None}), "cromris")
    assert result.partial and result.value == 11 - 2 - 1  # L1's <=25% still counts 1 for the left tibia
    # named by their labels, the report's findings lines: L2 is the fourth (#4), the T8 lesion L3 the first (#1)
    assert "extent of signal abnormality not recorded for #4" in result.missing
    assert "vertebral collapse not recorded for #1" in result.missing
    from CRMOAnalyzerLib.reading.read import read

    findings = read(_cromris_study()).parts.report.splitlines()
    assert any(line.startswith("#4 Left tibia, distal metaphysis: ") for line in findings)
    assert any(line.startswith("#1 T8 vertebra, vertebral body: ") for line in findings)


# ---- RINBO, EULAR/ACR 2025, Andronikou ----------------------------------------------------------------

def test_rinbo_parameters():
    s = study(lesion("L1", "tibia", "left", "metaphysis", "proximal", volume=4188.8, marrow_edema=True, periosteal_reaction=True),
              lesion("L2", "vertebrae_L2", None, "vertebral body", volume=9000.0, marrow_edema=False,
                     periosteal_reaction=False, soft_tissue_inflammation=False, soft_tissue_mass=False),
              lesion("L3", "femur_left", None, "metaphysis", "distal", volume=500.0, marrow_edema=True))
    result = evaluate_score(s, "rinbo")
    assert result.details["active_lesions"] == 2  # L2 is not active
    assert result.details["largest_active_id"] == "L1" and "20 mm equivalent diameter" in result.summary
    assert result.details["extramedullary"] is True and result.details["spinal"] is True


EULAR_RULED_OUT = dict(malignancy=False, infection=False, vitamin_c_deficiency=False, hypophosphatasia=False,
                       antimicrobial_response=False)
EULAR_ENTRY = dict(bone_pain=True, age_at_onset_years=9.0, symptom_duration_weeks=8.0)


def _eular_lesions():
    return [lesion("L1", "mandible", marrow_edema=True),
            lesion("L2", "femur_right", sublocation="metaphysis", bone_end="distal", position=0.86, marrow_edema=True),
            lesion("L3", "femur_left", sublocation="metaphysis", bone_end="distal", position=0.86, marrow_edema=True)]


def test_eular_entry_exclusions_and_imaging_domains():
    lesions = _eular_lesions()
    open_ = evaluate_score(study(*lesions, **EULAR_ENTRY), "eular_acr_2025")
    assert open_.partial and "exclusions not yet ruled out: malignancy, infection" in " ".join(open_.missing)
    assert open_.details["imaging_domains"]["pattern"] == ["multifocal", "symmetric"]
    assert open_.details["imaging_domains"]["site"][0] == "mandible (#1)"
    assert "points not computed" in open_.summary and "Classification criteria, not a diagnosis" in open_.summary
    clear = evaluate_score(study(*lesions, **EULAR_ENTRY, **EULAR_RULED_OUT), "eular_acr_2025")
    assert not clear.partial and "all exclusions ruled out" in clear.summary
    assert clear.details["entry_met"] is True and clear.summary.startswith("entry met (")
    excluded = evaluate_score(study(*lesions, **EULAR_ENTRY, **{**EULAR_RULED_OUT, "malignancy": True}), "eular_acr_2025")
    assert "EXCLUSION present: malignancy" in excluded.summary


def test_eular_antimicrobial_response_is_an_exclusion_from_the_secondary_report():
    definition = load_score("eular_acr_2025")
    assert [e["id"] for e in definition["exclusions"]] == ["malignancy", "infection", "vitamin_c_deficiency", "hypophosphatasia",
                                                           "antimicrobial_response"]
    spec = definition["exclusions"][-1]
    assert (spec["status"], spec["source"]) == ("secondary report", "rheumatologist_2025")
    assert "antimicrobials alone" in definition["secondary_sources"]["rheumatologist_2025"]["quote_page_3"]
    responded = evaluate_score(study(*_eular_lesions(), **EULAR_ENTRY, **{**EULAR_RULED_OUT, "antimicrobial_response": True}),
                               "eular_acr_2025")
    assert responded.details["exclusions_present"] == ["complete and sustained response to antimicrobials alone"]
    assert "EXCLUSION present: complete and sustained response to antimicrobials alone (criteria do not apply)" in responded.summary
    # not entered: not ruled out, so the result is partial and says so
    open_ = evaluate_score(study(*_eular_lesions(), **EULAR_ENTRY, **{k: v for k, v in EULAR_RULED_OUT.items()
                                                                      if k != "antimicrobial_response"}), "eular_acr_2025")
    assert open_.partial and "exclusions not yet ruled out: complete and sustained response to antimicrobials alone" in open_.missing
    assert "exclusions secondary report / verified" in open_.statuses


def test_eular_title_has_no_year_and_the_17_of_55_biopsy_figure_is_kept():
    definition = load_score("eular_acr_2025")
    assert "EULAR/ACR classification criteria for paediatric chronic nonbacterial osteomyelitis (CNO)" in definition["source"]
    assert "2025 EULAR" not in definition["source"] and not definition["name"].startswith("2025")
    assert "10.1002/art.43137" in definition["source"]
    assert (definition["biopsy_points"]["max_points"], definition["biopsy_points"]["of_points"]) == (17, 55)
    assert definition["biopsy_points"]["status"] == "secondary report" and definition["weights"] is None
    result = evaluate_score(study(*_eular_lesions(), **EULAR_ENTRY, **EULAR_RULED_OUT), "eular_acr_2025")
    assert "2025 EULAR" not in result.source and result.value is None and "points not computed" in result.summary


@pytest.mark.parametrize("clinical, entry_met, says", [
    ({"bone_pain": True, "symptom_duration_weeks": 8.0}, None, "onset before 18 years not entered"),
    ({"bone_pain": True, "age_at_onset_years": 9.0}, None,
     "bone pain or musculoskeletal limitation for at least 6 weeks not entered"),
    ({"bone_pain": True, "age_at_onset_years": 18.0, "symptom_duration_weeks": 8.0}, False, "onset before 18 years no"),
    ({"bone_pain": True, "age_at_onset_years": 9.0, "symptom_duration_weeks": 5.0}, False,
     "bone pain or musculoskeletal limitation for at least 6 weeks no"),
    ({"bone_pain": False, "musculoskeletal_limitation": True, "age_at_onset_years": 9.0, "symptom_duration_weeks": 6.0}, True,
     "bone pain or musculoskeletal limitation yes"),
    ({"bone_pain": False, "age_at_onset_years": 9.0, "symptom_duration_weeks": 6.0}, None,
     "bone pain or musculoskeletal limitation not entered"),
])
def test_eular_entry_needs_onset_before_18_and_6_weeks(clinical, entry_met, says):
    result = evaluate_score(study(*_eular_lesions(), **clinical, **EULAR_RULED_OUT), "eular_acr_2025")
    assert result.details["entry_met"] is entry_met and says in result.summary
    if entry_met is None:
        assert result.partial and "entry not decided" in result.summary
        assert any(m.startswith("entry: ") for m in result.missing)
    elif entry_met is False:
        assert "entry NOT met (criteria do not apply)" in result.summary
    else:
        assert not result.partial and result.summary.startswith("entry met")


def test_eular_entry_and_site_groups_name_their_source_and_status():
    s = study(lesion("L1", "skull"), lesion("L2", "metacarpal", "left"), lesion("L3", "vertebrae_T8", sublocation="vertebral body"),
              **EULAR_ENTRY, **EULAR_RULED_OUT)
    result = evaluate_score(s, "eular_acr_2025")
    assert result.details["imaging_domains"]["site"] == ["skull (#1)", "hand (#2)", "vertebra (#3; tool convention group)"]
    assert "entry secondary report (The Rheumatologist, Oct 2025) / verified" in result.statuses
    assert "site of lesions groups secondary report / tool convention" in result.statuses
    assert "Levenson D. Classification Criteria for Pediatric CNO Released" in result.source
    statuses = {v["id"]: v["status"] for v in load_score("eular_acr_2025")["imaging_domains"][0]["values"]}
    assert statuses == {"mandible": "secondary report", "clavicle": "secondary report", "skull": "secondary report",
                        "hand": "secondary report", "vertebra": "tool convention", "long_bone_metaphysis": "tool convention",
                        "pelvis": "tool convention"}
    assert load_score("eular_acr_2025")["weights"] is None  # weights only from the user's file


def _weights(tmp_path, items, count="highest_per_domain"):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"schema": "crmo-analyzer/eular-weights", "schema_version": 1, "count": count,
                                "source": "test weights (made up, not the published ones)", "items": items}))
    return path


def test_eular_points_from_a_user_weights_file(tmp_path):
    items = [{"id": "mandible", "domain": "site", "points": 30, "when": {"imaging": "site", "regions": ["mandible"]}},
             {"id": "clavicle", "domain": "site", "points": 20, "when": {"imaging": "site", "kinds": ["clavicle"]}},
             {"id": "metaphysis", "domain": "site", "points": 10, "when": {"imaging": "site", "kinds": ["long"], "sublocations": ["metaphysis"]}},
             {"id": "multifocal", "domain": "pattern", "points": 25, "when": {"imaging": "multifocal"}},
             {"id": "crp", "domain": "crp", "points": 5, "when": {"clinical": "crp_mg_l", "op": ">=", "value": 10}}]
    lesions = [lesion("L1", "mandible"), *femur_pair()]
    result = evaluate_score(study(*lesions, crp_mg_l=3.0), "eular_acr_2025", _weights(tmp_path, items))
    assert result.value == 30 + 25  # highest site item only, plus pattern; CRP below 10 scores 0
    assert "55 points with the weights of test weights" in result.summary and "at or above 55" in result.summary
    summed = evaluate_score(study(*lesions, crp_mg_l=3.0), "eular_acr_2025", _weights(tmp_path, items, "sum"))
    assert summed.value == 30 + 10 + 25
    partial = evaluate_score(study(*lesions), "eular_acr_2025", _weights(tmp_path, items))
    assert partial.partial and any("C-reactive protein" in m for m in partial.missing)


def test_bad_weights_and_unknown_score_files_give_clear_errors(tmp_path):
    bad = _weights(tmp_path, [{"id": "x", "domain": "site", "points": 3, "when": {"imaging": "sparkles"}}])
    with pytest.raises(CRMOInputError, match="unknown imaging rule 'sparkles'"):
        load_weights(bad)
    with pytest.raises(CRMOInputError, match="unknown score; bundled scores: andronikou, jansson"):
        load_score("rinbo2")
    with pytest.raises(CRMOInputError, match="score file not found"):
        load_score(tmp_path / "nothing.json")
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something else"}')
    with pytest.raises(CRMOInputError, match="not a CRMO Analyzer score file"):
        load_score(other)


@pytest.mark.parametrize("sites, expected", [
    ([("tibia", "left", "metaphysis"), ("tibia", "right", "metaphysis"), ("femur_left", None, "metaphysis")], "tibio_appendicular"),
    ([("clavicula_right", None, "medial"), ("vertebrae_T5", None, "vertebral body"), ("vertebrae_T7", None, "vertebral body")],
     "claviculo_spinal"),
    ([("clavicula_right", None, "medial"), ("tibia", "left", "metaphysis")], "clavicle_and_tibia"),
    ([("clavicula_right", None, "medial"), ("femur_left", None, "metaphysis"), ("hip_left", None, None),
      ("humerus_right", None, "metaphysis"), ("rib_left_4", None, None)], "other"),  # 4 non-clavicular, not spinal
    ([("tibia", "left", "metaphysis")], "other"),  # a single tibial lesion is not multifocal
])
def test_andronikou_pattern(sites, expected):
    lesions = [lesion(f"L{n}", bone, side, where) for n, (bone, side, where) in enumerate(sites, 1)]
    assert evaluate_score(study(*lesions), "andronikou").details["pattern"] == expected


def test_andronikou_names_its_source_and_the_published_definition_a_single_tibial_lesion_would_fit():
    single = evaluate_score(study(lesion("L1", "tibia", "left", "metaphysis")), "andronikou")
    assert single.details["pattern"] == "other"
    assert ("The published definition of tibio-appendicular multifocal (tibial but no clavicular involvement) fits, but this "
            "tool requires at least 2 lesions (tool convention).") in single.summary
    assert "published definition" not in evaluate_score(study(lesion("L1", "femur_left", None, "metaphysis")), "andronikou").summary
    assert ("Radiological diagnosis of chronic recurrent multifocal osteomyelitis using whole-body MRI-based lesion "
            "distribution patterns") in single.source


# ---- the score file format ---------------------------------------------------------------------------

def _copy(tmp_path, name, change):
    definition = json.loads(json.dumps(load_score(name)))
    change(definition)
    path = tmp_path / f"{name}_changed.json"
    path.write_text(json.dumps(definition))
    return path


@pytest.mark.parametrize("name, change, message", [
    ("jansson", lambda d: d["items"][0].update(points_status="as remembered"),
     "items\\[0\\].points_status: status 'as remembered' is not in \"status_legend\""),
    ("jansson", lambda d: d["items"][1].pop("points_status"), "item 'symmetric_lesions' needs \"status\", or \"item_status\" and"),
    ("jansson", lambda d: d["items"][2].pop("when"), "items\\[2\\] has no 'when'"),
    ("eular_acr_2025", lambda d: d["entry"][1].update(source="pubmed"), "entry\\[1\\].source: source 'pubmed' is not in"),
    ("eular_acr_2025", lambda d: d["entry"][2]["when"].update(clinical="weeks"), "unknown clinical item 'weeks'"),
    ("bristol", lambda d: d["criterion_1"].update(sites_status="2014"), "criterion_1.sites_status: status '2014'"),
])
def test_score_file_check_names_the_field(tmp_path, name, change, message):
    with pytest.raises(CRMOInputError, match=message):
        load_score(_copy(tmp_path, name, change))


def test_score_file_notes_and_single_status_items_are_accepted(tmp_path):
    def change(d):
        d["reviewer_note"] = "unknown fields are notes"
        for spec in d["items"]:
            spec["status"] = "as cited"
            del spec["item_status"], spec["points_status"]
            spec["comment"] = "ignored"
    s = study(*femur_pair(marginal_sclerosis=True), blood_count_normal=True, fever=False, crp_mg_l=2.0)
    result = evaluate_score(s, _copy(tmp_path, "jansson", change))
    assert result.value == evaluate_score(s, "jansson").value == 13 + 10 + 10 + 9 + 7
    assert result.statuses == "threshold verified; range verified; item points as cited"


def test_empty_study_and_bad_clinical_items():
    for result in evaluate_all(study()):
        assert result.partial and result.summary == "not assessed: no lesion localized to a bone."
    with pytest.raises(CRMOInputError, match="crp_mg_l must be a number"):
        evaluate_score(study(*femur_pair(), crp_mg_l="high"), "jansson")
    with pytest.raises(CRMOInputError, match="unknown clinical item 'crp'"):
        evaluate_score(study(*femur_pair(), crp=3), "jansson")


def test_cli_clinical_records_items_and_findings_and_rejects_bad_ones(tmp_path, capsys):
    from CRMOAnalyzerLib.cli.main import main
    from CRMOAnalyzerLib.model import load_study, save_study

    path = tmp_path / "study.json"
    save_study(study(*femur_pair()), path)
    assert main(["clinical", str(path), "--crp", "8", "--blood-count", "normal", "--temperature", "37.1", "--bone-pain", "yes",
                 "--finding", "L1:marginal_sclerosis=yes", "--finding", "L2:signal_extent=25-50%"]) == 0
    out = capsys.readouterr().out
    saved = load_study(path)
    assert saved.clinical == {"crp_mg_l": 8.0, "blood_count_normal": True, "temperature_c": 37.1, "bone_pain": True}
    assert saved.lesion("L1").findings == {"marginal_sclerosis": True}
    assert saved.lesion("L2").findings == {"signal_extent": "25-50%"}
    # 13 + 10 + 10 + 9 + 7 = 49 (CRP below 10 mg/L)
    assert "- Jansson score: 49/63 points" in out and "RED FLAGS" in out
    before = path.read_bytes()
    for bad, message in ((["--set", "crp=3"], "--set: unknown clinical item 'crp'"),
                         (["--temperature", "hot"], "--temperature: temperature_c must be a number"),
                         (["--finding", "L9:marrow_edema=yes"], "no lesion 'L9'"),
                         (["--finding", "L1:signal_extent=80%"], "signal_extent must be one of <=25%, 25-50%, >50%")):
        assert main(["clinical", str(path), *bad]) == 1
        assert message in capsys.readouterr().err
    assert path.read_bytes() == before  # nothing written on bad input
