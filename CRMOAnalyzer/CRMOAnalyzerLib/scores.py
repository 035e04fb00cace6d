"""Published CRMO/CNO criteria and scores, evaluated from a study; each defined by a data file.

The definitions (items, points, thresholds, sources, and a status per value: "verified", "as cited",
"tool convention") live in ``resources/scores/*.json``; this module evaluates them. Imaging items come
from the annotated lesions, clinical items from ``Study.clinical`` (entered by the user). When an item
is missing the result is labelled partial and says which items are missing. Decision support only:
a score or criterion is a published aid, never a diagnosis.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .anatomy import BoneKindValues, bones
from .conditions import Context, check_clinical, evaluate
from .errors import CRMOInputError
from .files import read_json
from .model import Lesion, Study

__all__ = ["SCORES", "ScoreResult", "Item", "load_score", "load_weights", "evaluate_score", "evaluate_all",
           "score_ids"]

#: the bundled definitions, in report order
SCORES = ("andronikou", "jansson", "bristol", "eular_acr_2025", "cromris", "rinbo")
SCORE_SCHEMA = "crmo-analyzer/score"
WEIGHTS_SCHEMA = "crmo-analyzer/eular-weights"


@dataclass
class Item:
    """One item of a score: where it comes from, its result, its points and the status of its value."""

    id: str
    display: str
    source: str  # "imaging" | "clinical"
    status: str
    value: Any = None  # True / False / None (missing), or a number or category
    points: float | None = None
    lesions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class ScoreResult:
    """A criterion or score evaluated on a study."""

    id: str
    name: str
    short: str
    version: str
    source: str
    partial: bool
    summary: str
    value: float | None = None
    items: list[Item] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    statuses: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def line(self) -> str:
        """One report line: name, result, missing items, and the status of the values used."""
        text = f"{self.short}: {'PARTIAL, ' if self.partial else ''}{self.summary}"
        if self.missing:
            text += f" Missing: {'; '.join(self.missing)}."
        if self.statuses:
            text += f" [{self.statuses}]"
        return text


def score_ids() -> tuple[str, ...]:
    """Names of the bundled score files."""
    return SCORES


@lru_cache(maxsize=None)
def _bundled(name: str) -> dict[str, Any]:
    return read_json(resources.files(__package__) / "resources" / "scores" / f"{name}.json", f"score file {name}")


def load_score(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """A score definition: a bundled name (``"jansson"``) or a path to a score file."""
    text = os.fspath(name_or_path)
    if text in SCORES:
        definition = _bundled(text)
    elif text.endswith(".json") or os.sep in text:
        definition = read_json(Path(text), "score file")
    else:
        raise CRMOInputError(text, f"unknown score; bundled scores: {', '.join(SCORES)} (or give a score file path)")
    if not isinstance(definition, dict) or definition.get("schema") != SCORE_SCHEMA:
        raise CRMOInputError(text, f"not a CRMO Analyzer score file (\"schema\" must be {SCORE_SCHEMA!r})")
    if definition.get("kind") not in EVALUATORS:
        raise CRMOInputError(text, f"unknown score kind {definition.get('kind')!r}; known: {', '.join(EVALUATORS)}")
    for key in ("id", "name", "source", "version"):
        if not definition.get(key):
            raise CRMOInputError(text, f"score file has no {key!r}")
    return definition


def load_weights(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a user's EULAR/ACR 2025 weights file (format: ``weights_format`` in the score file)."""
    data = read_json(path, "weights file")
    where = os.fspath(path)
    if not isinstance(data, dict) or data.get("schema") != WEIGHTS_SCHEMA:
        raise CRMOInputError(where, f"not a weights file (\"schema\" must be {WEIGHTS_SCHEMA!r})")
    if not data.get("source"):
        raise CRMOInputError(where, "weights file must cite its source (\"source\")")
    if data.get("count", "highest_per_domain") not in ("highest_per_domain", "sum"):
        raise CRMOInputError(where, "\"count\" must be \"highest_per_domain\" or \"sum\"")
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise CRMOInputError(where, "weights file has no \"items\"")
    probe = Context(Study())
    for number, item in enumerate(items):
        if not isinstance(item, dict) or not all(k in item for k in ("id", "domain", "points", "when")):
            raise CRMOInputError(where, f"item {number} needs id, domain, points and when")
        if isinstance(item["points"], bool) or not isinstance(item["points"], (int, float)):
            raise CRMOInputError(where, f"item {item['id']}: points must be a number")
        evaluate(item["when"], probe, f"{where} item {item['id']}")  # unknown rules and keys fail here
    return data


# ---- evaluators, one per kind ----------------------------------------------------------------------

def _which(ids: Sequence[str], ctx: Context) -> str:
    return "any lesion" if len(ids) == len(ctx.assigned) and len(ids) > 1 else ", ".join(ids)


def _pts(value: float) -> str:
    return f"{value:g}"


def _status_note(definition: dict[str, Any], items: Sequence[dict[str, Any]], what: str) -> str:
    parts = []
    for key, label in (("threshold", "threshold"), ("structure", "structure"), ("range", "range")):
        if isinstance(definition.get(key), dict) and definition[key].get("status"):
            parts.append(f"{label} {definition[key]['status']}")
    statuses = sorted({i.get("status", "") for i in items if i.get("status")})
    if statuses:
        parts.append(f"{what} {' / '.join(statuses)}")
    return "; ".join(parts)


def _points(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    items: list[Item] = []
    for spec in d["items"]:
        outcome = evaluate(spec["when"], ctx, d["id"])
        items.append(Item(spec["id"], spec["display"], spec["from"], spec["status"], outcome.value,
                          spec["points"] if outcome.value else 0 if outcome.value is False else None,
                          outcome.lesions, outcome.missing))
    known = sum(i.points or 0 for i in items)
    open_points = sum(spec["points"] for spec, i in zip(d["items"], items) if i.value is None)
    threshold = d["threshold"]["points"]
    top = d["range"]["max"]
    met = [f"{i.display} {_pts(i.points)}" for i in items if i.value]
    basis = f" ({'; '.join(met)})" if met else ""
    if open_points == 0:
        side = "at or above" if known >= threshold else "below"
        summary = (f"{_pts(known)}/{top} points{basis}: {side} the published threshold of {threshold} "
                   f"({d['threshold']['meaning']}).")
    else:
        if known >= threshold:
            verdict = f"the threshold of {threshold} is reached whatever the missing items"
        elif known + open_points < threshold:
            verdict = f"the threshold of {threshold} cannot be reached even with the missing items"
        else:
            verdict = f"the missing items decide whether the threshold of {threshold} is reached"
        summary = (f"{_pts(known)} points from the items available{basis}; between {_pts(known)} and "
                   f"{_pts(known + open_points)} of {top} with the missing items: {verdict} (>= {threshold}: "
                   f"{d['threshold']['meaning']}).")
    missing = [f"{i.display} ({_pts(spec['points'])} points; {'not entered' if i.source == 'clinical' else ', '.join(i.missing)})"
               for spec, i in zip(d["items"], items) if i.value is None]
    return _result(d, open_points > 0, summary, known, items, missing, _status_note(d, d["items"], "item points"),
                   {"threshold": threshold, "max_with_missing": known + open_points})


def _bristol(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    dist = ctx.distribution
    clinical = evaluate(d["clinical"]["when"], ctx, d["id"])
    imaging = evaluate({"imaging": "typical_findings"}, ctx, d["id"])
    clavicle_alone = bool(ctx.assigned) and all(ctx.kind(l) == BoneKindValues.CLAVICLE for l in ctx.assigned)
    more_than_one = dist.site_count >= 2
    crp = ctx.study.clinical.get("crp_mg_l")
    biopsy = ctx.study.clinical.get("biopsy")
    limit = d["criterion_1"]["crp_below_mg_l"]
    items = [Item(d["clinical"]["id"], d["clinical"]["display"], "clinical", d["clinical"]["status"], clinical.value),
             Item(d["imaging"]["id"], d["imaging"]["display"], "imaging", d["imaging"]["status"], imaging.value,
                  lesions=imaging.lesions, missing=imaging.missing),
             Item("sites", "more than one bone, or the clavicle alone", "imaging", d["criterion_1"]["status"],
                  more_than_one or clavicle_alone, lesions=[l.id for l in ctx.assigned]),
             Item("crp", f"CRP below {limit:g} mg/L", "clinical", d["criterion_1"]["status"], None if crp is None else crp < limit),
             Item("biopsy", "biopsy: inflammation, no bacterial growth", "clinical", d["criterion_2"]["status"],
                  None if biopsy in (None, "not_done") else biopsy == d["criterion_2"]["biopsy_value"])]
    why_sites = "more than one bone" if more_than_one else "clavicle alone"
    needed: list[str] = []
    if clinical.value is None:
        needed.append("bone pain (typical clinical findings)")
    if imaging.value is None:
        needed.append("typical imaging findings per lesion")
    branch, supports = None, ""
    if more_than_one or clavicle_alone:
        if crp is None:
            supports = f"imaging supports criterion 1 ({why_sites}) if CRP < {limit:g} mg/L"
            needed.append(f"CRP (criterion 1 needs < {limit:g} mg/L)")
        elif crp < limit:
            supports, branch = f"imaging supports criterion 1 ({why_sites}, CRP {crp:g} mg/L)", "1"
        else:
            supports = f"biopsy needed (criterion 2): CRP {crp:g} mg/L is not below {limit:g} mg/L"
            branch = "2"
    else:
        supports, branch = "biopsy needed (criterion 2): solitary lesion outside the clavicle", "2"
    if branch == "2":
        if biopsy == d["criterion_2"]["biopsy_value"]:
            supports += "; biopsy showed inflammation without bacterial growth"
        elif biopsy in (None, "not_done"):
            needed.append("bone biopsy (inflammation, no bacterial growth, off antibiotics)")
        else:
            supports += f"; biopsy result '{biopsy}' does not fulfil criterion 2"
    refuted = clinical.value is False or imaging.value is False or (branch == "2" and biopsy not in
                                                                     (None, "not_done", d["criterion_2"]["biopsy_value"]))
    if refuted:
        reasons = [t for t, bad in (("no bone pain recorded", clinical.value is False),
                                    ("no typical imaging finding recorded", imaging.value is False)) if bad]
        summary = f"criteria not met ({'; '.join(reasons) or supports})."
    elif not needed and branch:
        summary = f"criterion {branch} met: {supports}."
    else:
        summary = f"{supports}."
    return _result(d, bool(needed) and not refuted, summary, None, items, needed,
                   _status_note(d, [d["clinical"], d["criterion_1"], d["criterion_2"]], "rule"),
                   {"branch": branch, "met": (not needed and not refuted and bool(branch)), "imaging_supports": supports})


def _unit_key(lesion: Lesion) -> tuple[str, str]:
    return (lesion.bone, lesion.side or "")


def _unit_display(lesion: Lesion) -> str:
    display = bones()[lesion.bone].display
    return f"{lesion.side.capitalize()} {display}" if lesion.side else display[0].upper() + display[1:]


def _lesion_flag(lesion: Lesion, keys: Sequence[str]) -> bool | None:
    values = [lesion.findings.get(k) for k in keys]
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _cromris(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    groups: dict[tuple[str, str], list[Lesion]] = {}
    for lesion in ctx.assigned:
        groups.setdefault(_unit_key(lesion), []).append(lesion)
    units, total, gaps = [], 0, {}
    for key, lesions in groups.items():
        kind = bones()[lesions[0].bone].kind.value
        points, unit_partial = {}, False
        for spec in d["items"]:
            if "only_kinds" in spec and kind not in spec["only_kinds"]:
                points[spec["id"]] = 0
                continue
            keys = spec.get("finding_any") or [spec["finding"]]
            if spec["id"] == "signal_extent":
                values = [l.findings.get(spec["finding"]) for l in lesions]
                known = [spec["points"][v] for v in values if v in spec["points"]]
                unknown = [l.id for l, v in zip(lesions, values) if v not in spec["points"]]
                score = max(known, default=0)
            else:
                flags = [_lesion_flag(l, keys) for l in lesions]
                score = spec["points"]["true"] if True in flags else 0
                unknown = [] if True in flags else [l.id for l, f in zip(lesions, flags) if f is None]
            points[spec["id"]] = None if unknown and not score else score
            if unknown:
                unit_partial = True
                gaps.setdefault(spec["display"], []).extend(unknown)
        unit_score = sum(v or 0 for v in points.values())
        total += unit_score
        units.append({"unit": "_".join(k for k in key if k), "display": _unit_display(lesions[0]),
                      "lesions": [l.id for l in lesions], "score": unit_score, "items": points, "partial": unit_partial})
    missing = [f"{name} not recorded for {_which(ids, ctx)}" for name, ids in gaps.items()]
    per_unit = ", ".join(f"{u['display']} {u['score']}{'+' if u['partial'] else ''}" for u in units)
    summary = (f"RAI-CROMRIS total {total} over {len(units)} bone unit{'s' if len(units) != 1 else ''} "
               f"(0-{d['unit_max']} each){'; at least this much, items missing' if missing else ''}. Per bone unit: {per_unit}.")
    return _result(d, bool(missing), summary, total, [], missing, _status_note(d, d["items"], "item grading") +
                   f"; bone unit: {d['bone_unit']['status']}", {"units": units, "total": total})


def _rinbo(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    edema = {l.id: l.findings.get("marrow_edema") for l in ctx.assigned}
    active = [l for l in ctx.assigned if edema[l.id] is not False]
    unsure = [l.id for l in active if edema[l.id] is None]
    sized = [l for l in active if l.volume_mm3 is not None]
    largest = max(sized, key=lambda l: l.volume_mm3, default=None)
    extra = [_lesion_flag(l, d["parameters"][2]["findings"]) for l in ctx.assigned]
    extra_ids = [l.id for l, f in zip(ctx.assigned, extra) if f]
    spinal = [l.id for l in ctx.assigned if ctx.kind(l) == BoneKindValues.VERTEBRA]
    missing = []
    if unsure:
        missing.append(f"marrow edema not recorded for {_which(unsure, ctx)} (counted as active)")
    parts = [f"{len(active)} radiologically active lesion{'s' if len(active) != 1 else ''}"]
    if largest is not None:
        diameter = (6 * largest.volume_mm3 / math.pi) ** (1 / 3)
        parts.append(f"largest active lesion {largest.volume_mm3 / 1000:.1f} cm³ ({diameter:.0f} mm equivalent diameter, {largest.id})")
    elif active:
        missing.append("size of the largest active lesion (no segmented volume: point annotations)")
    if extra_ids:
        parts.append(f"extramedullary involvement: yes ({', '.join(extra_ids)})")
    elif None in extra:
        parts.append("extramedullary involvement: not recorded")
        missing.append("extramedullary involvement (soft-tissue inflammation, periosteal reaction, soft-tissue mass)")
    else:
        parts.append("extramedullary involvement: no")
    parts.append(f"spinal involvement: {'yes (' + ', '.join(spinal) + ')' if spinal else 'no'}")
    summary = "; ".join(parts) + f". {d['points_note']}"
    details = {"active_lesions": len(active), "largest_active_mm3": largest.volume_mm3 if largest else None,
               "largest_active_id": largest.id if largest else None, "extramedullary": True if extra_ids else
               (None if None in extra else False), "spinal": bool(spinal)}
    return _result(d, bool(missing), summary, None, [], missing, _status_note(d, d["parameters"], "parameters"), details)


def _eular(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    items, missing, parts = [], [], []
    entry = []
    for spec in d["entry"]:
        outcome = evaluate(spec["when"], ctx, d["id"])
        items.append(Item(spec["id"], spec["display"], "clinical" if "clinical" in spec["when"] else "imaging",
                          spec["status"], outcome.value, lesions=outcome.lesions, missing=outcome.missing))
        entry.append(f"{spec['display']} {'yes' if outcome.value else 'no' if outcome.value is False else 'not entered'}")
        if outcome.value is None:
            missing.append(f"entry: {spec['display']}")
    parts.append(f"entry ({'; '.join(entry)})")
    present = [s["display"] for s in d["exclusions"] if ctx.study.clinical.get(s["clinical"]) is True]
    open_ = [s["display"] for s in d["exclusions"] if ctx.study.clinical.get(s["clinical"]) is None]
    if present:
        parts.append(f"EXCLUSION present: {', '.join(present)} (criteria do not apply)")
    if open_:
        missing.append(f"exclusions not yet ruled out: {', '.join(open_)}")
    elif not present:
        parts.append("all exclusions ruled out")
    domains = {}
    for domain in d["imaging_domains"]:
        hits = []
        for value in domain["values"]:
            outcome = evaluate(value["when"], ctx, d["id"])
            if outcome.value:
                hits.append(f"{value['display']} ({', '.join(outcome.lesions)})" if domain["id"] == "site" else value["display"])
        domains[domain["id"]] = hits
        parts.append(f"{domain['display']}: {', '.join(hits) or 'none of the listed values'}")
    value, partial = None, bool(missing)
    details: dict[str, Any] = {"imaging_domains": domains, "exclusions_present": present, "weights": None}
    if weights is None:
        parts.append(f"points not computed: {d['weights_note'].split('.')[0].lower()}; >= {d['threshold']['points']} points "
                     f"{d['threshold']['meaning']}")
    else:
        best: dict[str, float] = {}
        weights_partial = False
        for spec in weights["items"]:
            outcome = evaluate(spec["when"], ctx, "weights file")
            items.append(Item(spec["id"], spec.get("display", spec["id"]), "weights", "user file", outcome.value,
                              spec["points"] if outcome.value else 0 if outcome.value is False else None,
                              outcome.lesions, outcome.missing))
            if outcome.value is None:
                missing.append(f"{spec.get('display', spec['id'])} ({', '.join(outcome.missing)})")
                partial = weights_partial = True
            elif outcome.value:
                if weights.get("count", "highest_per_domain") == "sum":
                    best[spec["domain"]] = best.get(spec["domain"], 0) + spec["points"]
                else:
                    best[spec["domain"]] = max(best.get(spec["domain"], spec["points"]), spec["points"])
        value = sum(best.values())
        threshold = d["threshold"]["points"]
        parts.append(f"{_pts(value)} points{' from the items available' if weights_partial else ''} with the weights of "
                     f"{weights['source']} ({'at or above' if value >= threshold else 'below'} {threshold}: {d['threshold']['meaning']})")
        details["weights"] = {"source": weights["source"], "by_domain": best}
    summary = "; ".join(parts) + ". Classification criteria, not a diagnosis."
    return _result(d, partial, summary, value, items, missing, _status_note(d, d["entry"] + d["exclusions"], "items")
                   + ("; weights: user file" if weights else ""), details)


def _has(ctx: Context, spec: dict[str, Any], lesion: Lesion) -> bool:
    bone = bones()[lesion.bone]
    return bone.base in spec.get("bones", ()) or bone.kind.value in spec.get("kinds", ())


def _present(ctx: Context, spec: dict[str, Any]) -> bool:
    groups = [{"bones": spec["bones"]}] if "bones" in spec else []
    groups += [{"kinds": spec["kinds"]}] if "kinds" in spec else []
    return all(any(_has(ctx, g, l) for l in ctx.assigned) for g in groups)


def _pattern(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    chosen = d["otherwise"]
    for spec in d["patterns"]:
        if not _present(ctx, spec["requires"]):
            continue
        if "excludes" in spec and any(_has(ctx, spec["excludes"], l) for l in ctx.assigned):
            continue
        if len(ctx.assigned) < spec.get("min_lesions", 0):
            continue
        if "max_other_lesions" in spec:
            others = [l for l in ctx.assigned if not _has(ctx, spec["requires"], l)]
            mainly = [l for l in others if _has(ctx, spec["other_mainly"], l)]
            if len(others) > spec["max_other_lesions"] or 2 * len(mainly) < len(others):
                continue
        chosen = spec
        break
    share = f"; {chosen['share']} in the source cohort" if chosen.get("share") else ""
    summary = f"{chosen['display']}{share}."
    return _result(d, False, summary, None, [], [], _status_note(d, d["patterns"], "pattern names") +
                   "; lesion-count limits: tool convention", {"pattern": chosen["id"]})


def _result(d: dict[str, Any], partial: bool, summary: str, value: float | None, items: list[Item],
            missing: list[str], statuses: str, details: dict[str, Any]) -> ScoreResult:
    return ScoreResult(id=d["id"], name=d["name"], short=d.get("short", d["name"]), version=str(d["version"]),
                       source=d["source"], partial=partial, summary=summary, value=value, items=items, missing=missing,
                       statuses=statuses, details=details)


EVALUATORS: dict[str, Callable[[Context, dict[str, Any], dict | None], ScoreResult]] = {
    "points": _points, "bristol": _bristol, "cromris": _cromris, "rinbo": _rinbo, "eular": _eular, "pattern": _pattern}


def evaluate_score(study: Study | Context, score: str | os.PathLike | dict[str, Any],
                   weights: dict[str, Any] | str | os.PathLike | None = None) -> ScoreResult:
    """Evaluate one score (a bundled name, a score file path, or a loaded definition) on a study.

    Raises
    ------
    CRMOInputError
        Unknown score or bad score file, invalid clinical items, or a bad weights file.
    """
    ctx = study if isinstance(study, Context) else Context(study)
    check_clinical(ctx.study.clinical, "study clinical items")
    definition = score if isinstance(score, dict) else load_score(score)
    if weights is not None and not isinstance(weights, dict):
        weights = load_weights(weights)
    if not ctx.assigned:
        return _result(definition, True, "not assessed: no lesion localized to a bone.", None, [],
                       ["lesions (the study has no lesion localized to a bone)"], "", {})
    return EVALUATORS[definition["kind"]](ctx, definition, weights)


def evaluate_all(study: Study | Context, weights: dict[str, Any] | str | os.PathLike | None = None,
                 scores: Sequence[str] = SCORES) -> list[ScoreResult]:
    """Every bundled score on one study (EULAR/ACR points only when ``weights`` are given)."""
    ctx = study if isinstance(study, Context) else Context(study)
    if weights is not None and not isinstance(weights, dict):
        weights = load_weights(weights)
    return [evaluate_score(ctx, name, weights if load_score(name)["kind"] == "eular" else None) for name in scores]
