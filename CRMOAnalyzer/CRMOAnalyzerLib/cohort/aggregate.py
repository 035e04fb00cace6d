"""Cohort frequency tables from exam records: sites, regions, sides, sub-locations, patterns, exams.

Cross-sectional tables (sites, regions, sides, sub-locations, patterns, lesion counts, summary) use
each patient's **baseline** exam (the earliest; exams without a date come last), as the published
cohorts report involvement at presentation. ``exams`` has one row per exam for longitudinal work.
Patients appear only as pseudonyms ``P0001``... in an order that reveals nothing about their ids.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..anatomy import regions
from .inputs import Failure
from .sites import OTHER, pattern_class, pattern_classes, published, sites

__all__ = ["CohortTables", "aggregate", "deduplicate", "COLUMNS"]

COLUMNS: dict[str, list[str]] = {
    "summary": ["measure", "value", "numerator", "denominator", "published"],
    "sites": ["site", "display", "patients", "patients_pct", "patients_left", "patients_right", "patients_bilateral",
              "bilateral_pct_of_involved", "patients_symmetric", "symmetric_pct_of_bilateral", "lesions", "lesions_pct",
              "lesions_left", "lesions_right", "lesions_midline", "published_patients_pct"],
    "regions": ["region", "display", "patients", "patients_pct", "lesions", "lesions_pct", "lesions_left",
                "lesions_right", "lesions_midline", "lesions_unknown"],
    "sides": ["side", "lesions", "lesions_pct"],
    "sublocations": ["kind", "sublocation", "bone_end", "lesions", "pct_of_kind"],
    "patterns": ["scheme", "class", "display", "patients", "patients_pct", "published_pct"],
    "lesion_counts": ["lesions", "patients"],
    "patients": ["patient", "sex", "age_at_baseline", "exams", "follow_up_days", "baseline_lesions", "baseline_sites",
                 "sites", "bilateral", "symmetric", "pattern_class", "pattern"],
    "exams": ["patient", "exam", "days_since_baseline", "age_years", "lesions", "site_count", "sites", "new_sites",
              "resolved_sites", "lesion_change", "multifocal", "bilateral", "symmetric", "pattern_class", "pattern"],
}


@dataclass
class CohortTables:
    """The tables (name -> rows, columns as :data:`COLUMNS`) and the headline numbers."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _order(record: dict[str, Any]) -> tuple:
    return (record["day"] is None, record["day"] or 0, record.get("source", ""), record["case"])


def deduplicate(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Failure]]:
    """Drop exams that repeat one already read (same patient, same date): each is a failure naming the first."""
    kept, failures, first = [], [], {}
    for record in sorted(records, key=lambda r: (r.get("source", ""), r["case"])):
        key = (record["patient"], record["day"])
        if key in first:
            what = "date" if record["day"] is not None else "(missing) date"
            failures.append(Failure(record.get("source", record["case"]),
                                    f"duplicate exam: same patient and {what} as {first[key]}", record["case"]))
            continue
        first[key] = record.get("source", record["case"])
        kept.append(record)
    return kept, failures


def _site_ids(record: dict[str, Any]) -> set[str]:
    return {row[0] for row in record["lesions"]}


def _sorted_sites(ids: Iterable[str]) -> list[str]:
    rank = {site["id"]: n for n, site in enumerate(sites())}
    return sorted(set(ids), key=lambda s: (rank.get(s, len(rank)), s))


def _published_site_pct(site: str) -> str:
    parts = []
    for cohort in published()["cohorts"]:
        if site in cohort.get("site_patients_pct", {}):
            parts.append(f"{cohort['site_patients_pct'][site]:g} ({cohort['id']})")
        elif site in cohort.get("site_patients_n", {}):
            parts.append(f"{100 * cohort['site_patients_n'][site] / cohort['patients']:.0f} ({cohort['id']})")
    return "; ".join(parts)


def _published(key: str, sub: str | None = None) -> str:
    parts = []
    for cohort in published()["cohorts"]:
        value = cohort.get(key)
        if isinstance(value, dict) and sub is not None:
            value = value.get(sub)
        if isinstance(value, (int, float)):
            parts.append(f"{value:g} ({cohort['id']})")
    return "; ".join(parts)


def aggregate(records: Iterable[dict[str, Any]]) -> CohortTables:
    """All cohort tables from successful, de-duplicated exam records."""
    by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_patient[record["patient"]].append(record)
    width = max(4, len(str(len(by_patient))))
    names = {key: f"P{n:0{width}d}" for n, key in enumerate(sorted(by_patient), start=1)}
    exams = {names[key]: sorted(group, key=_order) for key, group in by_patient.items()}
    baselines = {name: group[0] for name, group in sorted(exams.items())}
    n = len(baselines)
    out = CohortTables()
    t = out.tables
    t["sites"] = _site_rows(baselines.values(), n)
    t["regions"] = _region_rows(baselines.values(), n)
    t["sides"], t["sublocations"] = _side_rows(baselines.values()), _sublocation_rows(baselines.values())
    t["patterns"] = _pattern_rows(baselines.values(), n)
    counts = [len(b["lesions"]) for b in baselines.values()]
    t["lesion_counts"] = [{"lesions": k, "patients": v} for k, v in sorted(Counter(counts).items())]
    t["patients"], t["exams"] = _patient_rows(exams), _exam_rows(exams)
    t["summary"] = _summary_rows(baselines, exams, counts)
    out.summary = {row["measure"]: row["value"] for row in t["summary"]}
    return out


def _site_rows(baselines: Iterable[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    patients: dict[str, Counter] = defaultdict(Counter)
    lesions: dict[str, Counter] = defaultdict(Counter)
    total = 0
    for record in baselines:
        sides: dict[str, set[str]] = defaultdict(set)
        for row in record["lesions"]:
            sides[row[0]].add(row[1])
            lesions[row[0]][row[1]] += 1
            total += 1
        for site, present in sides.items():
            c = patients[site]
            c["any"] += 1
            c["left"] += "left" in present
            c["right"] += "right" in present
            c["bilateral"] += {"left", "right"} <= present
        for site in record["symmetric_sites"]:
            patients[site]["symmetric"] += 1
    rows = []
    table = list(sites()) + ([{"id": OTHER, "display": "Other"}] if OTHER in lesions else [])
    for site in table:
        p, les = patients[site["id"]], lesions[site["id"]]
        count = sum(les.values())
        rows.append({"site": site["id"], "display": site["display"], "patients": p["any"], "patients_pct": _pct(p["any"], n),
                     "patients_left": p["left"], "patients_right": p["right"], "patients_bilateral": p["bilateral"],
                     "bilateral_pct_of_involved": _pct(p["bilateral"], p["any"]), "patients_symmetric": p["symmetric"],
                     "symmetric_pct_of_bilateral": _pct(p["symmetric"], p["bilateral"]), "lesions": count,
                     "lesions_pct": _pct(count, total), "lesions_left": les["left"], "lesions_right": les["right"],
                     "lesions_midline": les["midline"] + les["unknown"], "published_patients_pct": _published_site_pct(site["id"])})
    return rows


def _region_rows(baselines: Iterable[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    patients: Counter = Counter()
    lesions: dict[str, Counter] = defaultdict(Counter)
    total = 0
    for record in baselines:
        patients.update({row[2] for row in record["lesions"]})
        for row in record["lesions"]:
            lesions[row[2]][row[1]] += 1
            total += 1
    rows = []
    for region in regions():
        les = lesions[region["id"]]
        count = sum(les.values())
        rows.append({"region": region["id"], "display": region["display"], "patients": patients[region["id"]],
                     "patients_pct": _pct(patients[region["id"]], n), "lesions": count, "lesions_pct": _pct(count, total),
                     "lesions_left": les["left"], "lesions_right": les["right"], "lesions_midline": les["midline"],
                     "lesions_unknown": les["unknown"]})
    return rows


def _side_rows(baselines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = Counter(row[1] for record in baselines for row in record["lesions"])
    total = sum(counts.values())
    return [{"side": side, "lesions": counts[side], "lesions_pct": _pct(counts[side], total)}
            for side in ("right", "left", "midline", "unknown")]


def _sublocation_rows(baselines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = Counter((row[4], row[5], row[6]) for record in baselines for row in record["lesions"]
                     if row[4] in ("long", "clavicle", "vertebra"))
    per_kind = Counter()
    for (kind, _, _), value in counts.items():
        per_kind[kind] += value
    order = {"long": 0, "clavicle": 1, "vertebra": 2}
    where = {w: i for i, w in enumerate(("epiphysis", "metaphysis", "diaphysis", "medial", "middle", "lateral",
                                         "vertebral body", "posterior elements"))}
    keys = sorted(counts, key=lambda k: (order[k[0]], where.get(k[1] or "", 99), k[2] or ""))
    return [{"kind": k[0], "sublocation": k[1] or "", "bone_end": k[2] or "", "lesions": counts[k],
             "pct_of_kind": _pct(counts[k], per_kind[k[0]])} for k in keys]


def _pattern_rows(baselines: Iterable[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    baselines = list(baselines)
    andronikou = Counter(pattern_class(_site_ids(b)) for b in baselines)
    rows = [{"scheme": "andronikou", "class": c["id"], "display": c["display"], "patients": andronikou[c["id"]],
             "patients_pct": _pct(andronikou[c["id"]], n), "published_pct": _published("patterns_pct", c["id"])}
            for c in pattern_classes()]
    focality = Counter("none" if not b["lesions"] else "unifocal" if b["unifocal"] else "multifocal" for b in baselines)
    rows += [{"scheme": "focality", "class": c, "display": c.capitalize(), "patients": focality[c],
              "patients_pct": _pct(focality[c], n),
              "published_pct": {"multifocal": _published("multifocal_pct"), "unifocal": _published("unifocal_pct")}.get(c, "")}
             for c in ("multifocal", "unifocal", "none")]
    crmo = Counter(b["pattern"] for b in baselines)
    rows += [{"scheme": "crmo_pattern", "class": c, "display": d, "patients": crmo[c], "patients_pct": _pct(crmo[c], n),
              "published_pct": ""}
             for c, d in (("consistent", "Pattern consistent with CRMO"), ("atypical", "Atypical for CRMO"),
                          ("none", "No lesion in a known bone"))]
    return rows


def _patient_rows(exams: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for name, group in sorted(exams.items()):
        base = group[0]
        days = [e["day"] for e in group if e["day"] is not None]
        site_ids = _sorted_sites(_site_ids(base))
        rows.append({"patient": name, "sex": base["sex"] or "", "age_at_baseline": base["age"], "exams": len(group),
                     "follow_up_days": (max(days) - min(days)) if len(days) > 1 else None,
                     "baseline_lesions": len(base["lesions"]), "baseline_sites": len(site_ids), "sites": ";".join(site_ids),
                     "bilateral": base["bilateral"], "symmetric": base["symmetric"],
                     "pattern_class": pattern_class(site_ids), "pattern": base["pattern"]})
    return rows


def _exam_rows(exams: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for name, group in sorted(exams.items()):
        first_day = group[0]["day"]
        previous: dict[str, Any] | None = None
        for number, exam in enumerate(group, start=1):
            here = _site_ids(exam)
            before = _site_ids(previous) if previous else None
            rows.append({"patient": name, "exam": number,
                         "days_since_baseline": None if exam["day"] is None or first_day is None else exam["day"] - first_day,
                         "age_years": exam["age"], "lesions": len(exam["lesions"]), "site_count": len(here),
                         "sites": ";".join(_sorted_sites(here)),
                         "new_sites": "" if before is None else ";".join(_sorted_sites(here - before)),
                         "resolved_sites": "" if before is None else ";".join(_sorted_sites(before - here)),
                         "lesion_change": None if previous is None else len(exam["lesions"]) - len(previous["lesions"]),
                         "multifocal": exam["multifocal"], "bilateral": exam["bilateral"], "symmetric": exam["symmetric"],
                         "pattern_class": pattern_class(here), "pattern": exam["pattern"]})
            previous = exam
    return rows


def _row(measure: str, value: Any, numerator: Any = None, denominator: Any = None, published_: str = "") -> dict[str, Any]:
    return {"measure": measure, "value": value, "numerator": numerator, "denominator": denominator, "published": published_}


def _summary_rows(baselines: dict[str, dict[str, Any]], exams: dict[str, list[dict[str, Any]]],
                  counts: list[int]) -> list[dict[str, Any]]:
    n = len(baselines)
    base = list(baselines.values())
    site_counts = [len(_site_ids(b)) for b in base]
    multifocal = sum(b["multifocal"] for b in base)
    unifocal = sum(b["unifocal"] for b in base)
    bilateral = sum(b["bilateral"] for b in base)
    bilateral_site = sum(_bilateral_site(b) for b in base)
    symmetric = sum(b["symmetric"] for b in base)
    consistent = sum(b["pattern"] == "consistent" for b in base)
    ages = [b["age"] for b in base if b["age"] is not None]
    female = sum(b["sex"] == "F" for b in base)
    known_sex = sum(b["sex"] in ("F", "M", "O") for b in base)
    all_exams = [e for group in exams.values() for e in group]
    rows = [
        _row("patients", n),
        _row("exams", len(all_exams)),
        _row("patients_with_follow_up", sum(len(g) > 1 for g in exams.values()), denominator=n),
        _row("lesions_baseline", sum(counts), published_=_published("lesions")),
        _row("lesions_all_exams", sum(len(e["lesions"]) for e in all_exams)),
        _row("lesions_not_in_a_known_bone", sum(e["unassigned"] for e in all_exams)),
        _row("lesions_per_patient_median", statistics.median(counts) if counts else None,
             published_=_published("lesions_per_patient", "median")),
        _row("lesions_per_patient_mean", round(statistics.fmean(counts), 2) if counts else None,
             published_=_published("lesions_per_patient", "mean")),
        _row("lesions_per_patient_min", min(counts) if counts else None, published_=_published("lesions_per_patient", "min")),
        _row("lesions_per_patient_max", max(counts) if counts else None, published_=_published("lesions_per_patient", "max")),
        _row("sites_per_patient_median", statistics.median(site_counts) if site_counts else None,
             published_=_published("sites_per_patient", "median")),
        _row("multifocal_pct", _pct(multifocal, n), multifocal, n, _published("multifocal_pct")),
        _row("unifocal_pct", _pct(unifocal, n), unifocal, n, _published("unifocal_pct")),
        _row("bilateral_region_pct", _pct(bilateral, n), bilateral, n),
        _row("bilateral_site_pct", _pct(bilateral_site, n), bilateral_site, n),
        _row("symmetric_pct", _pct(symmetric, n), symmetric, n),
        _row("symmetric_pct_of_bilateral_site", _pct(symmetric, bilateral_site), symmetric, bilateral_site,
             _published("symmetric_pct_of_bilateral")),
        _row("pattern_consistent_pct", _pct(consistent, n), consistent, n),
        _row("female_pct", _pct(female, known_sex), female, known_sex),
        _row("age_at_baseline_median", round(statistics.median(ages), 1) if ages else None, len(ages), n),
    ]
    return rows


def _bilateral_site(record: dict[str, Any]) -> bool:
    sides: dict[str, set[str]] = defaultdict(set)
    for row in record["lesions"]:
        sides[row[0]].add(row[1])
    return any({"left", "right"} <= s for s in sides.values())
