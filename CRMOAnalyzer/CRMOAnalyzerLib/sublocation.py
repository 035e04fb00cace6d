"""Sub-location of a lesion inside its bone, from the bone's own shape (rules in ``resources/sublocation.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

import numpy as np

from .files import read_json

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


def _axis(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre = points.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((points - centre).T))
    return centre, vectors[:, ::-1]  # columns: principal axes, longest first


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


def _long_axis(bone_ras: np.ndarray, rank_end) -> tuple[_Axis, np.ndarray]:
    """The long axis pointing away from the end that ``rank_end(point)`` ranks lower, and each voxel's position along it."""
    centre, axes = _axis(bone_ras)
    along = (bone_ras - centre) @ axes[:, 0]
    low, high = float(along.min()), float(along.max())
    if rank_end(centre + low * axes[:, 0]) > rank_end(centre + high * axes[:, 0]):
        axes[:, 0], along, low, high = -axes[:, 0], -along, -high, -low
    return _Axis(centre, axes, low, high), along


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
    def from_voxels(cls, bone_ras: np.ndarray, trunk_centre: np.ndarray) -> BoneFrame:
        """Measure the bone; ``trunk_centre`` tells the proximal end."""
        if len(bone_ras) < 10:
            return UNKNOWN
        rule = rules()["long_bone"]
        axis, along = _long_axis(bone_ras, lambda end: float(np.linalg.norm(end - trunk_centre)))
        length = axis.high - axis.low
        physis, slab = rule["epiphysis_fraction"] * length, rule["width_slab_fraction"] * length
        metaphysis = {}
        for end, inner in (("proximal", along - axis.low), ("distal", axis.high - along)):
            section = bone_ras[(inner >= physis) & (inner < physis + slab)]  # just inside the physis
            width = 0.0
            if len(section):
                across = (section - axis.centre) @ axis.axes[:, 1:]
                width = float(np.max(across.max(axis=0) - across.min(axis=0)))
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
    def from_voxels(cls, bone_ras: np.ndarray, midline_distance) -> BoneFrame:
        """Measure the clavicle; ``midline_distance(p)`` gives the signed mm to the midline."""
        if len(bone_ras) < 10:
            return UNKNOWN
        return cls(_long_axis(bone_ras, lambda end: abs(float(midline_distance(end))))[0])

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
    """Each voxel's height (patient superior) and depth (patient anterior), sorted by height."""

    superior: np.ndarray
    anterior: np.ndarray
    heights: np.ndarray
    depths: np.ndarray

    @classmethod
    def from_voxels(cls, bone_ras: np.ndarray, right: np.ndarray) -> BoneFrame:
        """Measure the vertebra; ``right`` is the patient's right (the midline normal)."""
        superior = SUPERIOR - (SUPERIOR @ right) * right
        superior = superior / np.linalg.norm(superior)
        anterior = np.cross(superior, right)  # RAS is right-handed: S x R = A
        heights = bone_ras @ superior
        order = np.argsort(heights, kind="stable")
        return cls(superior, anterior, heights[order], (bone_ras @ anterior)[order])

    def locate(self, point: np.ndarray) -> SubLocation:
        """Vertebral body or posterior elements, from the vertebra's depth in a slab around the point."""
        rule = rules()["vertebra"]
        point = np.asarray(point, dtype=float)
        height = float(point @ self.superior)
        lo = np.searchsorted(self.heights, height - rule["slab_mm"], side="left")
        hi = np.searchsorted(self.heights, height + rule["slab_mm"], side="right")
        if hi - lo < 10:
            return SubLocation(None)
        local = self.depths[lo:hi]
        front, back = float(local.max()), float(local.min())
        position = float((front - point @ self.anterior) / max(front - back, 1e-6))  # 0 at the front
        if position <= rule["body_anterior_fraction"]:
            return SubLocation("vertebral body", None, position)
        return SubLocation("posterior elements", None, position)
