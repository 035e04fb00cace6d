"""Cohort figures (matplotlib, Agg): a body-map heat map of site frequency and bar charts; PNG and SVG.

The body map draws the schematic skeleton of ``body_atlas`` (its own cited data) seen from the front, the
patient's right on the viewer's left (as when facing the patient), each bone coloured by the share
of patients with a lesion at its site on that side.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..anatomy import bones
from ..io.files import write_bytes
from .aggregate import CohortTables
from .sites import published, site_of_bone

__all__ = ["draw_figures", "FIGURES"]

#: figure name -> title
FIGURES = {
    "body_map": "Body map: share of patients with a lesion at each site and side",
    "sites": "Sites involved (% of patients), with published cohorts",
    "lesions_per_patient": "Lesions per patient",
    "patterns": "Distribution pattern (Andronikou classes)",
}

_MARKERS = "ovs^Dp"
#: labels moved outwards (mm) where two bones lie side by side
_LABEL_SHIFT = {"fibula": 28.0, "radius": 22.0, "ulna": -22.0}


def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _save(fig, folder: Path, name: str) -> dict[str, Path]:
    written = {}
    for fmt in ("png", "svg"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
        written[fmt] = write_bytes(folder / f"{name}.{fmt}", buffer.getvalue())
    return written


def _side_values(tables: CohortTables) -> dict[tuple[str, str | None], float]:
    n = tables.summary.get("patients") or 1
    values = {}
    for row in tables.tables["sites"]:
        values[(row["site"], None)] = 100.0 * row["patients"] / n
        values[(row["site"], "left")] = 100.0 * row["patients_left"] / n
        values[(row["site"], "right")] = 100.0 * row["patients_right"] / n
    return values


def _body_map(plt, tables: CohortTables, folder: Path) -> dict[str, Path]:
    import numpy as np  # noqa: PLC0415

    from ..exports.body_atlas import draw, shapes, view_x  # noqa: PLC0415

    values = _side_values(tables)
    vmax = max(10.0, max(values.values(), default=0.0))
    cmap = plt.get_cmap("YlOrRd")
    fig, ax = plt.subplots(figsize=(5.2, 9.0))
    vocabulary = bones()

    def site_side(shape) -> tuple[str, str | None]:
        bone = next((b for b in vocabulary.values() if b.base == shape.base), None)
        return site_of_bone(bone.base if bone else shape.base), shape.side

    def style(shape) -> dict[str, Any]:
        value = values.get(site_side(shape), 0.0)
        return {"facecolor": cmap(value / vmax) if value > 0 else "#e8e8e8", "edgecolor": "#555555", "linewidth": 0.4}

    draw(ax, style)
    centres: dict[tuple[str, str | None], list[tuple[float, float]]] = {}
    for shape in shapes():
        x, z = shape.centre
        centres.setdefault(site_side(shape), []).append((float(view_x(x)), float(z)))
    for (site, side), points in centres.items():
        value = values.get((site, side), 0.0)
        if value >= 5.0 and site not in ("ribs",):
            x, z = np.mean(points, axis=0)
            x += _LABEL_SHIFT.get(site, 0.0) * (1.0 if x > 0 else -1.0)
            ax.text(x, z, f"{value:.0f}%", fontsize=6.5, ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.75, "linewidth": 0})
    ax.set_xlim(-230, 230)
    ax.set_ylim(-20, 1420)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.text(-215, 1370, "R", fontsize=12, weight="bold")
    ax.text(200, 1370, "L", fontsize=12, weight="bold")
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, vmax))
    fig.colorbar(mappable, ax=ax, fraction=0.04, pad=0.01, label="% of patients (per side; midline bones: any)")
    ax.set_title(f"Site frequency, {tables.summary.get('patients', 0)} patients (baseline exams)", fontsize=10)
    try:
        return _save(fig, folder, "body_map")
    finally:
        plt.close(fig)


def _published_site_points() -> dict[str, dict[str, float]]:
    points: dict[str, dict[str, float]] = {}
    for cohort in published()["cohorts"]:
        values = dict(cohort.get("site_patients_pct", {}))
        values.update({s: 100.0 * v / cohort["patients"] for s, v in cohort.get("site_patients_n", {}).items()})
        if values:
            points[cohort["id"]] = values
    return points


def _sites(plt, tables: CohortTables, folder: Path) -> dict[str, Path]:
    rows = [r for r in tables.tables["sites"] if r["patients"] or r["published_patients_pct"]]
    rows.sort(key=lambda r: r["patients_pct"] or 0.0)
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(rows) + 1.4))
    y = list(range(len(rows)))
    ax.barh(y, [r["patients_pct"] or 0.0 for r in rows], color="#d9534f", alpha=0.85, label="this cohort")
    for n, (cohort, values) in enumerate(_published_site_points().items()):
        pts = [(values[r["site"]], i) for i, r in enumerate(rows) if r["site"] in values]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=_MARKERS[n % len(_MARKERS)], s=26,
                       color="black", facecolors="none" if n % 2 else "black", zorder=3, label=cohort)
    ax.set_yticks(y, [r["display"] for r in rows], fontsize=8)
    ax.set_xlabel("% of patients with a lesion at the site")
    ax.set_xlim(0, 100)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Sites involved ({tables.summary.get('patients', 0)} patients)", fontsize=10)
    try:
        return _save(fig, folder, "sites")
    finally:
        plt.close(fig)


def _lesion_counts(plt, tables: CohortTables, folder: Path) -> dict[str, Path]:
    rows = tables.tables["lesion_counts"]
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    ax.bar([r["lesions"] for r in rows], [r["patients"] for r in rows], color="#5b8cc7")
    median = tables.summary.get("lesions_per_patient_median")
    if median is not None:
        ax.axvline(median, color="black", linestyle="--", linewidth=1, label=f"median {median:g}")
        ax.legend(fontsize=8)
    ax.set_xlabel("lesions at baseline")
    ax.set_ylabel("patients")
    ax.set_title("Lesions per patient", fontsize=10)
    try:
        return _save(fig, folder, "lesions_per_patient")
    finally:
        plt.close(fig)


def _patterns(plt, tables: CohortTables, folder: Path) -> dict[str, Path]:
    rows = [r for r in tables.tables["patterns"] if r["scheme"] == "andronikou"]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    x = list(range(len(rows)))
    ax.bar(x, [r["patients_pct"] or 0.0 for r in rows], color="#6aa84f", label="this cohort")
    reference = next((c.get("patterns_pct", {}) for c in published()["cohorts"] if c.get("patterns_pct")), {})
    pts = [(i, reference[r["class"]]) for i, r in enumerate(rows) if r["class"] in reference]
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="black", marker="D", zorder=3, label="andronikou")
    ax.set_xticks(x, [r["display"].replace(" ", "\n", 1) for r in rows], fontsize=7.5)
    ax.set_ylabel("% of patients")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("Distribution pattern", fontsize=10)
    try:
        return _save(fig, folder, "patterns")
    finally:
        plt.close(fig)


def draw_figures(tables: CohortTables, folder: str | Path) -> dict[str, dict[str, Any]]:
    """Draw every figure of :data:`FIGURES` into ``folder``; returns ``{name: {"png": path, "svg": path}}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    with plt.rc_context({"svg.hashsalt": "crmo-analyzer", "font.size": 9}):
        return {"body_map": _body_map(plt, tables, folder), "sites": _sites(plt, tables, folder),
                "lesions_per_patient": _lesion_counts(plt, tables, folder), "patterns": _patterns(plt, tables, folder)}
