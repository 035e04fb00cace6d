"""Anatomical distribution of a study's lesions: regions, sides, bilaterality, symmetry, typical sites.

Pattern rules and typical sites are data (``resources/crmo_pattern.json``, sources cited there).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..anatomy import BoneKindValues, bones, regions
from ..model import ordered_lesions, region_rank
from ..io.files import read_json, resource

if TYPE_CHECKING:  # model derives the distribution (Study.to_dict): the types only, so no import cycle
    from ..model import Lesion, Study

__all__ = ["Distribution", "distribution", "pattern_rules"]


@lru_cache(maxsize=None)
def pattern_rules() -> dict[str, Any]:
    """Typical sites and pattern rules, with their sources."""
    return read_json(resource("crmo_pattern.json"), "CRMO pattern rules")


@dataclass
class Distribution:
    """The distribution table and the pattern it shows (derived from the lesions, never edited)."""

    lesion_count: int = 0
    assigned_count: int = 0
    site_count: int = 0  # distinct bones, at least (a side-less bone counts once per side)
    multifocal: bool = False
    unifocal: bool = False
    focality: str = "none"  # "multifocal" | "unifocal" | "unknown" (lesions of unknown side) | "none"
    side_unknown: list[str] = field(default_factory=list)  # lesions in a paired bone whose side is unknown
    regions: list[dict[str, Any]] = field(default_factory=list)
    bilateral: bool = False
    bilateral_regions: list[str] = field(default_factory=list)
    symmetric: bool = False
    symmetric_pairs: list[dict[str, Any]] = field(default_factory=list)
    typical_sites: dict[str, list[str]] = field(default_factory=dict)
    pattern: str = "none"  # "consistent" | "atypical" | "none"
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _side_unknown(lesion: Lesion) -> bool:
    """A lesion in a paired bone whose side is not known: it may be in either bone of the pair."""
    return not lesion.side and not bones()[lesion.bone].midline


def _focality(result: Distribution, assigned: list[Lesion]) -> None:
    """Sites, multifocal and unifocal. A lesion of unknown side is never merged with either bone of its pair:
    it counts as a site only where its bone has no lesion of known side, and a study holding one is unifocal
    only if it is the study's only lesion (one lesion is solitary whatever its side)."""
    vocabulary = bones()
    known = {(vocabulary[l.bone].base, l.side or "midline") for l in assigned if not _side_unknown(l)}
    unknown = [l for l in assigned if _side_unknown(l)]
    result.side_unknown = [l.id for l in unknown]
    bases = {base for base, _ in known}
    result.site_count = len(known) + len({vocabulary[l.bone].base for l in unknown} - bases)
    result.multifocal = len(assigned) >= 2 and result.site_count >= 2
    result.unifocal = len(assigned) == 1 or (len(known) == 1 and not unknown)
    result.focality = ("multifocal" if result.multifocal else "unifocal" if result.unifocal
                       else "unknown" if assigned else "none")


def _matches(site: dict[str, Any], lesion: Lesion) -> bool:
    bone = bones()[lesion.bone]
    if "region" in site and bone.region != site["region"]:
        return False
    if "kind" in site and bone.kind != BoneKindValues(site["kind"]):
        return False
    return "sublocation" not in site or lesion.sublocation in site["sublocation"]


def distribution(study: Study) -> Distribution:
    """Compute the distribution table and pattern of a study."""
    vocabulary = bones()
    assigned = [lesion for lesion in study.lesions if lesion.assigned]
    result = Distribution(lesion_count=len(study.lesions), assigned_count=len(assigned))
    _focality(result, assigned)

    table: dict[str, dict[str, Any]] = {}
    for lesion in ordered_lesions(assigned):
        bone = vocabulary[lesion.bone]
        row = table.setdefault(bone.region, {"region": bone.region, "left": 0, "right": 0, "midline": 0, "unknown": 0,
                                             "total": 0, "bones": {}})
        column = lesion.side or ("midline" if bone.midline else "unknown")  # "unknown": side unknown, never midline
        row[column] += 1
        row["total"] += 1
        cell = row["bones"].setdefault(bone.base, {"bone": bone.base, "display": bone.display, "left": 0, "right": 0,
                                                   "midline": 0, "unknown": 0, "lesions": []})
        cell[column] += 1
        cell["lesions"].append(lesion.id)
    displays = {region["id"]: region["display"] for region in regions()}
    for region_id in sorted(table, key=lambda r: region_rank().get(r, 99)):
        row = table[region_id]
        row["display"] = displays.get(region_id, region_id)
        row["bones"] = list(row["bones"].values())
        result.regions.append(row)
    result.bilateral_regions = [row["region"] for row in result.regions if row["left"] and row["right"]]
    result.bilateral = bool(result.bilateral_regions)

    groups: dict[tuple, dict[str, list[str]]] = {}
    for lesion in assigned:
        if lesion.side in ("left", "right"):
            key = (vocabulary[lesion.bone].base, lesion.sublocation, lesion.bone_end)
            groups.setdefault(key, {"left": [], "right": []})[lesion.side].append(lesion.id)
    for (base, where, end), sides in groups.items():
        if sides["left"] and sides["right"]:
            display = next(vocabulary[l.bone].display for l in assigned if vocabulary[l.bone].base == base)
            result.symmetric_pairs.append({"bone": base, "display": display, "sublocation": where, "bone_end": end,
                                           "left": sides["left"], "right": sides["right"]})
    result.symmetric_pairs.sort(key=lambda p: min(p["left"] + p["right"], key=lambda i: (len(i), i)))
    result.symmetric = bool(result.symmetric_pairs)

    for site in pattern_rules()["typical_sites"]:
        hits = [lesion.id for lesion in assigned if _matches(site, lesion)]
        if hits:
            result.typical_sites[site["id"]] = hits
    _judge(result, assigned)
    return result


def _judge(result: Distribution, assigned: list[Lesion]) -> None:
    vocabulary = bones()
    if not assigned:
        result.pattern, result.reasons = "none", ["no lesion localized to a bone"]
        return
    reasons: list[str] = []
    clavicle_only = all(vocabulary[l.bone].kind == BoneKindValues.CLAVICLE for l in assigned)
    if result.unifocal and not clavicle_only:
        reasons.append("solitary lesion outside the clavicle (the Bristol criteria then require a biopsy)")
    if not result.typical_sites and not clavicle_only:
        reasons.append("no lesion at a typical CRMO site")
    long_bone = [l for l in assigned if vocabulary[l.bone].kind == BoneKindValues.LONG and l.sublocation]
    if long_bone and all(l.sublocation == "diaphysis" for l in long_bone):
        reasons.append("long-bone involvement confined to the diaphyses")
    result.reasons = reasons
    result.pattern = "atypical" if reasons else "consistent"
