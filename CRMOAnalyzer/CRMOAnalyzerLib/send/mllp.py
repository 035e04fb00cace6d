"""HL7 v2 over MLLP with python-hl7's asyncio client (``hl7.mllp``): send one message, read its acknowledgement.

The whole exchange (connect, send, wait for the ACK) has one deadline. The ACK's MSA-1 decides: AA (original
mode) or CA (enhanced mode, commit accept) is accepted; AE, AR, CE, CR, an ACK for another control id
(MSA-2 is not our MSH-10), no answer, a closed or refused connection are failures, each one line.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from . import SendFailed

__all__ = ["Ack", "ACCEPTED", "send_hl7", "control_id"]

ACCEPTED = ("AA", "CA")
_MEANING = {"AE": "application error", "AR": "application reject", "CE": "commit error", "CR": "commit reject"}


@dataclass(frozen=True)
class Ack:
    """The receiver's acknowledgement: MSA-1 code, MSA-2 control id, MSA-3 (or ERR) text."""

    code: str
    control_id: str
    text: str = ""

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED


def control_id(message: str) -> str:
    """MSH-10 of an ER7 ``message`` (``""`` when it has none)."""
    first = message.replace("\r\n", "\r").replace("\n", "\r").split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        return ""
    fields = first.split(first[3])
    return fields[9] if len(fields) > 9 else ""  # MSH-1 is the separator itself: MSH-10 is index 9


def parse_ack(block: bytes, where: str) -> Ack:
    """The :class:`Ack` of an ACK message block, or :class:`SendFailed` when it is not one."""
    import hl7  # noqa: PLC0415

    text = block.decode("utf-8", errors="replace").replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    try:
        message = hl7.parse(text)
        msa = message.segment("MSA")
    except Exception as error:  # python-hl7 raises ParseException, KeyError, IndexError on what is not HL7
        shown = " ".join(text[:60].split())
        raise SendFailed(where, f"the answer is not an HL7 acknowledgement with an MSA segment ({shown!r}): "
                                f"{type(error).__name__}") from error

    def field(segment, n: int) -> str:
        try:
            return str(segment(n)).strip()
        except (IndexError, KeyError):
            return ""

    detail = field(msa, 3)
    if not detail:
        with contextlib.suppress(KeyError, IndexError):
            err = message.segment("ERR")
            detail = field(err, 8) or field(err, 3) or field(err, 1)
    return Ack(field(msa, 1).upper(), field(msa, 2), detail)


async def _exchange(host: str, port: int, payload: bytes) -> bytes:
    from hl7.mllp import open_hl7_connection  # noqa: PLC0415

    reader, writer = await open_hl7_connection(host, port)
    try:
        writer.writeblock(payload)
        await writer.drain()
        return await reader.readblock()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def send_hl7(message: str, host: str, port: int, timeout: float, where: str = "") -> Ack:
    """Send ER7 ``message`` (segments joined by CR) over MLLP and return the accepting :class:`Ack`.

    Raises :class:`SendFailed` (one line, starting with ``where``) unless MSA-1 is AA or CA for this message.
    """
    from hl7.mllp import InvalidBlockError  # noqa: PLC0415

    where = where or f"mllp://{host}:{port}"
    payload = message.encode("utf-8")
    try:
        block = asyncio.run(asyncio.wait_for(_exchange(host, port, payload), timeout))
    except (asyncio.TimeoutError, TimeoutError) as error:
        raise SendFailed(where, f"no acknowledgement within {timeout:g} s") from error
    except ConnectionRefusedError as error:
        raise SendFailed(where, "connection refused (is the receiver listening?)") from error
    except asyncio.IncompleteReadError as error:
        raise SendFailed(where, "the receiver closed the connection without an acknowledgement") from error
    except (ConnectionResetError, BrokenPipeError) as error:
        raise SendFailed(where, "the receiver dropped the connection without an acknowledgement") from error
    except InvalidBlockError as error:
        raise SendFailed(where, "the answer is not MLLP-framed (no start block)") from error
    except ValueError as error:  # the StreamReader limit: an answer far larger than an ACK
        raise SendFailed(where, f"the answer is not an acknowledgement: {error}") from error
    except OSError as error:
        raise SendFailed(where, f"cannot connect: {error.strerror or error}") from error
    ack = parse_ack(block, where)
    sent_id = control_id(message)
    if sent_id and ack.control_id and ack.control_id != sent_id:
        raise SendFailed(where, f"the acknowledgement is for message {ack.control_id!r}, not {sent_id!r} (MSA-2)")
    if not ack.accepted:
        meaning = _MEANING.get(ack.code, "not an acceptance")
        raise SendFailed(where, f"the receiver answered {ack.code or 'no MSA-1 code'} ({meaning})"
                                + (f": {ack.text}" if ack.text else ""))
    return ack
