"""Localize lesions: bone, side and sub-location, from a bone map, on any grids.

Rules (see the README):
- bone: the bone holding most of the lesion (label/segment lesions; an exact tie goes to the tied bone
  at the lesion's centroid, else nearest to it, never to a label value, with a warning) or the bone
  containing the point; else the nearest bone within ``NEAREST_MM``; else ``unassigned`` with a warning.
  A lesion with more than ``SECOND_BONE_FRACTION`` of it in another bone is reported with both.
- side: from the bone's name when it has one ("Left tibia" too), else from the lesion's side of the
  patient midline estimated from the anatomy (``BoneMap.midline``, checked against every left/right
  pair), else from the named bones the side-less bone articulates with (one knee); else unknown with a
  warning. Midline bones have none, except the mandible and sacrum: left, right, or none near the midline (the
  symphysis, the sacral bodies), answered by the bone's own frame with the rule that gives its sub-location (the
  sacral bodies' measured half-width; the fixed half-width where it cannot be measured).
- sub-location: from the lesion's position in its own bone (``sublocation.py``); a long bone's proximal
  end from the bones it articulates with, the bone beside it, then the trunk, else "end unknown". Flat bones
  from their own geometry and the bones they articulate with: hip bone (acetabulum facing the femoral head;
  ilium, ischium, pubis by direction from it; ilium beside the sacroiliac joint), rib (arc by angle from the
  spine to the sternum), scapula (glenoid facing the humeral head; coracoid, acromion, body), sternum
  (manubrium, body), mandible (symphysis, body, ramus, condyle); where the map does not show what a rule
  needs, unknown with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from . import sublocation
from ..anatomy import LATERALITY_CODES, UNASSIGNED, Bone, BoneKindValues
from .bonemap import BoneMap
from .distances import distances_to
from ..model import lesion_labels
from ..errors import CRMOInputError
from ..io.images import Image, LabelMap
from .measure import LesionVoxels, measure_labels
from .runs import Runs
from ..model import Lesion, Study

if TYPE_CHECKING:
    from ..io.markups import PointLesion  # the points' reader (csv, JSON) is imported where points are read

__all__ = ["NEAREST_MM", "SIDE_CHECK_MM", "SECOND_BONE_FRACTION", "IN_BONE_FRACTION", "localize_labels",
           "localize_points", "analyze"]

logger = logging.getLogger(__name__)

NEAREST_MM = 5.0
#: a lesion this far on the other side of the midline from its bone's named side is flagged
SIDE_CHECK_MM = 20.0
#: a lesion with more than this fraction of its voxels in a second bone is reported with both bones
SECOND_BONE_FRACTION = 0.2
#: a lesion with less than this fraction of its voxels inside any bone is assigned, with a warning
IN_BONE_FRACTION = 0.5


_OTHER_END = {"low": "high", "high": "low"}


def _r(values, digits: int = 2) -> list[float]:
    return [round(float(v), digits) for v in values]


class _Localizer:
    """Turns a bone value and a position into bone, laterality and sub-location."""

    def __init__(self, bonemap: BoneMap) -> None:
        self.bonemap = bonemap
        self._frames: dict[tuple[int, str | None], sublocation.BoneFrame] = {}

    def side_of(self, value: int, bone: Bone, point: np.ndarray, warnings: list[str]) -> str | None:
        """The side: from the bone's name, else the midline, else the named bones it articulates with; else unknown."""
        midline = self.bonemap.midline
        if bone.midline and bone.name in sublocation.rules()["sided_midline_bones"]:
            # mandible, sacrum: left, right, or none at the symphysis or the sacral bodies, by the rule of the bone's
            # own frame (the one that gives its sub-location); no frame (too few voxels): the fixed half-width
            if midline is None:
                warnings.append(f"side unknown: the bone map has no midline reference for the {bone.display}")
                return None
            frame = self.frame(value, bone, None)
            if isinstance(frame, sublocation.SidedAcrossMidline):
                return frame.side(point)
            return sublocation.midline_side(float(midline.signed_distance(point)), sublocation.fixed_half_width(bone.name))
        if bone.midline:
            return None
        if bone.side is not None:
            if midline is not None:
                distance = float(midline.signed_distance(point))
                opposite = -distance if bone.side.value == "right" else distance
                if opposite > SIDE_CHECK_MM:
                    warnings.append(f"lies {opposite:.0f} mm on the other side of the midline from the "
                                    f"{bone.side.value} {bone.display} named in the bone map: check the bone map")
            return bone.side.value
        if midline is None:
            if value in self.bonemap.inherited_sides:
                return self.bonemap.inherited_sides[value][0]
            warnings.append(f"side unknown: the bone map has no midline reference for the side-less {bone.display}, "
                            "and it articulates with no bone named by side (or with both sides)")
            return None
        return midline.side(point)

    def frame(self, value: int, bone: Bone, side: str | None) -> sublocation.BoneFrame:
        """The bone's frame for sub-locations, measured once per bone (and side) however many lesions it holds."""
        side = side if bone.kind in (BoneKindValues.LONG, BoneKindValues.CLAVICLE) else None  # a vertebra is whole
        key = (value, side)
        if key not in self._frames:
            self._frames[key] = self._measure_frame(value, bone, side)
        return self._frames[key]

    def _measure_frame(self, value: int, bone: Bone, side: str | None) -> sublocation.BoneFrame:
        midline = self.bonemap.midline
        if bone.kind in (BoneKindValues.LONG, BoneKindValues.CLAVICLE) and bone.side is None and side is None \
                and self.bonemap.pieces(value) > 1:
            return sublocation.Unknown(f"sub-location unknown: the side-less {bone.display} label holds more than one "
                                       "bone (both sides?) and no side could be told")
        if bone.kind == BoneKindValues.LONG:
            return sublocation.LongBone.from_runs(self.bonemap.bone_runs(value, side),
                                                  lambda low, high: self.orient(bone.base, side, low, high),
                                                  self.bonemap.touches_edge)
        if bone.kind == BoneKindValues.CLAVICLE and midline is not None:
            return sublocation.Clavicle.from_runs(self.bonemap.bone_runs(value, side), midline.signed_distance)
        if bone.kind == BoneKindValues.VERTEBRA:
            right = midline.normal if midline is not None else np.array([1.0, 0.0, 0.0])
            return sublocation.Vertebra.from_runs(self.bonemap.bone_runs(value, None), right)
        if bone.kind == BoneKindValues.FLAT:
            return self._flat_frame(value, bone, side)
        return sublocation.UNKNOWN

    def _flat_frame(self, value: int, bone: Bone, side: str | None) -> sublocation.BoneFrame:
        """Hip bone, rib, scapula, sternum, mandible and sacrum (rules in ``sublocation.json``); other flat bones have none."""
        axes = self._axes
        runs = self.bonemap.bone_runs(value, None)
        cut = self.bonemap.touches_edge(runs)
        own_side = bone.side.value if bone.side is not None else side
        if bone.base == "hip":
            femur = self.bonemap.partners("femur", own_side) if own_side else []
            sacrum = self.bonemap.partners("sacrum", None)
            return sublocation.HipBone.from_runs(runs, axes, femur, sacrum, cut)
        if bone.base.startswith("rib"):
            return sublocation.Rib.from_runs(runs, axes, self._chest_front, cut)
        if bone.base == "scapula":
            humerus = self.bonemap.partners("humerus", own_side) if own_side else []
            return sublocation.Scapula.from_runs(runs, axes, humerus, own_side)
        if bone.base == "sternum":
            return sublocation.Sternum.from_runs(runs, axes, cut)
        if bone.base == "mandible":
            return sublocation.Mandible.from_runs(runs, axes, cut)
        if bone.base == "sacrum":
            return sublocation.Sacrum.from_runs(runs, axes, self.bonemap.lumbar_vertebrae())
        return sublocation.UNKNOWN

    @cached_property
    def _axes(self) -> sublocation.PatientAxes:
        """The patient's axes from the midline (the RAS axes without one): the same for every flat bone."""
        midline = self.bonemap.midline
        return sublocation.PatientAxes.of(midline.normal if midline is not None else None,
                                          midline.offset if midline is not None else None)

    @cached_property
    def _chest_front(self) -> tuple[float, str] | None:
        """The anterior coordinate of the front of the rib cage: the sternum's, else the most anterior rib's (measured
        once, for every rib)."""
        for kind, basis in (("sternum", "the sternum"), ("rib", "the most anterior rib")):
            values = [v for v, b in self.bonemap.bones.items() if b.base.startswith(kind)]
            if values:
                return max(self.bonemap.bone_runs(v).extent(self._axes.anterior)[1] for v in values), basis
        return None

    def orient(self, base: str, side: str | None, low: np.ndarray, high: np.ndarray,
               parallel: bool = True) -> sublocation.Orientation:
        """Which end of a long bone (tips ``low``, ``high``) is proximal: from the bones it articulates with,
        else the bone beside it, else the trunk; else unknown (rules in ``sublocation.json``)."""
        rule = sublocation.rules()["long_bone_ends"]
        votes: dict[str, str] = {}
        for group, partners in rule["articulations"].get(base, {}).items():
            for name in partners:
                runs = self.bonemap.partners(name, side)
                if not runs:
                    continue
                d_low, d_high = distances_to(Runs.join(runs), np.array([low, high]))
                if min(d_low, d_high) > rule["articulation_max_mm"] or abs(d_low - d_high) < rule["margin_mm"]:
                    continue
                nearer = "low" if d_low < d_high else "high"
                votes[name] = nearer if group == "proximal" else _OTHER_END[nearer]
        if len(set(votes.values())) > 1:
            return None, f"the bones it articulates with ({', '.join(sorted(votes))}) disagree on which end is proximal"
        if votes:
            return next(iter(votes.values())), f"articulation with the {', '.join(sorted(votes))}"
        beside = rule["parallel"].get(base) if parallel else None
        for runs in self.bonemap.partners(beside, side) if beside else []:
            frame = sublocation.LongBone.from_runs(runs, lambda lo, hi: self.orient(beside, side, lo, hi, parallel=False),
                                                   self.bonemap.touches_edge)
            if isinstance(frame, sublocation.LongBone) and frame.proximal is not None:
                tip = frame.tips[frame.proximal]
                d_low, d_high = np.linalg.norm(low - tip), np.linalg.norm(high - tip)
                if abs(d_low - d_high) >= rule["margin_mm"]:
                    return ("low" if d_low < d_high else "high"), f"the {beside} beside it ({frame.basis})"
        trunk = self.bonemap.trunk_centre
        if trunk is not None:
            d_low, d_high = np.linalg.norm(low - trunk), np.linalg.norm(high - trunk)
            if abs(d_low - d_high) >= rule["margin_mm"]:
                return ("low" if d_low < d_high else "high"), "the end nearer the trunk"
        return None, "no bone it articulates with, no bone beside it and no trunk in the bone map tell which end is proximal"

    def lesion(self, lesion_id: str, source: dict, value: int | None, point: np.ndarray,
               localization: dict, warnings: list[str]) -> Lesion:
        if value is None:
            warnings.append(f"not in or within {NEAREST_MM:g} mm of any bone of the bone map: bone unassigned")
            return Lesion(id=lesion_id, source=source, bone=UNASSIGNED, finding_site=None, laterality=None,
                          sublocation=None, centroid_ras=_r(point), volume_mm3=None,
                          localization=localization, warnings=warnings)
        bone = self.bonemap.bones[value]
        side = self.side_of(value, bone, point, warnings)
        frame = self.frame(value, bone, side)
        where = frame.locate(point)
        if where.warning:
            warnings.append(where.warning)
        localization = {**localization, "bone_label_value": int(value)}
        if side and bone.side is None and self.bonemap.midline is None:
            localization["side_basis"] = self.bonemap.inherited_sides[value][1]
        if isinstance(frame, sublocation.LongBone):
            localization["bone_end_basis"] = frame.basis
            localization["cut_by_image_edge"] = sorted(frame.named(end) or end for end, cut in frame.cut.items() if cut)
            localization["physis_basis"] = {frame.named(end) or end: basis for end, basis in (frame.physis_basis or {}).items()}
        if where.position is not None:
            localization["position_along_bone"] = round(where.position, 3)
        return Lesion(id=lesion_id, source=source, bone=bone.name, finding_site=bone.finding_site,
                      laterality=dict(LATERALITY_CODES[side]) if side else None, sublocation=where.sublocation,
                      bone_end=where.bone_end, centroid_ras=_r(point), volume_mm3=None,
                      localization=localization, warnings=warnings)


def _bones_under(values: np.ndarray, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per lesion (``sizes[n]`` voxels each, one lesion after the other in ``values``, the bone values under them):
    the bones it lies in and how many of its voxels each holds, ascending by bone; one ``np.unique`` for all."""
    owner = np.repeat(np.arange(len(sizes)), sizes)
    inside = values > 0
    owner, bone = owner[inside], values[inside]
    span = int(bone.max()) + 1 if bone.size else 1
    keys, counts = np.unique(owner * span + bone, return_counts=True)
    owners, bones = np.divmod(keys, span)
    bounds = np.searchsorted(owners, np.arange(len(sizes) + 1))
    return [(bones[a:b], counts[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _overlap(bonemap: BoneMap, voxels: LesionVoxels, bone_values: np.ndarray,
             bones_in: tuple[np.ndarray, np.ndarray], warnings: list[str]) -> tuple[int, dict]:
    """The bone holding most of the lesion, and the record of every bone it overlaps (``bones_in``: the bones under
    the lesion and their voxel counts, :func:`_bones_under`)."""
    found, counts = bones_in
    most = counts == counts.max()
    if most.sum() == 1:
        chosen = int(found[np.argmax(counts)])
    else:  # an exact tie: the tied bone at the centroid, else the one nearest to it; never the label value
        tied = [int(v) for v in found[most]]
        at_centre = int(bonemap.values_at(voxels.centroid_ras[None])[0])
        if at_centre in tied:
            chosen = at_centre
        else:
            distance = {v: float(np.min(np.linalg.norm(voxels.positions_ras[bone_values == v] - voxels.centroid_ras, axis=1)))
                        for v in tied}
            chosen = min(tied, key=lambda v: (distance[v], bonemap.bones[v].name))
        warnings.append("split evenly between " + " and ".join(bonemap.bones[v].display for v in tied)
                        + f": assigned to the {bonemap.bones[chosen].display}, the one at the lesion's centre; check it")
    total = voxels.voxel_count
    fraction = {int(v): float(c) / total for v, c in zip(found, counts)}
    localization: dict = {"method": "overlap", "overlap_fraction": round(fraction[chosen], 3)}
    others = {v: f for v, f in fraction.items() if v != chosen}
    if others:
        localization["other_bones"] = {bonemap.bones[v].name: round(f, 3) for v, f in sorted(others.items(), key=lambda o: -o[1])}
    for value, part in sorted(others.items(), key=lambda o: -o[1]):
        if part > SECOND_BONE_FRACTION:
            bone = bonemap.bones[value]
            localization.setdefault("also_in", []).append({"bone": bone.name, "bone_label_value": value,
                                                           "overlap_fraction": round(part, 3)})
            warnings.append(f"{100 * part:.0f}% of the lesion lies in the {bone.display} (label {value}), "
                            f"{100 * fraction[chosen]:.0f}% in the {bonemap.bones[chosen].display}: it spans both bones")
    in_bone = counts.sum() / len(bone_values)
    if in_bone < IN_BONE_FRACTION:
        warnings.append(f"only {100 * in_bone:.0f}% of the lesion lies inside a bone of the bone map: check the bone and the lesion")
    return chosen, localization


def _lesion_numbers(lesions: LabelMap, measured: dict, kind: str, warnings: list[str]) -> dict[int, int]:
    """Lesion number of each label value. Segments keep their place among the segments named, so an
    empty segment leaves its number unused (with a warning) instead of renumbering the others."""
    if kind != "segment":
        return {value: number for number, value in enumerate(sorted(measured), start=1)}
    order = sorted(set(lesions.names) | set(measured))
    for number, value in enumerate(order, start=1):
        if value not in measured:
            warnings.append(f"segment {lesions.names.get(value)!r} (value {value}) is empty: no lesion L{number}")
    return {value: number for number, value in enumerate(order, start=1) if value in measured}


def localize_labels(bonemap: BoneMap, lesions: LabelMap, image: Image | None = None, kind: str = "label",
                    study_warnings: list[str] | None = None,
                    measured: dict[int, LesionVoxels] | None = None) -> list[Lesion]:
    """One lesion per non-zero value of ``lesions`` (``kind`` "label", or "segment" for a segmentation).

    Warnings about the lesion map as a whole (an empty segment) are appended to ``study_warnings``. ``measured``:
    :func:`~.measure.measure_labels` of ``lesions`` (and ``image``) when the caller has it already.
    """
    if measured is None:
        measured = measure_labels(lesions, image)
    if not measured:
        raise CRMOInputError(lesions.source, "the lesion map is empty (no non-zero voxel)")
    numbers = _lesion_numbers(lesions, measured, kind, study_warnings if study_warnings is not None else [])
    localizer = _Localizer(bonemap)
    result: list[Lesion] = []
    covered_any = False
    ordered = sorted(measured.items())
    # the bone under every voxel of every lesion, at once (not lesion by lesion)
    sizes = [voxels.voxel_count for _, voxels in ordered]
    under = bonemap.values_under(lesions, [voxels for _, voxels in ordered])
    sampled = np.split(under, np.cumsum(sizes)[:-1])
    for (value, voxels), bone_values, bones_in in zip(ordered, sampled, _bones_under(under, sizes)):
        inside_grid = bone_values >= 0
        covered_any |= bool(inside_grid.any())
        warnings: list[str] = []
        if 0 < inside_grid.sum() < len(bone_values):
            warnings.append(f"{100 * (1 - inside_grid.mean()):.0f}% of the lesion lies outside the bone map's grid")
        chosen: int | None = None
        localization: dict = {}
        if len(bones_in[0]):
            chosen, localization = _overlap(bonemap, voxels, bone_values, bones_in, warnings)
        else:
            nearest = bonemap.nearest_bone(voxels.positions_ras, NEAREST_MM)
            if nearest is not None:
                chosen, distance = nearest
                localization = {"method": "nearest", "distance_mm": round(distance, 2)}
                warnings.append(f"not inside a bone; assigned to the nearest bone, {distance:.1f} mm away")
        name = lesions.names.get(value)
        source = {"kind": kind, "value": int(value), "name": name}
        lesion = localizer.lesion(f"L{numbers[value]}", source, chosen, voxels.centroid_ras, localization, warnings)
        _add_measurements(lesion, voxels)
        result.append(lesion)
    if not covered_any:
        raise CRMOInputError(lesions.source, f"the lesion map and the bone map {bonemap.labelmap.source} do not overlap in space")
    return result


def _add_measurements(lesion: Lesion, voxels: LesionVoxels) -> None:
    lesion.volume_mm3 = round(float(voxels.volume_mm3), 2)
    lesion.voxel_count = voxels.voxel_count
    lesion.bbox_ras = {"min": _r(voxels.bbox_min_ras), "max": _r(voxels.bbox_max_ras)}
    if voxels.intensity is not None:
        lesion.intensity = {k: round(v, 3) for k, v in voxels.intensity.items()}


def localize_points(bonemap: BoneMap, points: Sequence[PointLesion], source: str = "points") -> list[Lesion]:
    """One lesion per control point: the bone containing it, else the nearest within ``NEAREST_MM``."""
    if not points:
        raise CRMOInputError(source, "no control point: the markups file marks no lesion")
    positions = np.array([p.position_ras for p in points])
    values = bonemap.values_at(positions)
    if np.all(values < 0):
        raise CRMOInputError(source, f"no point lies inside the bone map {bonemap.labelmap.source} (do they belong to this patient?)")
    localizer = _Localizer(bonemap)
    result = []
    for number, (point, value) in enumerate(zip(points, values.tolist()), start=1):
        warnings: list[str] = []
        chosen: int | None = None
        localization: dict = {}
        if value > 0:
            chosen, localization = int(value), {"method": "contains"}
        else:
            if value < 0:
                warnings.append("lies outside the bone map's grid")
            nearest = bonemap.nearest_bone(point.position_ras, NEAREST_MM)
            if nearest is not None:
                chosen, distance = nearest
                localization = {"method": "nearest", "distance_mm": round(distance, 2)}
                warnings.append(f"not inside a bone; assigned to the nearest bone, {distance:.1f} mm away")
        lesion = localizer.lesion(f"L{number}", {"kind": "point", "value": None, "name": point.label},
                                  chosen, point.position_ras, localization, warnings)
        lesion.findings = dict(point.findings)
        if point.description:
            lesion.findings.setdefault("note", point.description)
        result.append(lesion)
    return result


def analyze(bonemap: BoneMap, lesions: LabelMap | Sequence[PointLesion], image: Image | None = None,
            kind: str = "label", patient: dict | None = None, study: dict | None = None,
            inputs: dict | None = None, measured: dict[int, LesionVoxels] | None = None) -> Study:
    """Localize every lesion and return the :class:`Study` (``measured``: see :func:`localize_labels`)."""
    map_warnings: list[str] = []
    if isinstance(lesions, LabelMap):
        found = localize_labels(bonemap, lesions, image, kind, map_warnings, measured)
    else:
        found = localize_points(bonemap, lesions, (inputs or {}).get("lesions", "points"))
    midline = bonemap.midline
    labels = lesion_labels(found)  # warnings name lesions as every output does ("#3")
    warnings = map_warnings + [f"{labels[lesion.id]}: {w}" for lesion in found for w in lesion.warnings]
    if midline is None:
        warnings.append("no midline reference (spine, sternum, sacrum or left/right bone pairs) in the bone map")
    else:
        warnings += list(midline.warnings)
    for warning in warnings:
        logger.warning(warning)
    return Study(patient=dict(patient or {}), study=dict(study or {}), lesions=found,
                 midline=None if midline is None else {"normal_ras": _r(midline.normal, 4), "offset_mm": round(midline.offset, 2),
                                                        "basis": midline.basis, "left_out": list(midline.warnings)},
                 inputs=dict(inputs or {}), warnings=warnings)
