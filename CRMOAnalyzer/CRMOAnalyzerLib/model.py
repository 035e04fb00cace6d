"""The study: one model of an exam's lesions, saved as ``study.json`` (schema-versioned, atomic).

Every table, score, report and export is a function of a :class:`Study`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from .anatomy import LATERALITY_CODES, UNASSIGNED, bones, regions
from .errors import CRMOInputError
from .io.files import read_json, resource, write_json

__all__ = ["Lesion", "Study", "SCHEMA", "SCHEMA_VERSION", "load_study", "save_study", "software", "ordered_lesions",
           "lesion_labels", "labelled", "find_lesion"]

SCHEMA = "crmo-analyzer/study"
SCHEMA_VERSION = 1

#: Findings a reader records per lesion (keys of ``Lesion.findings``), with their allowed values.
FINDINGS: dict[str, tuple[str, ...] | type] = {
    "character": ("lytic", "sclerotic", "mixed"),
    "marrow_edema": bool,
    "periosteal_reaction": bool,
    "soft_tissue_inflammation": bool,
    "bony_expansion": bool,
    "vertebral_collapse": bool,
    "signal_extent": ("<=25%", "25-50%", ">50%"),  # share of the bone with abnormal signal (CROMRIS)
    "metaphyseal_band": bool,
    "punched_out": bool,
    "marginal_sclerosis": bool,
    "cortical_destruction": bool,
    "soft_tissue_mass": bool,
    "symptomatic": bool,
    "note": str,
}


def json_copy(value: Any) -> Any:
    """A copy of a JSON value (dicts, lists and tuples copied all the way down; strings, numbers, booleans and None
    shared): what ``copy.deepcopy`` and ``dataclasses.asdict`` give for it, several times faster."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(json_copy(item) for item in value)
    return value


def software() -> dict[str, str]:
    """Name and version of this package, for the record."""
    from . import __version__  # noqa: PLC0415

    return {"name": "crmo-analyzer", "version": __version__}


@dataclass
class Lesion:
    """One lesion with its localization (contract: ``../shared/design/CONTRACTS.md``)."""

    id: str
    source: dict[str, Any]
    bone: str
    finding_site: dict[str, str] | None
    laterality: dict[str, str] | None
    sublocation: str | None
    centroid_ras: list[float]
    volume_mm3: float | None
    bone_end: str | None = None
    bbox_ras: dict[str, list[float]] | None = None
    voxel_count: int | None = None
    intensity: dict[str, float] | None = None
    localization: dict[str, Any] = field(default_factory=dict)
    findings: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def side(self) -> str | None:
        """str | None: ``"left"``, ``"right"`` or ``None`` (midline or unknown)."""
        if not self.laterality:
            return None
        return {"7771000": "left", "24028007": "right"}.get(self.laterality.get("code", ""))

    @property
    def assigned(self) -> bool:
        """bool: the lesion lies in a known bone."""
        return self.bone != UNASSIGNED and self.bone in bones()

    def override(self, **values: Any) -> None:
        """Set bone, side or sub-location by hand; codes follow, and the field is marked as overridden."""
        for name, value in values.items():
            if name == "bone":
                bone = bones().get(value)
                if bone is None and value != UNASSIGNED:
                    raise ValueError(f'Argument "bone" must be a bone name of the vocabulary, not {value!r}.')
                self.bone = value
                self.finding_site = bone.finding_site if bone else None
                if bone and bone.side:
                    self.laterality = dict(LATERALITY_CODES[bone.side.value])
                elif bone and bone.midline:
                    self.laterality = None
            elif name == "side":
                if value not in ("left", "right", None):
                    raise ValueError('Argument "side" must be "left", "right" or None.')
                self.laterality = dict(LATERALITY_CODES[value]) if value else None
            elif name in ("sublocation", "bone_end"):
                setattr(self, name, value)
            else:
                raise ValueError(f"cannot override {name!r}: only bone, side, sublocation, bone_end")
            if name not in self.overrides:
                self.overrides.append(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {name: json_copy(getattr(self, name)) for name in _LESION_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lesion:
        """From a validated dict."""
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: json_copy(v) for k, v in data.items() if k in names})


_LESION_FIELDS = tuple(f.name for f in fields(Lesion))


def region_rank() -> dict[str, int]:
    """Region id -> its place head to toe (the order of the bone vocabulary's regions)."""
    return {region["id"]: index for index, region in enumerate(regions())}


def ordered_lesions(lesions: list[Lesion]) -> list[Lesion]:
    """Lesions head to toe: by region, then from superior to inferior, then right before left."""
    rank = region_rank()
    vocabulary = bones()

    def key(lesion: Lesion):
        bone = vocabulary.get(lesion.bone)
        return (rank.get(bone.region, len(rank)) if bone else len(rank) + 1, -lesion.centroid_ras[2],
                {"right": 0, "left": 1}.get(lesion.side or "", 2), lesion.id)

    return sorted(lesions, key=key)


def lesion_labels(lesions: list[Lesion]) -> dict[str, str]:
    """Lesion id -> its label, the one name every output gives a lesion: "#3" is the third line of the report's
    findings (lesions head to toe, :func:`ordered_lesions`), on the body map, in the tables, scores, red flags,
    follow-up and exports. The only place a label is written; it cannot be read as a vertebra ("L2").

    A label numbers the lesions of one study as they are now: adding a lesion or moving one to another bone may
    renumber the others. The id (``Lesion.id``, "L7") stays the lesion's identity in files (DICOM tracking UIDs,
    the point or segment it came from).
    """
    return {lesion.id: f"#{number}" for number, lesion in enumerate(ordered_lesions(lesions), start=1)}


def labelled(ids: list[str], labels: dict[str, str]) -> list[str]:
    """The labels of these lesion ids (from :func:`lesion_labels`), in the report's order; an id not in
    ``labels`` is kept as it is."""
    rank = {lesion_id: number for number, lesion_id in enumerate(labels)}
    return [labels.get(i, i) for i in sorted(ids, key=lambda i: (rank.get(i, len(rank)), i))]


_LABEL = re.compile(r"\s*(?:lesion\s*#?|#)\s*(\d+)\s*", re.IGNORECASE)  # "#3", "Lesion 3", "lesion3" (no quotes)


def find_lesion(lesions: list[Lesion], name: str) -> Lesion | None:
    """The lesion a user names: by its label ("#3", "Lesion 3" or "lesion3", as :func:`lesion_labels` numbers it)
    or by its id ("L7", as older studies and reports name it); ``None`` when none is so named."""
    match = _LABEL.fullmatch(name)
    if match:
        number, ordered = int(match.group(1)), ordered_lesions(lesions)
        return ordered[number - 1] if 1 <= number <= len(ordered) else None
    return next((l for l in lesions if l.id == name.strip()), None)



@dataclass
class Study:
    """An exam: patient, study, lesions. ``distribution`` is derived, never stored state."""

    patient: dict[str, Any] = field(default_factory=dict)
    study: dict[str, Any] = field(default_factory=dict)
    lesions: list[Lesion] = field(default_factory=list)
    clinical: dict[str, Any] = field(default_factory=dict)
    midline: dict[str, Any] | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    dicom: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def lesion(self, lesion_id: str) -> Lesion:
        """The lesion with this id, or with this label ("#3", "Lesion 3": :func:`find_lesion`)."""
        found = find_lesion(self.lesions, lesion_id)
        if found is None:
            raise KeyError(lesion_id)
        return found

    def to_dict(self, distribution: dict[str, Any] | None = None) -> dict[str, Any]:
        """JSON-ready dict per the contract, with each lesion's ``label`` computed now and the ``distribution``
        given (the reading's, :attr:`~CRMOAnalyzerLib.reading.read.Reading.document`; left out when ``None``)."""
        labels = lesion_labels(self.lesions)  # written for readers of the file; never read back (derived)
        return {
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "software": software(),
            "patient": json_copy(self.patient), "study": json_copy(self.study),
            "lesions": [{"id": lesion.id, "label": labels[lesion.id], **lesion.to_dict()} for lesion in self.lesions],
            **({"distribution": distribution} if distribution is not None else {}),
            "clinical": json_copy(self.clinical), "midline": json_copy(self.midline),
            "inputs": json_copy(self.inputs), "dicom": json_copy(self.dicom), "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "study") -> Study:
        """Validate and build; a bad document raises :class:`CRMOInputError` naming ``source``."""
        validate(data, source)
        ids = [lesion["id"] for lesion in data["lesions"]]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise CRMOInputError(source, f"duplicate lesion id(s): {', '.join(duplicates)}")
        return cls(patient=dict(data.get("patient") or {}), study=dict(data.get("study") or {}),
                   lesions=[Lesion.from_dict(lesion) for lesion in data["lesions"]],
                   clinical=dict(data.get("clinical") or {}), midline=data.get("midline"),
                   inputs=dict(data.get("inputs") or {}), dicom=data.get("dicom"),
                   warnings=list(data.get("warnings") or []))


@lru_cache(maxsize=None)
def _validator():
    import jsonschema  # noqa: PLC0415

    schema = read_json(resource("study.schema.json"), "study schema")
    return jsonschema.Draft202012Validator(schema)


def validate(data: Any, source: str = "study") -> None:
    """Raise :class:`CRMOInputError` with the first problem of a study document, or return."""
    if not isinstance(data, dict):
        raise CRMOInputError(source, f"not a CRMO Analyzer study (a JSON {type(data).__name__}, expected an object)")
    if data.get("schema") != SCHEMA:
        raise CRMOInputError(source, f"not a CRMO Analyzer study (\"schema\" is {data.get('schema')!r}, expected {SCHEMA!r})")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CRMOInputError(source, f"study schema_version {version!r} is not supported (this version reads {SCHEMA_VERSION})")
    error = next(iter(sorted(_validator().iter_errors(data), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
        message = error.message if len(error.message) < 160 else error.message[:157] + "..."
        raise CRMOInputError(source, f"invalid study at {where or 'top level'}: {message}")


def load_study(path: str | os.PathLike) -> Study:
    """Read and validate ``study.json``."""
    return Study.from_dict(read_json(path, "study file"), os.fspath(path))


def save_study(study: Study, path: str | os.PathLike, distribution: dict[str, Any] | None = None) -> None:
    """Write ``study.json`` atomically (the previous file stays intact if anything fails), with the reading's
    ``distribution`` when given (:meth:`~CRMOAnalyzerLib.reading.read.Reading.save` gives it)."""
    write_json(path, study.to_dict(distribution))
