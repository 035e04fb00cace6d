"""Sub-location of a lesion inside its bone, from the bone's own shape (rules in ``resources/sublocation.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..io.files import read_json, resource
from .distances import components, contact, distances_to
from .runs import Runs

__all__ = ["SubLocation", "BoneFrame", "UNKNOWN", "Unknown", "LongBone", "Clavicle", "Vertebra", "HipBone", "Rib", "Scapula",
           "Sternum", "Mandible", "Sacrum", "PatientAxes", "SidedAcrossMidline", "rules", "end_slabs", "points_of",
           "midline_side", "fixed_half_width", "sublocation_code"]

SUPERIOR = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class SubLocation:
    """Where in the bone: ``sublocation`` (contract values), ``bone_end``, the position used, and why not more."""

    sublocation: str | None
    bone_end: str | None = None
    position: float | None = None  # fraction along the bone from its proximal (or medial) end
    warning: str | None = None  # what could not be told, and why


@lru_cache(maxsize=None)
def rules() -> dict:
    """The thresholds and their sources."""
    return read_json(resource("sublocation.json"), "sub-location rules")


def sublocation_code(bone_base: str, sublocation: str | None, finding_site: dict | None) -> dict | None:
    """The code of a sub-location (``sublocation.json`` "codes"): ``{"scheme", "code", "meaning", "phrase",
    "verified", "source"}``. A verified SNOMED CT concept where one is listed for the bone (``hip``, ``scapula``,
    ``sternum``, ``rib_5`` -> ``rib``); otherwise the bone's own ``finding_site`` with the sub-location as the phrase
    (``verified`` False). ``None`` without a sub-location or a finding site."""
    if not sublocation:
        return None
    table = rules()["codes"]
    base = "rib" if bone_base.startswith("rib") else bone_base
    entry = table["by_bone"].get(base, {}).get(sublocation)
    if entry is not None:
        return {"scheme": table["scheme"], "code": entry["code"], "meaning": entry["meaning"],
                "phrase": entry.get("phrase"), "verified": True, "source": entry["source"]}
    if not finding_site:
        return None
    return {"scheme": finding_site["scheme"], "code": finding_site["code"], "meaning": finding_site["meaning"],
            "phrase": sublocation, "verified": False, "source": "the bone's code; no verified code for the sub-location"}


@dataclass(frozen=True, eq=False)
class _Axis:
    """A bone's long axis (first principal axis), pointing from one end (``low``) to the other (``high``)."""

    centre: np.ndarray
    axes: np.ndarray  # columns: principal axes, the long one first
    low: float  # mm from the centre to the bone's edge at each end (not its outermost voxel centre)
    high: float

    def along(self, point: np.ndarray) -> float:
        """Position of a point along the axis (mm from the centre)."""
        return float((np.asarray(point, dtype=float) - self.centre) @ self.axes[:, 0])

    def fraction(self, along: float) -> float:
        """0 at the ``low`` end, 1 at the ``high`` end."""
        return float(np.clip((along - self.low) / (self.high - self.low), 0.0, 1.0))


def _half_voxel(bone: Runs, direction: np.ndarray) -> float:
    """Half a voxel's own extent along ``direction`` (mm): how far the bone reaches beyond its outermost voxel centres."""
    return 0.5 * float(np.sum(np.abs(bone.affine[:3, :3].T @ np.asarray(direction, dtype=float))))


def _edges(bone: Runs, direction: np.ndarray, origin: np.ndarray | None = None) -> tuple[float, float]:
    """The bone's lowest and highest ``direction . (p - origin)``: its edges, half a voxel beyond the extremes of its
    voxel centres (``Runs.extent``), so that a bone of N voxels at spacing s along ``direction`` is N x s long."""
    low, high = bone.extent(direction, origin)
    half = _half_voxel(bone, direction)
    return low - half, high + half


def _long_axis(bone: Runs, rank_end) -> _Axis:
    """The long axis from edge to edge, pointing away from the end that ``rank_end(point)`` ranks lower."""
    centre, covariance = bone.moments()
    axes = np.linalg.eigh(covariance)[1][:, ::-1].copy()  # columns: principal axes, longest first
    low, high = _edges(bone, axes[:, 0], centre)
    if rank_end(centre + low * axes[:, 0]) > rank_end(centre + high * axes[:, 0]):
        axes[:, 0], low, high = -axes[:, 0], -high, -low
    return _Axis(centre, axes, low, high)


class BoneFrame(Protocol):
    """A bone's own frame, measured once from its voxels and then asked for any number of lesions."""

    def locate(self, point: np.ndarray) -> SubLocation:
        """The sub-location of a point (RAS mm)."""


@dataclass(frozen=True)
class Unknown:
    """No frame (too few voxels, no rule for the bone kind, no midline for a clavicle): no sub-location,
    and ``warning`` when the lesion should say why."""

    warning: str | None = None

    def locate(self, point: np.ndarray) -> SubLocation:
        return SubLocation(None, warning=self.warning)


#: the frame of a bone whose sub-locations cannot be told
UNKNOWN: BoneFrame = Unknown()


#: which end of a long bone is proximal: "low" or "high" end of its axis, or None; and what told it
Orientation = tuple[str | None, str]


@dataclass(frozen=True, eq=False)
class LongBone:
    """A long bone's axis, which of its ends is proximal (if known), and per end: cut by the image edge or not,
    the physis depth and the metaphysis length beyond it (mm)."""

    axis: _Axis
    proximal: str | None  # "low" | "high" | None (end unknown)
    basis: str  # what told the proximal end, or why it is unknown
    cut: dict[str, bool]  # "low" / "high" -> the bone is cut there by the image's edge
    physis: dict[str, float]  # end -> mm from the end to the physis
    metaphysis: dict[str, float]  # end -> mm beyond the physis
    tips: dict[str, np.ndarray]  # end -> centroid of the bone's last end_slab_mm there (RAS)
    physis_basis: dict[str, str] | None = None  # end -> "seen in the bone map" or the estimate used

    @classmethod
    def from_runs(cls, bone: Runs, orient: Callable[[np.ndarray, np.ndarray], Orientation],
                  touches_edge: Callable[[Runs], bool]) -> BoneFrame:
        """Measure the bone. ``orient(low_tip, high_tip)`` tells which end is proximal from the anatomy around it;
        ``touches_edge(runs)`` whether voxels touch the edge of the image (there the bone is cut, not ended)."""
        if bone.count < 10:
            return UNKNOWN
        rule = rules()["long_bone"]
        centre, covariance = bone.moments()
        axes = np.linalg.eigh(covariance)[1][:, ::-1].copy()
        low, high = _edges(bone, axes[:, 0], centre)  # the bone's ends, not its outermost voxel centres
        axis = _Axis(centre, axes, low, high)
        length = high - low
        ends = end_slabs(bone, axes[:, 0], centre)
        cut = {end: touches_edge(part) for end, part in ends.items()}
        tips = {end: part.moments()[0] for end, part in ends.items()}
        proximal, basis = orient(tips["low"], tips["high"])
        physis, metaphysis, physis_basis = {}, {}, {}
        seen = _physes(bone, axis, cut)
        for end, sign, start in (("low", 1.0, low), ("high", -1.0, high)):
            whole = not any(cut.values())
            if end in seen:  # the physis the map shows: the square at it, from the width just beyond it
                physis[end], physis_basis[end] = seen[end], "physis seen in the bone map"
            elif whole:  # the whole bone: the physis from its length
                physis[end], physis_basis[end] = rule["epiphysis_fraction"] * length, "estimated from the bone's length"
            if end in physis:
                slab = rule["width_slab_fraction"] * length if whole else rule["end_width_probe_mm"] / 2
                width = _width(bone, axis, start + sign * physis[end], start + sign * (physis[end] + slab))
                metaphysis[end] = rule["metaphysis_width_factor"] * width
                if whole:
                    metaphysis[end] = min(metaphysis[end], rule["metaphysis_max_fraction"] * length)
            else:  # length unknown: both from the end's width
                width = _width(bone, axis, start, start + sign * rule["end_width_probe_mm"])
                physis[end], physis_basis[end] = rule["epiphysis_width_ratio"] * width, "estimated from the end's width"
                metaphysis[end] = rule["metaphysis_width_factor"] * width
        return cls(axis, proximal, basis, cut, physis, metaphysis, tips, physis_basis)

    def named(self, end: str) -> str | None:
        """``"proximal"`` or ``"distal"`` for the ``"low"`` or ``"high"`` end, ``None`` if the ends are unknown."""
        if self.proximal is None:
            return None
        return "proximal" if end == self.proximal else "distal"

    def locate(self, point: np.ndarray) -> SubLocation:
        """Epiphysis, metaphysis or diaphysis, and the proximal or distal end; unknown near a cut or with no known end."""
        s = self.axis.along(point)
        position = self.axis.fraction(s)
        if self.proximal == "high":
            position = 1.0 - position
        elif self.proximal is None:
            position = None
        from_end = {"low": s - self.axis.low, "high": self.axis.high - s}
        for end in sorted(from_end, key=from_end.get):
            if self.cut[end]:
                continue
            if from_end[end] < self.physis[end] + self.metaphysis[end]:
                where = "epiphysis" if from_end[end] < self.physis[end] else "metaphysis"
                named = self.named(end)
                warning = None if named else f"end unknown: {self.basis}"
                return SubLocation(where, named, position, warning)
        if not any(self.cut.values()):
            return SubLocation("diaphysis", None, position)
        cut = " and ".join(self.named(e) or "one" for e in ("low", "high") if self.cut[e])
        return SubLocation(None, None, position, f"sub-location unknown: the bone is cut by the edge of the image at its "
                                                 f"{cut} end, and the lesion lies beyond the metaphysis of the end the image shows")


def _physes(bone: Runs, axis: _Axis, cut: dict[str, bool]) -> dict[str, float]:
    """The physis at each uncut end where the bone map shows it (mm from the end): the bone's end cut off from the
    rest by a thin transverse gap (the unossified physis; face-connected voxels, so a gap of one voxel shows). Looked
    for in the end's zone only (``physis_search_width_factor`` x the end's width, plus twice ``end_slab_mm``): a piece
    there that starts within ``end_slab_mm`` of the end, ends within the search depth, spans
    ``physis_min_span_fraction`` of the end's width across the axis (an epiphysis, not an ossicle or a spur); of
    several such pieces, the largest. Its depth: the far edge of the piece's deepest voxel (depths from the bone's
    edge, as the axis's ends are)."""
    rule = rules()["long_bone"]
    u = axis.axes[:, 0]
    found: dict[str, float] = {}
    for end in (e for e in ("low", "high") if not cut[e]):
        probe = (axis.low, axis.low + rule["end_width_probe_mm"]) if end == "low" else \
                (axis.high - rule["end_width_probe_mm"], axis.high)
        width = _width(bone, axis, *probe)
        reach = rule["physis_search_width_factor"] * width
        deep = reach + 2 * rule["end_slab_mm"]
        zone = bone.clip(u, axis.low, axis.low + deep, axis.centre, closed="both") if end == "low" else \
            bone.clip(u, axis.high - deep, axis.high, axis.centre, closed="both")
        if zone.count < 20:
            continue
        mask, low = zone.mask()
        labels, count = components(mask, fully_connected=False)  # largest first
        if count < 2:
            continue
        k, j, i = np.nonzero(labels)
        piece = labels[k, j, i]
        ras = np.column_stack([i + low[0], j + low[1], k + low[2]]) @ bone.affine[:3, :3].T + bone.affine[:3, 3]
        along = (ras - axis.centre) @ u
        depth = along - axis.low if end == "low" else axis.high - along
        across = ras - axis.centre - np.outer(along, u)
        shallow = np.full(count + 1, np.inf)
        deepest = np.full(count + 1, -np.inf)
        np.minimum.at(shallow, piece, depth)
        np.maximum.at(deepest, piece, depth)
        for candidate in range(1, count + 1):
            if shallow[candidate] > rule["end_slab_mm"] or deepest[candidate] > reach:
                continue
            part = across[piece == candidate]
            span = max(float(np.ptp(part @ axis.axes[:, c])) for c in (1, 2))
            if span >= rule["physis_min_span_fraction"] * width:
                found[end] = float(deepest[candidate]) + _half_voxel(bone, u)
                break
    return found


def end_slabs(bone: Runs, direction: np.ndarray | None = None, centre: np.ndarray | None = None) -> dict[str, Runs]:
    """The bone's last ``end_slab_mm`` at each end of ``direction`` (default: its long axis), from its edges (as the
    long axis's ends): the voxels whose centres lie within ``end_slab_mm`` of the edge, ``{"low", "high"}``."""
    if direction is None:
        centre, covariance = bone.moments()
        direction = np.linalg.eigh(covariance)[1][:, -1]
    low, high = _edges(bone, direction, centre)
    probe = rules()["long_bone"]["end_slab_mm"]
    return {"low": bone.clip(direction, low, low + probe, centre, closed="both"),
            "high": bone.clip(direction, high - probe, high, centre, closed="both")}


def _width(bone: Runs, axis: _Axis, start: float, stop: float) -> float:
    """The widest extent across the axis, edge to edge (as the length), of the bone's voxels between ``start`` and
    ``stop`` mm along it."""
    part = bone.clip(axis.axes[:, 0], min(start, stop), max(start, stop), axis.centre, closed="both")
    if not part.count:
        return 0.0
    return max(hi - lo for lo, hi in (_edges(part, axis.axes[:, c]) for c in (1, 2)))


@dataclass(frozen=True, eq=False)
class Clavicle:
    """Long axis from the medial end (nearer the midline) to the lateral end."""

    axis: _Axis

    @classmethod
    def from_runs(cls, bone: Runs, midline_distance) -> BoneFrame:
        """Measure the clavicle; ``midline_distance(p)`` gives the signed mm to the midline."""
        if bone.count < 10:
            return UNKNOWN
        return cls(_long_axis(bone, lambda end: abs(float(midline_distance(end)))))

    def locate(self, point: np.ndarray) -> SubLocation:
        """Medial, middle or lateral third."""
        rule = rules()["clavicle"]
        position = self.axis.fraction(self.axis.along(point))
        if position < rule["medial_end_fraction"]:
            return SubLocation("medial", None, position)
        if position < rule["lateral_start_fraction"]:
            return SubLocation("middle", None, position)
        return SubLocation("lateral", None, position)


@dataclass(frozen=True, eq=False)
class Vertebra:
    """The vertebra's voxels (as runs), seen from the side: height along the patient's superior, depth along anterior."""

    superior: np.ndarray
    anterior: np.ndarray
    bone: Runs

    @classmethod
    def from_runs(cls, bone: Runs, right: np.ndarray) -> BoneFrame:
        """Measure the vertebra; ``right`` is the patient's right (the midline normal)."""
        if bone.count < 10:
            return UNKNOWN
        superior = SUPERIOR - (SUPERIOR @ right) * right
        superior = superior / np.linalg.norm(superior)
        anterior = np.cross(superior, right)  # RAS is right-handed: S x R = A
        return cls(superior, anterior, bone)

    def locate(self, point: np.ndarray) -> SubLocation:
        """Vertebral body or posterior elements, from the vertebra's depth in a slab around the point."""
        rule = rules()["vertebra"]
        point = np.asarray(point, dtype=float)
        height = float(point @ self.superior)
        slab = self.bone.clip(self.superior, height - rule["slab_mm"], height + rule["slab_mm"], closed="both")
        if slab.count < 10:
            return SubLocation(None)
        back, front = slab.extent(self.anterior)
        position = float((front - point @ self.anterior) / max(front - back, 1e-6))  # 0 at the front
        if position <= rule["body_anterior_fraction"]:
            return SubLocation("vertebral body", None, position)
        return SubLocation("posterior elements", None, position)


# ---- flat and irregular bones ---------------------------------------------------------------------

class SidedAcrossMidline:
    """The frame of an unpaired bone reported by side (mandible, sacrum: ``sided_midline_bones``): it answers the
    side of a point by the same rule that gives its sub-location, so the two never disagree. Frames that derive from it
    have ``axes`` (:class:`PatientAxes`, with a midline) and ``midline_half_width``."""

    axes: PatientAxes
    midline_half_width: float  # within this of the midline: no side

    def side(self, point: np.ndarray) -> str | None:
        """``"right"`` or ``"left"`` beyond ``midline_half_width`` of the midline; ``None`` within it."""
        return midline_side(float(self.axes.frame(point)[0]) - self.axes.offset, self.midline_half_width)


def midline_side(distance: float, half_width: float) -> str | None:
    """The side of a point ``distance`` mm to the patient's right of the midline (negative: left) in a bone reported by
    side across it: ``None`` within ``half_width`` of the midline, else ``"right"`` or ``"left"``."""
    if abs(distance) <= half_width:
        return None
    return "right" if distance > 0 else "left"


def fixed_half_width(base: str) -> float:
    """The fixed half-width of a sided midline bone (``sided_midline_bones``): the mandible's symphysis; the sacrum's
    fallback when its bodies cannot be measured."""
    return float(rules()["sided_midline_bones"][base]["midline_half_width_mm"])


@dataclass(frozen=True, eq=False)
class PatientAxes:
    """The patient's axes in RAS: ``right`` (the midline normal, else RAS x), ``superior`` (RAS z made
    perpendicular to it) and ``anterior`` (superior x right); ``offset``: the midline's (None: no midline)."""

    right: np.ndarray
    superior: np.ndarray
    anterior: np.ndarray
    offset: float | None = None

    @classmethod
    def of(cls, right: np.ndarray | None, offset: float | None = None) -> PatientAxes:
        right = np.array([1.0, 0.0, 0.0]) if right is None else np.asarray(right, dtype=float)
        superior = SUPERIOR - (SUPERIOR @ right) * right
        superior = superior / np.linalg.norm(superior)
        return cls(right, superior, np.cross(superior, right), offset)

    def frame(self, points: np.ndarray) -> np.ndarray:
        """(right, anterior, superior) mm coordinates of RAS points (``(n, 3)`` or ``(3,)``)."""
        return np.asarray(points, dtype=float) @ np.column_stack([self.right, self.anterior, self.superior])


def points_of(runs: Runs, most: int = 200_000) -> np.ndarray:
    """RAS centres of the voxels of ``runs`` (``(n, 3)``), every ``step``-th voxel when there are more than ``most``."""
    total = runs.count
    if not total:
        return np.zeros((0, 3))
    ijk = np.column_stack(runs.voxels(total // most + 1 if total > most else 1)).astype(float)
    return ijk @ runs.affine[:3, :3].T + runs.affine[:3, 3]


@dataclass(frozen=True, eq=False)
class HipBone:
    """A hip bone in the patient's frame: its acetabulum (the bone facing the femoral head), the three bones that
    meet there by their direction from it, and the sacrum beside the ilium (rules in ``sublocation.json``)."""

    axes: PatientAxes
    centre: np.ndarray | None  # the acetabulum's centre (RAS), None without a femur articulating with it
    femur: Runs | None  # the femur's voxels of the same side
    sacrum: Runs | None  # the sacrum's voxels
    top: float  # the bone's highest point along the patient's superior (mm)
    height: float
    warning: str | None  # why only part of the bone can be told (None: all of it)

    @classmethod
    def from_runs(cls, bone: Runs, axes: PatientAxes, femur: list[Runs], sacrum: list[Runs], cut: bool) -> BoneFrame:
        """Measure the hip bone; ``femur`` and ``sacrum`` the bones of the map it articulates with, ``cut``:
        the bone touches the edge of the image."""
        if bone.count < 10:
            return UNKNOWN
        if cut:
            return Unknown("sub-location unknown: the hip bone is cut by the edge of the image")
        rule = rules()["hip_bone"]
        femur_runs, sacrum_runs = Runs.join(femur), Runs.join(sacrum)
        low, high = bone.extent(axes.superior)
        height = high - low
        face = contact(bone, femur_runs, rule["articulation_max_mm"], rule["contact_margin_mm"])
        if face is None:
            why = "no femur in the bone map" if femur_runs is None else "no femur within " \
                  f"{rule['articulation_max_mm']:g} mm of it"
            return cls(axes, None, femur_runs, sacrum_runs, high, height,
                       f"acetabulum unknown ({why}): only the upper ilium and the ilium beside the sacroiliac joint can be told")
        centre = face.mean(axis=0)
        below = (float(centre @ axes.superior) - low) / max(height, 1e-6)
        named = cls._parts(axes, centre, points_of(bone))
        shares = {name: float(np.mean(named == name)) for name in ("ilium", "ischium", "pubis")}
        missing = [name for name, share in shares.items() if share < rule["min_part_fraction"]]
        if not rule["acetabulum_height_range"][0] <= below <= rule["acetabulum_height_range"][1] or missing:
            shown = f"the acetabulum, where the femur meets it, lies at {100 * below:.0f}% of its height from its lowest " \
                    "point" + (f", and it shows no {' or '.join(missing)}" if missing else "")
            return Unknown(f"sub-location unknown: the hip bone's shape is not that of a whole hip bone ({shown}): "
                           "partly segmented?")
        return cls(axes, centre, femur_runs, sacrum_runs, high, height, None)

    @staticmethod
    def _parts(axes: PatientAxes, centre: np.ndarray, points: np.ndarray) -> np.ndarray:
        """"ilium", "ischium" or "pubis" for each point, by its direction from the acetabulum's centre seen from the
        side: the ilium above, between ``ilium_from_degrees`` (posterior) and ``ilium_to_degrees`` (anterior) from
        the patient's superior; below that the pubis in front and the ischium behind."""
        rule = rules()["hip_bone"]
        d = np.atleast_2d(np.asarray(points, dtype=float)) - centre
        angle = np.degrees(np.arctan2(d @ axes.anterior, d @ axes.superior))
        ilium = (angle > rule["ilium_from_degrees"]) & (angle < rule["ilium_to_degrees"])
        return np.where(ilium, "ilium", np.where(angle > 0, "pubis", "ischium"))

    @staticmethod
    def _distance(bone: Runs | None, point: np.ndarray) -> float:
        return float(distances_to(bone, point)[0]) if bone is not None else np.inf

    def locate(self, point: np.ndarray) -> SubLocation:
        """Acetabulum, ilium (beside the sacroiliac joint or not), ischium or pubis; unknown where the geometry
        does not tell."""
        rule = rules()["hip_bone"]
        point = np.asarray(point, dtype=float)
        if self.centre is not None:
            if self._distance(self.femur, point) <= rule["acetabulum_mm"]:
                return SubLocation("acetabulum")
            part = str(self._parts(self.axes, self.centre, point)[0])
        elif (depth := (self.top - float(point @ self.axes.superior)) / max(self.height, 1e-6)) <= rule["upper_ilium_fraction"] \
                or (depth <= rule["sacroiliac_height_fraction"]
                    and self._distance(self.sacrum, point) <= rule["sacroiliac_mm"]):
            part = "ilium"
        else:
            return SubLocation(None, warning=f"sub-location unknown: {self.warning}")
        if part == "ilium" and self._distance(self.sacrum, point) <= rule["sacroiliac_mm"]:
            return SubLocation("ilium beside the sacroiliac joint")
        return SubLocation(part)


@dataclass(frozen=True, eq=False)
class Rib:
    """A rib's angle around the body axis: 0 degrees towards the spine, 180 towards the sternum, measured in the
    axial plane on the rib cage's ellipse (lateral by the rib's half-width from the midline, antero-posterior by
    the cage's depth from the rib's back to the sternum or the front of the rib cage)."""

    axes: PatientAxes
    half_width: float
    back: float
    front: float
    basis: str

    @classmethod
    def from_runs(cls, bone: Runs, axes: PatientAxes, front: tuple[float, str] | None, cut: bool) -> BoneFrame:
        """Measure the rib; ``front``: the anterior coordinate of the front of the rib cage and what gave it."""
        if bone.count < 10:
            return UNKNOWN
        if axes.offset is None:
            return Unknown("sub-location unknown: the bone map has no midline to measure the rib's angle from")
        if cut:
            return Unknown("sub-location unknown: the rib is cut by the edge of the image")
        if front is None:
            return Unknown("sub-location unknown: no sternum and no rib reaching the front of the chest in the bone map")
        lateral = bone.extent(axes.right)
        half_width = max(abs(lateral[0] - axes.offset), abs(lateral[1] - axes.offset))
        back = bone.extent(axes.anterior)[0]
        if front[0] - back < 10.0 or half_width < 10.0:
            return Unknown("sub-location unknown: the rib cage's depth or the rib's width could not be measured")
        return cls(axes, half_width, back, front[0], front[1])

    def angle(self, point: np.ndarray) -> float:
        """Degrees around the body axis from the spine (0) to the sternum (180)."""
        point = np.asarray(point, dtype=float)
        u = abs(float(point @ self.axes.right) - self.axes.offset) / self.half_width
        v = (float(point @ self.axes.anterior) - (self.back + self.front) / 2) / ((self.front - self.back) / 2)
        return float(np.degrees(np.arctan2(u, -v)))

    def locate(self, point: np.ndarray) -> SubLocation:
        """Posterior, lateral or anterior arc."""
        rule = rules()["rib"]
        angle = self.angle(point)
        if angle < rule["posterior_to_degrees"]:
            where = "posterior arc"
        elif angle <= rule["anterior_from_degrees"]:
            where = "lateral arc"
        else:
            where = "anterior arc"
        return SubLocation(where)


@dataclass(frozen=True, eq=False)
class Scapula:
    """A scapula's glenoid (the bone facing the humeral head) and the processes by their direction from it."""

    axes: PatientAxes
    glenoid: np.ndarray  # the glenoid's centre (RAS)
    outward: float  # +1 if the patient's right is away from the midline on this side, else -1

    @classmethod
    def from_runs(cls, bone: Runs, axes: PatientAxes, humerus: list[Runs], side: str | None) -> BoneFrame:
        """Measure the scapula; ``humerus``: the humerus of its side in the map."""
        if bone.count < 10:
            return UNKNOWN
        if side is None:
            return Unknown("sub-location unknown: the scapula's side is unknown")
        rule = rules()["scapula"]
        face = contact(bone, Runs.join(humerus), rule["articulation_max_mm"], rule["contact_margin_mm"])
        if face is None:
            why = "no humerus in the bone map" if not humerus else \
                  f"no humeral head within {rule['articulation_max_mm']:g} mm of it"
            return Unknown(f"sub-location unknown: the glenoid cannot be found ({why})")
        return cls(axes, face.mean(axis=0), 1.0 if side == "right" else -1.0)

    def locate(self, point: np.ndarray) -> SubLocation:
        """Glenoid, coracoid, acromion or body."""
        rule = rules()["scapula"]
        d = np.asarray(point, dtype=float) - self.glenoid
        if float(np.linalg.norm(d)) <= rule["glenoid_mm"]:
            return SubLocation("glenoid")
        if float(d @ self.axes.anterior) > rule["coracoid_anterior_mm"]:
            return SubLocation("coracoid")
        if float(d @ self.axes.superior) > rule["acromion_superior_mm"] \
                and self.outward * float(d @ self.axes.right) > -rule["acromion_medial_mm"]:
            return SubLocation("acromion")
        return SubLocation("body")


@dataclass(frozen=True, eq=False)
class Sternum:
    """The sternum's long axis from its upper end (the end higher along the patient's superior axis)."""

    axis: _Axis

    @classmethod
    def from_runs(cls, bone: Runs, axes: PatientAxes, cut: bool) -> BoneFrame:
        if bone.count < 10:
            return UNKNOWN
        if cut:
            return Unknown("sub-location unknown: the sternum is cut by the edge of the image")
        return cls(_long_axis(bone, lambda end: -float(end @ axes.superior)))

    def locate(self, point: np.ndarray) -> SubLocation:
        """Manubrium or body."""
        position = self.axis.fraction(self.axis.along(point))
        where = "manubrium" if position < rules()["sternum"]["manubrium_fraction"] else "body"
        return SubLocation(where, None, position)


@dataclass(frozen=True, eq=False)
class Sacrum(SidedAcrossMidline):
    """The sacral bodies' half-width (mm either side of the midline), measured from the body of the lumbar vertebra
    resting on the sacrum: within it the body, with no side; beyond it the ala, with its side (one rule for both).
    Where the width cannot be measured (``body_half_width`` None, ``warning`` says why) the sub-location is unknown
    and the side falls back to the fixed ``sided_midline_bones.sacrum.midline_half_width_mm``. Rules in
    ``sublocation.json`` ("sacrum")."""

    axes: PatientAxes
    body_half_width: float | None  # None: not measured
    warning: str | None = None  # why the width could not be measured

    @classmethod
    def from_runs(cls, bone: Runs, axes: PatientAxes, vertebrae: list[Runs]) -> BoneFrame:
        """Measure the sacrum; ``vertebrae``: the lumbar (or side-less spine) vertebra labels of the map, never S1
        (a separate S1 label holds the S1 ala too)."""
        if axes.offset is None:
            return Unknown()  # the side is unknown, with its own warning
        rule = rules()["sacrum"]
        fallback = f"; its side from the fixed {fixed_half_width('sacrum'):g} mm either side of the midline"
        if bone.count < 10:
            return cls(axes, None, "sub-location unknown (ala or body): the sacrum has too few voxels to measure" + fallback)
        spine = contact(Runs.join(vertebrae), bone, rule["vertebra_reach_mm"], rule["vertebra_slab_mm"])
        if spine is None or len(spine) < 10:
            return cls(axes, None, "sub-location unknown (ala or body): no lumbar vertebra resting on the sacrum in the "
                                   "bone map to measure the sacral bodies' width from" + fallback)
        frame = axes.frame(spine)
        back, front = frame[:, 1].min(), frame[:, 1].max()
        body = frame[frame[:, 1] >= front - rule["body_anterior_fraction"] * (front - back)]
        # voxel centres fall short of the bone's edges by up to a voxel: half a voxel added on average
        voxel = max(float(np.max(np.abs(r.affine[:3, :3].T @ axes.right))) for r in vertebrae)
        width = float(body[:, 0].max() - body[:, 0].min()) + voxel / 2 if len(body) else 0.0
        if len(body) < 10 or width < rule["min_body_width_mm"]:
            return cls(axes, None, "sub-location unknown (ala or body): the body of the vertebra resting on the sacrum "
                                   "could not be measured" + fallback)
        return cls(axes, width / 2)

    @property
    def midline_half_width(self) -> float:
        """Within this of the midline a lesion has no side: the bodies' half-width, else the fixed fallback."""
        return self.body_half_width if self.body_half_width is not None else fixed_half_width("sacrum")

    def locate(self, point: np.ndarray) -> SubLocation:
        """Body (no side) or ala (a side), by the same rule as :meth:`side`; unknown where the width was not measured."""
        if self.body_half_width is None:
            return SubLocation(None, warning=self.warning)
        return SubLocation("body" if self.side(point) is None else "ala")


@dataclass(frozen=True, eq=False)
class Mandible(SidedAcrossMidline):
    """Per side, the ramus (where the bone rises to more than ``ramus_height_factor`` x the body's height) and its
    condyle (its posterior top); the symphysis within the midline's half-width."""

    axes: PatientAxes
    halves: dict  # side -> (ramus front, ramus back, ramus top) in mm along anterior / superior, or a warning

    @classmethod
    def from_runs(cls, bone: Runs, axes: PatientAxes, cut: bool) -> BoneFrame:
        if bone.count < 10:
            return UNKNOWN
        if axes.offset is None:
            return Unknown()  # the side is unknown, with its own warning
        if cut:  # the symphysis is still told (from the midline alone)
            return cls(axes, {side: "the mandible is cut by the edge of the image" for side in ("right", "left")})
        rule = rules()["mandible"]
        half_width = fixed_half_width("mandible")
        points = axes.frame(points_of(bone))
        lateral = points[:, 0] - axes.offset
        halves: dict = {}
        for side, on_side in (("right", lateral > half_width), ("left", lateral < -half_width)):
            half = points[on_side]
            if len(half) < 10:
                halves[side] = f"the {side} half of the mandible is not in the bone map"
                continue
            back, front = half[:, 1].min(), half[:, 1].max()
            edges = np.arange(back, front + rule["slab_mm"], rule["slab_mm"])
            heights = []
            for a, b in zip(edges[:-1], edges[1:]):
                slab = half[(half[:, 1] >= a) & (half[:, 1] < b), 2]
                heights.append(float(slab.max() - slab.min()) if len(slab) else 0.0)
            heights = np.array(heights)
            front_half = heights[(edges[:-1] + edges[1:]) / 2 > (back + front) / 2]
            body = float(front_half.max()) if len(front_half) else 0.0
            tall = heights > rule["ramus_height_factor"] * body
            first = int(np.argmax(tall))  # the first tall slab from the back, then the tall slabs in a row from it
            if body <= 0 or not tall.any() or edges[first] - back > rule["condyle_mm"]:
                halves[side] = f"no ramus rising from the back of the {side} body (partly segmented mandible?)"
                continue
            n = first + (int(np.argmin(tall[first:])) if not tall[first:].all() else len(tall) - first)
            ramus_front = float(edges[n])
            ramus = half[half[:, 1] < ramus_front]
            halves[side] = (ramus_front, float(back), float(ramus[:, 2].max()))
        return cls(axes, halves)

    @property
    def midline_half_width(self) -> float:
        """Within this of the midline a lesion has no side (the symphysis): ``sided_midline_bones.mandible``."""
        return fixed_half_width("mandible")

    def locate(self, point: np.ndarray) -> SubLocation:
        """Symphysis (no side), or body, ramus or condyle on the point's side (by the same rule as :meth:`side`)."""
        rule = rules()["mandible"]
        _, anterior, superior = self.axes.frame(point)
        side = self.side(point)
        if side is None:
            return SubLocation("symphysis")
        half = self.halves[side]
        if isinstance(half, str):
            return SubLocation(None, warning=f"sub-location unknown: {half}")
        front, back, top = half
        if anterior >= front:
            return SubLocation("body")
        if superior >= top - rule["condyle_mm"] and anterior < (front + back) / 2:
            return SubLocation("condyle")
        return SubLocation("ramus")
