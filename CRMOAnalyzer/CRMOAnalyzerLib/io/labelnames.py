"""Names of label values: "value name" text, Slicer color tables (text or CSV), TotalSegmentator JSON."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from ..errors import CRMOInputError
from .files import read_text

__all__ = ["read_label_names", "write_label_names"]


def _from_json(path: Path, text: str) -> dict[int, str]:
    import json  # noqa: PLC0415

    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise CRMOInputError(path, f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}") from error
    if isinstance(doc, dict) and isinstance(doc.get("labels"), dict):
        doc = doc["labels"]
    if not isinstance(doc, dict) or not doc:
        raise CRMOInputError(path, 'expected a JSON object {"value": "name", ...}')
    names: dict[int, str] = {}
    for key, value in doc.items():
        # TotalSegmentator writes {value: name}; accept {name: value} too
        if isinstance(value, int) and not str(key).strip().lstrip("-").isdigit():
            key, value = value, key
        try:
            number = int(key)
        except (TypeError, ValueError):
            raise CRMOInputError(path, f"label value {key!r} is not a whole number") from None
        if number < 0 or not isinstance(value, str) or not value.strip():
            raise CRMOInputError(path, f"label {key!r}: expected a non-negative value and a non-empty name")
        names[number] = value.strip()
    return names


def _from_csv(path: Path, text: str) -> dict[int, str]:
    rows = list(csv.DictReader(io.StringIO(text)))
    names = {}
    for line, row in enumerate(rows, start=2):
        try:
            names[int(row["LabelValue"])] = str(row.get("Name") or "").strip()
        except (TypeError, ValueError, KeyError):
            raise CRMOInputError(path, f"line {line}: expected LabelValue,Name,... columns") from None
    return names


def _from_text(path: Path, text: str) -> dict[int, str]:
    names: dict[int, str] = {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2 or not re.fullmatch(r"\d+", parts[0]):
            raise CRMOInputError(path, f"line {line_number}: expected 'value name' (or 'value name r g b a'), got {line[:60]!r}")
        rest = parts[1:]
        if len(rest) >= 5 and all(re.fullmatch(r"\d+", p) for p in rest[-4:]):
            rest = rest[:-4]  # Slicer color table: value name r g b a
        value = int(parts[0])
        if value in names:
            raise CRMOInputError(path, f"line {line_number}: label value {value} is named twice")
        names[value] = " ".join(rest)
    if not names:
        raise CRMOInputError(path, "no label names in the file")
    return names


def read_label_names(path: str | os.PathLike) -> dict[int, str]:
    """Label value -> name from a names file; value 0 (background) is dropped."""
    path = Path(path)
    text = read_text(path, "label names file")
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith("{"):
        names = _from_json(path, text)
    elif stripped.startswith("LabelValue"):
        names = _from_csv(path, text)
    else:
        names = _from_text(path, text)
    names.pop(0, None)
    return names


def write_label_names(path: str | os.PathLike, names: dict[int, str]) -> None:
    """Write a TotalSegmentator-style JSON names file (atomically)."""
    from .files import write_json  # noqa: PLC0415

    write_json(path, {str(value): name for value, name in sorted(names.items())})
