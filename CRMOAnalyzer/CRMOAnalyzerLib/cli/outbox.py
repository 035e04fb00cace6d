"""``crmo-analyzer outbox``: list the items waiting for their receiver; --retry resends them."""

from __future__ import annotations

import argparse
import sys

from ..errors import CRMOInputError


def add_subparser(subparsers) -> None:
    from .send import add_outbox_arguments  # noqa: PLC0415

    parser = subparsers.add_parser(
        "outbox", help="list (or --retry) the messages and instances not yet accepted by their receiver",
        description="List the outbox: one line per item not yet accepted (file, kind, destination, id, attempts, "
                    "last error). --retry resends each, unchanged (an HL7 message keeps its MSH-10 control id, a DICOM "
                    "instance its SOP Instance UID), and removes it only after its receiver accepted it.",
        epilog="examples:\n  crmo-analyzer outbox\n  crmo-analyzer outbox --outbox /data/outbox --retry",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_outbox_arguments(parser)
    parser.add_argument("--retry", action="store_true", help="resend every pending item")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..send.deliver import send_all  # noqa: PLC0415
    from ..send.outbox import Outbox, default_outbox  # noqa: PLC0415
    from .send import failure_line, print_outcome  # noqa: PLC0415

    outbox = Outbox(args.outbox or default_outbox())
    items, broken = outbox.pending()
    if not args.retry:
        for item in items:
            last = f"\tlast error: {item.last_error}" if item.last_error else ""
            print(f"{item.path.name}\t{item.kind}\t{item.destination}\t{item.item_id}\t{item.description}\t"
                  f"attempts {item.attempts}{last}")
        for error in broken:
            print(f"{error.path}\tunreadable\t{error.problem}")
        if not items and not broken and not args.quiet:
            print(f"outbox {outbox.folder}: nothing pending", file=sys.stderr)
        return 0
    failures = send_all(outbox, items, args.timeout, print_outcome(args.quiet))
    if broken:
        raise CRMOInputError(broken[0].path, f"{broken[0].problem} ({len(broken)} unreadable item(s) left in the outbox"
                                             f"{'; ' + str(len(failures)) + ' other(s) not accepted' if failures else ''})")
    if failures:
        raise failure_line(failures, len(items), outbox)
    if not args.quiet:
        print(f"outbox {outbox.folder}: {len(items)} item(s) sent, nothing pending", file=sys.stderr)
    return 0
