"""De-identified research export: the study with a pseudonym and shifted dates, and its tables.

- Pseudonym: ``CRMO-`` + the first 16 hex digits of HMAC-SHA256(key, patient id) (or of the name and
  birth date when there is no id): the same key and patient always give the same pseudonym; without the
  key it cannot be reversed or recomputed. The key is never written; the user keeps it.
- Dates: every date of a patient moves by the same number of days (1 to 365 back, from the HMAC), so
  intervals between exams are kept.
- Kept: anatomy, measurements, findings flags, distribution, scores. Dropped: input file paths, the DICOM
  folder, segment names. Free text (notes, descriptions, warnings, clinical strings) is kept only after
  every known identifier (the name and its parts as whole words, id, accession, birth date in common spellings)
  is replaced by the pseudonym and any other date or long number by a placeholder. Coded values (a clinical
  item's or a finding's enum value, booleans, numbers) are kept as they are.
- Follow-up: with a baseline exam, ``comparison.json`` and ``comparison.csv`` of the two exams, de-identified the
  same way: both exam dates move by the follow-up patient's shift (so the interval is kept), no patient facts,
  the input file names replaced by "baseline" and "follow-up"; the report gets the follow-up paragraph.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..reading.conditions import clinical_items
from ..errors import CRMOInputError
from ..io.files import read_text, write_json, write_text
from ..model import FINDINGS, Study
from ..reading.read import Reading, read

if TYPE_CHECKING:
    from ..reading.compare import Comparison

__all__ = ["ResearchKey", "deidentify", "deidentify_comparison", "write_research_export", "read_key"]

MIN_KEY_BYTES = 16
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_OTHER_DATE = re.compile(r"\b\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b|\b\d{8}\b")
_LONG_NUMBER = re.compile(r"\b[A-Za-z]{0,4}\d[\dA-Za-z-]{4,}\b")
_PATH = re.compile(r"(\S*[\\/]\S*)")


class ResearchKey:
    """The secret that makes pseudonyms and date shifts (bytes, at least 16)."""

    def __init__(self, secret: bytes | str) -> None:
        secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        secret = secret.strip()
        if len(secret) < MIN_KEY_BYTES:
            raise CRMOInputError("--key", f"the research key must be at least {MIN_KEY_BYTES} characters")
        self._secret = secret

    def digest(self, *parts: str) -> str:
        """HMAC-SHA256 of the parts (hex)."""
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never show the secret
        return "ResearchKey(***)"


def read_key(path: str | os.PathLike | None = None, value: str | None = None) -> ResearchKey:
    """The key from ``value``, a key file, or the environment variable ``CRMO_RESEARCH_KEY``."""
    if value:
        return ResearchKey(value)
    if path:
        return ResearchKey(read_text(path, "research key file"))
    env = os.environ.get("CRMO_RESEARCH_KEY")
    if env:
        return ResearchKey(env)
    raise CRMOInputError("--key-file", "a research export needs a secret key: --key-file FILE or CRMO_RESEARCH_KEY")


def _patient_token(patient: dict[str, Any]) -> str:
    if patient.get("id"):
        return "id:" + " ".join(str(patient["id"]).split())
    return "name:" + str(patient.get("name") or "") + "|" + str(patient.get("birth_date") or "")


def _shift_date(value: str | None, days: int) -> str | None:
    if not value:
        return value
    try:
        date = _dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
    return (date - _dt.timedelta(days=days)).isoformat()


class _Scrubber:
    """Replaces known identifiers in free text; shifts ISO dates; masks other dates and long numbers.

    ``names`` (the patient's name and its parts) are replaced where they stand as whole words (letters and digits
    around them end the match, so a part "Li" leaves "malignancy" alone), and anywhere inside a file path (a user or
    patient folder such as ``/home/zquixote``); the other ``identifiers`` (ids, accession numbers, birth date
    spellings) anywhere. All of them go in one pass, so the pseudonym put in is never matched again.
    """

    def __init__(self, names: list[str], identifiers: list[str], pseudonym: str, days: int) -> None:
        def known(found: list[str]) -> set[str]:
            return {w.strip().lower() for w in found if w and len(w.strip()) >= 2}

        def pattern(words: dict[str, str]) -> re.Pattern:  # longest first: "Anna Li" before "Anna"
            return re.compile("|".join(words[w] for w in sorted(words, key=lambda w: (-len(w), w))) or "(?!)",
                              re.IGNORECASE)

        others = {w: re.escape(w) for w in known(identifiers)}
        # a letter or digit before or after a name ends the match (the underscore does not: "Li_scan")
        self._words = pattern({**{w: rf"(?<![^\W_]){re.escape(w)}(?![^\W_])" for w in known(names)}, **others})
        self._in_paths = pattern({**{w: re.escape(w) for w in known(names)}, **others})
        self._pseudonym, self._days = pseudonym, days

    def _identifiers_out(self, text: str) -> str:
        pieces = _PATH.split(text)  # odd pieces are the path-like tokens
        return "".join((self._in_paths if i % 2 else self._words).sub(self._pseudonym, piece)
                       for i, piece in enumerate(pieces))

    def __call__(self, text: Any) -> str:
        text = self._identifiers_out(str(text))
        shifted: list[str] = []

        def keep(match: re.Match) -> str:
            shifted.append(_shift_date(match.group(0), self._days) or "[date]")
            return f"\x00{len(shifted) - 1}\x00"

        text = _OTHER_DATE.sub("[date]", _ISO_DATE.sub(keep, text.replace("\x00", " ")))
        text = _LONG_NUMBER.sub(lambda m: m.group(0) if m.group(0) in self._pseudonym else "[number]", text)
        return re.sub("\x00(\\d+)\x00", lambda m: shifted[int(m.group(1))], text)


def _names(patient: dict[str, Any]) -> list[str]:
    """The patient's name as given and each of its parts (DICOM ``Family^Given``, or words)."""
    name = str(patient.get("name") or "")
    return [name, *re.split(r"[\^,\s]+", name)]


def _identifiers(patient: dict[str, Any], exam: dict[str, Any]) -> list[str]:
    """The patient's and exam's ids and birth date spellings (not the name: :func:`_names`)."""
    found: list[str] = []
    for value in (patient.get("id"), exam.get("accession"), exam.get("order_number")):
        if value:
            found.append(" ".join(str(value).split()))
    birth = patient.get("birth_date")
    if birth:
        try:
            d = _dt.date.fromisoformat(str(birth))
            found += [str(birth), d.strftime("%Y%m%d"), d.strftime("%d.%m.%Y"), d.strftime("%d/%m/%Y"),
                      d.strftime("%m/%d/%Y"), f"{d.day}.{d.month}.{d.year}", f"{d.month}/{d.day}/{d.year}"]
        except ValueError:
            found.append(str(birth))
    return found


def _pseudonym_and_shift(patient: dict[str, Any], key: ResearchKey) -> tuple[str, int]:
    """The patient's pseudonym and date shift in days (1 to 365), both from the HMAC of the patient token."""
    token = _patient_token(patient)
    return f"CRMO-{key.digest('patient', token)[:16].upper()}", 1 + int(key.digest("date-shift", token)[:8], 16) % 365


def deidentify(study: Study, key: ResearchKey) -> tuple[Study, str]:
    """A copy of ``study`` with no patient identifiers; returns it and the pseudonym."""
    patient, exam = study.patient or {}, study.study or {}
    pseudonym, days = _pseudonym_and_shift(patient, key)
    scrub = _Scrubber(_names(patient), _identifiers(patient, exam), pseudonym, days)
    out = Study(patient={"id": pseudonym}, study={}, lesions=[], clinical={}, midline=copy.deepcopy(study.midline),
                inputs={}, dicom=None, warnings=[scrub(w) for w in study.warnings])
    if patient.get("sex") in ("F", "M", "O"):
        out.patient["sex"] = patient["sex"]
    if patient.get("birth_date"):
        shifted = _shift_date(patient["birth_date"], days)
        if shifted:
            out.patient["birth_date"] = shifted
    if exam.get("date"):
        shifted = _shift_date(exam["date"], days)
        if shifted:
            out.study["date"] = shifted
    if exam.get("modality"):
        out.study["modality"] = scrub(exam["modality"])
    if exam.get("description"):
        out.study["description"] = scrub(exam["description"])
    out.study["accession"] = "R" + key.digest("accession", _patient_token(patient), str(exam.get("accession") or ""),
                                              str(exam.get("date") or ""))[:12].upper()
    for lesion in study.lesions:
        copy_ = copy.deepcopy(lesion)
        copy_.source = {k: v for k, v in lesion.source.items() if k in ("kind", "value")}
        copy_.findings = {k: (v if _coded(FINDINGS.get(k), v) else _scrub_tree(v, scrub))
                          for k, v in lesion.findings.items()}
        copy_.warnings = [scrub(w) for w in lesion.warnings]
        copy_.localization = {k: (scrub(v) if isinstance(v, str) else v) for k, v in lesion.localization.items()}
        out.lesions.append(copy_)
    items = clinical_items()
    out.clinical = {k: (copy.deepcopy(v) if _coded(tuple((items.get(k) or {}).get("values") or ()), v)
                        else _scrub_tree(v, scrub)) for k, v in study.clinical.items()}
    return out, pseudonym


def _coded(values: Any, value: Any) -> bool:
    """Whether ``value`` is one of the coded ``values`` (a tuple of the allowed strings, as an enum's): such a value
    is kept as it is (a name part may be a word of it, "Li" in "malignancy"); free text goes through the scrubber.
    Booleans and numbers hold no text and are kept by :func:`_scrub_tree` anyway."""
    return isinstance(values, tuple) and isinstance(value, str) and value in values


def _scrub_tree(value: Any, scrub: _Scrubber) -> Any:
    if isinstance(value, dict):
        return {k: _scrub_tree(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_tree(v, scrub) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def deidentify_comparison(comparison: Comparison, baseline: Study, followup: Study, key: ResearchKey,
                          sources: tuple[str, ...] = ()) -> Comparison:
    """A copy of ``comparison`` (of ``baseline`` with ``followup``) with no patient identifier.

    Both exam dates move by the follow-up patient's shift (:func:`deidentify` of ``followup`` moves its dates the
    same way), so the interval between the exams is kept. Descriptions and warnings keep no identifier of either
    patient or exam, and the input names ``sources`` (baseline, follow-up) become "baseline" and "follow-up".
    The lesion rows hold ids, anatomy and volumes only and are kept as they are.
    """
    pseudonym, days = _pseudonym_and_shift(followup.patient or {}, key)
    scrub = _Scrubber(_names(followup.patient or {}) + _names(baseline.patient or {}),
                      _identifiers(followup.patient or {}, followup.study or {})
                      + _identifiers(baseline.patient or {}, baseline.study or {}), pseudonym, days)

    def facts(exam: dict[str, Any]) -> dict[str, Any]:
        out = {k: (scrub(v) if isinstance(v, str) else v) for k, v in exam.items() if k != "date"}
        shifted = _shift_date(exam.get("date"), days)
        return {"date": shifted, **out} if shifted else out

    named = sorted(((source, name) for source, name in zip(sources, ("baseline", "follow-up")) if source),
                   key=lambda pair: -len(pair[0]))  # longest first: one input's name may lie inside the other's

    def warning(text: str) -> str:
        if named:
            text = re.sub("|".join(re.escape(source) for source, _ in named), lambda m: dict(named)[m.group(0)], text)
        return scrub(text)

    return dataclasses.replace(comparison, baseline=facts(comparison.baseline), followup=facts(comparison.followup),
                               lesions=[dataclasses.replace(row) for row in comparison.lesions],
                               cromris=dict(comparison.cromris), warnings=[warning(w) for w in comparison.warnings])


def write_research_export(study: Study | Reading, key: ResearchKey, out_dir: str | os.PathLike, baseline: Study | None = None,
                          force: bool = False, sources: tuple[str, str] = ("baseline", "follow-up")) -> dict[str, Path]:
    """Write ``study.json``, ``report.txt``, ``lesions.csv``, ``distribution.csv`` and ``scores.csv`` of the
    de-identified study (the tables as :mod:`~CRMOAnalyzerLib.reading.tables` makes them, from the de-identified study).

    With a ``baseline`` exam, also ``comparison.json`` and ``comparison.csv`` (:func:`deidentify_comparison`) and
    the follow-up paragraph in the report; ``force`` and ``sources`` (the two input names, for messages) are as
    in :func:`~CRMOAnalyzerLib.reading.compare.compare_studies`, which refuses another patient's baseline unless forced.
    Given a reading, its baseline and comparison are used (``baseline`` and ``force`` are not).
    """
    from ..reading.tables import (  # noqa: PLC0415
        comparison_table_csv, distribution_table_csv, lesion_table_csv, score_table_csv)

    if not isinstance(study, Reading):
        study = read(study, baseline=baseline, force=force, sources=sources)
    study, baseline, comparison = study.study, study.baseline, study.comparison
    if comparison is not None:
        comparison = deidentify_comparison(comparison, baseline, study, key, sources)
    clean, _ = deidentify(study, key)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CRMOInputError(out, f"cannot create the output folder: {error.strerror or error}") from error
    reading = read(clean, comparison)  # the de-identified study's reading: its report, tables and document
    document, report = reading.document, reading.generated_text
    tables = {"lesions": lesion_table_csv(reading), "distribution": distribution_table_csv(reading),
              "scores": score_table_csv(reading)}
    written = {"study": write_json(out / "study.json", document), "report": write_text(out / "report.txt", report)}
    written.update({name: write_text(out / f"{name}.csv", text) for name, text in tables.items()})
    if comparison is not None:
        written["comparison"] = write_json(out / "comparison.json", comparison.to_dict())
        written["comparison_table"] = write_text(out / "comparison.csv", comparison_table_csv(comparison))
    return written
