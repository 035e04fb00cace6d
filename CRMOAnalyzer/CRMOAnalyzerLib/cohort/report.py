"""A short cohort summary in Markdown and HTML that shows the figures (paths relative to ``OUT``)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..io.files import write_text
from .aggregate import CohortTables
from .figures import FIGURES
from .sites import published

__all__ = ["write_report", "summary_markdown", "summary_html"]

_LABELS = {
    "patients": "Patients", "exams": "Exams", "patients_with_follow_up": "Patients with follow-up exams",
    "lesions_baseline": "Lesions (baseline)", "lesions_per_patient_median": "Lesions per patient, median",
    "lesions_per_patient_min": "Lesions per patient, min", "lesions_per_patient_max": "Lesions per patient, max",
    "sites_per_patient_median": "Sites per patient, median", "multifocal_pct": "Multifocal, % of patients",
    "unifocal_pct": "Unifocal, % of patients", "bilateral_site_pct": "Bilateral (same site both sides), % of patients",
    "symmetric_pct_of_bilateral_site": "Symmetric, % of bilateral", "pattern_consistent_pct":
    "Pattern consistent with CRMO, % of patients", "lesions_not_in_a_known_bone": "Lesions not in a known bone",
}

NOTES = [
    "Cross-sectional tables use each patient's baseline (earliest) exam; tables/exams has every exam.",
    "Bilateral: lesions on both sides at the same site; symmetric: both sides of the same bone at the same "
    "sub-location and end (as in the per-study report). Pattern classes after Andronikou (tibia / clavicle).",
    "Patients appear as pseudonyms (P0001...); dates are replaced by days since each patient's baseline. "
    "OUT/private holds the run state, the secret key and input paths: do not share it.",
    "Research summary for decision support; it states frequencies, never a diagnosis.",
]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _content(tables: CohortTables, failures: int, warnings: int) -> dict[str, Any]:
    summary = [(label, _fmt(row["value"]), row["published"]) for row in tables.tables["summary"]
               for key, label in _LABELS.items() if row["measure"] == key]
    sites = [(r["display"], _fmt(r["patients_pct"]), _fmt(r["lesions_pct"]), _fmt(r["bilateral_pct_of_involved"]),
              _fmt(r["symmetric_pct_of_bilateral"]), r["published_patients_pct"])
             for r in tables.tables["sites"] if r["patients"]]
    patterns = [(r["display"], str(r["patients"]), _fmt(r["patients_pct"]), r["published_pct"])
                for r in tables.tables["patterns"] if r["scheme"] == "andronikou"]
    status = f"{failures} case(s) could not be used: see private/failures.csv." if failures else "Every case was read."
    if warnings:
        status += f" {warnings} exam(s) carry warnings (e.g. no patient id, lesions outside known bones)."
    sources = [f"{c['id']}: {c['citation']}" for c in published()["cohorts"]]
    return {"summary": summary, "sites": sites, "patterns": patterns, "status": status, "sources": sources}


def summary_markdown(tables: CohortTables, figures: dict[str, dict[str, Path]], out: Path, failures: int = 0,
                     warnings: int = 0) -> str:
    """The summary as Markdown."""
    c = _content(tables, failures, warnings)
    lines = ["# CRMO cohort summary", "", c["status"], "", "| Measure | This cohort | Published |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {p} |" for a, b, p in c["summary"]]
    for name, files in figures.items():
        lines += ["", f"![{FIGURES[name]}]({files['png'].relative_to(out).as_posix()})"]
    lines += ["", "## Sites", "", "| Site | % patients | % lesions | bilateral % of involved | symmetric % of bilateral "
              "| published % patients |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in c["sites"]]
    lines += ["", "## Distribution pattern", "", "| Class | Patients | % | Published % |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in c["patterns"]]
    lines += ["", "Tables (CSV and Parquet) are in `tables/`, figures (PNG and SVG) in `figures/`.", "", "## Notes", ""]
    lines += [f"- {note}" for note in NOTES]
    lines += ["", "## Sources", ""] + [f"- {s}" for s in c["sources"]]
    return "\n".join(lines) + "\n"


def _table(header: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def summary_html(tables: CohortTables, figures: dict[str, dict[str, Path]], out: Path, failures: int = 0,
                 warnings: int = 0) -> str:
    """The summary as a self-standing HTML page (figures linked as files beside it)."""
    c = _content(tables, failures, warnings)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>CRMO cohort summary</title>',
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}"
             "figure{margin:1.5em 0}img{max-width:100%}figcaption{color:#555}</style></head><body>",
             "<h1>CRMO cohort summary</h1>", f"<p>{html.escape(c['status'])}</p>",
             _table(["Measure", "This cohort", "Published"], c["summary"])]
    for name, files in figures.items():
        src = html.escape(files["png"].relative_to(out).as_posix())
        svg = html.escape(files["svg"].relative_to(out).as_posix())
        parts.append(f'<figure><img src="{src}" alt="{html.escape(FIGURES[name])}">'
                     f'<figcaption>{html.escape(FIGURES[name])} (<a href="{svg}">SVG</a>)</figcaption></figure>')
    parts += ["<h2>Sites</h2>", _table(["Site", "% patients", "% lesions", "bilateral % of involved",
                                         "symmetric % of bilateral", "published % patients"], c["sites"]),
              "<h2>Distribution pattern</h2>", _table(["Class", "Patients", "%", "Published %"], c["patterns"]),
              "<p>Tables (CSV and Parquet) are in <code>tables/</code>, figures (PNG and SVG) in <code>figures/</code>.</p>",
              "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in NOTES) + "</ul>",
              "<h2>Sources</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in c["sources"]) + "</ul>",
              "</body></html>"]
    return "\n".join(parts) + "\n"


def write_report(tables: CohortTables, out: str | Path, figures: dict[str, dict[str, Path]], failures: int = 0,
                 warnings: int = 0) -> dict[str, Path]:
    """Write ``out/report.md`` and ``out/report.html``."""
    out = Path(out)
    return {"report.md": write_text(out / "report.md", summary_markdown(tables, figures, out, failures, warnings)),
            "report.html": write_text(out / "report.html", summary_html(tables, figures, out, failures, warnings))}
