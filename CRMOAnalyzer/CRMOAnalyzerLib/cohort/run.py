"""Run a cohort: collect cases, process them in parallel (local cores or Dask), tabulate, plot, report.

Resumable: finished cases are saved in ``OUT/private/state`` as they complete (atomic checkpoint
files), and a re-run skips every case whose file has not changed since. Failures are logged per case
with their reason; the run goes on and :attr:`CohortResult.exit_code` says whether any case failed.

``OUT/private`` holds what must not be shared (the run's secret key, the state with input paths,
studies analyzed from image sets, the failure list with paths); everything else in ``OUT`` is
pseudonymized.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import io
import logging
import multiprocessing
import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CRMOInputError
from ..io.files import read_json, write_bytes, write_json, write_text
from .aggregate import CohortTables, aggregate, deduplicate
from .inputs import Case, Failure, collect
from .work import process_chunk

__all__ = ["CohortResult", "run_cohort", "write_tables", "PRIVATE"]

logger = logging.getLogger(__name__)

#: the folder of ``OUT`` that is never to be shared
PRIVATE = "private"
_CHECKPOINT_SECONDS = 2.0


@dataclass
class CohortResult:
    """What a run did: counts, failures (source, reason), the tables and the files written."""

    out: Path
    cases: int = 0
    processed: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    tables: CohortTables | None = None
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """int: 0 when every case was read, 1 when any failed (the tables then cover the others)."""
        return 1 if self.failures else 0


# ---- state ------------------------------------------------------------------------------------------

def _secret(private: Path) -> bytes:
    path = private / "secret.key"
    if path.is_file():
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    data = secrets.token_bytes(32)
    write_bytes(path, data)
    os.chmod(path, 0o600)
    return data


def _load_state(state: Path) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for path in sorted(state.glob("*.json")):
        try:
            doc = read_json(path, "cohort state file")
            for record in doc["records"]:
                records[record["case"]] = record
        except (CRMOInputError, KeyError, TypeError) as error:
            logger.warning("%s: ignored (%s); its cases are processed again", path, error)
    return records


class _Checkpoints:
    """Saves finished records in atomic batch files; ``compact`` merges them into one."""

    def __init__(self, state: Path) -> None:
        self.state, self.pending, self.last = state, [], time.monotonic()
        self.serial = len(list(state.glob("batch-*.json")))

    def add(self, records: list[dict[str, Any]]) -> None:
        self.pending += records
        if time.monotonic() - self.last > _CHECKPOINT_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.serial += 1
            write_json(self.state / f"batch-{os.getpid()}-{self.serial:06d}.json", {"records": self.pending})
            self.pending = []
        self.last = time.monotonic()

    def compact(self, records: dict[str, dict[str, Any]]) -> None:
        self.flush()
        old = list(self.state.glob("batch-*.json"))
        write_json(self.state / "records.json", {"records": list(records.values())})
        for path in old:
            path.unlink(missing_ok=True)


# ---- execution --------------------------------------------------------------------------------------

def _chunks(cases: list[Case], workers: int) -> list[list[Case]]:
    images = [[c] for c in cases if c.kind == "images"]
    studies = [c for c in cases if c.kind != "images"]
    size = max(1, min(200, len(studies) // (workers * 8) or 1))
    return images + [studies[i:i + size] for i in range(0, len(studies), size)]


def _client(dask: Any):
    from distributed import Client  # noqa: PLC0415

    if isinstance(dask, Client):
        return dask, False
    if isinstance(dask, str):
        try:
            return Client(dask, timeout="20s"), True
        except (OSError, TimeoutError) as error:
            raise CRMOInputError(dask, f"cannot reach the Dask scheduler: {error}") from error
    if hasattr(dask, "scheduler_address"):
        return Client(dask), True
    raise TypeError('Argument "dask" must be a scheduler address, a distributed.Client or a cluster object.')


def _execute(chunks: list[list[Case]], secret: bytes, strict: bool, workers: int,
             dask: Any) -> Iterator[tuple[list[Case], list[dict[str, Any]] | BaseException]]:
    """Yield (chunk, records or the exception that lost the chunk) as chunks finish."""
    if dask is not None:
        from distributed import as_completed  # noqa: PLC0415

        client, own = _client(dask)
        try:
            futures = {client.submit(process_chunk, chunk, secret, strict, pure=False): chunk for chunk in chunks}
            for future in as_completed(futures):
                try:
                    yield futures[future], future.result()
                except Exception as error:  # noqa: BLE001 (a lost worker loses a chunk, not the run)
                    yield futures[future], error
        finally:
            if own:
                client.close()
        return
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield chunk, process_chunk(chunk, secret, strict)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(process_chunk, chunk, secret, strict): chunk for chunk in chunks}
        for future in cf.as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as error:  # noqa: BLE001
                yield futures[future], error


def _progress(enabled: bool | None, total: int):
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: PLC0415

    console = Console(stderr=True)
    if enabled is None:
        enabled = console.is_terminal
    return Progress(TextColumn("cohort"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[failed]} failed"),
                    TimeRemainingColumn(), console=console, disable=not enabled, transient=False), console


# ---- outputs ----------------------------------------------------------------------------------------

def write_tables(tables: CohortTables, folder: Path) -> dict[str, Path]:
    """Each table as CSV and Parquet in ``folder``; returns the paths by ``name.csv`` / ``name.parquet``."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    from .aggregate import COLUMNS  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, rows in tables.tables.items():
        columns = COLUMNS[name]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        written[f"{name}.csv"] = write_text(folder / f"{name}.csv", buffer.getvalue())
        table = pa.Table.from_pylist(rows) if rows else pa.table({c: pa.array([], pa.string()) for c in columns})
        table = table.select(columns)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        written[f"{name}.parquet"] = write_bytes(folder / f"{name}.parquet", sink.getvalue().to_pybytes())
    return written


def _failures_csv(failures: list[Failure]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["source", "reason"])
    writer.writerows([f.source, f.reason] for f in failures)
    return buffer.getvalue()


def run_cohort(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, *, workers: int | None = None,
               dask: Any = None, progress: bool | None = None, redo: bool = False, strict: bool = False,
               figures: bool = True, on_failure: Callable[[Failure], None] | None = None) -> CohortResult:
    """Read every case of ``inputs``, write the cohort tables, figures and summary into ``out``.

    Parameters
    ----------
    inputs: Sequence[str | os.PathLike]
        study.json files, folders of them, manifest CSVs of image sets.
    out: str | os.PathLike
        Output folder (created). Tables in ``out/tables``, figures in ``out/figures``,
        ``out/report.md`` and ``out/report.html``; ``out/private`` is not for sharing.
    workers: int | None
        Local worker processes (default: every core); 1 runs in this process.
    dask: str | distributed.Client | cluster | None
        Run on a Dask cluster instead: a scheduler address, a client, or a cluster object
        (e.g. ``distributed.LocalCluster``). Workers must have this package and see the input files.
    progress: bool | None
        Show a progress bar (default: when stderr is a terminal).
    redo: bool
        Process every case again, ignoring the saved state.
    strict: bool
        Validate each study against the full JSON schema (slow).
    figures: bool
        Draw the figures (and show them in the report).
    on_failure: Callable[[Failure], None] | None
        Called with each failure as it happens (default: a log warning).

    Returns
    -------
    CohortResult
    """
    started = time.monotonic()
    out = Path(out)
    private, state = out / PRIVATE, out / PRIVATE / "state"
    try:
        state.mkdir(parents=True, exist_ok=True)
        (private / "studies").mkdir(exist_ok=True)
    except OSError as error:
        raise CRMOInputError(out, f"cannot create the output folder: {error.strerror or error}") from error
    report_failure = on_failure or (lambda f: logger.warning("%s: %s", f.source, f.reason))
    secret = _secret(private)
    cases, failures = collect(inputs, skip=out)
    for failure in failures:
        report_failure(failure)
    result = CohortResult(out=out, cases=len(cases))
    saved = {} if redo else _load_state(state)
    todo = [c for c in cases if not (saved.get(c.key, {}).get("ok")
                                     and saved[c.key].get("fingerprint") == list(c.fingerprint))]
    result.skipped = len(cases) - len(todo)
    workers = workers or os.cpu_count() or 1
    checkpoints = _Checkpoints(state)
    bar, console = _progress(progress, len(todo))
    failed_now = 0
    try:
        with bar:
            task = bar.add_task("cohort", total=len(todo), failed=0)
            for chunk, records in _execute(_chunks(todo, workers), secret, strict, workers, dask):
                if isinstance(records, BaseException):
                    reason = f"worker lost: {type(records).__name__}: {records}"
                    records = [{"case": c.key, "ok": False, "source": c.source, "fingerprint": list(c.fingerprint),
                                "reason": " ".join(reason.split())} for c in chunk]
                for record in records:
                    text = record.pop("study_json", None)
                    if text is not None:
                        folder = private / "studies" / record["case"]
                        folder.mkdir(exist_ok=True)
                        write_text(folder / "study.json", text)
                    saved[record["case"]] = record
                    if not record["ok"]:
                        failed_now += 1
                        failure = Failure(record["source"], record["reason"], record["case"])
                        if bar.disable:
                            report_failure(failure)
                        else:
                            console.print(f"[yellow]failed[/]: {failure.source}: {failure.reason}", markup=True,
                                          highlight=False)
                checkpoints.add(records)
                bar.update(task, advance=len(chunk), failed=failed_now)
    finally:
        checkpoints.flush()
    result.processed = len(todo)
    checkpoints.compact(saved)

    current = [saved[c.key] for c in cases if c.key in saved]
    failures += [Failure(r["source"], r["reason"], r["case"]) for r in current if not r["ok"]]
    good, duplicates = deduplicate(r for r in current if r["ok"])
    for failure in duplicates:
        report_failure(failure)
    failures += duplicates
    result.failures = failures
    result.files["failures"] = write_text(private / "failures.csv", _failures_csv(failures))
    if not good:
        result.seconds = time.monotonic() - started
        return result
    result.tables = aggregate(good)
    result.files.update(write_tables(result.tables, out / "tables"))
    figure_files: dict[str, dict[str, Path]] = {}
    if figures:
        from .figures import draw_figures  # noqa: PLC0415

        figure_files = draw_figures(result.tables, out / "figures")
    from .report import write_report  # noqa: PLC0415

    result.files.update(write_report(result.tables, out, figure_files, failures=len(failures),
                                     warnings=sum(len(r.get("warnings", [])) > 0 for r in good)))
    result.seconds = time.monotonic() - started
    return result
