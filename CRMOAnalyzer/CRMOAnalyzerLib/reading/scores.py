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
from pathlib import Path
from typing import Any

from ..anatomy import BoneKindValues, bones
from .conditions import Context, check_clinical, evaluate
from ..model import labelled
from ..errors import CRMOInputError
from ..io.files import read_json, resource
from ..model import Lesion, Study

__all__ = ["SCORES", "ScoreResult", "Item", "load_score", "load_weights", "evaluate_score", "evaluate_all",
           "score_ids"]

#: the bundled definitions, in report order
SCORES = ("andronikou", "jansson", "bristol", "eular_acr_2025", "cromris", "rinbo")
SCORE_SCHEMA = "crmo-analyzer/score"
WEIGHTS_SCHEMA = "crmo-analyzer/eular-weights"


@dataclass
class Item:
    """One item of a score: where it comes from, its result, its points and the status of its value.

    ``status`` is the status of the item's definition; ``points_status`` that of its points when the
    score file gives them a status of their own (Jansson: items verified, points as cited).
    """

    id: str
    display: str
    source: str  # "imaging" | "clinical"
    status: str
    value: Any = None  # True / False / None (missing), or a number or category
    points: float | None = None
    lesions: list[str] = field(default_factory=list)  # lesion ids
    missing: list[str] = field(default_factory=list)
    points_status: str | None = None
    labels: list[str] = field(default_factory=list)  # the same lesions as text names them ("#3": lesion_labels)


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
    definition = read_json(resource("scores", f"{name}.json"), f"score file {name}")
    _check(definition, f"score file {name}")
    return definition


#: fields each kind needs (top level, and per entry of the named lists); other fields are notes, kept and ignored
_REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "points": {"": ("items", "threshold", "range"), "items": ("id", "display", "from", "when", "points")},
    "bristol": {"": ("clinical", "imaging", "criterion_1", "criterion_2")},
    "cromris": {"": ("items", "unit_max", "bone_unit"), "items": ("id", "display", "points")},
    "rinbo": {"": ("parameters", "points_note")},
    "eular": {"": ("entry", "exclusions", "imaging_domains", "threshold", "weights_note"),
              "entry": ("id", "display", "when", "status"), "exclusions": ("id", "display", "clinical", "status"),
              "unsupported_exclusions": ("id", "display", "clinical", "status"), "imaging_domains": ("id", "display", "values")},
    "pattern": {"": ("patterns", "otherwise"), "patterns": ("id", "display", "requires")},
}


def _statuses_in(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (path, value) of a ``status`` or ``*_status`` field, at any depth."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if (key == "status" or key.endswith("_status")) and isinstance(value, str):
                found.append((f"{path}.{key}".lstrip("."), value))
            elif key not in ("status_legend", "weights_format"):
                found += _statuses_in(value, f"{path}.{key}")
    elif isinstance(node, list):
        for number, value in enumerate(node):
            found += _statuses_in(value, f"{path}[{number}]")
    return found


def _conditions_in(node: Any) -> list[dict[str, Any]]:
    """Every ``when`` condition, at any depth."""
    if isinstance(node, dict):
        return [c for k, v in node.items() if k != "weights_format"
                for c in ([v] if k == "when" else _conditions_in(v))]
    if isinstance(node, list):
        return [c for value in node for c in _conditions_in(value)]
    return []


def _check(d: dict[str, Any], where: str) -> None:
    """Raise :class:`CRMOInputError` naming the file and the field when a score file is not usable.

    Checked: schema, kind, citation fields, the fields the kind's evaluator reads, every status value
    against ``status_legend``, every reference to ``secondary_sources`` and every ``when`` condition.
    Fields not listed are notes for the reader: accepted and ignored.
    """
    if not isinstance(d, dict) or d.get("schema") != SCORE_SCHEMA:
        raise CRMOInputError(where, f"not a CRMO Analyzer score file (\"schema\" must be {SCORE_SCHEMA!r})")
    if d.get("kind") not in EVALUATORS:
        raise CRMOInputError(where, f"unknown score kind {d.get('kind')!r}; known: {', '.join(EVALUATORS)}")
    for key in ("id", "name", "source", "version"):
        if not d.get(key):
            raise CRMOInputError(where, f"score file has no {key!r}")
    for part, keys in _REQUIRED[d["kind"]].items():
        entries = [d] if part == "" else d.get(part, [])
        if not isinstance(entries, list):
            raise CRMOInputError(where, f"{part!r} must be a list")
        for number, entry in enumerate(entries):
            lacking = [k for k in keys if not isinstance(entry, dict) or k not in entry]
            if lacking:
                label = "score file" if part == "" else f"{part}[{number}]"
                raise CRMOInputError(where, f"{label} has no {', '.join(repr(k) for k in lacking)}")
    if d["kind"] == "points":
        for spec in d["items"]:
            if "status" not in spec and not ("item_status" in spec and "points_status" in spec):
                raise CRMOInputError(where, f"item {spec['id']!r} needs \"status\", or \"item_status\" and \"points_status\"")
    legend = d.get("status_legend") or {}
    for path, value in _statuses_in(d):
        if value not in legend:
            raise CRMOInputError(where, f"{path}: status {value!r} is not in \"status_legend\" ({', '.join(legend)})")
    secondary = d.get("secondary_sources") or {}
    for path, ref in _source_refs(d):
        if ref not in secondary:
            raise CRMOInputError(where, f"{path}: source {ref!r} is not in \"secondary_sources\"")
    probe = Context(Study())
    for condition in _conditions_in(d):
        evaluate(condition, probe, where)  # unknown rules and clinical items fail here


def _source_refs(node: Any, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Every nested ``source`` / ``*_source`` field: a key of ``secondary_sources`` (the top-level ones are citations)."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if depth and (key == "source" or key.endswith("_source")) and isinstance(value, str):
                found.append((f"{path}.{key}".lstrip("."), value))
            elif key not in ("secondary_sources", "weights_format", "status_legend"):
                found += _source_refs(value, f"{path}.{key}", depth + 1)
    elif isinstance(node, list):
        for number, value in enumerate(node):
            found += _source_refs(value, f"{path}[{number}]", depth + 1)
    return found


def load_score(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """A score definition: a bundled name (``"jansson"``) or a path to a score file."""
    text = os.fspath(name_or_path)
    if text in SCORES:
        return _bundled(text)  # checked once, when first read
    if not (text.endswith(".json") or os.sep in text):
        raise CRMOInputError(text, f"unknown score; bundled scores: {', '.join(SCORES)} (or give a score file path)")
    definition = read_json(Path(text), "score file")
    _check(definition, text)
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
    return "any lesion" if len(ids) == len(ctx.assigned) and len(ids) > 1 else ctx.named(list(ids))


def _pts(value: float) -> str:
    return f"{value:g}"


def _joined(values: Sequence[str | None]) -> str:
    return " / ".join(sorted({v for v in values if v}))


def _status_note(definition: dict[str, Any], items: Sequence[dict[str, Any]], what: str, key: str = "status") -> str:
    parts = []
    for field_, label in (("threshold", "threshold"), ("structure", "structure"), ("range", "range")):
        if isinstance(definition.get(field_), dict) and definition[field_].get("status"):
            parts.append(f"{label} {definition[field_]['status']}{_secondary(definition, definition[field_].get('source'))}")
    statuses = _joined([i.get(key) for i in items])
    if statuses:
        parts.append(f"{what} {statuses}")
    return "; ".join(parts)


def _secondary(d: dict[str, Any], ref: str | None) -> str:
    """The short name of a secondary source (``secondary_sources``), in parentheses, or ``""``."""
    entry = (d.get("secondary_sources") or {}).get(ref or "")
    return f" ({entry['short']})" if entry else ""


def _leaf_statuses(condition: Any) -> list[tuple[str, str | None]]:
    """(status, source) of every part of a condition that carries its own status."""
    if isinstance(condition, dict):
        own = [(condition["status"], condition.get("source"))] if "status" in condition else []
        return own + [s for k, v in condition.items() if k in ("all_of", "any_of", "agree", "not")
                      for part in (v if isinstance(v, list) else [v]) for s in _leaf_statuses(part)]
    return []


def _points(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    items: list[Item] = []
    for spec in d["items"]:
        outcome = evaluate(spec["when"], ctx, d["id"])
        items.append(Item(spec["id"], spec["display"], spec["from"], spec.get("item_status", spec.get("status")), outcome.value,
                          spec["points"] if outcome.value else 0 if outcome.value is False else None,
                          outcome.lesions, outcome.missing, spec.get("points_status", spec.get("status"))))
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
    definitions = _joined([i.status for i in items])
    points = _joined([i.points_status for i in items])
    note = _status_note(d, [], "")
    if definitions != points:  # the file gives definitions and points statuses of their own
        where = f" ({d['item_source']})" if d.get("item_source") else ""
        note += f"; items {definitions}{where}; item points {points}"
    else:
        note += f"; item points {points}"
    return _result(d, open_points > 0, summary, known, items, missing, note.lstrip("; "),
                   {"threshold": threshold, "max_with_missing": known + open_points})


def _not_met(condition: dict[str, Any], ctx: Context, where: str) -> list[str]:
    """Why a condition is false: the ``not_met`` text of each false part (``all_of``), else a generic one."""
    parts = condition.get("all_of", [condition])
    reasons = [part.get("not_met", "typical clinical findings not met") for part in parts
               if evaluate(part, ctx, where).value is False]
    return reasons or ["typical clinical findings not met"]


def _bristol(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    dist = ctx.distribution
    clinical = evaluate(d["clinical"]["when"], ctx, d["id"])
    imaging = evaluate({"imaging": "typical_findings", **({"findings": d["imaging"]["findings"]}
                                                          if d["imaging"].get("findings") else {})}, ctx, d["id"])
    clavicle_alone = bool(ctx.assigned) and all(ctx.kind(l) == BoneKindValues.CLAVICLE for l in ctx.assigned)
    more_than_one = dist.site_count >= 2
    crp = ctx.study.clinical.get("crp_mg_l")
    biopsy = ctx.study.clinical.get("biopsy")
    limit = d["criterion_1"]["crp_below_mg_l"]
    items = [Item(d["clinical"]["id"], d["clinical"]["display"], "clinical", d["clinical"]["status"], clinical.value),
             Item(d["imaging"]["id"], d["imaging"]["display"], "imaging", d["imaging"]["status"], imaging.value,
                  lesions=imaging.lesions, missing=imaging.missing),
             Item("sites", "more than one bone, or the clavicle alone", "imaging",
                  d["criterion_1"].get("sites_status", d["criterion_1"]["status"]),
                  more_than_one or clavicle_alone, lesions=[l.id for l in ctx.assigned]),
             Item("crp", f"CRP below {limit:g} mg/L", "clinical", d["criterion_1"]["status"], None if crp is None else crp < limit),
             Item("biopsy", "biopsy: inflammation, no bacterial growth", "clinical", d["criterion_2"]["status"],
                  None if biopsy in (None, "not_done") else biopsy == d["criterion_2"]["biopsy_value"])]
    why_sites = "more than one bone" if more_than_one else "clavicle alone"
    needed: list[str] = []
    if clinical.value is None:
        needed.append(f"typical clinical findings: {', '.join(clinical.missing)} not entered")
    if imaging.value is None:
        needed.append("; ".join(imaging.missing) or "typical imaging findings per lesion")
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
    # published or proposed reasons for a biopsy that the tool cannot evaluate: said when the imaging points to criterion 1
    unencoded = ([spec for spec in d["criterion_2"].get("unencoded", []) if spec.get("applies_to_branch", "1") == "1"]
                 if (more_than_one or clavicle_alone) and branch != "2" else [])
    if unencoded:
        supports += "; still to check: " + "; ".join(
            f"{spec['display']}, which the {d['secondary_sources'][spec['source']]['short'] if spec.get('source') else 'source'} "
            f"also sends to biopsy (not evaluated)" for spec in unencoded)
    refuted = clinical.value is False or imaging.value is False or (branch == "2" and biopsy not in
                                                                     (None, "not_done", d["criterion_2"]["biopsy_value"]))
    if refuted:
        reasons = _not_met(d["clinical"]["when"], ctx, d["id"]) if clinical.value is False else []
        reasons += ["no typical imaging finding recorded"] if imaging.value is False else []
        summary = f"criteria not met ({'; '.join(reasons) or supports})."
    elif not needed and branch:
        summary = f"criterion {branch} met: {supports}."
    else:
        summary = f"{supports}."
    note = _status_note(d, [d["clinical"], d["criterion_1"], d["criterion_2"]], "rule")
    if d["criterion_1"].get("sites_status"):
        note += f"; criterion 1 site rule: {d['criterion_1']['sites_status']}"
    return _result(d, bool(needed) and not refuted, summary, None, items, needed, note,
                   {"branch": branch, "met": (not needed and not refuted and bool(branch)), "imaging_supports": supports,
                    "not_evaluated": [spec["display"] for spec in unencoded]})


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
    summary += "".join(f" {spec['display'][0].upper()}{spec['display'][1:]}: {spec['caveat']}." for spec in d["items"]
                       if spec.get("caveat"))
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
        parts.append(f"largest active lesion {largest.volume_mm3 / 1000:.1f} cm³ ({diameter:.0f} mm equivalent diameter, {ctx.labels[largest.id]})")
    elif active:
        missing.append("size of the largest active lesion (no segmented volume: point annotations)")
    if extra_ids:
        parts.append(f"extramedullary involvement: yes ({ctx.named(extra_ids)})")
    elif None in extra:
        parts.append("extramedullary involvement: not recorded")
        missing.append("extramedullary involvement (soft-tissue inflammation, periosteal reaction, soft-tissue mass)")
    else:
        parts.append("extramedullary involvement: no")
    parts.append(f"spinal involvement: {'yes (' + ctx.named(spinal) + ')' if spinal else 'no'}")
    summary = "; ".join(parts) + f". {d['points_note']}"
    details = {"active_lesions": len(active), "largest_active_mm3": largest.volume_mm3 if largest else None,
               "largest_active_id": largest.id if largest else None,
               "largest_active_label": ctx.labels[largest.id] if largest else None, "extramedullary": True if extra_ids else
               (None if None in extra else False), "spinal": bool(spinal)}
    conventions = [f"{spec['display']} {'findings' if 'findings_status' in spec else 'rule'}" for spec in d["parameters"]
                   if "tool convention" in (spec.get("rule_status"), spec.get("findings_status"))]
    note = _status_note(d, d["parameters"], "parameters")
    if conventions:
        note += f"; how measured ({'; '.join(conventions)}): tool convention"
    return _result(d, bool(missing), summary, None, [], missing, note, details)


def _eular(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    items, missing, parts = [], [], []
    entry, verdicts = [], []
    for spec in d["entry"]:
        outcome = evaluate(spec["when"], ctx, d["id"])
        items.append(Item(spec["id"], spec["display"], "imaging" if "imaging" in spec["when"] else "clinical",
                          spec["status"], outcome.value, lesions=outcome.lesions, missing=outcome.missing))
        verdicts.append(outcome.value)
        entry.append(f"{spec['display']} {'yes' if outcome.value else 'no' if outcome.value is False else 'not entered'}")
        if outcome.value is None:
            missing.append(f"entry: {spec['display']}")
    entry_met = False if False in verdicts else (True if all(verdicts) else None)
    verdict = {True: "entry met", False: "entry NOT met (criteria do not apply)", None: "entry not decided"}[entry_met]
    parts.append(f"{verdict} ({'; '.join(entry)})")
    present = [s["display"] for s in d["exclusions"] if ctx.study.clinical.get(s["clinical"]) is True]
    open_ = [s["display"] for s in d["exclusions"] if ctx.study.clinical.get(s["clinical"]) is None]
    if present:
        parts.append(f"EXCLUSION present: {', '.join(present)} (criteria do not apply)")
    if open_:
        missing.append(f"exclusions not yet ruled out: {', '.join(open_)}")
    elif not present:
        parts.append("all exclusions ruled out")
    recorded = [s for s in d.get("unsupported_exclusions", []) if ctx.study.clinical.get(s["clinical"]) is True]
    if recorded:
        parts.append(f"{', '.join(s['display'] for s in recorded)} recorded: not an exclusion in the published criteria "
                     f"({_joined([s['status'] for s in recorded])}; not used)")
    domains = {}
    for domain in d["imaging_domains"]:
        hits = []
        for value in domain["values"]:
            outcome = evaluate(value["when"], ctx, d["id"])
            if outcome.value:
                convention = "; tool convention group" if value.get("status") == "tool convention" else ""
                hits.append(f"{value['display']} ({ctx.named(outcome.lesions)}{convention})" if domain["id"] == "site"
                            else value["display"])
        domains[domain["id"]] = hits
        parts.append(f"{domain['display']}: {', '.join(hits) or 'none of the listed values'}")
    value, partial = None, bool(missing)
    details: dict[str, Any] = {"entry_met": entry_met, "imaging_domains": domains, "exclusions_present": present,
                               "not_exclusions_recorded": [s["display"] for s in recorded], "weights": None}
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
    entry_statuses = [(s["status"], s.get("source")) for s in d["entry"]] + [x for s in d["entry"] for x in _leaf_statuses(s["when"])]
    note = _status_note(d, [], "")
    note += "; entry " + " / ".join(sorted({f"{status}{_secondary(d, source)}" for status, source in entry_statuses}))
    note += f"; exclusions {_joined([s['status'] for s in d['exclusions']])}"
    for domain in d["imaging_domains"]:
        groups = _joined([v.get("status") for v in domain["values"]])
        if groups:
            note += f"; {domain['display']} groups {groups}"
    return _result(d, partial, summary, value, items, missing, note.lstrip("; ") + ("; weights: user file" if weights else ""),
                   details)


def _has(ctx: Context, spec: dict[str, Any], lesion: Lesion) -> bool:
    bone = bones()[lesion.bone]
    return bone.base in spec.get("bones", ()) or bone.kind.value in spec.get("kinds", ())


def _present(ctx: Context, spec: dict[str, Any]) -> bool:
    groups = [{"bones": spec["bones"]}] if "bones" in spec else []
    groups += [{"kinds": spec["kinds"]}] if "kinds" in spec else []
    return all(any(_has(ctx, g, l) for l in ctx.assigned) for g in groups)


def _pattern(ctx: Context, d: dict[str, Any], weights: dict | None) -> ScoreResult:
    chosen, short_of = d["otherwise"], []
    for spec in d["patterns"]:
        if not _present(ctx, spec["requires"]):
            continue
        if "excludes" in spec and any(_has(ctx, spec["excludes"], l) for l in ctx.assigned):
            continue
        if len(ctx.assigned) < spec.get("min_lesions", 0):
            short_of.append(spec)
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
    for spec in short_of:
        if chosen is d["otherwise"] and spec.get("published_definition"):
            summary += (f" The published definition of {spec['display']} ({spec['published_definition']}) fits, but this tool "
                        f"requires at least {spec['min_lesions']} lesions ({spec.get('min_lesions_status', 'tool convention')}).")
    return _result(d, False, summary, None, [], [], _status_note(d, d["patterns"], "pattern names") +
                   "; lesion-count limits: tool convention", {"pattern": chosen["id"]})


def _result(d: dict[str, Any], partial: bool, summary: str, value: float | None, items: list[Item],
            missing: list[str], statuses: str, details: dict[str, Any]) -> ScoreResult:
    secondary = [s["citation"] for s in (d.get("secondary_sources") or {}).values() if s.get("citation")]
    source = d["source"] + (f" Secondary: {' '.join(secondary)}" if secondary else "")
    return ScoreResult(id=d["id"], name=d["name"], short=d.get("short", d["name"]), version=str(d["version"]),
                       source=source, partial=partial, summary=summary, value=value, items=items, missing=missing,
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
    result = EVALUATORS[definition["kind"]](ctx, definition, weights)
    for item in result.items:
        item.labels = labelled(item.lesions, ctx.labels)
    return result


def evaluate_all(study: Study | Context, weights: dict[str, Any] | str | os.PathLike | None = None,
                 scores: Sequence[str] = SCORES) -> list[ScoreResult]:
    """Every bundled score on one study (EULAR/ACR points only when ``weights`` are given)."""
    ctx = study if isinstance(study, Context) else Context(study)
    if weights is not None and not isinstance(weights, dict):
        weights = load_weights(weights)
    return [evaluate_score(ctx, name, weights if load_score(name)["kind"] == "eular" else None) for name in scores]
