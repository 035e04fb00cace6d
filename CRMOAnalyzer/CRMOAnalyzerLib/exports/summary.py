"""Summary for referring clinicians (PDF, and a PNG per page): a body map beside the signed report, never cut.

Page 1 holds the body map (:mod:`~CRMOAnalyzerLib.exports.body_atlas`, seen from the front in radiological convention:
the patient's right on the viewer's left) and the signed report; text that does not fit continues on the next
pages, and the DECISION SUPPORT section follows on pages of its own. Text is set at 8 pt on A4, readable at
100%. Each lesion is a dot on its bone, at its end or third, coloured by side and labelled as in the report's
findings; with a follow-up comparison, new, resolved, grown and shrunk lesions are marked and a legend says how.
Lesions the map cannot place (unassigned, or a paired bone of unknown side) are listed under the map.
Made with matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path

from .body_atlas import draw, lesion_position, view_x
from ..io.files import write_bytes
from ..model import Study
from ..reading.read import Reading, as_reading
from .common import split_decision_support

__all__ = ["SIDE_COLORS", "CHANGE_MARKERS", "lesion_map_positions", "map_numbers", "summary_pages", "write_summary"]

SIDE_COLORS = {"right": "#d62728", "left": "#1f77b4", None: "#555555"}
#: follow-up change -> (matplotlib marker, filled, legend text)
CHANGE_MARKERS = {"new": ("*", True, "new"), "increased": ("^", True, "grown"), "decreased": ("v", True, "shrunk"),
                  "stable": ("o", True, "persistent"), "persistent": ("o", True, "persistent"),
                  "resolved": ("o", False, "resolved (baseline site and label)")}
_A4 = (8.27, 11.69)
_FONT = 8.0
#: characters per line and lines per page: beside the map (page 1) and on a full-width page
_NARROW, _WIDE, _LINES = 66, 110, 86


def map_numbers(study: Study) -> dict[str, str]:
    """Lesion id -> its label ("#3", the report's findings line), which the body map shows."""
    from ..model import lesion_labels  # noqa: PLC0415

    return lesion_labels(study.lesions)


def lesion_map_positions(study: Study) -> dict[str, tuple[float, float]]:
    """Lesion id -> (x, z) on the body map (x: patient right positive; z: superior), for lesions the map can place."""
    positions = {}
    for lesion in study.lesions:
        position = lesion_position(lesion.bone, lesion.side, lesion.sublocation, lesion.bone_end)
        if position is not None:
            positions[lesion.id] = position
    return positions


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for line in text.splitlines():
        lines += textwrap.wrap(line, width, break_long_words=True, replace_whitespace=False) or [""]
    return lines


def _pages(text: str) -> list[list[str]]:
    """Lines of each page: the report beside the map on page 1, then full-width pages; nothing is dropped."""
    report, support = split_decision_support(text)
    narrow = _wrap(report, _NARROW)
    pages = [narrow[:_LINES]]
    rest = _wrap("\n".join(narrow[_LINES:]), _WIDE) if len(narrow) > _LINES else []
    pages += [rest[n:n + _LINES] for n in range(0, len(rest), _LINES)]
    wide = _wrap(support, _WIDE) if support else []
    pages += [wide[n:n + _LINES] for n in range(0, len(wide), _LINES)]
    return pages


def _changes(study: Study, comparison) -> list[tuple[str, tuple[float, float], str | None, str]]:
    """(marker key, position, side, number) of each lesion change that the map can place."""
    numbers = map_numbers(study)
    out = []
    for row in comparison.lesions:
        position = lesion_position(row.bone, row.side, row.sublocation, row.bone_end)
        if position is None:
            continue
        key = "new" if row.status == "new" else "resolved" if row.status == "resolved" else (row.volume_change or "persistent")
        label = numbers.get(row.followup_id, "") if row.followup_id else f"({row.baseline_label})"
        out.append((key, position, row.side, label))
    return out


def _body_map(figure, study: Study, comparison) -> None:
    from ..reading.report import site_phrase  # noqa: PLC0415

    ax = figure.add_axes([0.02, 0.06, 0.34, 0.88])
    draw(ax, lambda shape: {"facecolor": "#e8e8e8", "edgecolor": "#9a9a9a", "linewidth": 0.5})
    positions = lesion_map_positions(study)
    numbers = map_numbers(study)
    if comparison is None:
        marks = [("persistent", positions[lesion.id], lesion.side, numbers[lesion.id])
                 for lesion in study.lesions if lesion.id in positions]
    else:
        marks = _changes(study, comparison)
    for key, (x, z), side, label in marks:
        marker, filled, _ = CHANGE_MARKERS[key]
        colour = SIDE_COLORS.get(side, SIDE_COLORS[None])
        ax.scatter([view_x(x)], [z], s=90 if marker == "*" else 60, marker=marker, linewidth=0.8, zorder=3,
                   color=colour if filled else "white", edgecolor="black" if filled else colour)
        ax.annotate(label, (view_x(x), z), xytext=(4, 3), textcoords="offset points", fontsize=7, zorder=4)
    ax.set_aspect("equal")
    ax.set_xlim(-260, 260)
    ax.set_ylim(-120, 1420)
    ax.axis("off")
    ax.text(-250, 1380, "R", fontsize=11, weight="bold")
    ax.text(230, 1380, "L", fontsize=11, weight="bold")
    legend = [(SIDE_COLORS[side], "o", True, name) for name, side in (("right", "right"), ("left", "left"), ("midline", None))]
    if comparison is not None:
        keys = dict.fromkeys(key for key, *_ in marks)
        legend += [("#777777", CHANGE_MARKERS[key][0], CHANGE_MARKERS[key][1], CHANGE_MARKERS[key][2]) for key in keys]
    for n, (colour, marker, filled, name) in enumerate(legend):
        x, z = -245 + (n % 3) * 170, -40 - (n // 3) * 30
        ax.scatter([x], [z], s=35, marker=marker, color=colour if filled else "white", edgecolor="black" if filled else colour)
        ax.text(x + 14, z - 9, name, fontsize=7)
    missing = [f"{numbers[lesion.id]}: {site_phrase(lesion)}" for lesion in study.lesions if lesion.id not in positions]
    if missing:
        ax.text(-250, -110, "Not on the map (unassigned or side unknown):\n" + "\n".join(missing[:8]), fontsize=6.5, va="top")


def summary_pages(study: Study | Reading, text: str | None = None, comparison=None) -> list:
    """The matplotlib Figures (A4 portrait) of a reading's summary: page 1 with the body map, then text pages
    (given a study, ``text`` and ``comparison`` make its reading)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: PLC0415

    reading = as_reading(study, comparison, text)
    study, comparison = reading.study, reading.comparison
    pages = _pages(reading.text)
    figures = []
    for number, lines in enumerate(pages, start=1):
        figure = Figure(figsize=_A4)
        if number == 1:
            _body_map(figure, study, comparison)
        figure.text(0.40 if number == 1 else 0.06, 0.96, "\n".join(lines), fontsize=_FONT, family="monospace",
                    va="top", ha="left")
        figure.text(0.02, 0.02, f"CRMO Analyzer - decision support, not a diagnosis. Body map is schematic. "
                    f"Page {number} of {len(pages)}.", fontsize=7, color="#555555")
        figures.append(figure)
    return figures


def _render(figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=150)
    return buffer.getvalue()


def _pdf(figures: list) -> bytes:
    from matplotlib.backends.backend_pdf import PdfPages  # noqa: PLC0415

    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Creator": "CRMO Analyzer"}) as pdf:
        for figure in figures:
            pdf.savefig(figure)
    return buffer.getvalue()


def write_summary(study: Study | Reading, out_base: str | os.PathLike, text: str | None = None, comparison=None) -> dict[str, Path]:
    """Write ``<out_base>.pdf`` (every page) and ``<out_base>.png`` (page 1), ``<out_base>-page2.png`` ... (each
    atomically); returns their paths ("pdf", "png", "png2", ...)."""
    figures = summary_pages(study, text, comparison)
    base = Path(out_base)
    base = base.with_suffix("") if base.suffix.lower() in (".pdf", ".png") else base
    written = {"pdf": write_bytes(base.with_suffix(".pdf"), _pdf(figures))}
    for number, figure in enumerate(figures, start=1):
        path = base.with_suffix(".png") if number == 1 else base.with_name(f"{base.name}-page{number}.png")
        written["png" if number == 1 else f"png{number}"] = write_bytes(path, _render(figure, "png"))
    return written
