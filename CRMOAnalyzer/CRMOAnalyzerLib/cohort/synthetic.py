"""Synthetic CRMO cohorts with a seed: site frequencies like the published cohorts, known answers.

The model (``resources/cohort/synthetic.json``, every parameter with its source) draws the
Andronikou pattern class first (so tibia and clavicle occur in 68% and 38% of patients and
together in 14%), then the other sites with their published frequencies, then sides (bilateral
and symmetric rates), sub-locations and follow-up exams. :func:`write_studies` writes study.json
files directly (fast); :func:`write_image_sets` writes bone maps and lesion maps of the phantom
skeleton and a manifest CSV, for the analyze path. All names and ids are synthetic.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..anatomy import LATERALITY_CODES, BoneKindValues, bones
from ..errors import CRMOInputError
from ..io.files import write_json, write_text
from ..model import SCHEMA, SCHEMA_VERSION, software
from .sites import site_of_bone, sites, synthetic_model

__all__ = ["SyntheticExam", "synthetic_cohort", "study_document", "write_studies", "write_image_sets"]

_START = dt.date(2015, 1, 1)


@dataclass
class SyntheticExam:
    """One synthetic exam: patient facts, date and the lesions it was built with (the known answer)."""

    patient_id: str
    sex: str
    birth_date: dt.date
    date: dt.date
    exam: int
    lesions: list[dict[str, Any]] = field(default_factory=list)  # bone, side, sublocation, bone_end


def _value(name: str) -> Any:
    return synthetic_model()[name]["value"]


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


@lru_cache(maxsize=None)
def _bones_of(site: str, side: str | None) -> tuple[str, ...]:
    """Bone names a lesion at ``site`` on ``side`` may get: one per base, the sided name where one exists."""
    by_base: dict[str, str] = {}
    for bone in bones().values():
        if site_of_bone(bone.base) != site or bone.name == "vertebrae":
            continue
        if bone.side is not None and (side is None or bone.side.value != side):
            continue
        if bone.side is not None or bone.base not in by_base:
            by_base[bone.base] = bone.name
    return tuple(by_base[b] for b in sorted(by_base))


def _where(rng: np.random.Generator, name: str) -> tuple[str | None, str | None]:
    kind = bones()[name].kind
    if kind == BoneKindValues.LONG:
        end = "distal" if rng.random() < _value("long_bone_distal") else "proximal"
        return _pick(rng, _value("long_bone_sublocation")), end
    if kind == BoneKindValues.CLAVICLE:
        return _pick(rng, _value("clavicle_sublocation")), None
    if kind == BoneKindValues.VERTEBRA:
        return _pick(rng, _value("vertebra_sublocation")), None
    return None, None


def _mirror(name: str, side: str) -> str:
    other = re.sub(r"_(left|right)(?=_|$)", f"_{side}", name)
    return other if other in bones() else name


def _lesion(rng: np.random.Generator, site: str, side: str | None) -> dict[str, Any]:
    name = str(rng.choice(_bones_of(site, side)))
    sublocation, end = _where(rng, name)
    return {"bone": name, "side": side, "sublocation": sublocation, "bone_end": end}


def _signature(lesion: dict[str, Any]) -> tuple:
    return (bones()[lesion["bone"]].base, lesion["sublocation"], lesion["bone_end"])


def _site_lesions(rng: np.random.Generator, site: str, paired: bool) -> list[dict[str, Any]]:
    extra = _value("extra_lesions_per_side")
    if not paired:
        return [_lesion(rng, site, None) for _ in range(1 + rng.poisson(extra))]
    bilateral = _value("bilateral_given_site")
    first = "left" if rng.random() < 0.5 else "right"
    out = [_lesion(rng, site, first) for _ in range(1 + rng.poisson(extra))]
    if rng.random() >= bilateral.get(site, bilateral["*"]):
        return out
    other = "right" if first == "left" else "left"
    taken = {_signature(l) for l in out}
    if rng.random() < _value("symmetric_given_bilateral"):
        copy = dict(out[0], side=other, bone=_mirror(out[0]["bone"], other))
        mirrored = [copy] + [_lesion(rng, site, other) for _ in range(rng.poisson(extra))]
    else:
        mirrored = []
        for _ in range(1 + rng.poisson(extra)):
            for _attempt in range(20):  # an asymmetric lesion: not the same bone, sub-location and end
                candidate = _lesion(rng, site, other)
                if _signature(candidate) not in taken:
                    break
            mirrored.append(candidate)
    return out + mirrored


def _baseline(rng: np.random.Generator) -> list[dict[str, Any]]:
    classes = _value("pattern_classes")
    chosen = _pick(rng, classes)
    involved = {"tibio_appendicular": ["tibia"], "claviculo_spinal": ["clavicle"],
                "clavicle_and_tibia": ["clavicle", "tibia"]}.get(chosen, [])
    multipliers = _value("class_multipliers")

    def factor(cls: str, site: str) -> float:
        m = multipliers.get(cls, {})
        return float(m.get(site, m.get("*", 1.0)))

    frequencies = _value("site_patients")
    for site, p in frequencies.items():
        norm = sum(w * factor(c, site) for c, w in classes.items()) / sum(classes.values())
        if rng.random() < min(1.0, p * factor(chosen, site) / norm):
            involved.append(site)
    if not involved:
        involved.append(_pick(rng, frequencies))
    paired = {s["id"]: s["paired"] for s in sites()}
    return [lesion for site in involved for lesion in _site_lesions(rng, site, paired[site])]


def _follow_up(rng: np.random.Generator, lesions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    params = _value("follow_up")
    kept = [dict(l) for l in lesions if rng.random() < params["persist"]]
    if rng.random() < params["new_site"]:
        present = {site_of_bone(bones()[l["bone"]].base) for l in kept}
        free = {s: p for s, p in _value("site_patients").items() if s not in present}
        if free:
            site = _pick(rng, free)
            paired = next(s["paired"] for s in sites() if s["id"] == site)
            kept.append(_lesion(rng, site, ("left" if rng.random() < 0.5 else "right") if paired else None))
    return kept


def synthetic_cohort(patients: int, seed: int = 0, exams: int = 1) -> list[SyntheticExam]:
    """``patients`` synthetic patients with ``exams`` exams each (baseline, then follow-ups), reproducible by ``seed``."""
    if patients < 0 or exams < 1:
        raise ValueError('Arguments "patients" must be >= 0 and "exams" >= 1.')
    rng = np.random.default_rng(seed)
    low, high = _value("age_years")
    interval = _value("follow_up")["interval_days"]
    out: list[SyntheticExam] = []
    width = max(5, len(str(patients)))
    for n in range(1, patients + 1):
        sex = "F" if rng.random() < _value("female") else "M"
        date = _START + dt.timedelta(days=int(rng.integers(0, 3000)))
        birth = date - dt.timedelta(days=int(rng.uniform(low, high) * 365.25))
        lesions = _baseline(rng)
        for exam in range(1, exams + 1):
            if exam > 1:
                date = date + dt.timedelta(days=int(rng.integers(interval[0], interval[1] + 1)))
                lesions = _follow_up(rng, lesions)
            out.append(SyntheticExam(f"SYN-{n:0{width}d}", sex, birth, date, exam, [dict(l) for l in lesions]))
    return out


@lru_cache(maxsize=None)
def _centres() -> dict[tuple[str, str | None], list[float]]:
    from ..samples.phantom import skeleton_shapes  # noqa: PLC0415

    boxes: dict[tuple[str, str | None], list[np.ndarray]] = {}
    for name, solid in skeleton_shapes()[0]:
        low, high = solid.bounds()
        centre = (np.asarray(low) + np.asarray(high)) / 2
        side = None if not bones()[name].paired else ("right" if centre[0] > 0 else "left")
        boxes.setdefault((name, side), []).append(centre)
    return {key: [round(float(v), 1) for v in np.mean(c, axis=0)] for key, c in boxes.items()}


def study_document(exam: SyntheticExam) -> dict[str, Any]:
    """A study.json document (schema version 1) for a synthetic exam."""
    vocabulary = bones()
    lesions = []
    for n, spec in enumerate(exam.lesions, start=1):
        bone = vocabulary[spec["bone"]]
        lesions.append({"id": f"L{n}", "source": {"kind": "point", "value": None, "name": f"synthetic lesion {n}"},
                        "bone": bone.name, "finding_site": bone.finding_site,
                        "laterality": dict(LATERALITY_CODES[spec["side"]]) if spec["side"] else None,
                        "sublocation": spec["sublocation"], "bone_end": spec["bone_end"],
                        "centroid_ras": _centres().get((bone.name, spec["side"]), [0.0, 0.0, 0.0]),
                        "volume_mm3": None, "findings": {}})
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "software": software(),
            "patient": {"id": exam.patient_id, "name": f"Synthetic^{exam.patient_id}",
                        "birth_date": exam.birth_date.isoformat(), "sex": exam.sex},
            "study": {"date": exam.date.isoformat(), "modality": "MR",
                      "description": "Synthetic whole-body MRI (crmo-analyzer synthetic cohort, not a patient)"},
            "lesions": lesions, "warnings": ["synthetic study: not patient data"]}


def write_studies(folder: str | os.PathLike, patients: int, seed: int = 0, exams: int = 1) -> list[Path]:
    """Write one study.json per synthetic exam into ``folder`` (created); returns the paths."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CRMOInputError(folder, f"cannot create the folder: {error.strerror or error}") from error
    paths = []
    for exam in synthetic_cohort(patients, seed, exams):
        path = folder / f"{exam.patient_id.lower()}-exam{exam.exam}.study.json"
        write_json(path, study_document(exam))
        paths.append(path)
    return paths


# ---- image sets for the analyze path --------------------------------------------------------------

def _image_candidates() -> list[dict[str, Any]]:
    """The phantom's lesions and their mirror images across the midline (each with its known answer)."""
    from ..samples.phantom import LESIONS  # noqa: PLC0415

    out = [dict(spec) for spec in LESIONS]
    have = {(spec["bone"], spec["side"], spec["sublocation"], spec["bone_end"]) for spec in LESIONS}
    for spec in LESIONS:
        if spec["side"] is None:
            continue
        side = "left" if spec["side"] == "right" else "right"
        mirror = dict(spec, side=side, bone=_mirror(spec["bone"], side),
                      name=("L" if side == "left" else "R") + spec["name"][1:],
                      centre=(lambda c=spec["centre"]: c() * np.array([-1.0, 1.0, 1.0])))
        if (mirror["bone"], side, spec["sublocation"], spec["bone_end"]) not in have:
            out.append(mirror)
    return out


def write_image_sets(folder: str | os.PathLike, patients: int, seed: int = 0, spacing: float = 6.0) -> Path:
    """Bone map, labels and one lesion map per synthetic patient, plus ``manifest.csv``; returns the manifest.

    The skeleton is rasterized once (``phantom.make_phantom``); each patient gets a subset of the
    candidate lesions, each drawn with its site's published frequency. ``folder/expected.json``
    records the known answer of every lesion map.
    """
    from ..io.images import LabelMap, write_image  # noqa: PLC0415
    from ..io.labelnames import write_label_names  # noqa: PLC0415
    from ..samples.phantom import Grid, make_phantom  # noqa: PLC0415

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    candidates = _image_candidates()
    phantom = make_phantom(Grid((spacing,) * 3), lesions=candidates, seed=seed)
    write_image(folder / "bones.nii.gz", phantom.bones)
    write_label_names(folder / "bones.labels.json", phantom.bones.names)
    frequency = {**_value("site_patients"), "tibia": 0.68, "clavicle": 0.38}
    rng = np.random.default_rng(seed)
    rows = ["bones,bone_labels,lesions,patient,date,sex,birth_date"]
    expected = {}
    for exam in synthetic_cohort(patients, seed):
        chosen = [n for n, spec in enumerate(candidates, start=1)
                  if rng.random() < 0.75 * frequency.get(site_of_bone(bones()[spec["bone"]].base), 0.2)]
        chosen = chosen or [int(rng.integers(1, len(candidates) + 1))]
        array = np.zeros_like(phantom.lesions.array)
        for new, old in enumerate(chosen, start=1):
            array[phantom.lesions.array == old] = new
        name = f"{exam.patient_id.lower()}-lesions.nii.gz"
        write_image(folder / name, LabelMap(array, phantom.lesions.affine, "synthetic lesions",
                                            {i: candidates[o - 1]["name"] for i, o in enumerate(chosen, start=1)}))
        rows.append(f"bones.nii.gz,bones.labels.json,{name},{exam.patient_id},{exam.date.isoformat()},{exam.sex},"
                    f"{exam.birth_date.isoformat()}")
        expected[exam.patient_id] = [phantom.expected[o - 1] for o in chosen]
    write_json(folder / "expected.json", {"note": "known answer of each synthetic lesion map (phantom construction)",
                                          "patients": expected})
    return write_text(folder / "manifest.csv", "\n".join(rows) + "\n")
