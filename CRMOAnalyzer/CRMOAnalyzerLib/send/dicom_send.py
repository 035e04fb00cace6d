"""DICOM instances to an archive: STOW-RS with dicomweb-client (as Slicer's DICOM sender does), or C-STORE
with pynetdicom. One call stores one instance; it is accepted only when the archive says so (STOW-RS: the
response lists it in ReferencedSOPSequence and nothing in FailedSOPSequence; C-STORE: status 0x0000, or a
warning status 0xB000/0xB006/0xB007, which means stored with coercion).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from . import Destination, SendFailed

__all__ = ["read_instance", "stow", "c_store", "store"]

C_STORE_WARNINGS = (0xB000, 0xB006, 0xB007)


def read_instance(data: bytes, where: str = "outbox item"):
    """The pydicom Dataset of a DICOM file's bytes."""
    import pydicom  # noqa: PLC0415
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415

    try:
        return pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, ValueError, EOFError, OSError) as error:
        raise SendFailed(where, f"not a DICOM file: {error}") from error


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Silence libraries that log failures themselves (the caller reports them as one line)."""
    loggers = [logging.getLogger(name) for name in names]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, (level, propagate) in zip(loggers, saved):
            logger.setLevel(level)
            logger.propagate = propagate


def stow(data: bytes, destination: Destination, timeout: float) -> str:
    """Store one instance by STOW-RS at ``destination.base_url``; returns what the archive answered."""
    import requests  # noqa: PLC0415
    from dicomweb_client.api import DICOMwebClient  # noqa: PLC0415

    where = destination.url
    ds = read_instance(data)
    uid = str(ds.SOPInstanceUID)
    try:
        client = DICOMwebClient(url=destination.base_url, timeout=timeout)
    except TypeError:  # dicomweb-client before 0.60 has no timeout argument
        client = DICOMwebClient(url=destination.base_url)
    client.set_http_retry_params(retry=False)  # one attempt within --timeout: the outbox is the retry
    try:
        with _quiet("dicomweb_client"):
            response = client.store_instances(datasets=[ds])
    except requests.exceptions.HTTPError as error:
        status = getattr(error.response, "status_code", "?")
        hint = ": is the DICOMweb root right?" if status == 404 else ""
        raise SendFailed(where, f"the archive refused instance {uid} (HTTP {status}){hint}") from error
    except requests.exceptions.Timeout as error:
        raise SendFailed(where, f"no answer within {timeout:g} s") from error
    except requests.exceptions.ConnectionError as error:
        refused = "refused" in str(error).lower()
        raise SendFailed(where, "cannot connect: connection refused (is the archive running?)" if refused
                         else f"cannot connect (is the archive running, the address right?): {type(error).__name__}") from error
    except requests.exceptions.RequestException as error:
        raise SendFailed(where, f"{type(error).__name__}: {error}") from error
    except (ValueError, TypeError) as error:  # a response that is not a DICOM JSON dataset
        raise SendFailed(where, f"the answer is not a STOW-RS response: {error}") from error
    failed = [str(getattr(item, "ReferencedSOPInstanceUID", "")) for item in getattr(response, "FailedSOPSequence", [])]
    if failed:
        reason = getattr(response.FailedSOPSequence[0], "FailureReason", "?")
        raise SendFailed(where, f"the archive refused instance {uid} (failure reason 0x{int(reason):04X})"
                         if isinstance(reason, int) else f"the archive refused instance {uid}")
    stored = [str(getattr(item, "ReferencedSOPInstanceUID", "")) for item in getattr(response, "ReferencedSOPSequence", [])]
    if uid not in stored:
        raise SendFailed(where, f"the archive's answer does not list instance {uid} as stored")
    return "stored"


def c_store(data: bytes, destination: Destination, calling_aet: str, timeout: float) -> str:
    """Store one instance by C-STORE at ``destination`` (called AE ``destination.aet``) as ``calling_aet``."""
    from pynetdicom import AE  # noqa: PLC0415

    where = destination.url
    ds = read_instance(data)
    uid = str(ds.SOPInstanceUID)
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
    ae.add_requested_context(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
    with _quiet("pynetdicom"):
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.aet)
        if not assoc.is_established:
            if assoc.rejected_contexts and not assoc.accepted_contexts:
                raise SendFailed(where, f"the archive accepts no {ds.SOPClassUID.name} in "
                                        f"{ds.file_meta.TransferSyntaxUID.name} (presentation context rejected)")
            if not assoc.is_rejected:
                _check_reachable(destination, timeout)
            why = "rejected the association" if assoc.is_rejected else "aborted the association"
            raise SendFailed(where, f"the archive {why} (called AE {destination.aet}, calling AE {calling_aet}; "
                                    "is it running, and does it know this AE title?)")
        try:
            status = assoc.send_c_store(ds)
        except (ValueError, RuntimeError) as error:  # pynetdicom: no accepted presentation context for the instance
            raise SendFailed(where, f"the archive accepts no {ds.SOPClassUID.name} in "
                                    f"{ds.file_meta.TransferSyntaxUID.name}: {error}") from error
        finally:
            if assoc.is_established:
                assoc.release()
            ae.shutdown()
    code = getattr(status, "Status", None)
    if code is None:
        raise SendFailed(where, f"no C-STORE answer for instance {uid} within {timeout:g} s (or the connection dropped)")
    if code == 0x0000:
        return "stored"
    if code in C_STORE_WARNINGS:
        return f"stored with warning 0x{code:04X}"
    raise SendFailed(where, f"the archive refused instance {uid} (C-STORE status 0x{code:04X})")


def _check_reachable(destination: Destination, timeout: float) -> None:
    """SendFailed naming the connection problem when the archive's port does not take a connection."""
    import socket  # noqa: PLC0415

    try:
        with socket.create_connection((destination.host, destination.port), timeout=min(timeout, 10)):
            pass
    except ConnectionRefusedError as error:
        raise SendFailed(destination.url, "cannot connect: connection refused (is the archive running?)") from error
    except OSError as error:
        raise SendFailed(destination.url, f"cannot connect: {error.strerror or error}") from error


def store(data: bytes, destination: Destination, calling_aet: str, timeout: float) -> str:
    """One instance to a ``dicomweb`` or ``dicom`` destination."""
    if destination.kind == "dicomweb":
        return stow(data, destination, timeout)
    if destination.kind == "dicom":
        return c_store(data, destination, calling_aet, timeout)
    raise SendFailed(destination.url, "DICOM instances go to dicomweb+http(s):// or dicom:// destinations")
