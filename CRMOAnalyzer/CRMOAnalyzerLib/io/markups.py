"""Point lists in and out: Slicer markups (``.mrk.json``), Slicer's older ``.fcsv``, and CSV tables.

Every reader gives RAS millimetres; LPS files are converted here, once, at input.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CRMOInputError
from .files import read_json, read_text, write_json
from .geometry import lps_to_ras

__all__ = ["PointLesion", "read_points", "write_points", "MARKUPS_SCHEMA", "POINT_FORMATS"]

#: the point files :func:`read_points` reads, for messages
POINT_FORMATS = ("Slicer markups (.mrk.json), Slicer fiducial list (.fcsv), or CSV (.csv) with a label column and "
                 "R, A, S (or L, P, S) columns in mm")

#: the columns of a .fcsv file that has no '# columns' line (Slicer 4.6 to 4.10 wrote this header)
FCSV_COLUMNS = ("id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label", "desc", "associatedNodeID")

MARKUPS_SCHEMA = "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#"


@dataclass
class PointLesion:
    """A lesion marked by one control point (RAS mm)."""

    label: str
    position_ras: np.ndarray
    description: str = ""
    findings: dict[str, Any] = field(default_factory=dict)


def read_points(path: str | os.PathLike) -> list[PointLesion]:
    """The points of a point file, as RAS: ``.mrk.json``, ``.fcsv`` or ``.csv`` (by the suffix).

    An empty point list is no error (a normal exam); any other file is an error naming the formats read.
    """
    name = Path(path).name.lower()
    if name.endswith(".fcsv"):
        return _read_fcsv(path)
    if name.endswith(".csv"):
        return _read_csv(path)
    if name.endswith(".json"):
        return _read_markups_json(path)
    suffix = Path(path).suffix or "(no suffix)"
    raise CRMOInputError(path, f"unsupported point file {suffix}: the formats read are {POINT_FORMATS}")


def _read_markups_json(path: str | os.PathLike) -> list[PointLesion]:
    """Control points of every point list in a ``.mrk.json`` file, as RAS.

    ``coordinateSystem`` "LPS" (Slicer's default for files) or "RAS" is honoured; any other, or a
    point that is not three finite numbers, is an error naming the file.
    """
    try:
        doc = read_json(path, "markups file")
    except CRMOInputError as error:
        raise CRMOInputError(path, f"{error.problem} (point files read: {POINT_FORMATS})") from error
    if not isinstance(doc, dict) or not isinstance(doc.get("markups"), list):
        raise CRMOInputError(path, f'not a Slicer markups file (no "markups" list); the formats read are {POINT_FORMATS}')
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
            label = str(point.get("label") or point.get("id") or f"P{len(points) + 1}")
            findings = point.get("crmoFindings") if isinstance(point.get("crmoFindings"), dict) else {}
            points.append(PointLesion(label, _ras(position, system), str(point.get("description") or ""), dict(findings)))
    return points


def _ras(xyz, system: str) -> np.ndarray:
    xyz = np.array(xyz, dtype=float)
    return lps_to_ras(xyz) if system == "LPS" else xyz


def _rows(path: str | os.PathLike, lines: list[tuple[int, str]]) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of CSV lines (quoted fields as Slicer writes them), blank lines left out."""
    try:
        parsed = [(number, next(csv.reader([line], strict=True))) for number, line in lines if line.strip()]
    except csv.Error as error:
        raise CRMOInputError(path, f"malformed CSV: {error}") from error
    return [(number, [value.strip() for value in fields]) for number, fields in parsed]


def _points_from_rows(path, header: list[str], rows: list[tuple[int, list[str]]], coordinates: tuple[str, str, str],
                      system: str, labels: tuple[str, ...], descriptions: tuple[str, ...]) -> list[PointLesion]:
    """One point per row; ``coordinates`` name the columns of x, y, z (in ``system``)."""
    column = {name: index for index, name in reversed(list(enumerate(header)))}
    points: list[PointLesion] = []
    for number, fields in rows:
        if len(fields) != len(header):
            raise CRMOInputError(path, f"line {number} has {len(fields)} fields; the header has {len(header)}")
        row = dict(zip(header, fields))
        if row.get("defined", "1").lower() in ("0", "false", "no"):
            continue  # an undefined point has no position yet
        xyz = []
        for name in coordinates:
            try:
                value = float(fields[column[name]])
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise CRMOInputError(path, f"line {number}: {name} {fields[column[name]]!r} is not a finite number (mm)")
            xyz.append(value)
        label = next((row[key] for key in labels if row.get(key)), "") or f"P{len(points) + 1}"
        description = next((row[key] for key in descriptions if row.get(key)), "")
        points.append(PointLesion(label, _ras(xyz, system), description))
    return points


def _read_fcsv(path: str | os.PathLike) -> list[PointLesion]:
    """A Slicer fiducial list (``.fcsv``, Slicer 4 and 5): ``# CoordinateSystem`` RAS/LPS (0/1; RAS when absent)."""
    lines = read_text(path, "fiducial list").splitlines()
    system, header, data = "RAS", None, []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text.startswith("#"):
            data.append((number, line))
            continue
        key, _, value = text.lstrip("#").partition("=")
        key, value = key.strip().lower(), value.strip()
        if key == "coordinatesystem":
            system = {"0": "RAS", "1": "LPS"}.get(value, value.upper())
            if system not in ("RAS", "LPS"):
                raise CRMOInputError(path, f"line {number}: CoordinateSystem {value!r}; expected RAS or LPS (or 0, 1)")
        elif key == "columns":
            header = [name.strip().lower() for name in value.split(",")]
    if header is None:
        if not (lines and lines[0].lower().startswith("# markups fiducial file")):
            raise CRMOInputError(path, f"not a Slicer fiducial list (no '# Markups fiducial file' or '# columns' line); "
                                       f"the formats read are {POINT_FORMATS}")
        header = [name.lower() for name in FCSV_COLUMNS]
    missing = [name for name in ("x", "y", "z") if name not in header]
    if missing:
        raise CRMOInputError(path, f"the fiducial list has no {', '.join(missing)} column")
    return _points_from_rows(path, header, _rows(path, data), ("x", "y", "z"), system, ("label", "id"), ("desc",))


def _read_csv(path: str | os.PathLike) -> list[PointLesion]:
    """A point table: a header with a label column and R, A, S (or L, P, S) columns, a row per point."""
    rows = _rows(path, list(enumerate(read_text(path, "point table").splitlines(), start=1)))
    if not rows:
        raise CRMOInputError(path, f"the point table is empty: no header; the formats read are {POINT_FORMATS}")
    header = [name.lower() for name in rows[0][1]]
    has = {system: all(axis in header for axis in system.lower()) for system in ("RAS", "LPS")}
    if has["RAS"] and has["LPS"]:
        raise CRMOInputError(path, "the point table has both R, A, S and L, P, S columns: keep one set")
    if not any(has.values()):
        raise CRMOInputError(path, f"no R, A, S (or L, P, S) columns in the header {','.join(rows[0][1])!r}; "
                                   f"the formats read are {POINT_FORMATS}")
    if "label" not in header and "name" not in header:
        raise CRMOInputError(path, "the point table has no label (or name) column: which lesion is each point?")
    system = "RAS" if has["RAS"] else "LPS"
    return _points_from_rows(path, header, rows[1:], tuple(system.lower()), system, ("label", "name"),
                             ("description", "desc"))


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
