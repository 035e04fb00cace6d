"""Sub-location of a lesion inside its bone, from the bone's own shape (rules in ``resources/sublocation.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from .files import read_json

__all__ = ["SubLocation", "long_bone", "clavicle", "vertebra", "rules"]

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


def _long_axis(bone_ras: np.ndarray, rank_end) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Principal axes with the first one pointing away from the end that ``rank_end(point)`` ranks lower.

    Returns the centre, the axes (columns), each voxel's position along the first axis, and the
    positions of the two ends (the lower-ranked end first).
    """
    centre, axes = _axis(bone_ras)
    along = (bone_ras - centre) @ axes[:, 0]
    low, high = float(along.min()), float(along.max())
    if rank_end(centre + low * axes[:, 0]) > rank_end(centre + high * axes[:, 0]):
        axes[:, 0], along, low, high = -axes[:, 0], -along, -high, -low
    return centre, axes, along, low, high


def long_bone(bone_ras: np.ndarray, point: np.ndarray, trunk_centre: np.ndarray) -> SubLocation:
    """Epiphysis, metaphysis or diaphysis, and proximal or distal end, of a point in a long bone."""
    rule = rules()["long_bone"]
    if len(bone_ras) < 10:
        return SubLocation(None)
    # the axis runs from the proximal end (nearer the trunk) to the distal end
    centre, axes, along, low, high = _long_axis(bone_ras, lambda end: float(np.linalg.norm(end - trunk_centre)))
    axis = axes[:, 0]
    length = high - low
    s = float((np.asarray(point) - centre) @ axis)
    position = float(np.clip((s - low) / length, 0.0, 1.0))
    end = "proximal" if position <= 0.5 else "distal"
    from_end = min(s - low, high - s)
    physis = rule["epiphysis_fraction"] * length
    if from_end < physis:
        return SubLocation("epiphysis", end, position)
    # width of the bone just inside the physis at this end
    slab = rule["width_slab_fraction"] * length
    inner = (along - low) if end == "proximal" else (high - along)
    section = bone_ras[(inner >= physis) & (inner < physis + slab)]
    width = 0.0
    if len(section):
        across = (section - centre) @ axes[:, 1:]
        width = float(np.max(across.max(axis=0) - across.min(axis=0)))
    metaphysis = min(rule["metaphysis_width_factor"] * width, rule["metaphysis_max_fraction"] * length)
    if from_end < physis + metaphysis:
        return SubLocation("metaphysis", end, position)
    return SubLocation("diaphysis", None, position)


def clavicle(bone_ras: np.ndarray, point: np.ndarray, midline_distance) -> SubLocation:
    """Medial, middle or lateral third of a clavicle; ``midline_distance(p)`` gives |mm| to the midline."""
    rule = rules()["clavicle"]
    if len(bone_ras) < 10:
        return SubLocation(None)
    # the axis runs from the medial end (nearer the midline) to the lateral end
    centre, axes, _, low, high = _long_axis(bone_ras, lambda end: abs(float(midline_distance(end))))
    axis = axes[:, 0]
    position = float(np.clip(((np.asarray(point) - centre) @ axis - low) / (high - low), 0.0, 1.0))
    if position < rule["medial_end_fraction"]:
        return SubLocation("medial", None, position)
    if position < rule["lateral_start_fraction"]:
        return SubLocation("middle", None, position)
    return SubLocation("lateral", None, position)


def vertebra(bone_ras: np.ndarray, point: np.ndarray, right: np.ndarray) -> SubLocation:
    """Vertebral body or posterior elements; ``right`` is the patient's right (midline normal)."""
    rule = rules()["vertebra"]
    superior = SUPERIOR - (SUPERIOR @ right) * right
    superior /= np.linalg.norm(superior)
    anterior = np.cross(superior, right)  # RAS is right-handed: S x R = A
    point = np.asarray(point, dtype=float)
    height = (bone_ras - point) @ superior
    local = bone_ras[np.abs(height) <= rule["slab_mm"]]
    if len(local) < 10:
        return SubLocation(None)
    depth = local @ anterior
    front, back = float(depth.max()), float(depth.min())
    position = float((front - point @ anterior) / max(front - back, 1e-6))  # 0 at the front
    if position <= rule["body_anterior_fraction"]:
        return SubLocation("vertebral body", None, position)
    return SubLocation("posterior elements", None, position)
