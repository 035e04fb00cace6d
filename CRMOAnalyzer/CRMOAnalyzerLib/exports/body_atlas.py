"""A schematic front view of the skeleton for body maps (the report summary, the cohort figures).

Drawn from its own data, ``resources/body_atlas.json`` (body proportions cited there), never from the test
phantom. Coordinates are millimetres in the patient's frame seen from the front: ``x`` to the patient's
right, ``z`` up. Plots use the radiological convention (the patient's right on the viewer's left): see
:func:`view_x`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ..anatomy import bones
from ..io.files import resource

__all__ = ["Shape", "atlas", "shapes", "lesion_position", "view_x", "draw"]

#: where a lesion sits along a long bone (0 = proximal end) by sub-location; clavicle thirds from the medial end
_ALONG = {"epiphysis": 0.04, "metaphysis": 0.13, "diaphysis": 0.5}
_THIRDS = {"medial": 1 / 6, "middle": 0.5, "lateral": 5 / 6}


@dataclass(frozen=True)
class Shape:
    """One outline of a bone: ``kind`` "segment" / "polyline" (``points``, ``half_width``), "ellipse" (``points`` =
    [centre], ``radii``) or "box" (``points`` = [low, high]); ``base`` is the bone's name without its side."""

    base: str
    side: str | None
    kind: str
    points: np.ndarray
    half_width: float = 0.0
    radii: tuple[float, float] = (0.0, 0.0)

    @property
    def centre(self) -> np.ndarray:
        return self.points.mean(axis=0)


@lru_cache(maxsize=None)
def atlas() -> dict[str, Any]:
    """The atlas data file (source and status included)."""
    return json.loads(resource("body_atlas.json").read_text(encoding="utf-8"))


def _vertebrae(data: dict, scale: float) -> list[Shape]:
    column = data["vertebral_column"]
    levels = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)]
    heights = np.array([column["relative_heights"][level[0]] for level in levels], float)
    unit = (column["top"] - column["bottom"]) * scale / (heights.sum() + column["gap"] * (len(levels) - 1))
    out, z = [], column["top"] * scale
    for level, height in zip(levels, heights):
        half = column["half_widths"][level[0]] * scale
        out.append(Shape(f"vertebrae_{level}", None, "box", np.array([[-half, z - height * unit], [half, z]])))
        z -= (height + column["gap"]) * unit
    return out


def _ribs(data: dict, vertebrae: list[Shape], scale: float) -> list[Shape]:
    ribs = data["ribs"]
    out = []
    for n in range(1, 13):
        top = next(v for v in vertebrae if v.base == f"vertebrae_T{n}").centre[1]
        outer = (ribs["outer_x_first"] + (ribs["outer_x_from_sixth"] - ribs["outer_x_first"]) * min(1.0, (n - 1) / 5)) * scale
        t = np.linspace(0.0, np.pi / 2, 6)
        for side, sign in (("right", 1.0), ("left", -1.0)):
            x = sign * (ribs["spine_x"] * scale + (outer - ribs["spine_x"] * scale) * np.sin(t))
            z = top - ribs["drop"] * scale * (1 - np.cos(t)) - (n > 10) * 0.01 * scale
            out.append(Shape(f"rib_{n}", side, "polyline", np.column_stack([x, z]), ribs["half_width"] * scale))
    return out


@lru_cache(maxsize=None)
def shapes() -> tuple[Shape, ...]:
    """Every outline of the atlas, in mm, paired bones on both sides."""
    data = atlas()
    scale = float(data["height_mm"])
    vocabulary = bones()
    out = _vertebrae(data, scale)
    out += _ribs(data, out, scale)
    for base, items in data["bones"].items():
        paired = any(bone.base == base and bone.paired for bone in vocabulary.values())
        for side, sign in ((("right", 1.0), ("left", -1.0)) if paired else ((None, 1.0),)):
            for item in items:
                kind = next(k for k in ("segment", "polyline", "ellipse", "box") if k in item)
                points = np.atleast_2d(np.array(item[kind], float)) * scale
                points[:, 0] *= sign
                if kind == "box":
                    points = np.sort(points, axis=0)
                out.append(Shape(base, side, kind, points, item.get("half_width", 0.0) * scale,
                                 tuple(r * scale for r in item.get("radii", (0.0, 0.0)))))
    return tuple(out)


def _of(bone_name: str, side: str | None) -> list[Shape]:
    """Outlines of a bone on a side; a paired bone of unknown side has none (it is never drawn between the legs)."""
    bone = bones().get(bone_name)
    if bone is None:
        return []
    base = "sacrum" if bone.base == "vertebrae_S1" else bone.base
    if bone.paired and side not in ("left", "right"):
        return []
    return [shape for shape in shapes() if shape.base == base and (shape.side == side or not bone.paired)]


def lesion_position(bone_name: str, side: str | None, sublocation: str | None = None,
                    bone_end: str | None = None) -> tuple[float, float] | None:
    """Where a lesion goes on the map (x to the patient's right, z up, mm); None when the map cannot place it
    (unassigned bone, or a paired bone whose side is unknown)."""
    found = _of(bone_name, side)
    if not found:
        return None
    shape = found[0]
    if shape.kind == "segment" and sublocation in _ALONG:
        fraction = _ALONG[sublocation] if bone_end != "distal" else 1 - _ALONG[sublocation]
        if bone_end not in ("proximal", "distal") and sublocation != "diaphysis":
            fraction = 0.5  # end unknown: the middle of the bone, never a guessed end
        point = shape.points[0] + fraction * (shape.points[1] - shape.points[0])
    elif shape.kind == "segment" and sublocation in _THIRDS:
        point = shape.points[0] + _THIRDS[sublocation] * (shape.points[1] - shape.points[0])
    else:
        point = np.mean([s.centre for s in found], axis=0)
    return float(point[0]), float(point[1])


def view_x(x: float | np.ndarray) -> float | np.ndarray:
    """Plot abscissa of a patient x: radiological convention, the patient's right on the viewer's left."""
    return -x


def draw(ax: Any, style: Callable[[Shape], dict[str, Any]]) -> None:
    """Draw every outline on a matplotlib axis; ``style(shape)`` gives its patch keywords (facecolor, edgecolor, ...)."""
    from matplotlib import patches  # noqa: PLC0415

    for shape in shapes():
        keywords = {"zorder": 1, **style(shape)}
        if shape.kind in ("segment", "polyline"):
            points = np.column_stack([view_x(shape.points[:, 0]), shape.points[:, 1]])
            for a, b in zip(points[:-1], points[1:]):
                d = b - a
                normal = np.array([-d[1], d[0]]) / (np.hypot(*d) or 1.0) * shape.half_width
                ax.add_patch(patches.Polygon([a + normal, b + normal, b - normal, a - normal], closed=True, **keywords))
            if shape.kind == "segment" and shape.half_width >= 5.0:  # round ends on the long bones
                for end in points:
                    ax.add_patch(patches.Circle(end, shape.half_width, **keywords))
        elif shape.kind == "ellipse":
            centre = shape.points[0]
            ax.add_patch(patches.Ellipse((view_x(centre[0]), centre[1]), 2 * shape.radii[0], 2 * shape.radii[1], **keywords))
        else:
            low, high = shape.points
            ax.add_patch(patches.Rectangle((view_x(high[0]), low[1]), high[0] - low[0], high[1] - low[1], **keywords))
