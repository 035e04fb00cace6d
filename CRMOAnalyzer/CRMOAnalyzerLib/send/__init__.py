"""Sending a study's exports to the RIS (HL7 v2 over MLLP) and the PACS (DICOM by STOW-RS or C-STORE).

Every item goes through the outbox (:mod:`.outbox`): it is written there, atomically, before the first byte
is sent, and removed only when the receiver accepted it, so neither a refusal nor a killed process loses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import CRMOInputError

__all__ = ["Destination", "SendFailed", "parse_destination", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 30.0
_AET = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # DICOM AE: 16 characters, no backslash, no control


class SendFailed(CRMOInputError):
    """The receiver did not accept an item (refused, no answer, rejected): one line naming the problem."""


@dataclass(frozen=True)
class Destination:
    """Where to send: ``kind`` is ``mllp``, ``dicomweb`` or ``dicom``; ``url`` the text the user gave."""

    kind: str
    url: str
    host: str = ""
    port: int = 0
    aet: str = ""  # called AE title (dicom)
    base_url: str = ""  # the DICOMweb root, http(s)://HOST:PORT/PATH (dicomweb)


def _host_port(url: str, parts) -> tuple[str, int]:
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None or not 0 < port < 65536:
        raise CRMOInputError("--to", f"{url!r}: give the host and port, as in {parts.scheme}://HOST:PORT")
    return parts.hostname, port


def parse_destination(url: str) -> Destination:
    """``mllp://HOST:PORT``, ``dicomweb+http(s)://HOST:PORT/PATH`` or ``dicom://AET@HOST:PORT`` as a Destination."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme == "mllp":
        host, port = _host_port(url, parts)
        return Destination("mllp", url, host, port)
    if scheme in ("dicomweb+http", "dicomweb+https"):
        host, port = _host_port(url, parts) if parts.port is not None or ":" in parts.netloc else (parts.hostname or "", 0)
        if not host:
            raise CRMOInputError("--to", f"{url!r}: give the DICOMweb root, as in dicomweb+http://HOST:PORT/dicom-web")
        return Destination("dicomweb", url, host, port, base_url=url.strip()[len("dicomweb+"):].rstrip("/"))
    if scheme == "dicom":
        aet = parts.username or ""
        if not _AET.match(aet) or aet != aet.strip():
            raise CRMOInputError("--to", f"{url!r}: give the archive's AE title (1-16 characters), as in dicom://AET@HOST:PORT")
        host, port = _host_port(url, parts)
        return Destination("dicom", url, host, port, aet=aet)
    raise CRMOInputError("--to", f"{url!r}: unknown destination; use mllp://HOST:PORT (HL7 to the RIS), "
                                 "dicomweb+http://HOST:PORT/PATH (STOW-RS) or dicom://AET@HOST:PORT (C-STORE)")


def check_aet(aet: str, what: str = "--aet") -> str:
    """``aet`` when it is a valid DICOM AE title, else a one-line error."""
    if not _AET.match(aet) or aet != aet.strip():
        raise CRMOInputError(what, f"{aet!r} is not a DICOM AE title (1-16 characters, no backslash)")
    return aet
