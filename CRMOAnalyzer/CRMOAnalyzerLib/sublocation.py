"""Sub-location of a lesion inside its bone, from the bone's own shape (rules in ``resources/sublocation.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

import numpy as np

from .files import read_json
from .runs import Runs

__all__ = ["SubLocation", "BoneFrame", "UNKNOWN", "LongBone", "Clavicle", "Vertebra", "rules"]

SUPERIOR = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class SubLocation:
    """Where in the bone: ``sublocation`` (contract values), ``bone_end`` and the position used."""

    sublocation: str | None
    bone_end: str | None = None
    position: float | None = None  # fraction along the bone from its proximal (or medial) end


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


class _Unknown:
    """No frame (too few voxels, no rule for the bone kind, no midline for a clavicle): no sub-location."""

    def locate(self, point: np.ndarray) -> SubLocation:
        return SubLocation(None)


#: the frame of a bone whose sub-locations cannot be told
UNKNOWN: BoneFrame = _Unknown()


@dataclass(frozen=True, eq=False)
class LongBone:
    """Long axis from the proximal end (nearer the trunk) to the distal end, and the metaphysis length at each end."""

    axis: _Axis
    metaphysis: dict[str, float]  # end -> mm beyond the physis

    @classmethod
    def from_runs(cls, bone: Runs, trunk_centre: np.ndarray) -> BoneFrame:
        """Measure the bone; ``trunk_centre`` tells the proximal end."""
        if bone.count < 10:
            return UNKNOWN
        rule = rules()["long_bone"]
        axis = _long_axis(bone, lambda end: float(np.linalg.norm(end - trunk_centre)))
        length = axis.high - axis.low
        physis, slab = rule["epiphysis_fraction"] * length, rule["width_slab_fraction"] * length
        # the widest extent across the axis just inside each physis: from physis to physis + slab mm in from the end
        sections = {"proximal": (axis.low + physis, axis.low + physis + slab), "distal": (axis.high - physis - slab, axis.high - physis)}
        metaphysis = {}
        for end, (start, stop) in sections.items():
            part = bone.clip(axis.axes[:, 0], start, stop, axis.centre, closed="left" if end == "proximal" else "right")
            width = max(high - low for low, high in (part.extent(axis.axes[:, c]) for c in (1, 2))) if part.count else 0.0
            metaphysis[end] = min(rule["metaphysis_width_factor"] * width, rule["metaphysis_max_fraction"] * length)
        return cls(axis, metaphysis)

    def locate(self, point: np.ndarray) -> SubLocation:
        """Epiphysis, metaphysis or diaphysis, and the proximal or distal end."""
        s = self.axis.along(point)
        position = self.axis.fraction(s)
        end = "proximal" if position <= 0.5 else "distal"
        from_end = min(s - self.axis.low, self.axis.high - s)
        physis = rules()["long_bone"]["epiphysis_fraction"] * (self.axis.high - self.axis.low)
        if from_end < physis:
            return SubLocation("epiphysis", end, position)
        if from_end < physis + self.metaphysis[end]:
            return SubLocation("metaphysis", end, position)
        return SubLocation("diaphysis", None, position)


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
