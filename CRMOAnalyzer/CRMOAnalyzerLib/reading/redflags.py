"""Red flags: findings that argue against CRMO/CNO, from ``resources/red_flags.json``, each with its citation.

Each flag is present, absent, or not assessed (its items were not entered or not recorded); a flag
that cannot be assessed is said so, never reported as absent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from .conditions import Context, check_clinical, evaluate
from ..model import labelled
from ..errors import CRMOInputError
from ..io.files import read_json, resource
from ..model import Study

__all__ = ["RedFlag", "RedFlags", "red_flags", "flag_rules"]


@lru_cache(maxsize=None)
def flag_rules() -> dict[str, Any]:
    """The red-flag definitions with their sources.

    A flag's name must read as one flag in a list: no comma, semicolon or " and " inside it
    (e.g. "bilateral and symmetric" would read as a flag of its own).
    """
    rules = read_json(resource("red_flags.json"), "red flag rules")
    for spec in rules["flags"]:
        if any(mark in spec["text"] for mark in (",", ";", " and ")):
            raise CRMOInputError("red_flags.json", f"flag {spec['id']}: name {spec['text']!r} must read as one flag "
                                                   "(no comma, semicolon or 'and')")
    return rules


@dataclass
class RedFlag:
    """One red flag and its state on a study."""

    id: str
    text: str
    why: str
    kind: str  # "imaging" | "clinical"
    citation: str  # the literature the flag rests on, from the rule file's sources
    present: bool | None
    lesions: list[str] = field(default_factory=list)  # lesion ids
    missing: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # the same lesions as text names them ("#3": lesion_labels)

    def phrase(self) -> str:
        """"cortical destruction (#3): rare and atypical in CNO; ..." """
        where = f" ({', '.join(self.labels or self.lesions)})" if self.lesions else ""
        return f"{self.text}{where}: {self.why}"


@dataclass
class RedFlags:
    """All red flags of a study."""

    flags: list[RedFlag]

    @property
    def present(self) -> list[RedFlag]:
        """list[RedFlag]: flags found."""
        return [f for f in self.flags if f.present]

    @property
    def absent(self) -> list[RedFlag]:
        """list[RedFlag]: flags checked and not found."""
        return [f for f in self.flags if f.present is False]

    @property
    def not_assessed(self) -> list[RedFlag]:
        """list[RedFlag]: flags whose items were not entered or recorded."""
        return [f for f in self.flags if f.present is None]

    def lines(self) -> list[str]:
        """Report lines: the flags found first, then what could not be checked."""
        lines = [f"RED FLAG: {flag.phrase()}." for flag in self.present]
        if not lines:
            checked = [f.text for f in self.absent]
            lines.append(f"No red flag found among the {len(checked)} checked: {'; '.join(checked)}." if checked
                         else "No red flag could be checked.")
        for kind, label in (("imaging", "Imaging red flags not assessed (record per lesion)"),
                            ("clinical", "Clinical red flags not assessed (not entered)")):
            names = [f.text for f in self.not_assessed if f.kind == kind]
            if names:
                lines.append(f"{label}: {'; '.join(names)}.")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"present": [f.id for f in self.present], "not_assessed": [f.id for f in self.not_assessed],
                "flags": [asdict(f) for f in self.flags]}


def red_flags(study: Study | Context) -> RedFlags:
    """Evaluate every red flag on a study."""
    ctx = study if isinstance(study, Context) else Context(study)
    check_clinical(ctx.study.clinical, "study clinical items")
    rules = flag_rules()
    result = []
    for spec in rules["flags"]:
        known = (spec["id"], spec["text"], spec["why"], spec["from"], rules["sources"][spec["source"]])
        if spec["from"] == "imaging" and not ctx.assigned:
            result.append(RedFlag(*known, None, missing=["lesions"]))
            continue
        outcome = evaluate(spec["when"], ctx, f"red flag {spec['id']}")
        lesions = outcome.lesions if outcome.value else []
        result.append(RedFlag(*known, outcome.value, lesions, outcome.missing, labelled(lesions, ctx.labels)))
    return RedFlags(result)
