"""The one way files are written (atomically) and JSON is read (with a clear error)."""

from __future__ import annotations

import glob
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CRMOInputError

#: the package's data folder, found from this file (``importlib.resources`` costs tens of ms to import, cold)
RESOURCES = Path(__file__).parent.parent / "resources"


def resource(*parts: str) -> Path:
    """A data file of the package: ``resource("templates", "report.txt.j2")`` is ``resources/templates/report.txt.j2``."""
    return RESOURCES.joinpath(*parts)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through ``write(tmp_path)`` and a rename: readers never see a partial file.

    The temporary file lives in the same folder (same file system), gets the permissions a file
    written in place would have, is flushed to disk, then renamed over ``path``; on any failure it
    is removed and ``path`` is left as it was. Temporary files of ``path`` that a killed process
    left behind more than an hour ago are removed.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise CRMOInputError(path, f"cannot write: folder {folder} does not exist")
    suffix = "".join(path.suffixes) or ".tmp"
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    except OSError as error:
        raise CRMOInputError(path, f"cannot write: {error.strerror or error}") from error
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, _mode_for(path))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _remove_stale(folder, f".{path.name}.", suffix)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise CRMOInputError(path, f"cannot write: {error.strerror or error}") from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _mode_for(path: Path) -> int:
    """The permissions a file written in place would get: the existing file's, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


#: a temporary file older than this was left by a killed writer
STALE_SECONDS = 3600


def _remove_stale(folder: Path, prefix: str, suffix: str) -> None:
    """Remove temporary files ``prefix*suffix`` of a killed writer (never a recent one: it may be another writer's)."""
    cutoff = time.time() - STALE_SECONDS
    for stale in folder.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
        try:
            if stale.is_file() and stale.stat().st_mtime < cutoff:
                stale.unlink()
        except OSError:
            pass  # gone already, or not ours to remove: the write itself succeeded


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write UTF-8 text."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically write bytes."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Atomically write JSON (UTF-8, indented, key order kept)."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


MAX_JSON_BYTES = 256 * 1024 * 1024


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """Read a UTF-8 text file, or raise :class:`CRMOInputError` saying why not."""
    path = Path(path)
    try:
        if path.is_dir():
            raise CRMOInputError(path, f"is a folder, expected a {what}")
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CRMOInputError(path, f"{what} is larger than {MAX_JSON_BYTES // 2**20} MiB")
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise CRMOInputError(path, f"{what} not found") from error
    except OSError as error:
        raise CRMOInputError(path, f"cannot read {what}: {error.strerror or error}") from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CRMOInputError(path, f"{what} is not UTF-8 text (byte {error.start})") from error


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read JSON, or raise :class:`CRMOInputError` naming the file, line and column."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CRMOInputError(path, f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}") from error
    except RecursionError as error:
        raise CRMOInputError(path, "malformed JSON: nested too deeply") from error
