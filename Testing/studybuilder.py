"""Hand-built studies for rule tests: lesions placed by name, no image needed."""

from __future__ import annotations

from CRMOAnalyzerLib.anatomy import LATERALITY_CODES, bones
from CRMOAnalyzerLib.model import Lesion, Study


def lesion(lesion_id: str, bone: str, side: str | None = None, sublocation: str | None = None, bone_end: str | None = None,
           volume: float | None = 1000.0, position: float | None = None, **findings) -> Lesion:
    """A localized lesion as ``localize`` would give it (side from the bone name when it has one)."""
    spec = bones()[bone]
    side = spec.side.value if spec.side else side
    localization = {"method": "overlap"} if position is None else {"method": "overlap", "position_along_bone": position}
    return Lesion(id=lesion_id, source={"kind": "label", "value": int(lesion_id[1:]), "name": lesion_id}, bone=bone,
                  finding_site=spec.finding_site, laterality=dict(LATERALITY_CODES[side]) if side else None,
                  sublocation=sublocation, bone_end=bone_end, centroid_ras=[0.0, 0.0, 0.0], volume_mm3=volume,
                  localization=localization, findings=dict(findings))


def study(*lesions: Lesion, date: str = "2026-03-01", patient_id: str = "P1", **clinical) -> Study:
    """A study of patient ``patient_id`` with these lesions and clinical items."""
    return Study(patient={"id": patient_id, "birth_date": "2015-01-01"}, study={"date": date, "modality": "MR"},
                 lesions=list(lesions), clinical=dict(clinical))


def femur_pair(**findings) -> list[Lesion]:
    """Bilateral symmetric distal femoral metaphyseal lesions."""
    return [lesion("L1", "femur_right", sublocation="metaphysis", bone_end="distal", position=0.86, **findings),
            lesion("L2", "femur_left", sublocation="metaphysis", bone_end="distal", position=0.86, **findings)]
