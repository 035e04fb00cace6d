"""Tables of a study: one row per lesion, the distribution by region and bone, the scores and red flags, and the
follow-up comparison (one row per lesion change)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from ..model import lesion_labels, ordered_lesions

from ..model import FINDINGS, Study
from .read import Reading, as_reading
from .report import site_phrase

if TYPE_CHECKING:
    from .compare import Comparison

__all__ = ["LESION_COLUMNS", "DISTRIBUTION_COLUMNS", "SCORE_COLUMNS", "COMPARISON_COLUMNS", "lesion_rows",
           "lesion_table_csv", "distribution_rows", "distribution_table_csv", "score_rows", "score_table_csv",
           "comparison_rows", "comparison_table_csv"]

LESION_COLUMNS = ["label", "id", "site", "bone", "side", "sublocation", "bone_end", "finding_site_code", "finding_site_meaning",
                  "laterality_code", "volume_mm3", "centroid_r", "centroid_a", "centroid_s", "localization", "edited",
                  *FINDINGS, "warnings"]


#: the columns of the distribution table: a row per bone, lesions counted by side
DISTRIBUTION_COLUMNS = ["region", "bone", "left", "right", "midline", "unknown", "total"]


def lesion_rows(study: Study) -> list[dict[str, Any]]:
    """One dict per lesion, head to toe, with the columns of :data:`LESION_COLUMNS`: ``label`` ("#3") is the name
    the report and every other output give the lesion (the panel's table shows it), ``id`` ("L7") its identity in
    files."""
    rows = []
    labels = lesion_labels(study.lesions)
    for lesion in ordered_lesions(study.lesions):
        site = lesion.finding_site or {}
        row = {"label": labels[lesion.id], "id": lesion.id, "site": site_phrase(lesion), "bone": lesion.bone, "side": lesion.side or "",
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


def lesion_table_csv(study: Study | Reading) -> str:
    """The lesion table as CSV text."""
    return _csv(LESION_COLUMNS, lesion_rows(as_reading(study).study))


def distribution_rows(study: Study | Reading) -> list[dict[str, Any]]:
    """One row per region and per bone within it: left, right, midline, unknown, total."""
    rows = []
    for region in as_reading(study).distribution.regions:
        rows.append({"region": region["display"], "bone": "", **{k: region[k] for k in ("left", "right", "midline", "unknown", "total")}})
        for bone in region["bones"]:
            total = bone["left"] + bone["right"] + bone["midline"] + bone["unknown"]
            rows.append({"region": region["display"], "bone": bone["display"],
                         **{k: bone[k] for k in ("left", "right", "midline", "unknown")}, "total": total})
    return rows


def distribution_table_csv(study: Study | Reading) -> str:
    """The distribution table as CSV text."""
    return _csv(DISTRIBUTION_COLUMNS, distribution_rows(study))


#: the columns of the score table: a row per score or criterion (kind "score"), then a row per red flag ("red flag")
SCORE_COLUMNS = ["kind", "id", "name", "value", "maximum", "threshold", "outcome", "status", "missing", "lesions",
                 "not_verified", "value_statuses", "source", "result"]


def _number(value: Any) -> Any:
    """``""`` for ``None``, whole floats as integers (``63`` not ``63.0``)."""
    if value is None:
        return ""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _outcome(result: Any, threshold: float | None) -> str:
    """The branch, pattern or side of the threshold a score result reached (``""`` when not determined)."""
    details = result.details or {}
    if details.get("branch"):
        return f"criterion {details['branch']}" + (" met" if details.get("met") else "")
    if details.get("pattern"):
        return str(details["pattern"])
    if threshold is None or result.value is None:
        return ""
    if result.value >= threshold:
        return "at or above threshold"
    best = details.get("max_with_missing")
    if not result.partial or (best is not None and best < threshold):
        return "below threshold"
    return ""


def _unverified(statuses: str, definition: dict[str, Any]) -> list[str]:
    """The statuses of the score file's legend, other than "verified", that ``statuses`` names."""
    return [status for status in (definition.get("status_legend") or {}) if status != "verified" and status in statuses]


def score_rows(study: Study | Reading, weights: Any = None) -> list[dict[str, Any]]:
    """One row per bundled score or criterion (report order), then one per red flag, with :data:`SCORE_COLUMNS`.

    ``value`` is the total (empty for statements), ``maximum`` and ``threshold`` come from the score file,
    ``outcome`` is the Bristol branch, the Andronikou pattern, or the side of the threshold; ``status`` is
    ``complete`` / ``partial`` for scores and ``present`` / ``absent`` / ``not assessed`` for red flags;
    ``value_statuses`` says what each kind of value rests on ("items verified ...; item points as cited"), and
    ``not_verified`` lists the statuses of the score file's legend other than "verified" that it names ("as cited",
    "secondary report", "tool convention" ...), empty when every value used is verified;
    ``missing`` lists the missing items separated by `` | `` (as the lesion table's warnings).
    """
    from .scores import load_score  # noqa: PLC0415

    reading = as_reading(study, weights=weights)
    rows = []
    for result in reading.scores:
        definition = load_score(result.id)
        threshold = (definition.get("threshold") or {}).get("points")
        rows.append({"kind": "score", "id": result.id, "name": result.short, "value": _number(result.value),
                     "maximum": _number((definition.get("range") or {}).get("max")), "threshold": _number(threshold),
                     "outcome": _outcome(result, threshold), "status": "partial" if result.partial else "complete",
                     "missing": " | ".join(result.missing), "lesions": "",
                     "not_verified": " | ".join(_unverified(result.statuses, definition)),
                     "value_statuses": result.statuses, "source": result.source,
                     "result": result.summary})
    for flag in reading.red_flags.flags:
        status = {True: "present", False: "absent", None: "not assessed"}[flag.present]
        rows.append({"kind": "red flag", "id": flag.id, "name": flag.text, "value": "", "maximum": "", "threshold": "",
                     "outcome": "", "status": status, "missing": " | ".join(flag.missing), "lesions": ";".join(flag.labels),
                     "not_verified": "", "value_statuses": "", "source": flag.citation, "result": flag.why})
    return rows


def score_table_csv(study: Study | Reading, weights: Any = None) -> str:
    """The scores and red flags as CSV text."""
    return _csv(SCORE_COLUMNS, score_rows(study, weights))


#: the columns of the comparison table: a row per lesion change (``comparison.json``'s lesions, in its order)
COMPARISON_COLUMNS = ["baseline_date", "followup_date", "baseline_label", "followup_label", "baseline_id", "followup_id",
                      "status", "volume_change",
                      "volume_change_percent", "volume_baseline_mm3", "volume_followup_mm3", "site", "bone", "side",
                      "sublocation", "bone_end", "position_difference", "match"]


def comparison_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """One row per lesion change (persistent, new, resolved), with the two exam dates, :data:`COMPARISON_COLUMNS`."""
    dates = {"baseline_date": comparison.baseline.get("date", ""), "followup_date": comparison.followup.get("date", "")}
    rows = []
    for change in comparison.lesions:
        fields = change.to_dict()
        rows.append({**dates, **{key: "" if fields.get(key) is None else fields[key] for key in COMPARISON_COLUMNS[2:]}})
    return rows


def comparison_table_csv(comparison: Comparison) -> str:
    """The comparison as CSV text."""
    return _csv(COMPARISON_COLUMNS, comparison_rows(comparison))
