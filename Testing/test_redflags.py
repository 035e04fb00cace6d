"""Red flags: found, absent, or not assessed; and never buried in the report."""

from __future__ import annotations

from studybuilder import femur_pair, lesion, study

from CRMOAnalyzerLib.reading.redflags import red_flags
from CRMOAnalyzerLib.reading.read import render_report


def _state(s, flag_id):
    return next(f for f in red_flags(s).flags if f.id == flag_id)


def test_solitary_lesion_outside_the_clavicle():
    assert _state(study(lesion("L1", "tibia", "left", "metaphysis", "distal")), "solitary_non_clavicular").present is True
    assert _state(study(lesion("L1", "clavicula_left", sublocation="medial")), "solitary_non_clavicular").present is False
    assert _state(study(*femur_pair()), "solitary_non_clavicular").present is False


def test_cortical_destruction_and_soft_tissue_mass_name_their_lesions():
    s = study(lesion("L1", "femur_right", sublocation="metaphysis", bone_end="distal", cortical_destruction=False, soft_tissue_mass=False),
              lesion("L2", "tibia", "left", "metaphysis", "proximal", cortical_destruction=True, soft_tissue_mass=False))
    flags = red_flags(s)
    assert [f.id for f in flags.present] == ["cortical_destruction"]
    assert flags.present[0].lesions == ["L2"]
    assert _state(s, "soft_tissue_mass").present is False


def test_unrecorded_imaging_finding_is_not_assessed_not_absent():
    s = study(lesion("L1", "femur_right", sublocation="metaphysis", cortical_destruction=False), lesion("L2", "tibia", "left", "metaphysis"))
    flag = _state(s, "cortical_destruction")
    assert flag.present is None and flag.missing == ["cortical destruction not recorded for #2"]
    assert "\n#2 Left tibia, metaphysis: lesion, 1.0 cm³\n" in render_report(s)  # #2 is the report's second finding
    assert any(line.startswith("Imaging red flags not assessed") and "cortical destruction" in line for line in red_flags(s).lines())


def test_diaphyseal_symmetric_sign_is_sclerosis_of_the_diaphyses():
    def diaphyses(character_right, character_left):
        return [lesion("L1", "femur_right", sublocation="diaphysis", character=character_right),
                lesion("L2", "femur_left", sublocation="diaphysis", character=character_left)]
    sclerotic = diaphyses("sclerotic", "sclerotic")
    flag = _state(study(*sclerotic), "diaphyseal_symmetric")
    assert flag.present is True and flag.lesions == ["L1", "L2"]
    assert _state(study(*diaphyses("lytic", "sclerotic")), "diaphyseal_symmetric").present is False  # no sclerosis on one side
    assert _state(study(*diaphyses("lytic", "lytic")), "diaphyseal_symmetric").present is False
    unrecorded = [lesion("L1", "femur_right", sublocation="diaphysis"), lesion("L2", "femur_left", sublocation="diaphysis")]
    open_ = _state(study(*unrecorded), "diaphyseal_symmetric")
    assert open_.present is None and "character (sclerotic) not recorded" in open_.missing[0]
    with_metaphysis = [*sclerotic, lesion("L3", "tibia", "left", "metaphysis", "proximal")]
    assert _state(study(*with_metaphysis), "diaphyseal_symmetric").present is False
    one_side = [lesion("L1", "femur_right", sublocation="diaphysis", character="sclerotic"),
                lesion("L2", "tibia", "left", "diaphysis", character="sclerotic")]
    assert _state(study(*one_side), "diaphyseal_symmetric").present is False


def test_night_pain_is_not_a_red_flag():
    assert all(f.id != "night_pain" for f in red_flags(study(*femur_pair(), night_pain=True)).flags)
    assert red_flags(study(*femur_pair(), night_pain=True)).present == []
    from CRMOAnalyzerLib.reading.redflags import flag_rules

    assert [n["id"] for n in flag_rules()["not_red_flags"]] == ["night_pain"]
    assert "often at night" in flag_rules()["not_red_flags"][0]["why"]


def test_cortical_destruction_reads_rare_and_atypical_not_absent():
    s = study(lesion("L1", "femur_right", sublocation="metaphysis", cortical_destruction=True), lesion("L2", "femur_left"))
    flag = _state(s, "cortical_destruction")
    assert flag.present is True and flag.why.startswith("rare and atypical in CNO")
    assert "not a feature" not in flag.why and "not seen" not in flag.why


def test_a_recorded_temperature_decides_fever():
    lesions = femur_pair()
    assert _state(study(*lesions, temperature_c=37.1), "fever").present is False  # was "not assessed"
    assert _state(study(*lesions, temperature_c=37.99), "fever").present is False
    assert _state(study(*lesions, temperature_c=38.0), "fever").present is True
    assert _state(study(*lesions, fever=False, temperature_c=38.4), "fever").present is True  # the reading wins over "no"
    from CRMOAnalyzerLib.reading.redflags import flag_rules
    from CRMOAnalyzerLib.reading.scores import evaluate_score

    spec = next(f for f in flag_rules()["flags"] if f["id"] == "fever")
    assert "38" in flag_rules()["sources"][spec["threshold_source"]]
    # Jansson's normal body temperature and the fever flag never disagree
    for temperature in (36.5, 37.9, 38.0, 39.2):
        s = study(*lesions, temperature_c=temperature)
        normal = next(i for i in evaluate_score(s, "jansson").items if i.id == "normal_temperature").value
        assert normal is (not _state(s, "fever").present), temperature


def test_clinical_flags_when_entered():
    lesions = femur_pair()
    assert _state(study(*lesions, temperature_c=38.6), "fever").present is True
    assert _state(study(*lesions, fever=True), "fever").present is True
    assert _state(study(*lesions, fever=False, temperature_c=37.0), "fever").present is False
    assert _state(study(*lesions), "fever").present is None
    assert _state(study(*lesions, blood_count_normal=False), "abnormal_blood_count").present is True
    assert _state(study(*lesions, crp_mg_l=29.0), "crp_markedly_raised").present is False
    assert _state(study(*lesions, crp_mg_l=30.0), "crp_markedly_raised").present is True
    lines = red_flags(study(*lesions)).lines()
    assert any(line.startswith("Clinical red flags not assessed (not entered): fever; abnormal blood count") for line in lines)


def test_each_flag_carries_its_kind_and_citation():
    s = study(*femur_pair(), crp_mg_l=40.0)
    crp, cortical = _state(s, "crp_markedly_raised"), _state(s, "cortical_destruction")
    assert (crp.kind, cortical.kind) == ("clinical", "imaging")
    assert crp.citation.startswith("Roderick MR, Shah R") and cortical.citation.startswith("Khanna G, Sato TSP, Ferguson P")
    flag = next(f for f in red_flags(s).to_dict()["flags"] if f["id"] == "crp_markedly_raised")
    assert (flag["kind"], flag["citation"], flag["present"]) == ("clinical", crp.citation, True) and "source" not in flag


def test_report_puts_red_flags_right_after_the_impression():
    s = study(lesion("L1", "tibia", "left", "metaphysis", "distal", cortical_destruction=True), fever=True)
    text = render_report(s)
    lines = text.splitlines()
    impression = lines.index("IMPRESSION")
    assert lines[impression + 2] == "RED FLAGS"
    assert "3 red flags argue against CRMO: solitary lesion outside the clavicle, cortical destruction and fever" in lines[impression + 1]
    flagged = lines[impression + 3: impression + 6]
    assert flagged[0].startswith("RED FLAG: solitary lesion outside the clavicle (#1)")
    assert flagged[1].startswith("RED FLAG: cortical destruction (#1)")
    assert flagged[2].startswith("RED FLAG: fever: think of infection")
    assert flagged[2].endswith(" Other red flags: 7 not assessed (items not recorded; listed under DECISION SUPPORT).")
    assert lines[impression + 6].startswith("CRITERIA AND SCORES")
    assert text.index("RED FLAGS") < text.index("CRITERIA AND SCORES")


def test_every_flag_cites_a_listed_source():
    from CRMOAnalyzerLib.reading.redflags import flag_rules

    rules = flag_rules()
    assert rules["flags"] and all(spec["source"] in rules["sources"] for spec in rules["flags"])


def test_each_flag_name_reads_as_one_flag_in_the_list():
    s = study(lesion("L1", "femur_right", sublocation="metaphysis", bone_end="distal", cortical_destruction=False,
                     soft_tissue_mass=False, metaphyseal_band=False, punched_out=False, character="lytic"),
              lesion("L2", "femur_left", sublocation="metaphysis", bone_end="distal", cortical_destruction=False,
                     soft_tissue_mass=False, metaphyseal_band=False, punched_out=False, character="lytic"))
    line = red_flags(s).lines()[0]
    assert line.startswith("No red flag found among the 6 checked: solitary lesion outside the clavicle; cortical destruction; ")
    assert "symmetric diaphyseal sclerosis of long bones on both sides" in line
    assert "bilateral and symmetric" not in line and "confined to the diaphyses," not in line
    from CRMOAnalyzerLib.reading.redflags import flag_rules

    for spec in flag_rules()["flags"]:
        assert not any(mark in spec["text"] for mark in (",", ";", " and ")), spec["text"]


def test_a_flag_name_that_reads_as_two_flags_is_refused(monkeypatch):
    import pytest

    from CRMOAnalyzerLib.reading import redflags
    from CRMOAnalyzerLib.errors import CRMOInputError

    real = redflags.read_json

    def with_bad_name(path, what):
        rules = real(path, what)
        rules["flags"][3] = {**rules["flags"][3], "text": "long-bone involvement confined to the diaphyses, bilateral and symmetric"}
        return rules

    monkeypatch.setattr(redflags, "read_json", with_bad_name)
    redflags.flag_rules.cache_clear()
    try:
        with pytest.raises(CRMOInputError, match="must read as one flag"):
            redflags.flag_rules()
    finally:
        monkeypatch.undo()
        redflags.flag_rules.cache_clear()


def test_two_tibial_lesions_of_unknown_side_are_neither_solitary_nor_unifocal():
    """One per leg, side unknown: never 'Unifocal: 2 lesions in 1 bone' and never the solitary-lesion biopsy flag."""
    from CRMOAnalyzerLib.reading.distribution import distribution
    from CRMOAnalyzerLib.reading.report import distribution_paragraph
    from studybuilder import lesion, study

    exam = study(lesion("L1", "tibia", sublocation="metaphysis", bone_end="proximal"),
                 lesion("L2", "tibia", sublocation="metaphysis", bone_end="proximal"))
    dist = distribution(exam)
    assert (dist.focality, dist.unifocal, sorted(dist.side_unknown)) == ("unknown", False, ["L1", "L2"])
    assert distribution_paragraph(dist, exam).startswith("Focality unknown (side not known), 2 lesions")
    solitary = next(flag for flag in red_flags(exam).flags if flag.id == "solitary_non_clavicular")
    assert solitary.present is None and "side of lesions #1, #2" in " ".join(solitary.missing)
