"""One-page summary for referring clinicians (PDF and PNG): a body map beside the report text.

The body map is the phantom skeleton (:func:`~CRMOAnalyzerLib.phantom.skeleton_shapes`) seen from the
front in radiological convention (patient's right on the viewer's left); each lesion is a dot on its
bone, at its end or third, coloured by side. Lesions outside the bone map are listed, not drawn.
Made with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path

import numpy as np

from ..files import write_bytes
from ..model import Lesion, Study

__all__ = ["SIDE_COLORS", "lesion_map_positions", "map_numbers", "summary_figure", "write_summary"]

SIDE_COLORS = {"right": "#d62728", "left": "#1f77b4", None: "#555555"}
_TEXT_WIDTH, _MAX_LINES = 78, 92


def map_numbers(study: Study) -> dict[str, str]:
    """Lesion id -> the number of its line in the report's findings, which the body map shows."""
    from ..distribution import ordered_lesions  # noqa: PLC0415

    return {lesion.id: str(number) for number, lesion in enumerate(ordered_lesions(study.lesions), start=1)}


def _solids_of(lesion: Lesion, shapes) -> list:
    from ..anatomy import bones  # noqa: PLC0415

    bone = bones().get(lesion.bone)
    if bone is None:
        return []
    side = lesion.side
    names = {bone.name, bone.base}
    found = []
    for name, solid in shapes:
        if name not in names:
            continue
        centre = np.mean(np.asarray(solid.bounds()), axis=0)
        if side and abs(centre[0]) > 5 and (centre[0] > 0) != (side == "right"):
            continue
        found.append(solid)
    return found


def lesion_map_positions(study: Study) -> dict[str, tuple[float, float]]:
    """Lesion id -> (x, z) on the body map (x: patient right positive; z: superior), for lesions in a bone."""
    from ..phantom import skeleton_shapes  # noqa: PLC0415

    shapes, _ = skeleton_shapes()
    positions = {}
    for lesion in study.lesions:
        solids = _solids_of(lesion, shapes)
        if not solids:
            continue
        bounds = np.array([np.asarray(s.bounds()) for s in solids])
        low, high = bounds[:, 0].min(0), bounds[:, 1].max(0)
        centre = (low + high) / 2
        x, z = centre[0], centre[2]
        if lesion.bone_end in ("proximal", "distal") and (high[2] - low[2]) > (high[0] - low[0]):
            fraction = 0.12 if lesion.bone_end == "proximal" else 0.88
            z = high[2] - fraction * (high[2] - low[2])
        elif lesion.sublocation in ("medial", "middle", "lateral") and (high[0] - low[0]) > 20:
            near, far = (low[0], high[0]) if abs(low[0]) < abs(high[0]) else (high[0], low[0])
            x = near + {"medial": 0.17, "middle": 0.5, "lateral": 0.83}[lesion.sublocation] * (far - near)
        positions[lesion.id] = (float(x), float(z))
    return positions


def _draw_skeleton(ax) -> None:
    from matplotlib.patches import Ellipse, Rectangle  # noqa: PLC0415

    from ..phantom import skeleton_shapes  # noqa: PLC0415

    shapes, _ = skeleton_shapes()
    style = {"facecolor": "#e8e8e8", "edgecolor": "#9a9a9a", "linewidth": 0.5}
    for _, solid in shapes:
        kind = type(solid).__name__
        if kind == "_Capsule":
            ax.plot([-solid.p0[0], -solid.p1[0]], [solid.p0[2], solid.p1[2]], color="#c8c8c8",
                    linewidth=max(0.8, solid.radius * 0.35), solid_capstyle="round", zorder=1)
        elif kind == "_Ellipsoid":
            ax.add_patch(Ellipse((-solid.centre[0], solid.centre[2]), 2 * solid.radii[0], 2 * solid.radii[2], zorder=1, **style))
        else:
            low, high = np.asarray(solid.bounds())
            ax.add_patch(Rectangle((-high[0], low[2]), high[0] - low[0], high[2] - low[2], zorder=1, **style))


def summary_figure(study: Study, text: str | None = None):
    """The matplotlib Figure (A4 portrait): body map left, report text right."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: PLC0415

    from ..report import render_report, site_phrase  # noqa: PLC0415

    text = render_report(study) if text is None else text
    figure = Figure(figsize=(8.27, 11.69))
    ax = figure.add_axes([0.02, 0.06, 0.36, 0.88])
    _draw_skeleton(ax)
    positions = lesion_map_positions(study)
    numbers = map_numbers(study)
    for lesion in study.lesions:
        if lesion.id not in positions:
            continue
        x, z = positions[lesion.id]
        ax.scatter([-x], [z], s=70, color=SIDE_COLORS.get(lesion.side, SIDE_COLORS[None]), edgecolor="black",
                   linewidth=0.6, zorder=3)
        ax.annotate(numbers[lesion.id], (-x, z), xytext=(4, 3), textcoords="offset points", fontsize=6.5, zorder=4)
    ax.set_aspect("equal")
    ax.set_xlim(-260, 260)
    ax.set_ylim(-920, 660)
    ax.axis("off")
    ax.text(-250, 640, "R", fontsize=11, weight="bold")
    ax.text(230, 640, "L", fontsize=11, weight="bold")
    for n, (label, side) in enumerate((("right", "right"), ("left", "left"), ("midline", None))):
        ax.scatter([-240 + n * 160], [-900], s=40, color=SIDE_COLORS[side], edgecolor="black", linewidth=0.5)
        ax.text(-228 + n * 160, -910, label, fontsize=7)
    missing = [f"{numbers[lesion.id]}: {site_phrase(lesion)}" for lesion in study.lesions if lesion.id not in positions]
    if missing:
        ax.text(-250, -870, "Not on the map:\n" + "\n".join(missing[:6]), fontsize=6, va="top")
    lines: list[str] = []
    for line in text.splitlines():
        lines += textwrap.wrap(line, _TEXT_WIDTH, break_long_words=True, replace_whitespace=False) or [""]
    if len(lines) > _MAX_LINES:
        lines = lines[:_MAX_LINES - 1] + ["[... continued in the full report]"]
    figure.text(0.40, 0.96, "\n".join(lines), fontsize=6.4, family="monospace", va="top", ha="left")
    figure.text(0.02, 0.02, "CRMO Analyzer - decision support, not a diagnosis. Body map is schematic.", fontsize=6.5,
                color="#555555")
    return figure


def _render(figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=150, metadata={"Creator": "CRMO Analyzer"} if fmt == "pdf" else None)
    return buffer.getvalue()


def write_summary(study: Study, out_base: str | os.PathLike, text: str | None = None) -> dict[str, Path]:
    """Write ``<out_base>.pdf`` and ``<out_base>.png`` (each atomically); returns their paths."""
    figure = summary_figure(study, text)
    base = Path(out_base)
    base = base.with_suffix("") if base.suffix.lower() in (".pdf", ".png") else base
    pdf, png = _render(figure, "pdf"), _render(figure, "png")
    return {"pdf": write_bytes(base.with_suffix(".pdf"), pdf), "png": write_bytes(base.with_suffix(".png"), png)}
