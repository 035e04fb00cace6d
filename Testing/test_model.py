"""study.json: the contract's fields, validation with clear messages, atomic save."""

from __future__ import annotations

import json

import pytest
from conftest import make_lesion as L

from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.reading.read import read
from CRMOAnalyzerLib.model import SCHEMA, Study, load_study, save_study


def study() -> Study:
    return Study(patient={"id": "P1", "name": "Doe^Jane", "birth_date": "2015-01-02", "sex": "F"},
                 study={"date": "2026-01-01", "modality": "MR"},
                 lesions=[L("L1", "femur_left", "left", "metaphysis", "distal", marrow_edema=True),
                          L("L2", "vertebrae_T8", None, "vertebral body")])


def test_round_trip_keeps_everything(tmp_path):
    original = study()
    original.lesions[0].override(sublocation="epiphysis")
    read(original).save(tmp_path / "study.json")
    doc = json.loads((tmp_path / "study.json").read_text())
    assert doc["schema"] == SCHEMA and doc["schema_version"] == 1
    assert doc["lesions"][0]["laterality"] == {"scheme": "SCT", "code": "7771000", "meaning": "Left"}
    assert doc["lesions"][1]["laterality"] is None
    assert doc["distribution"]["lesion_count"] == 2
    back = load_study(tmp_path / "study.json")
    assert back.to_dict() == original.to_dict()
    assert back.lesions[0].overrides == ["sublocation"] and back.lesions[0].findings == {"marrow_edema": True}


def test_a_study_dict_is_a_copy_as_asdict_and_deepcopy_make_it():
    """``to_dict`` copies every nested dict, list and tuple: editing the document leaves the study alone, and a
    lesion's dict is what ``dataclasses.asdict`` makes of it (tuples stay tuples)."""
    import copy
    from dataclasses import asdict

    original = study()
    lesion = original.lesions[0]
    lesion.localization = {"other_bones": {"tibia_left": 0.2}, "also_in": [{"bone": "tibia_left"}], "pair": (1, [2])}
    original.inputs = {"bones": "b.nii.gz", "nested": {"list": [1, {"a": 2}]}}
    before = copy.deepcopy(original)
    assert lesion.to_dict() == asdict(lesion) and type(lesion.to_dict()["localization"]["pair"]) is tuple
    document = original.to_dict()
    document["lesions"][0]["localization"]["other_bones"]["tibia_left"] = 0.9
    document["lesions"][0]["localization"]["also_in"][0]["bone"] = "femur_left"
    document["lesions"][0]["localization"]["pair"][1].append(3)
    document["lesions"][0]["findings"]["marrow_edema"] = False
    document["inputs"]["nested"]["list"][1]["a"] = 5
    document["patient"]["id"] = "P2"
    assert original.to_dict() == before.to_dict()


def test_override_bone_updates_codes():
    lesion = study().lesions[0]
    lesion.override(bone="clavicula_right")
    assert lesion.finding_site["code"] == "51299004" and lesion.side == "right"
    lesion.override(side="left")
    assert lesion.side == "left" and lesion.overrides == ["bone", "side"]
    with pytest.raises(ValueError, match="bone"):
        lesion.override(bone="liver")


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d.update(schema="other"), "not a CRMO Analyzer study"),
    (lambda d: d.update(schema_version=99), "schema_version 99 is not supported"),
    (lambda d: d["lesions"][0].pop("bone"), "'bone' is a required property"),
    (lambda d: d["lesions"][0].update(centroid_ras=[1, 2]), r"lesions\[0\]\.centroid_ras"),
    (lambda d: d["lesions"][0].update(sublocation="elbow"), r"lesions\[0\]\.sublocation"),
    (lambda d: d["lesions"][1].update(id="L1"), "duplicate lesion id"),
    (lambda d: d["patient"].update(birth_date="01/02/2015"), "birth_date"),
])
def test_invalid_documents_name_the_problem(tmp_path, mutate, problem):
    doc = study().to_dict()
    mutate(doc)
    path = tmp_path / "study.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CRMOInputError, match=problem) as error:
        load_study(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_malformed_json(tmp_path):
    path = tmp_path / "study.json"
    path.write_text('{"schema": ')
    with pytest.raises(CRMOInputError, match="malformed JSON at line 1"):
        load_study(path)


def test_failed_save_leaves_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "study.json"
    save_study(study(), path)
    before = path.read_bytes()

    def broken(self, distribution=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Study, "to_dict", broken)
    with pytest.raises(RuntimeError):
        save_study(study(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["study.json"]
