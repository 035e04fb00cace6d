"""Helpers of the send tests: the CLI in process, the outbox's items, the error line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path


def cli_runner(capsys) -> Callable[..., tuple[int, str, str]]:
    """``crmo-analyzer`` in process, returning (exit code, stdout, stderr)."""
    from CRMOAnalyzerLib.cli.main import main  # noqa: PLC0415

    def run(*argv) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def pending(outbox: Path) -> list[dict]:
    """The outbox's items, oldest first."""
    return [json.loads(p.read_text()) for p in sorted(outbox.glob("*.json"))]


def error_line(err: str) -> str:
    """The one error line of ``err`` (and no traceback)."""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("crmo-analyzer: error:")]
    assert len(errors) == 1, err
    return errors[0]
