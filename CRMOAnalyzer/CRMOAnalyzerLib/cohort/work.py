"""What a worker does with one case: read (or analyze) it and return its record, never raise.

Runs in worker processes, local or on a Dask cluster: the functions are top-level and their
arguments and results are plain data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import CRMOInputError
from ..io.files import read_json
from .inputs import Case
from .records import study_record

__all__ = ["process_case", "process_chunk"]


def _failed(case: Case, reason: str) -> dict[str, Any]:
    return {"case": case.key, "ok": False, "source": case.source, "fingerprint": list(case.fingerprint),
            "reason": " ".join(reason.split())}


_mute_lock = threading.Lock()
_mute_state = {"depth": 0, "level": logging.NOTSET}


@contextlib.contextmanager
def _core_warnings_muted() -> Iterator[None]:
    """Log only the core's errors while cases run, then restore the logger's level.

    Cases may run in this process, even in several threads (a threaded Dask worker): the level is
    saved by the first case to start and restored by the last to finish.
    """
    logger = logging.getLogger("CRMOAnalyzerLib")
    with _mute_lock:
        if _mute_state["depth"] == 0:
            _mute_state["level"] = logger.level
            logger.setLevel(logging.ERROR)
        _mute_state["depth"] += 1
    try:
        yield
    finally:
        with _mute_lock:
            _mute_state["depth"] -= 1
            if _mute_state["depth"] == 0:
                logger.setLevel(_mute_state["level"])


def _analyze(case: Case, secret: bytes, strict: bool) -> dict[str, Any]:
    from ..pipeline import AnalysisInputs, analyze_files, check_facts  # noqa: PLC0415 (heavy; only for image sets)

    files = {k: Path(v) for k, v in case.files.items()}
    patient = {k: v for k, v in (("id", case.facts.get("patient")), ("birth_date", case.facts.get("birth_date")),
                                 ("sex", case.facts.get("sex"))) if v}
    study = {"modality": "MR", **({"date": case.facts["date"]} if case.facts.get("date") else {})}
    check_facts(patient, study, case.source)
    inputs = AnalysisInputs(bones=files["bones"], lesions=files.get("lesions"), points=files.get("points"),
                            bone_labels=files.get("bone_labels"), image=files.get("image"), task=case.facts.get("task"),
                            patient=patient, study=study)
    with _core_warnings_muted():  # per-case warnings go into the study, not the console
        document = analyze_files(inputs).to_dict()
    record = study_record(document, case.source, case.key, secret, strict)
    record["study_json"] = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return record


def process_case(case: Case, secret: bytes, strict: bool = False) -> dict[str, Any]:
    """The record of one case, or a failure record with the reason; never raises (but for interrupts)."""
    try:
        if case.kind == "images":
            record = _analyze(case, secret, strict)
        else:
            record = study_record(read_json(case.source, "study file"), case.source, case.key, secret, strict)
    except CRMOInputError as error:
        return _failed(case, str(error.problem if error.path in (None, case.source) else error))
    except MemoryError:
        return _failed(case, "out of memory")
    except Exception as error:  # noqa: BLE001 (one bad case must not stop a cohort)
        return _failed(case, f"internal error: {type(error).__name__}: {error}")
    record["source"] = case.source
    record["fingerprint"] = list(case.fingerprint)
    return record


def process_chunk(cases: list[Case], secret: bytes, strict: bool = False) -> list[dict[str, Any]]:
    """Records of several cases (one task: fewer round trips for small, fast cases)."""
    return [process_case(case, secret, strict) for case in cases]
