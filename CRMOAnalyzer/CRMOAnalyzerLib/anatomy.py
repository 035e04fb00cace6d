"""Bone vocabulary, loaded from ``resources/bones.json`` (sources cited there).

Names are TotalSegmentator class names. Slicer segment names and other spellings ("Left femur",
"femur left", "T7 vertebra", "rib 5 left") resolve to the same bone through :func:`find_bone`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache

from .errors import CRMOInputError
from .io.files import read_json, resource

__all__ = ["Bone", "BoneKindValues", "SideValues", "LATERALITY_CODES", "bones", "find_bone", "regions",
           "totalsegmentator_ids", "UNASSIGNED"]

UNASSIGNED = "unassigned"


class SideValues(str, Enum):
    """Side of the patient a lesion lies on (``None`` in the model: a midline bone)."""

    LEFT = "left"
    RIGHT = "right"


class BoneKindValues(str, Enum):
    """Which sub-location rule applies to a bone."""

    LONG = "long"
    CLAVICLE = "clavicle"
    VERTEBRA = "vertebra"
    FLAT = "flat"
    SHORT = "short"


#: SNOMED CT laterality qualifiers (DICOM CID 244).
LATERALITY_CODES: dict[str, dict[str, str]] = {
    "left": {"scheme": "SCT", "code": "7771000", "meaning": "Left"},
    "right": {"scheme": "SCT", "code": "24028007", "meaning": "Right"},
    "bilateral": {"scheme": "SCT", "code": "51440002", "meaning": "Right and left"},
}


@dataclass(frozen=True)
class Bone:
    """A bone of the vocabulary (one row of ``bones.json``)."""

    name: str
    display: str
    code: str
    meaning: str
    region: str
    kind: BoneKindValues
    paired: bool
    side: SideValues | None
    aliases: tuple[str, ...] = field(default=())

    @property
    def midline(self) -> bool:
        """bool: the bone lies on the midline (no side at all)."""
        return not self.paired

    @property
    def base(self) -> str:
        """str: the name without its side (``femur_left`` -> ``femur``)."""
        return re.sub(r"_(left|right)(?=_|$)", "", self.name)

    @property
    def finding_site(self) -> dict[str, str]:
        """dict: SNOMED CT code of the bone, as the study model stores it."""
        return {"scheme": "SCT", "code": self.code, "meaning": self.meaning}


RESOURCE = "bones.json"


@lru_cache(maxsize=None)
def _vocabulary() -> tuple[dict[str, Bone], dict[str, str], tuple[dict[str, str], ...]]:
    path = resource(RESOURCE)
    doc = read_json(path, "bone vocabulary")
    by_name: dict[str, Bone] = {}
    index: dict[str, str] = {}
    for row in doc["bones"]:
        bone = Bone(name=row["name"], display=row["display"], code=row["code"], meaning=row["meaning"],
                    region=row["region"], kind=BoneKindValues(row["kind"]), paired=bool(row["paired"]),
                    side=SideValues(row["side"]) if row["side"] else None, aliases=tuple(row["aliases"]))
        by_name[bone.name] = bone
        for key in (bone.name, *bone.aliases):
            index[_key(key)] = bone.name
    return by_name, index, tuple(doc["regions"])


def bones() -> dict[str, Bone]:
    """All bones by canonical name."""
    return _vocabulary()[0]


def regions() -> tuple[dict[str, str], ...]:
    """Regions head to toe: ``{"id", "display"}``."""
    return _vocabulary()[2]


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12}
_SIDE_WORDS = {"left": "left", "l": "left", "lt": "left", "right": "right", "r": "right", "rt": "right"}


def _key(name: str) -> str:
    return "_".join(re.findall(r"[a-z0-9]+", name.lower()))


def find_bone(name: str) -> Bone | None:
    """The bone a label or segment name denotes, or ``None`` if it is not a bone we know.

    Matching ignores case and separators, and accepts the side and a rib number anywhere:
    ``"Left femur"``, ``"femur_left"``, ``"FEMUR L"``, ``"rib 5 left"``, ``"left fifth rib"``, ``"T7"``.
    A side in the name is never dropped: ``"Left tibia"`` is the vocabulary's side-less ``tibia`` with
    ``side`` left (its name and code stay those of the vocabulary).
    """
    by_name, index, _ = _vocabulary()
    key = _key(name)
    if key in index:
        return by_name[index[key]]
    tokens = [_ORDINALS.get(t, t) for t in key.split("_") if t]
    side = next((_SIDE_WORDS[t] for t in tokens if t in _SIDE_WORDS), None)
    rest = [str(t) for t in tokens if t not in _SIDE_WORDS]
    rest = [t[:-2] if re.fullmatch(r"\d+(st|nd|rd|th)", t) else t for t in rest]
    numbers = [t for t in rest if t.isdigit()]
    words = [t for t in rest if not t.isdigit() and t not in ("bone", "bones", "of", "the", "structure")]
    candidates = []
    if words and words[0] in ("rib", "ribs") and numbers and side:
        candidates.append(f"rib_{side}_{numbers[0]}")
    base = "_".join(words + numbers)
    candidates += [f"{base}_{side}" if side else base, base]
    for candidate in candidates:
        if candidate in index:
            bone = by_name[index[candidate]]
            if side and bone.side is None and bone.paired is False:
                continue  # "left sternum" is not a bone name
            if side and bone.side is None and f"{bone.name}_{side}" in by_name:
                return by_name[f"{bone.name}_{side}"]
            if side and bone.side is None:
                return replace(bone, side=SideValues(side))  # "Left tibia": the side-less class, its side kept
            return bone
    return None


@lru_cache(maxsize=None)
def _tasks() -> dict:
    return read_json(resource("totalsegmentator_tasks.json"),
                     "TotalSegmentator task table")


def totalsegmentator_ids(task: str | None = None) -> dict[int, str]:
    """Label value -> bone name for a TotalSegmentator task (default: ``total``)."""
    doc = _tasks()
    task = task or doc["default_task"]
    if task not in doc["tasks"]:
        raise CRMOInputError(None, f"unknown TotalSegmentator task {task!r}; known: {', '.join(doc['tasks'])}")
    return {int(k): v for k, v in doc["tasks"][task].items()}
