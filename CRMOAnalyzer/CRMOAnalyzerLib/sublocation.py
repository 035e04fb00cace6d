"""Sub-location of a lesion inside its bone, from the bone's own shape (rules in ``resources/sublocation.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from collections.abc import Callable
from typing import Protocol

import numpy as np

from .files import read_json
from .runs import Runs

__all__ = ["SubLocation", "BoneFrame", "UNKNOWN", "Unknown", "LongBone", "Clavicle", "Vertebra", "rules", "end_slabs"]

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
    return read_json(resources.files(__package__) / "resources" / "sublocation.json", "sub-location rules")


@dataclass(frozen=True, eq=False)
class _Axis:
    """A bone's long axis (first principal axis), pointing from one end (``low``) to the other (``high``)."""

    centre: np.ndarray
    axes: np.ndarray  # columns: principal axes, the long one first
    low: float
    high: float

    def along(self, point: np.ndarray) -> float:
        """Position of a point along the axis (mm from the centre)."""
        return float((np.asarray(point, dtype=float) - self.centre) @ self.axes[:, 0])

    def fraction(self, along: float) -> float:
        """0 at the ``low`` end, 1 at the ``high`` end."""
        return float(np.clip((along - self.low) / (self.high - self.low), 0.0, 1.0))


def _long_axis(bone: Runs, rank_end) -> _Axis:
    """The long axis, pointing away from the end that ``rank_end(point)`` ranks lower."""
    centre, covariance = bone.moments()
    axes = np.linalg.eigh(covariance)[1][:, ::-1].copy()  # columns: principal axes, longest first
    low, high = bone.extent(axes[:, 0], centre)
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
        low, high = bone.extent(axes[:, 0], centre)
        axis = _Axis(centre, axes, low, high)
        length = high - low
        ends = end_slabs(bone, axes[:, 0], centre)
        cut = {end: touches_edge(part) for end, part in ends.items()}
        tips = {end: part.moments()[0] for end, part in ends.items()}
        proximal, basis = orient(tips["low"], tips["high"])
        physis, metaphysis = {}, {}
        for end, sign, start in (("low", 1.0, low), ("high", -1.0, high)):
            if not any(cut.values()):  # the whole bone: the physis from its length, the square at the physis
                physis[end] = rule["epiphysis_fraction"] * length
                slab = rule["width_slab_fraction"] * length
                width = _width(bone, axis, start + sign * physis[end], start + sign * (physis[end] + slab))
                metaphysis[end] = min(rule["metaphysis_width_factor"] * width, rule["metaphysis_max_fraction"] * length)
            else:  # length unknown: both from the end's width
                width = _width(bone, axis, start, start + sign * rule["end_width_probe_mm"])
                physis[end] = rule["epiphysis_width_ratio"] * width
                metaphysis[end] = rule["metaphysis_width_factor"] * width
        return cls(axis, proximal, basis, cut, physis, metaphysis, tips)

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


def end_slabs(bone: Runs, direction: np.ndarray | None = None, centre: np.ndarray | None = None) -> dict[str, Runs]:
    """The bone's last ``end_slab_mm`` at each end of ``direction`` (default: its long axis): ``{"low", "high"}``."""
    if direction is None:
        centre, covariance = bone.moments()
        direction = np.linalg.eigh(covariance)[1][:, -1]
    low, high = bone.extent(direction, centre)
    probe = rules()["long_bone"]["end_slab_mm"]
    return {"low": bone.clip(direction, low, low + probe, centre, closed="both"),
            "high": bone.clip(direction, high - probe, high, centre, closed="both")}


def _width(bone: Runs, axis: _Axis, start: float, stop: float) -> float:
    """The widest extent across the axis of the bone's voxels between ``start`` and ``stop`` mm along it."""
    part = bone.clip(axis.axes[:, 0], min(start, stop), max(start, stop), axis.centre, closed="both")
    if not part.count:
        return 0.0
    return max(hi - lo for lo, hi in (part.extent(axis.axes[:, c]) for c in (1, 2)))


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
