"""What a cohort run reads: study.json files, folders of them, and manifest CSVs of image sets.

Every input becomes :class:`Case` objects (one exam each) or, when it cannot, a :class:`Failure`
naming the input and the reason (an empty folder, a manifest without the needed columns).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CRMOInputError
from ..io.files import read_text

__all__ = ["Case", "Failure", "collect", "read_manifest", "MANIFEST_COLUMNS", "IGNORED_SUFFIXES"]

#: manifest columns: file columns (paths relative to the manifest) and facts
MANIFEST_COLUMNS = ("bones", "lesions", "points", "image", "bone_labels", "task", "patient", "date", "birth_date", "sex")
_FILE_COLUMNS = ("bones", "lesions", "points", "image", "bone_labels")

#: JSON files in a folder that are not studies (markups, label tables, study facts, comparisons)
IGNORED_SUFFIXES = (".mrk.json", ".labels.json", "study-info.json", "comparison.json", "expected.json")


@dataclass(frozen=True)
class Case:
    """One exam to read: a study.json file (``kind="study"``) or an image set to analyze (``"images"``)."""

    key: str
    kind: str
    source: str
    fingerprint: tuple = ()
    files: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """An input or case that could not be used, and why (one line)."""

    source: str
    reason: str
    case: str = ""


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


def _stat(path: Path) -> tuple:
    try:
        st = path.stat()
    except OSError:
        return (None,)
    return (st.st_size, st.st_mtime_ns)


def _study_case(path: Path) -> Case:
    resolved = path.resolve()
    return Case(key=_hash(f"study:{resolved}"), kind="study", source=os.fspath(path), fingerprint=_stat(resolved))


def _walk(folder: Path, skip: Path | None) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or (here / d).resolve() != skip))
        for name in sorted(files):
            lower = name.lower()
            if lower.endswith(".json") and not name.startswith(".") and not lower.endswith(IGNORED_SUFFIXES):
                found.append(here / name)
    return found


def read_manifest(path: Path) -> tuple[list[Case], list[Failure]]:
    """Image-set cases from a manifest CSV (one row per exam; columns of :data:`MANIFEST_COLUMNS`)."""
    text = read_text(path, "manifest CSV")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise CRMOInputError(path, "manifest has no rows (expected a header and one row per exam)")
    columns = {c.strip().lower() for c in rows[0] if c}
    if "bones" not in columns or not ({"lesions", "points"} & columns):
        raise CRMOInputError(path, "manifest needs the columns bones and lesions (or points); "
                                   f"found: {', '.join(sorted(columns)) or 'none'}")
    unknown = sorted(columns - set(MANIFEST_COLUMNS))
    if unknown:
        raise CRMOInputError(path, f"unknown manifest column(s): {', '.join(unknown)}; known: {', '.join(MANIFEST_COLUMNS)}")
    base = path.resolve().parent
    cases, failures = [], []
    for number, raw in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        source = f"{path}:{number}"
        if not row.get("bones") or not (row.get("lesions") or row.get("points")):
            failures.append(Failure(source, "row needs a bones file and a lesions (or points) file"))
            continue
        files = {k: os.fspath(base / row[k]) for k in _FILE_COLUMNS if row.get(k)}
        facts = {k: row[k] for k in ("task", "patient", "date", "birth_date", "sex") if row.get(k)}
        fingerprint = tuple(_stat(Path(files[k])) for k in sorted(files))
        key = _hash(f"images:{json.dumps(files, sort_keys=True)}:{json.dumps(facts, sort_keys=True)}")
        cases.append(Case(key=key, kind="images", source=source, fingerprint=fingerprint, files=files, facts=facts))
    return cases, failures


def collect(inputs: Sequence[str | os.PathLike], skip: str | os.PathLike | None = None) -> tuple[list[Case], list[Failure]]:
    """Cases from study files, folders (searched recursively for ``*.json``) and manifest CSVs.

    Parameters
    ----------
    inputs: Sequence[str | os.PathLike]
        Files and folders, in order. A file ending in ``.csv`` is a manifest of image sets.
    skip: str | os.PathLike | None
        A folder never to search (the run's output folder).

    Returns
    -------
    tuple[list[Case], list[Failure]]
        Cases without duplicates (the same file reached twice counts once), and inputs that gave none.
    """
    skip_path = Path(skip).resolve() if skip is not None else None
    cases: list[Case] = []
    failures: list[Failure] = []
    for item in inputs:
        path = Path(item)
        try:
            if path.is_dir():
                found = _walk(path, skip_path)
                if not found:
                    failures.append(Failure(os.fspath(path), "folder holds no study .json file"))
                cases += [_study_case(p) for p in found]
            elif not path.exists():
                failures.append(Failure(os.fspath(path), "not found"))
            elif path.suffix.lower() == ".csv":
                more, bad = read_manifest(path)
                cases += more
                failures += bad
            else:
                cases.append(_study_case(path))
        except CRMOInputError as error:
            failures.append(Failure(error.path or os.fspath(path), error.problem))
        except OSError as error:
            failures.append(Failure(os.fspath(path), f"cannot read: {error.strerror or error}"))
    return _unique(cases), failures


def _unique(cases: Iterable[Case]) -> list[Case]:
    seen: set[str] = set()
    out = []
    for case in cases:
        if case.key not in seen:
            seen.add(case.key)
            out.append(case)
    return out
