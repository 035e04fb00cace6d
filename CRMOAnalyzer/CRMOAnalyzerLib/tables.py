"""Tables of a study: one row per lesion, and the distribution by region and bone."""

from __future__ import annotations

import csv
import io
from typing import Any

from .distribution import distribution, ordered_lesions
from .model import FINDINGS, Study
from .report import site_phrase

__all__ = ["LESION_COLUMNS", "DISTRIBUTION_COLUMNS", "lesion_rows", "lesion_table_csv", "distribution_rows", "distribution_table_csv"]

LESION_COLUMNS = ["id", "site", "bone", "side", "sublocation", "bone_end", "finding_site_code", "finding_site_meaning",
                  "laterality_code", "volume_mm3", "centroid_r", "centroid_a", "centroid_s", "localization", "edited",
                  *FINDINGS, "warnings"]


#: the columns of the distribution table: a row per bone, lesions counted by side
DISTRIBUTION_COLUMNS = ["region", "bone", "left", "right", "midline", "unknown", "total"]


def lesion_rows(study: Study) -> list[dict[str, Any]]:
    """One dict per lesion, head to toe, with the columns of :data:`LESION_COLUMNS`."""
    rows = []
    for lesion in ordered_lesions(study.lesions):
        site = lesion.finding_site or {}
        row = {"id": lesion.id, "site": site_phrase(lesion), "bone": lesion.bone, "side": lesion.side or "",
               "sublocation": lesion.sublocation or "", "bone_end": lesion.bone_end or "",
               "finding_site_code": site.get("code", ""), "finding_site_meaning": site.get("meaning", ""),
               "laterality_code": (lesion.laterality or {}).get("code", ""),
               "volume_mm3": "" if lesion.volume_mm3 is None else lesion.volume_mm3,
               "centroid_r": lesion.centroid_ras[0], "centroid_a": lesion.centroid_ras[1], "centroid_s": lesion.centroid_ras[2],
               "localization": lesion.localization.get("method", ""), "edited": ";".join(lesion.overrides),
               "warnings": " | ".join(lesion.warnings)}
        for key in FINDINGS:
            value = lesion.findings.get(key, "")
            row[key] = {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value
        rows.append(row)
    return rows


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def lesion_table_csv(study: Study) -> str:
    """The lesion table as CSV text."""
    return _csv(LESION_COLUMNS, lesion_rows(study))


def distribution_rows(study: Study) -> list[dict[str, Any]]:
    """One row per region and per bone within it: left, right, midline, unknown, total."""
    rows = []
    for region in distribution(study).regions:
        rows.append({"region": region["display"], "bone": "", **{k: region[k] for k in ("left", "right", "midline", "unknown", "total")}})
        for bone in region["bones"]:
            total = bone["left"] + bone["right"] + bone["midline"] + bone["unknown"]
            rows.append({"region": region["display"], "bone": bone["display"],
                         **{k: bone[k] for k in ("left", "right", "midline", "unknown")}, "total": total})
    return rows


def distribution_table_csv(study: Study) -> str:
    """The distribution table as CSV text."""
    return _csv(DISTRIBUTION_COLUMNS, distribution_rows(study))
