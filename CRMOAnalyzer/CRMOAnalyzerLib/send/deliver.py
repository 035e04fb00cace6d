"""Send outbox items to their destinations, and put a study's exports through the outbox."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import DEFAULT_TIMEOUT, SendFailed, parse_destination
from .outbox import Outbox, OutboxItem

__all__ = ["send_item", "send_all"]

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
