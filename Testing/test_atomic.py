"""No data loss: a process killed while saving leaves the previous study.json intact (a real SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from CRMOAnalyzerLib.model import load_study

WRITER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from CRMOAnalyzerLib.model import Study, save_study, Lesion
path = sys.argv[1]
n = 0
while True:
    n += 1
    lesions = [Lesion(id=f"L{i}", source={"kind": "point"}, bone="sternum", finding_site=None, laterality=None,
                      sublocation=None, centroid_ras=[0.0, 0.0, float(i)], volume_mm3=None,
                      findings={"note": "x" * 2000}) for i in range(1, 200 + n % 7)]
    save_study(Study(patient={"id": str(n)}, lesions=lesions), path)
    print(n, flush=True)
"""


def test_killed_writer_never_leaves_a_partial_study(tmp_path):
    path = tmp_path / "study.json"
    core = str(Path(__file__).resolve().parents[1] / "CRMOAnalyzer")
    kills = 0
    for attempt in range(6):
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(path), core], stdout=subprocess.PIPE, text=True)
        process.stdout.readline()  # at least one complete save
        time.sleep(0.05 + 0.07 * attempt)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        study = load_study(path)  # must parse and validate: whole, never half-written
        assert len(study.lesions) >= 199
        assert json.loads(path.read_text())["schema"] == "crmo-analyzer/study"
    assert kills == 6


def test_a_save_removes_temporary_files_a_killed_writer_left(tmp_path):
    from CRMOAnalyzerLib.io.files import STALE_SECONDS, write_text

    path = tmp_path / "study.json"
    old = tmp_path / ".study.json.abc123.json"  # as a writer killed before its rename leaves it
    recent = tmp_path / ".study.json.def456.json"  # another writer's, still at work
    unrelated = tmp_path / ".other.json.xyz.json"
    for stale in (old, recent, unrelated):
        stale.write_text("{")
    long_ago = time.time() - STALE_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(unrelated, (long_ago, long_ago))
    write_text(path, "{}\n")
    assert path.read_text() == "{}\n"
    assert not old.exists()
    assert recent.exists() and unrelated.exists()


def test_written_files_get_the_usual_permissions(tmp_path):
    import stat

    from CRMOAnalyzerLib.io.files import write_text

    mask = os.umask(0o022)
    try:
        new = write_text(tmp_path / "new.txt", "x")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # not mkstemp's private 0o600
        kept = tmp_path / "kept.txt"
        kept.write_text("old")
        kept.chmod(0o640)
        write_text(kept, "new")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_text() == "new"
    finally:
        os.umask(mask)
