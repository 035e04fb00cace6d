"""Slicer markups point lists (``.mrk.json``) in and out, in either coordinate system."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import CRMOInputError
from .files import read_json, write_json
from .geometry import lps_to_ras

__all__ = ["PointLesion", "read_points", "write_points", "MARKUPS_SCHEMA"]

MARKUPS_SCHEMA = "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#"


@dataclass
class PointLesion:
    """A lesion marked by one control point (RAS mm)."""

    label: str
    position_ras: np.ndarray
    description: str = ""
    findings: dict[str, Any] = field(default_factory=dict)


def read_points(path: str | os.PathLike) -> list[PointLesion]:
    """Control points of every point list in a ``.mrk.json`` file, as RAS.

    ``coordinateSystem`` "LPS" (Slicer's default for files) or "RAS" is honoured; any other, or a
    point that is not three finite numbers, is an error naming the file.
    """
    doc = read_json(path, "markups file")
    if not isinstance(doc, dict) or not isinstance(doc.get("markups"), list):
        raise CRMOInputError(path, 'not a Slicer markups file (no "markups" list)')
    points: list[PointLesion] = []
    for m_index, markup in enumerate(doc["markups"]):
        if not isinstance(markup, dict):
            raise CRMOInputError(path, f"markups[{m_index}] is not an object")
        system = str(markup.get("coordinateSystem", "LPS")).upper()
        if system not in ("LPS", "RAS"):
            raise CRMOInputError(path, f"markups[{m_index}] has coordinateSystem {system!r}; expected LPS or RAS")
        units = markup.get("coordinateUnits", "mm")
        if units not in ("mm", ["mm", "mm", "mm"]):
            raise CRMOInputError(path, f"markups[{m_index}] has coordinateUnits {units!r}; expected mm")
        control_points = markup.get("controlPoints", [])
        if not isinstance(control_points, list):
            raise CRMOInputError(path, f"markups[{m_index}].controlPoints is not a list")
        for p_index, point in enumerate(control_points):
            where = f"markups[{m_index}].controlPoints[{p_index}]"
            if not isinstance(point, dict):
                raise CRMOInputError(path, f"{where} is not an object")
            if point.get("positionStatus", "defined") != "defined":
                continue  # undefined / preview points have no position yet
            position = point.get("position")
            if (not isinstance(position, list) or len(position) != 3
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in position)):
                raise CRMOInputError(path, f"{where}.position must be three finite numbers, not {position!r}")
            xyz = np.array(position, dtype=float)
            ras = lps_to_ras(xyz) if system == "LPS" else xyz
            label = str(point.get("label") or point.get("id") or f"P{len(points) + 1}")
            findings = point.get("crmoFindings") if isinstance(point.get("crmoFindings"), dict) else {}
            points.append(PointLesion(label, ras, str(point.get("description") or ""), dict(findings)))
    return points


def write_points(path: str | os.PathLike, points: list[PointLesion], coordinate_system: str = "LPS", name: str = "Lesions") -> None:
    """Write a Slicer point list (atomically)."""
    control_points = []
    for index, point in enumerate(points, start=1):
        xyz = lps_to_ras(point.position_ras) if coordinate_system == "LPS" else np.asarray(point.position_ras)
        control_points.append({"id": str(index), "label": point.label, "description": point.description,
                               "position": [round(float(x), 3) for x in xyz], "positionStatus": "defined",
                               "locked": False, "selected": True, "visibility": True})
    write_json(path, {"@schema": MARKUPS_SCHEMA, "markups": [{
        "type": "Fiducial", "coordinateSystem": coordinate_system, "coordinateUnits": "mm", "name": name,
        "controlPoints": control_points}]})
