"""The outbox: a folder with one JSON file per item waiting for its receiver's acceptance.

An item is written (atomically: a temporary file, flushed, renamed) before the first byte of it is sent, its
attempts and last error are rewritten the same way after each failure, and it is removed only after the
receiver accepted it (HL7 MSA-1 AA or CA; a DICOM archive's success status). A resent item is the same
bytes: an HL7 message keeps its MSH-10 control id, a DICOM instance its SOP Instance UID, so a receiver can
drop duplicates. Item file::

    {"schema": "crmo-analyzer/outbox-item", "schema_version": 1, "kind": "hl7" | "dicom",
     "destination": "mllp://...", "id": MSH-10 | SOPInstanceUID, "description": "...", "calling_aet": "...",
     "created": ISO time, "attempts": n, "last_attempt": ISO time | null, "last_error": "..." | null,
     "message": ER7 text (hl7) | "data": base64 (dicom)}
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as _dt
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CRMOInputError
from ..io.files import atomic_write

__all__ = ["Outbox", "OutboxItem", "default_outbox", "SCHEMA"]

SCHEMA = "crmo-analyzer/outbox-item"
KINDS = ("hl7", "dicom")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_outbox() -> Path:
    """``$CRMO_OUTBOX``, else ``~/.crmo-analyzer/outbox``."""
    return Path(os.environ.get("CRMO_OUTBOX") or Path.home() / ".crmo-analyzer" / "outbox")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class OutboxItem:
    """One pending item; ``payload`` is the exact bytes that are sent (ER7 text in UTF-8, or a DICOM file)."""

    path: Path
    kind: str
    destination: str
    item_id: str
    payload: bytes
    description: str = ""
    calling_aet: str = ""
    created: str = ""
    attempts: int = 0
    last_attempt: str | None = None
    last_error: str | None = None

    def to_dict(self) -> dict:
        record = {"schema": SCHEMA, "schema_version": 1, "kind": self.kind, "destination": self.destination,
                  "id": self.item_id, "description": self.description, "calling_aet": self.calling_aet,
                  "created": self.created, "attempts": self.attempts, "last_attempt": self.last_attempt,
                  "last_error": self.last_error}
        if self.kind == "hl7":
            record["message"] = self.payload.decode("utf-8")
        else:
            record["data"] = base64.b64encode(self.payload).decode("ascii")
        return record

    @classmethod
    def from_file(cls, path: Path) -> OutboxItem:
        """The item in ``path``; CRMOInputError when it is not a readable outbox item."""
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CRMOInputError(path, f"not a readable outbox item: {error}") from error
        if not isinstance(record, dict) or record.get("schema") != SCHEMA or record.get("kind") not in KINDS:
            raise CRMOInputError(path, "not an outbox item (schema or kind missing)")
        try:
            if record["kind"] == "hl7":
                payload = str(record["message"]).encode("utf-8")
            else:
                payload = base64.b64decode(str(record["data"]), validate=True)
            return cls(path=path, kind=record["kind"], destination=str(record["destination"]),
                       item_id=str(record.get("id") or ""), payload=payload,
                       description=str(record.get("description") or ""), calling_aet=str(record.get("calling_aet") or ""),
                       created=str(record.get("created") or ""), attempts=int(record.get("attempts") or 0),
                       last_attempt=record.get("last_attempt"), last_error=record.get("last_error"))
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            raise CRMOInputError(path, f"damaged outbox item: {type(error).__name__} {error}") from error


class Outbox:
    """The outbox folder (created when missing)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CRMOInputError(self.folder, f"cannot create the outbox folder: {error.strerror or error}") from error
        if not self.folder.is_dir():
            raise CRMOInputError(self.folder, "the outbox is not a folder")

    def _write(self, item: OutboxItem) -> None:
        data = (json.dumps(item.to_dict(), indent=1, ensure_ascii=False) + "\n").encode("utf-8")
        atomic_write(item.path, lambda tmp: tmp.write_bytes(data))

    def add(self, kind: str, destination: str, item_id: str, payload: bytes, description: str = "",
            calling_aet: str = "") -> OutboxItem:
        """Write a new item (atomically, flushed to disk) and return it."""
        if kind not in KINDS:
            raise ValueError(f"outbox kind {kind!r}")
        created = _dt.datetime.now(_dt.timezone.utc)
        stem = f"{created:%Y%m%dT%H%M%S%f}-{kind}-{_UNSAFE.sub('_', item_id)[:48] or 'item'}"
        path, n = self.folder / f"{stem}.json", 1
        while path.exists():
            n += 1
            path = self.folder / f"{stem}-{n}.json"
        item = OutboxItem(path, kind, destination, item_id, payload, description, calling_aet,
                          created.isoformat(timespec="seconds"))
        self._write(item)
        return item

    def items(self) -> list[OutboxItem | CRMOInputError]:
        """Pending items, oldest first; an unreadable file is listed as its error (and left in place)."""
        found: list[OutboxItem | CRMOInputError] = []
        for path in sorted(self.folder.glob("*.json")):
            if path.name.startswith("."):
                continue  # a temporary file of a write in progress (or of a killed one)
            try:
                found.append(OutboxItem.from_file(path))
            except CRMOInputError as error:
                found.append(error)
        return found

    def pending(self) -> tuple[list[OutboxItem], list[CRMOInputError]]:
        """:meth:`items` split: the items to send, and the errors of the files that cannot be read."""
        found = self.items()
        return ([item for item in found if not isinstance(item, CRMOInputError)],
                [error for error in found if isinstance(error, CRMOInputError)])

    def failed(self, item: OutboxItem, reason: str) -> None:
        """Record a failed attempt in the item's file."""
        item.attempts += 1
        item.last_attempt = _now()
        item.last_error = reason
        self._write(item)

    def done(self, item: OutboxItem) -> None:
        """The receiver accepted ``item``: remove it."""
        item.path.unlink(missing_ok=True)

    def deliver(self, item: OutboxItem, send: Callable[[OutboxItem], str]) -> tuple[bool, str]:
        """``send(item)`` (returns what the receiver answered; raises CRMOInputError on failure); removes the
        item on success, records the failure otherwise. Returns (accepted, the answer or the one-line problem).

        While it is sent the item's file is locked (POSIX ``flock``), so a concurrent ``outbox --retry`` skips it
        instead of sending it twice; a killed sender's lock goes with its process."""
        with _locked(item.path) as state:
            if state == "busy":
                return False, f"{item.path}: being sent by another process (left for it)"
            if state == "gone":
                return True, "already sent by another process"
            try:
                answer = send(item)
            except CRMOInputError as error:
                self.failed(item, str(error))
                return False, str(error)
            self.done(item)
            return True, answer


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[str]:
    """Lock ``path`` for the block: yields ``"locked"`` (or locks are not available), ``"busy"`` when another process
    holds it or has just rewritten it, ``"gone"`` when the file is no longer there (another process sent it)."""
    try:
        import fcntl  # noqa: PLC0415
    except ImportError:  # Windows: no advisory locks; a concurrent retry may send an item twice (same MSH-10)
        yield "locked" if path.exists() else "gone"
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after the block)
    except FileNotFoundError:
        yield "gone"
        return
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield "busy"
            return
        try:
            same = os.path.samestat(os.fstat(handle.fileno()), path.stat())
        except FileNotFoundError:
            yield "gone"
            return
        yield "locked" if same else "busy"
    finally:
        handle.close()
