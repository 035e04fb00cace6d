"""Send outbox items to their destinations, and put a study's exports through the outbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import DEFAULT_TIMEOUT, SendFailed, parse_destination
from .outbox import Outbox, OutboxItem

__all__ = ["send_item", "send_all", "queue_study", "DEFAULT_CALLING_AET"]

DEFAULT_CALLING_AET = "CRMO_ANALYZER"


def send_item(item: OutboxItem, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Send ``item`` to its destination; returns the receiver's answer, raises SendFailed unless accepted."""
    destination = parse_destination(item.destination)
    if item.kind == "hl7":
        if destination.kind != "mllp":
            raise SendFailed(item.destination, "an HL7 message goes to an mllp://HOST:PORT destination")
        from .mllp import send_hl7  # noqa: PLC0415

        ack = send_hl7(item.payload.decode("utf-8"), destination.host, destination.port, timeout, item.destination)
        return f"{ack.code}" + (f" ({ack.text})" if ack.text else "")
    from .dicom_send import store  # noqa: PLC0415

    return store(item.payload, destination, item.calling_aet or DEFAULT_CALLING_AET, timeout)


def send_all(outbox: Outbox, items: Sequence[OutboxItem], timeout: float = DEFAULT_TIMEOUT,
             report: Callable[[OutboxItem, bool, str], None] | None = None) -> list[tuple[OutboxItem, str]]:
    """Send each of ``items`` (already in ``outbox``); returns the failures (item, one-line problem)."""
    failures = []
    for item in items:
        accepted, answer = outbox.deliver(item, lambda it: send_item(it, timeout))
        if report is not None:
            report(item, accepted, answer)
        if not accepted:
            failures.append((item, answer))
    return failures


def _hl7_message(reading, accession: str | None, result_status: str | None) -> str:
    from ..exports.hl7v2 import HL7Options, oru_r01  # noqa: PLC0415

    return oru_r01(reading, options=HL7Options(accession=accession, result_status=result_status))


def _dicom_instances(reading, where: str, dicom_dir, labelmap, baseline_tracking) -> list[tuple[str, bytes, str]]:
    """(SOP Instance UID, file bytes, description) of the SR and the SEG (SEG first: the SR refers to it)."""
    from ..exports.dicom_series import dataset_bytes, study_series  # noqa: PLC0415
    from ..exports.dicom_sr import dicom_exports  # noqa: PLC0415

    result = dicom_exports(reading, study_series(reading.study, dicom_dir, where), labelmap,
                           baseline_tracking=baseline_tracking)
    return [(str(ds.SOPInstanceUID), dataset_bytes(ds), f"{what} of {where}")
            for ds, what in ((result.seg, "SEG"), (result.sr, "SR")) if ds is not None]


def queue_study(study, to: str, outbox: Outbox, *, where: str = "the study", text: str | None = None,
                accession: str | None = None, result_status: str | None = None, comparison=None,
                dicom_dir=None, labelmap=None, baseline_tracking=None,
                calling: str = DEFAULT_CALLING_AET) -> list[OutboxItem]:
    """Put what ``to`` receives into the outbox (each item on disk before any byte is sent); returns the items.

    ``mllp://``: the ORU^R01 of ``report --format hl7`` (``text``: the reader's report, else generated); DICOM
    destinations: the SR and, with ``labelmap``, the SEG, on the series in ``dicom_dir`` (else the study's own).
    Send them with :func:`send_all`. ``where`` names the study in messages. ``study`` may be its reading (which
    carries the text and comparison).
    """
    from ..reading.read import as_reading  # noqa: PLC0415
    from .mllp import control_id  # noqa: PLC0415

    reading = as_reading(study, comparison, text)
    destination = parse_destination(to)
    if destination.kind == "mllp":
        message = _hl7_message(reading, accession, result_status)
        pending = [("hl7", control_id(message), message.encode("utf-8"), f"ORU^R01 of {where}")]
    else:
        pending = [("dicom", uid, data, what)
                   for uid, data, what in _dicom_instances(reading, where, dicom_dir, labelmap, baseline_tracking)]
    return [outbox.add(kind, to.strip(), uid, data, what, calling if destination.kind == "dicom" else "")
            for kind, uid, data, what in pending]
