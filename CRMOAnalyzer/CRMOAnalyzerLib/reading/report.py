"""Report text from a study, through the template ``resources/templates/report.txt.j2``.

Lines read like a radiologist writes them ("Left femur, distal metaphysis: lesion, 1.2 cm³"); the
same study always gives the same text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from typing import TYPE_CHECKING

from ..anatomy import BoneKindValues, bones
from ..model import Lesion, Study, lesion_labels, ordered_lesions
from .distribution import Distribution, pattern_rules
from ..io.files import resource

if TYPE_CHECKING:
    from .read import Reading

__all__ = ["person_name", "site_phrase", "lesion_line", "finding_lines", "distribution_paragraph", "impression",
           "criterion_line", "ReportParts", "render_parts"]

CAVEAT = ("Decision support, not a diagnosis: CRMO is a diagnosis of exclusion (infection, malignancy, "
          "Langerhans cell histiocytosis and others must be excluded clinically and, where indicated, by biopsy).")

_FINDING_WORDS = {
    "marrow_edema": "marrow edema", "periosteal_reaction": "periosteal reaction",
    "soft_tissue_inflammation": "soft-tissue inflammation", "bony_expansion": "bony expansion",
    "vertebral_collapse": "vertebral collapse", "marginal_sclerosis": "marginal sclerosis",
    "cortical_destruction": "cortical destruction", "soft_tissue_mass": "soft-tissue mass", "symptomatic": "symptomatic",
}


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def site_phrase(lesion: Lesion) -> str:
    """Where a lesion is, in words: "Left femur, distal metaphysis"."""
    bone = bones().get(lesion.bone)
    if bone is None:
        return "Unassigned (not within a bone of the bone map)"
    name = bone.display
    side = lesion.side
    phrase = f"{side.capitalize()} {name}" if side else (name[0].upper() + name[1:])
    where = lesion.sublocation
    if where is None:
        return phrase
    if bone.kind == BoneKindValues.LONG:
        detail = f"{lesion.bone_end} {where}" if lesion.bone_end and where != "diaphysis" else where
    elif bone.kind == BoneKindValues.CLAVICLE:
        detail = f"{where} third"
    else:
        detail = where
    return f"{phrase}, {detail}"


def _volume(lesion: Lesion) -> str:
    if lesion.volume_mm3 is None:
        return ""
    cm3 = lesion.volume_mm3 / 1000.0
    return f", {cm3:.1f} cm³" if cm3 >= 0.1 else f", {lesion.volume_mm3:.0f} mm³"


def lesion_line(lesion: Lesion) -> str:
    """One findings line: site, "lesion", the recorded findings and the volume."""
    findings = lesion.findings or {}
    words = []
    if findings.get("character"):
        words.append(str(findings["character"]))
    words += [text for key, text in _FINDING_WORDS.items() if findings.get(key) is True]
    detail = f" ({', '.join(words)})" if words else ""
    note = f". {' '.join(str(findings['note']).split())}" if findings.get("note") else ""
    overridden = " [edited]" if lesion.overrides else ""
    return f"{site_phrase(lesion)}: lesion{detail}{_volume(lesion)}{overridden}{note}"


def finding_lines(study: Study, labels: dict[str, str] | None = None) -> dict[str, str]:
    """Lesion id -> its line in the report's findings, head to toe, opening with its label: "#3 Left femur, ..."."""
    labels = lesion_labels(study.lesions) if labels is None else labels
    return {lesion.id: f"{labels[lesion.id]} {lesion_line(lesion)}" for lesion in ordered_lesions(study.lesions)}


def _pair_phrase(pair: dict) -> str:
    where = pair["sublocation"]
    if where is None:
        return f"{pair['display']}s"
    end = f"{pair['bone_end']} " if pair["bone_end"] else ""
    return f"{pair['display']} ({end}{where})"


def distribution_paragraph(dist: Distribution, study: Study) -> str:
    """The distribution in sentences."""
    if dist.lesion_count == 0:
        return "No bone lesion was annotated."
    parts = []
    focal = {"multifocal": "Multifocal", "unifocal": "Unifocal",
             "unknown": "Focality unknown (side not known)"}.get(dist.focality, "No localized")
    parts.append(f"{focal}, {dist.lesion_count} lesion{'s' if dist.lesion_count != 1 else ''} in {dist.site_count} "
                 f"bone{'s' if dist.site_count != 1 else ''}.")
    by_region = [f"{row['display'].lower()} {row['total']}" for row in dist.regions]
    if by_region:
        parts.append(f"By region: {', '.join(by_region)}.")
    if dist.bilateral:
        regions = [row["display"].lower() for row in dist.regions if row["region"] in dist.bilateral_regions]
        parts.append(f"Bilateral involvement: {_join(regions)}.")
    if dist.symmetric:
        parts.append(f"Symmetric involvement: {_join([_pair_phrase(p) for p in dist.symmetric_pairs])}.")
    unassigned = dist.lesion_count - dist.assigned_count
    if unassigned:
        parts.append(f"{unassigned} lesion{'s' if unassigned != 1 else ''} could not be assigned to a bone.")
    return " ".join(parts)


def impression(dist: Distribution) -> str:
    """Whether the pattern fits CRMO, with the reasons and the rule's source; never a diagnosis."""
    rules = pattern_rules()
    typical = [site["display"] for site in rules["typical_sites"] if site["id"] in dist.typical_sites]
    if dist.lesion_count == 0:
        return "No bone lesion annotated on this exam; there is no distribution to assess."
    if dist.pattern == "none":
        return "No lesion localized to a bone; the distribution cannot be assessed."
    if dist.pattern == "consistent":
        features = []
        if dist.multifocal:
            features.append("multifocal")
        if dist.bilateral:
            features.append("bilateral")
        if dist.symmetric:
            features.append("symmetric")
        text = "Distribution consistent with CRMO"
        text += f": {', '.join(features)} lesions" if features else ": lesion confined to the clavicle"
        if typical:
            text += f" at typical sites ({_join(typical)})"
        return text + "."
    return f"Distribution atypical for CRMO because: {'; '.join(dist.reasons)}."


def _sources() -> str:
    rules = pattern_rules()
    return " ".join(rules["sources"][key] for key in rules["rules"]["source"])


@lru_cache(maxsize=None)
def _template(name: str = "report.txt.j2"):
    import jinja2  # noqa: PLC0415

    text = resource("templates", name).read_text(encoding="utf-8")
    return jinja2.Environment(autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined).from_string(text)


def prepare() -> None:
    """Import and compile what :func:`render_parts` needs (jinja2, both templates, the score and rule files) ahead of
    the first report, e.g. in a thread while the images are localized; each is done once per process."""
    from . import redflags, scores  # noqa: PLC0415

    _template()
    _template("decision_support.txt.j2")
    pattern_rules()
    redflags.flag_rules()
    for name in scores.score_ids():
        scores.load_score(name)


def person_name(value: object) -> str:
    """A DICOM person name as a person writes it: "Demo^Synthetic" -> "Synthetic Demo".

    DICOM PN is family^given^middle^prefix^suffix, with "=" before ideographic and phonetic forms (only the
    first form is used). A name without carets is returned as it is, spaces tidied.
    """
    text = str(value or "").split("=")[0]
    if "^" not in text:
        return " ".join(text.split())
    family, given, middle, prefix, suffix = ([" ".join(part.split()) for part in text.split("^")] + [""] * 5)[:5]
    name = " ".join(part for part in (prefix, given, middle, family) if part)
    return f"{name}, {suffix}" if suffix and name else (name or suffix)


def _patient_line(study: Study) -> str:
    p = study.patient or {}
    bits = [person_name(p["name"])] if p.get("name") and person_name(p["name"]) else []
    bits += [str(p["id"])] if p.get("id") else []
    if p.get("birth_date"):
        bits.append(f"born {p['birth_date']}")
    if p.get("sex"):
        bits.append(f"sex {p['sex']}")
    return ", ".join(bits)


def _study_line(study: Study) -> str:
    s = study.study or {}
    return ", ".join(str(s[k]) for k in ("date", "modality", "description", "accession") if s.get(k))


def _header(study: Study) -> str:
    """"Patient: Synthetic Demo, P1, born 2016-05-14, sex F. Study: 2026-03-01, MR" (one line; "" with neither)."""
    patient, exam = _patient_line(study), _study_line(study)
    return ". ".join(part for part in (patient and f"Patient: {patient}", exam and f"Study: {exam}") if part)


def _flag_sentence(flags) -> str:
    present = flags.present
    if not present:
        return ""
    return (f" {len(present)} red flag{'s' if len(present) != 1 else ''} argue{'s' if len(present) == 1 else ''} "
            f"against CRMO: {_join([f.text for f in present])} (see RED FLAGS).")


def _short_missing(missing: list[str]) -> str:
    """Missing items named briefly (detail and lesion lists are in the decision support): "normal blood cell count; CRP"."""
    short = []
    for text in missing:
        text = re.sub(r" \([^()]*\)", "", text)
        text = re.sub(r" (not recorded for .*|not entered)$", "", text)
        text = re.sub(r"^exclusions not yet ruled out: (.*)$", lambda m: f"{len(m.group(1).split(', '))} exclusions", text)
        short.append(text.replace("entry: ", "").replace("typical clinical findings: ", "").strip())
    return "; ".join(dict.fromkeys(short))


def criterion_line(result) -> str:
    """One line of the signed report for a criterion or score (:class:`~CRMOAnalyzerLib.reading.scores.ScoreResult`):
    its result, and PARTIAL with what is missing; items, points, statuses and sources are in the decision support."""
    details = result.details or {}
    if not details:  # not assessable at all (no lesion localized)
        summary = result.summary.rstrip(".")
    elif "max_with_missing" in details:  # a points score
        top, threshold = details["max_with_missing"], details["threshold"]
        if result.partial:
            verdict = ("threshold of {0} reached whatever they are" if result.value >= threshold else
                       "threshold of {0} out of reach" if top < threshold else "they decide the threshold of {0}")
            summary = (f"{result.value:g} points from the items available, up to {top:g} with the missing items: "
                       f"{verdict.format(threshold)}")
        else:
            summary = f"{result.value:g} points, {'at or above' if result.value >= threshold else 'below'} the threshold of {threshold}"
    elif "entry_met" in details:  # classification criteria
        entry = {True: "entry met", False: "entry not met", None: "entry not decided"}[details["entry_met"]]
        parts = [entry]
        if details.get("exclusions_present"):
            parts.append(f"exclusion present: {', '.join(details['exclusions_present'])}")
        parts.append(f"{result.value:g} points" if result.value is not None else "points not computed (no weights file)")
        summary = "; ".join(parts)
    elif "active_lesions" in details:  # RINBO parameters
        extra = {True: "yes", False: "no", None: "not recorded"}[details["extramedullary"]]
        size = (f"; largest {details['largest_active_mm3'] / 1000:.1f} cm³ "
                f"({details.get('largest_active_label') or details['largest_active_id']})"
                if details.get("largest_active_mm3") is not None else "")
        summary = (f"{details['active_lesions']} active lesion{'s' if details['active_lesions'] != 1 else ''}{size}; "
                   f"extramedullary {extra}; spinal {'yes' if details['spinal'] else 'no'}")
    else:
        summary = result.summary.split("; ")[0].rstrip(".")
    text = f"{result.short}: {summary}."
    if result.partial:
        text += f" PARTIAL, missing: {_short_missing(result.missing) or 'items'}."
    return text


def _flag_lines(flags) -> list[str]:
    """The report's red-flag lines (under RED FLAGS): each flag found with its reason, else one line saying how many
    were checked; the count not assessed ends the last line. The rest is in the decision support."""
    count = len(flags.not_assessed)
    unknown = f"{count} not assessed (items not recorded; listed under DECISION SUPPORT)" if count else ""
    lines = [f"RED FLAG: {flag.phrase()}." for flag in flags.present]
    if not lines:
        checked = len(flags.absent)
        line = f"No red flag found among the {checked} checked" if checked else "No red flag could be checked"
        return [f"{line}; {unknown}." if unknown else f"{line}."]
    if unknown:
        lines[-1] += f" Other red flags: {unknown}."
    return lines


@dataclass(frozen=True)
class ReportParts:
    """The report in its two parts: what the radiologist signs, and the decision-support detail kept apart.

    Attributes
    ----------
    report: str
        The signed report: findings (one line per lesion), distribution, follow-up, impression, red flags, one line
        per criterion, caveat.
    decision_support: str
        "DECISION SUPPORT": every red flag (found, checked, not assessed), each criterion in full (items, points,
        missing items, value statuses) and the sources.
    """

    report: str
    decision_support: str

    @property
    def text(self) -> str:
        """Both parts, the report first: the generated report text."""
        return self.report + "\n" + self.decision_support


def render_parts(reading: Reading) -> ReportParts:
    """The report of a reading in its two parts (:class:`ReportParts`), from its distribution, scores and flags."""
    study, dist, flags, results = reading.study, reading.distribution, reading.red_flags, reading.scores
    score_sources = list(dict.fromkeys(result.source for result in results))
    report = _template().render(
        header=_header(study), findings=list(finding_lines(study, reading.labels).values()),
        distribution=distribution_paragraph(dist, study), impression=impression(dist) + _flag_sentence(flags),
        red_flags=_flag_lines(flags), criteria=[criterion_line(result) for result in results],
        followup=reading.comparison.paragraph() if reading.comparison is not None else "", caveat=CAVEAT)
    support = _template("decision_support.txt.j2").render(
        red_flags=flags.lines(), scores=[result.line() for result in results], score_sources=score_sources,
        sources=_sources())
    return ReportParts(report, support)
