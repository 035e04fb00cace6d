"""Follow-up: match the lesions of two exams of one patient and describe what changed.

Matching never uses scanner coordinates (the patient lies differently and the grids differ between
exams): lesions match only within the same bone and side, by their position along the bone
(``Lesion.localization["position_along_bone"]``). Thresholds are data (``resources/compare.json``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model import lesion_labels, ordered_lesions
from ..errors import CRMOInputError
from ..io.files import read_json, resource
from ..model import Lesion, Study

if TYPE_CHECKING:
    from .conditions import Context

__all__ = ["LesionChange", "Comparison", "compare_studies", "rules", "SCHEMA", "SCHEMA_VERSION", "same_patient", "same_exam"]

SCHEMA = "crmo-analyzer/comparison"
SCHEMA_VERSION = 1


@lru_cache(maxsize=None)
def rules() -> dict[str, Any]:
    """Matching and volume-change thresholds, with their reasons."""
    return read_json(resource("compare.json"), "comparison rules")


@dataclass
class LesionChange:
    """One row of the comparison: a matched pair, a new lesion or a resolved one."""

    baseline_id: str | None
    followup_id: str | None
    status: str  # "persistent" | "new" | "resolved"
    bone: str
    side: str | None
    sublocation: str | None
    bone_end: str | None
    site: str
    volume_baseline_mm3: float | None = None
    volume_followup_mm3: float | None = None
    volume_change: str | None = None  # "increased" | "decreased" | "stable" | None (not measured)
    volume_change_percent: float | None = None
    position_difference: float | None = None
    match: str | None = None  # how the pair was made
    baseline_label: str | None = None  # the lesion's label in the baseline's outputs ("#3": lesion_labels)
    followup_label: str | None = None  # its label in the follow-up's outputs

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (contract: CONTRACTS.md, comparison.json)."""
        return asdict(self)


@dataclass
class Comparison:
    """Baseline versus follow-up: per-lesion changes, CROMRIS totals, warnings."""

    baseline: dict[str, Any]
    followup: dict[str, Any]
    lesions: list[LesionChange]
    cromris: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def of_status(self, status: str) -> list[LesionChange]:
        """Rows with this status."""
        return [row for row in self.lesions if row.status == status]

    def summary(self) -> dict[str, int]:
        """Counts by status and by volume change."""
        persistent = self.of_status("persistent")
        return {"new": len(self.of_status("new")), "resolved": len(self.of_status("resolved")),
                "persistent": len(persistent),
                **{key: sum(1 for r in persistent if r.volume_change == key) for key in ("increased", "decreased", "stable")},
                "baseline_lesions": self.baseline.get("lesion_count", 0), "followup_lesions": self.followup.get("lesion_count", 0)}

    def to_dict(self) -> dict[str, Any]:
        """The ``comparison.json`` document."""
        volume, matching = rules()["volume"], rules()["matching"]
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "baseline": dict(self.baseline),
                "followup": dict(self.followup), "summary": self.summary(),
                "lesions": [row.to_dict() for row in self.lesions],
                "scores": {"cromris": dict(self.cromris)},
                "thresholds": {"volume_change_percent": volume["change_percent"], "volume_min_change_mm3": volume["min_change_mm3"],
                               "max_position_difference": matching["max_position_difference"], "rules": "resources/compare.json"},
                "paragraph": self.paragraph(), "warnings": list(self.warnings)}

    def paragraph(self) -> str:
        """The follow-up paragraph of the report."""
        date = self.baseline.get("date") or "the baseline exam"
        counts = self.summary()
        parts = [f"Compared with {date}: {counts['baseline_lesions']} lesion{_s(counts['baseline_lesions'])} then, "
                 f"{counts['followup_lesions']} now."]
        new, resolved = self.of_status("new"), self.of_status("resolved")
        if new:
            parts.append(f"{len(new)} new lesion{_s(len(new))}: {_join([f'{r.site} ({r.followup_label})' for r in new])}.")
        else:
            parts.append("No new lesion.")
        if resolved:
            parts.append(f"{len(resolved)} lesion{_s(len(resolved))} no longer seen: "
                         f"{_join([f'{r.site} (baseline {r.baseline_label})' for r in resolved])}.")
        for key, verb in (("increased", "increased in volume"), ("decreased", "decreased in volume")):
            rows = [r for r in self.of_status("persistent") if r.volume_change == key]
            if rows:
                parts.append(f"{_cap(_join([_change_phrase(r) for r in rows]))}: {verb}.")
        stable = counts["stable"]
        if stable:
            limit = rules()["volume"]["change_percent"]
            parts.append(f"{stable} persistent lesion{_s(stable)} stable in volume (change below {limit:g}%).")
        unmeasured = [r for r in self.of_status("persistent") if r.volume_change is None]
        if unmeasured:
            parts.append(f"{len(unmeasured)} persistent lesion{_s(len(unmeasured))} without volumes (point annotations).")
        if self.cromris:
            c = self.cromris
            label = " (partial: items not recorded)" if c.get("partial") else ""
            parts.append(f"RAI-CROMRIS total {c['baseline']} then, {c['followup']} now (change {c['change']:+d}){label}.")
        ambiguous = [r for r in self.lesions if r.match and "ambiguous" in r.match]
        if ambiguous:
            parts.append(f"Check the matching of {_join([f'{r.site} ({r.followup_label})' for r in ambiguous])} "
                         "(no position along the bone).")
        return " ".join(parts)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _cm3(mm3: float) -> str:
    return f"{mm3 / 1000:.1f} cm³" if mm3 >= 100 else f"{mm3:.0f} mm³"


def _change_phrase(row: LesionChange) -> str:
    return (f"{row.site} ({row.followup_label}, baseline {row.baseline_label}: {_cm3(row.volume_baseline_mm3)} -> "
            f"{_cm3(row.volume_followup_mm3)}, {row.volume_change_percent:+.0f}%)")


def same_patient(a: Study, b: Study) -> str | None:
    """Why two studies look like different patients, or ``None`` when nothing contradicts it."""
    pa, pb = a.patient or {}, b.patient or {}
    for key, label in (("id", "patient id"), ("birth_date", "birth date"), ("name", "name"), ("sex", "sex")):
        if pa.get(key) and pb.get(key) and str(pa[key]).strip().upper() != str(pb[key]).strip().upper():
            return f"{label} differs ({pa[key]} vs {pb[key]})"
    return None


def _study_uid(study: Study) -> str | None:
    """The DICOM study instance UID the study records (in ``study`` or ``dicom``), if any."""
    for facts in (study.study or {}, study.dicom or {}):
        uid = facts.get("study_instance_uid")
        if uid and str(uid).strip():
            return str(uid).strip()
    return None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.isfile(a) and os.path.isfile(b) and os.path.samefile(a, b)
    except OSError:
        return False


def same_exam(a: Study, b: Study, sources: tuple[str, str] = ("", "")) -> str | None:
    """Why two studies are one exam (the same file, study instance UID, or date and accession), or ``None``."""
    if sources[0] and sources[1] and _same_file(*sources):
        return "it is the same file"
    uid_a, uid_b = _study_uid(a), _study_uid(b)
    if uid_a and uid_a == uid_b:
        return f"both have study instance UID {uid_a}"
    sa, sb = a.study or {}, b.study or {}
    date, accession = sa.get("date"), str(sa.get("accession") or "").strip()
    if date and accession and date == sb.get("date") and accession.upper() == str(sb.get("accession") or "").strip().upper():
        return f"both are dated {date} with accession {accession}"
    return None


def volume_change(before: float | None, after: float | None) -> tuple[str | None, float | None]:
    """("increased" | "decreased" | "stable", percent) by the thresholds of ``compare.json``."""
    if before is None or after is None or before <= 0:
        return None, None
    rule = rules()["volume"]
    percent = 100.0 * (after - before) / before
    if abs(percent) >= rule["change_percent"] and abs(after - before) >= rule["min_change_mm3"]:
        return ("increased" if after > before else "decreased"), round(percent, 1)
    return "stable", round(percent, 1)


def _position(lesion: Lesion) -> float | None:
    value = (lesion.localization or {}).get("position_along_bone")
    return None if value is None else float(value)


def _pairs(before: list[Lesion], after: list[Lesion]) -> list[tuple[int, int, float | None, str]]:
    from scipy.optimize import linear_sum_assignment  # noqa: PLC0415

    limit = rules()["matching"]["max_position_difference"]
    positions = [[_position(l) for l in before], [_position(l) for l in after]]
    if all(p is not None for group in positions for p in group):
        cost = np.abs(np.subtract.outer(np.array(positions[0]), np.array(positions[1])))
        rows, cols = linear_sum_assignment(cost)
        return [(i, j, round(float(cost[i, j]), 3), "position along the bone") for i, j in zip(rows, cols) if cost[i, j] <= limit]
    if len(before) == 1 and len(after) == 1:
        return [(0, 0, None, "only lesion in this bone")]
    rank = [sorted(range(len(g)), key=lambda k: -(g[k].volume_mm3 or 0)) for g in (before, after)]
    order = [{k: r for r, k in enumerate(ranks)} for ranks in rank]
    cost = np.array([[(10.0 if a.sublocation != b.sublocation else 0.0) + abs(order[0][i] - order[1][j])
                      for j, b in enumerate(after)] for i, a in enumerate(before)])
    rows, cols = linear_sum_assignment(cost)
    return [(i, j, None, "ambiguous: sub-location and volume rank (no position along the bone)")
            for i, j in zip(rows, cols) if cost[i, j] < 10]


def _row(status: str, a: Lesion | None, b: Lesion | None, labels: tuple[dict[str, str], dict[str, str]],
         difference: float | None = None, how: str | None = None) -> LesionChange:
    from .report import site_phrase  # noqa: PLC0415 (report is the place phrases live)

    ref = b or a
    assert ref is not None
    row = LesionChange(baseline_id=a.id if a else None, followup_id=b.id if b else None, status=status, bone=ref.bone,
                       side=ref.side, sublocation=ref.sublocation, bone_end=ref.bone_end, site=site_phrase(ref),
                       volume_baseline_mm3=a.volume_mm3 if a else None, volume_followup_mm3=b.volume_mm3 if b else None,
                       position_difference=difference, match=how, baseline_label=labels[0][a.id] if a else None,
                       followup_label=labels[1][b.id] if b else None)
    if a and b:
        row.volume_change, row.volume_change_percent = volume_change(a.volume_mm3, b.volume_mm3)
    return row


def _facts(study: Study) -> dict[str, Any]:
    s = study.study or {}
    return {**{k: s[k] for k in ("date", "modality", "description") if s.get(k)}, "lesion_count": len(study.lesions)}


def compare_studies(baseline: Study, followup: Study, force: bool = False,
                    sources: tuple[str, str] = ("baseline", "follow-up"),
                    contexts: tuple[Context | None, Context | None] = (None, None)) -> Comparison:
    """Match the lesions of two exams and describe the change.

    Parameters
    ----------
    baseline: Study
        The earlier exam.
    followup: Study
        The later exam (any grid and patient position).
    force: bool
        Compare even when the patient facts differ (a warning says so).
    sources: tuple[str, str]
        Names of the two inputs for messages (e.g. their file paths).
    contexts: tuple[Context | None, Context | None]
        The exams' :class:`~.conditions.Context` when already computed (a reading's), so that the distribution is
        not derived again for the CROMRIS change.

    Raises
    ------
    CRMOInputError
        Different patients or the same exam twice (unless ``force``).
    """
    from .scores import evaluate_score  # noqa: PLC0415

    warnings: list[str] = []
    problem = same_patient(baseline, followup)
    if problem and not force:
        raise CRMOInputError(sources[1], f"not the same patient as {sources[0]}: {problem}; refusing to compare "
                                         "(use --force to compare anyway)")
    if problem:
        warnings.append(f"compared although the patient facts differ: {problem}")
    twice = same_exam(baseline, followup, sources)
    if twice and not force:
        raise CRMOInputError(sources[1], f"the same exam as {sources[0]}: {twice}; refusing to compare an exam with "
                                         "itself (use --force to compare anyway)")
    if twice:
        warnings.append(f"compared although both are the same exam: {twice}")
    for study, name in ((baseline, sources[0]), (followup, sources[1])):
        if not study.lesions:
            warnings.append(f"{name} has no lesion")
    date_a, date_b = (baseline.study or {}).get("date"), (followup.study or {}).get("date")
    if date_a and date_b and date_b < date_a:
        warnings.append(f"the follow-up ({date_b}) is dated before the baseline ({date_a})")

    def groups(study: Study) -> dict[tuple[str, str], list[Lesion]]:
        out: dict[tuple[str, str], list[Lesion]] = {}
        for lesion in ordered_lesions([l for l in study.lesions if l.assigned]):
            out.setdefault((lesion.bone, lesion.side or ""), []).append(lesion)
        return out

    before, after = groups(baseline), groups(followup)
    labels = (lesion_labels(baseline.lesions), lesion_labels(followup.lesions))
    persistent, resolved, new = [], [], []
    matched_a: set[str] = set()
    matched_b: set[str] = set()
    for key in before.keys() & after.keys():
        for i, j, difference, how in _pairs(before[key], after[key]):
            a, b = before[key][i], after[key][j]
            persistent.append(_row("persistent", a, b, labels, difference, how))
            matched_a.add(a.id)
            matched_b.add(b.id)
    for lesion in ordered_lesions(baseline.lesions):
        if lesion.id not in matched_a:
            resolved.append(_row("resolved", lesion, None, labels))
    for lesion in ordered_lesions(followup.lesions):
        if lesion.id not in matched_b:
            new.append(_row("new", None, lesion, labels))
    for study, name, named in ((baseline, sources[0], labels[0]), (followup, sources[1], labels[1])):
        for lesion in study.lesions:
            if not lesion.assigned:
                warnings.append(f"{name} {named[lesion.id]} is not assigned to a bone and cannot be matched")
    order = {l.id: n for n, l in enumerate(ordered_lesions(followup.lesions))}
    persistent.sort(key=lambda r: order[r.followup_id])
    cromris = {}
    if baseline.lesions and followup.lesions:
        a_score = evaluate_score(contexts[0] or baseline, "cromris")
        b_score = evaluate_score(contexts[1] or followup, "cromris")
        cromris = {"baseline": int(a_score.value or 0), "followup": int(b_score.value or 0),
                   "change": int((b_score.value or 0) - (a_score.value or 0)), "partial": a_score.partial or b_score.partial}
    return Comparison(_facts(baseline), _facts(followup), persistent + new + resolved, cromris, warnings)
