"""Three-valued conditions over a study: the small rule language of the score and red-flag data files.

A condition is a JSON object; it evaluates to an :class:`Outcome` whose ``value`` is ``True``,
``False`` or ``None`` (not assessable: an item was not entered or not recorded), with the lesions
that support it and the items that are missing. Leaves:

- ``{"clinical": key, "op": "==" | "!=" | "<" | "<=" | ">" | ">=", "value": v}``: a clinical item
  (``Study.clinical``; keys in ``resources/clinical.json``).
- ``{"imaging": rule, ...}``: an imaging rule over the annotated lesions (see ``IMAGING_RULES``).

Combinators: ``{"all_of": [...]}``, ``{"any_of": [...]}``, ``{"not": c}`` and ``{"agree": [...]}``
(true when at least one part is known and every known part is true: two ways of entering one item,
e.g. "fever: no" or "temperature 37.2 degC").
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..anatomy import BoneKindValues, bones
from ..model import labelled, lesion_labels
from .distribution import Distribution, distribution
from ..errors import CRMOInputError
from ..io.files import read_json, resource
from ..model import FINDINGS, Lesion, Study

__all__ = ["Outcome", "Context", "evaluate", "clinical_items", "check_clinical", "parse_clinical_value",
           "IMAGING_RULES", "TYPICAL_FINDINGS"]

OPS: dict[str, Callable[[Any, Any], bool]] = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
                                              ">": operator.gt, ">=": operator.ge}

#: findings that make a lesion's imaging "typical" (Bristol / EULAR entry), with the values that count
TYPICAL_FINDINGS: dict[str, Any] = {"marrow_edema": True, "character": ("lytic", "sclerotic", "mixed"),
                                    "periosteal_reaction": True, "bony_expansion": True}


@dataclass
class Outcome:
    """Result of a condition: value (True / False / None = not assessable), support and what is missing."""

    value: bool | None
    lesions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@lru_cache(maxsize=None)
def clinical_items() -> dict[str, dict[str, Any]]:
    """The clinical items a user may enter (``resources/clinical.json``)."""
    return read_json(resource("clinical.json"), "clinical items")["items"]


_YES = ("yes", "y", "true", "1", "present")
_NO = ("no", "n", "false", "0", "absent")


def parse_clinical_value(key: str, text: str, source: str = "clinical item") -> Any:
    """Turn the text a user typed into a clinical item's value ("yes", "12.5", "not_done")."""
    spec = clinical_items().get(key)
    if spec is None:
        raise CRMOInputError(source, f"unknown clinical item {key!r}; known: {', '.join(sorted(clinical_items()))}")
    word = text.strip().lower()
    if spec["type"] == "boolean":
        if word in _YES or (key == "blood_count_normal" and word == "normal"):
            return True
        if word in _NO or (key == "blood_count_normal" and word == "abnormal"):
            return False
        raise CRMOInputError(source, f"{key} must be yes or no, not {text!r}")
    if spec["type"] == "number":
        try:
            value = float(word)
        except ValueError:
            raise CRMOInputError(source, f"{key} must be a number in {spec.get('unit', '')}, not {text!r}") from None
        check_clinical({key: value}, source)
        return value
    if word not in spec["values"]:
        raise CRMOInputError(source, f"{key} must be one of {', '.join(spec['values'])}, not {text!r}")
    return word


def check_clinical(clinical: dict[str, Any], source: str = "clinical items") -> None:
    """Raise :class:`CRMOInputError` for an unknown key or a value of the wrong type or range."""
    items = clinical_items()
    for key, value in clinical.items():
        spec = items.get(key)
        if spec is None:
            raise CRMOInputError(source, f"unknown clinical item {key!r}; known: {', '.join(sorted(items))}")
        if value is None:
            continue
        kind = spec["type"]
        if kind == "boolean" and not isinstance(value, bool):
            raise CRMOInputError(source, f"clinical item {key} must be true or false, not {value!r}")
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CRMOInputError(source, f"clinical item {key} must be a number ({spec.get('unit', '')}), not {value!r}")
            if not spec.get("min", float("-inf")) <= value <= spec.get("max", float("inf")):
                raise CRMOInputError(source, f"clinical item {key} = {value} {spec.get('unit', '')} is outside "
                                             f"{spec.get('min')}-{spec.get('max')}")
        if kind == "enum" and value not in spec["values"]:
            raise CRMOInputError(source, f"clinical item {key} must be one of {', '.join(spec['values'])}, not {value!r}")


class Context:
    """A study with its distribution, computed once for every condition evaluated on it."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.assigned: list[Lesion] = [lesion for lesion in study.lesions if lesion.assigned]
        self.distribution: Distribution = distribution(study)
        self.labels: dict[str, str] = lesion_labels(study.lesions)

    def named(self, ids: list[str]) -> str:
        """These lesions as text says them: their labels, in the report's order ("#1, #4")."""
        return ", ".join(labelled(ids, self.labels))

    def kind(self, lesion: Lesion) -> BoneKindValues:
        return bones()[lesion.bone].kind

    def lesion(self, lesion_id: str) -> Lesion:
        return next(l for l in self.assigned if l.id == lesion_id)


def _site_match(lesion: Lesion, spec: dict[str, Any]) -> bool:
    bone = bones()[lesion.bone]
    if "regions" in spec and bone.region not in spec["regions"]:
        return False
    if "kinds" in spec and bone.kind.value not in spec["kinds"]:
        return False
    if "bones" in spec and bone.base not in spec["bones"]:
        return False
    return "sublocations" not in spec or lesion.sublocation in spec["sublocations"]


def _finding_any(ctx: Context, spec: dict[str, Any]) -> Outcome:
    key = spec["finding"]
    want = spec.get("value", True)
    hits = [l.id for l in ctx.assigned if l.findings.get(key) == want]
    if hits:
        return Outcome(True, hits)
    unrecorded = [l.id for l in ctx.assigned if key not in l.findings or l.findings[key] is None]
    if unrecorded:
        which = "any lesion" if len(unrecorded) == len(ctx.assigned) else ctx.named(unrecorded)
        return Outcome(None, missing=[f"{key.replace('_', ' ')} not recorded for {which}"])
    return Outcome(False)


def _typical(lesion: Lesion, wanted: dict[str, Any]) -> bool | None:
    recorded = False
    for key, want in wanted.items():
        value = lesion.findings.get(key)
        if value is None:
            continue
        recorded = True
        if (value in want) if isinstance(want, (tuple, list)) else (value == want):
            return True
    return False if recorded else None


def _typical_findings(ctx: Context, spec: dict[str, Any]) -> Outcome:
    """A lesion with a typical finding; ``spec["findings"]`` (a score file's list) or :data:`TYPICAL_FINDINGS`."""
    wanted = spec.get("findings") or TYPICAL_FINDINGS
    verdicts = {l.id: _typical(l, wanted) for l in ctx.assigned}
    hits = [i for i, v in verdicts.items() if v]
    if hits:
        return Outcome(True, hits)
    if not ctx.assigned:
        return Outcome(False)
    if any(v is None for v in verdicts.values()):
        names = ", ".join(k.replace("_", " ") for k in wanted)
        return Outcome(None, missing=[f"typical imaging findings (record {names} per lesion)"])
    return Outcome(False)


def _solitary_outside(ctx: Context, spec: dict[str, Any]) -> Outcome:
    dist = ctx.distribution
    if dist.focality == "unknown":  # lesions of unknown side: one bone or two, not known
        return Outcome(None, [], ["the side of lesions " + ctx.named(dist.side_unknown)])
    if not dist.unifocal:
        return Outcome(False)
    inside = all(ctx.kind(l).value in spec["kinds"] for l in ctx.assigned)
    return Outcome(not inside, [l.id for l in ctx.assigned] if not inside else [])


def _side_has(ctx: Context, ids: list[str], characters: list[str]) -> bool | None:
    """Whether one side of a pair has a lesion of these characters (None: not recorded for the others)."""
    values = [ctx.lesion(i).findings.get("character") for i in ids]
    if any(v in characters for v in values):
        return True
    return None if any(v is None for v in values) else False


def _diaphyseal_symmetric(ctx: Context, spec: dict[str, Any]) -> Outcome:
    """Long-bone lesions all diaphyseal, with a symmetric diaphyseal pair; with ``character``, each side of
    the pair must have a lesion of that character (e.g. sclerotic), not recorded = not assessable."""
    long_bone = [l for l in ctx.assigned if ctx.kind(l) == BoneKindValues.LONG and l.sublocation]
    if not long_bone or any(l.sublocation != "diaphysis" for l in long_bone):
        return Outcome(False)
    pairs = [p for p in ctx.distribution.symmetric_pairs if p["sublocation"] == "diaphysis"]
    characters = spec.get("character")
    if characters and pairs:
        verdicts = []
        for p in pairs:
            sides = [_side_has(ctx, p["left"], characters), _side_has(ctx, p["right"], characters)]
            verdicts.append(False if False in sides else (True if all(sides) else None))
        pairs = [p for p, v in zip(pairs, verdicts) if v]
        if not pairs and None in verdicts:
            return Outcome(None, missing=[f"character ({' or '.join(characters)}) not recorded for the symmetric "
                                          f"diaphyseal lesions"])
    return Outcome(bool(pairs), sorted({i for p in pairs for i in p["left"] + p["right"]}))


def _count(ctx: Context, spec: dict[str, Any]) -> Outcome:
    return Outcome(OPS[spec["op"]](len(ctx.assigned), spec["value"]), [l.id for l in ctx.assigned])


def _site(ctx: Context, spec: dict[str, Any]) -> Outcome:
    hits = [l.id for l in ctx.assigned if _site_match(l, spec)]
    return Outcome(bool(hits), hits)


def _symmetric(ctx: Context, spec: dict[str, Any]) -> Outcome:
    pairs = ctx.distribution.symmetric_pairs
    return Outcome(bool(pairs), sorted({i for p in pairs for i in p["left"] + p["right"]}))


#: imaging rules a condition may name, each a function of the study context and the condition's fields
IMAGING_RULES: dict[str, Callable[[Context, dict[str, Any]], Outcome]] = {
    "symmetric": _symmetric,
    "multifocal": lambda ctx, spec: Outcome(ctx.distribution.multifocal, [l.id for l in ctx.assigned]),
    "unifocal": lambda ctx, spec: Outcome(ctx.distribution.unifocal, [l.id for l in ctx.assigned]),
    "lesion_count": _count,
    "site": _site,
    "finding_any": _finding_any,
    "typical_findings": _typical_findings,
    "solitary_outside": _solitary_outside,
    "diaphyseal_symmetric": _diaphyseal_symmetric,
}


def _combine(parts: list[Outcome], mode: str) -> Outcome:
    values = [p.value for p in parts]
    lesions = sorted({i for p in parts if p.value for i in p.lesions}, key=lambda i: (len(i), i))
    missing = [m for p in parts if p.value is None for m in p.missing]
    if mode == "all_of":
        value = False if False in values else (True if all(v is True for v in values) else None)
    elif mode == "any_of":
        value = True if True in values else (False if all(v is False for v in values) else None)
    else:  # agree
        known = [v for v in values if v is not None]
        value = (all(known) if known else None)
    return Outcome(value, lesions if value else [], missing if value is None else [])


def evaluate(condition: dict[str, Any], ctx: Context | Study, where: str = "condition") -> Outcome:
    """Evaluate ``condition`` on a study (or a prepared :class:`Context`)."""
    if isinstance(ctx, Study):
        ctx = Context(ctx)
    if not isinstance(condition, dict) or len(condition) == 0:
        raise CRMOInputError(where, f"a condition must be a JSON object, not {condition!r}")
    if "clinical" in condition:
        key = condition["clinical"]
        if key not in clinical_items():
            raise CRMOInputError(where, f"unknown clinical item {key!r}")
        op = OPS.get(condition.get("op", "=="))
        if op is None:
            raise CRMOInputError(where, f"unknown operator {condition.get('op')!r}; use one of {' '.join(OPS)}")
        value = ctx.study.clinical.get(key)
        if value is None:
            return Outcome(None, missing=[clinical_items()[key]["display"]])
        try:
            return Outcome(bool(op(value, condition["value"])))
        except TypeError:
            raise CRMOInputError(where, f"cannot compare clinical item {key}={value!r} with {condition['value']!r}") from None
    if "imaging" in condition:
        rule = IMAGING_RULES.get(condition["imaging"])
        if rule is None:
            raise CRMOInputError(where, f"unknown imaging rule {condition['imaging']!r}; known: {', '.join(IMAGING_RULES)}")
        if condition["imaging"] == "finding_any" and condition.get("finding") not in FINDINGS:
            raise CRMOInputError(where, f"unknown finding {condition.get('finding')!r}")
        return rule(ctx, condition)
    for mode in ("all_of", "any_of", "agree"):
        if mode in condition:
            return _combine([evaluate(part, ctx, where) for part in condition[mode]], mode)
    if "not" in condition:
        inner = evaluate(condition["not"], ctx, where)
        return Outcome(None if inner.value is None else not inner.value, [], inner.missing)
    raise CRMOInputError(where, f"unknown condition {sorted(condition)}: expected clinical, imaging, all_of, any_of, agree or not")
