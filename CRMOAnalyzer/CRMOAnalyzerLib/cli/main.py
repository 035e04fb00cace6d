"""Entry point: parse arguments, dispatch to a subcommand, turn errors into one line and an exit code."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence

from .. import __version__
from ..errors import CRMOInputError

#: subcommand modules of this package, each with ``add_subparser(subparsers)``
SUBCOMMANDS = ("analyze", "demo", "report", "compare", "clinical", "cohort", "send", "outbox", "candidates")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
#: commands whose work is over when they return (files written atomically; no connection, cluster or child process
#: left): the console script ends their process at once, without the interpreter's teardown of numpy, SimpleITK and
#: ITK (67-135 ms after an analyze on the 2-core reference machine; 5-12 ms without it: bench_localize.py prints both)
DONE_ON_RETURN = frozenset({"analyze", "demo"})


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and a hint, not the whole usage (its subparsers too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())}\n"
                              f"run '{self.prog} --help' for the usage\n")


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {' '.join(record.getMessage().split())}"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or with ``only`` that one (the other commands' modules stay unloaded)."""
    parser = _Parser(
        prog="crmo-analyzer",
        description="Localize, tabulate and report bone lesions of chronic recurrent multifocal osteomyelitis (CRMO). "
                    "Decision support: it states findings and whether the pattern fits CRMO; it never diagnoses.",
        epilog="Run 'crmo-analyzer demo' to see the whole job on the bundled synthetic study.")
    parser.add_argument("--version", action="version", version=f"crmo-analyzer {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    parser.add_argument("--debug", action="store_true", help="show a traceback for internal errors")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in (only,) if only in SUBCOMMANDS else SUBCOMMANDS:
        importlib.import_module(f".{name}", __package__).add_subparser(subparsers)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand the arguments name (the first that is not an option: the global options take no value)."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in SUBCOMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``crmo-analyzer``; returns the exit code (0 ok, 1 bad input, 2 usage, 3 internal error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_OK
    with _cli_logging(logging.ERROR if args.quiet else logging.WARNING):
        return _run(args)


@contextlib.contextmanager
def _cli_logging(level: int) -> Iterator[None]:
    """Send the core's log records to stderr as one-liners while a command runs, then restore the logger."""
    logger = logging.getLogger("CRMOAnalyzerLib")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        handlers, level, logger.propagate = saved
        logger.handlers[:] = handlers
        logger.setLevel(level)  # not the attribute: setLevel also clears the loggers' cached levels


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command, turning errors into one line and an exit code."""
    try:
        return int(args.func(args) or EXIT_OK)
    except CRMOInputError as error:
        print(f"crmo-analyzer: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("crmo-analyzer: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("crmo-analyzer: error: out of memory", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # never a traceback for the user, unless asked
        if args.debug:
            raise
        print(f"crmo-analyzer: internal error: {type(error).__name__}: {' '.join(str(error).split())} "
              "(run again with --debug for details)", file=sys.stderr)
        return EXIT_INTERNAL


def entry_point() -> None:
    """Console script: exits with :func:`main`'s code; after a command of ``DONE_ON_RETURN``, at once."""
    code = main()
    if _command(sys.argv[1:]) in DONE_ON_RETURN:
        _end_now(code)
    sys.exit(code)


def _end_now(code: int) -> None:
    """End the process with ``code`` once standard output is flushed (standard error is line-buffered and the
    commands write whole lines to it), skipping the interpreter's teardown: its modules' finalizers and exit handlers
    have nothing left to do."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe or stream: lost on a normal exit too
        pass
    os._exit(code)
