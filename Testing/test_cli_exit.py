"""The console script ends the process of a command that is done on return (``DONE_ON_RETURN``) at once, without the
interpreter's teardown, and loses nothing: the whole standard output and error, the exit code, the files. Each run is
a fresh process through ``entry_point``, its output going to pipes (block-buffered, as in a script or a pipeline)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CRMOAnalyzerLib.cli.main import DONE_ON_RETURN

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "CRMOAnalyzer"


def _console(args: list[str], marker: Path) -> subprocess.CompletedProcess:
    """``crmo-analyzer ARGS`` as the console script runs it, with an exit handler that leaves ``marker`` if it runs."""
    probe = ("import atexit, sys\n"
             f"atexit.register(lambda: open({str(marker)!r}, 'w').close())\n"
             f"sys.argv = ['crmo-analyzer'] + {args!r}\n"
             "from CRMOAnalyzerLib.cli.main import entry_point\nentry_point()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("PYTHONUNBUFFERED", None)  # buffered, as a user's Python is
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)


def test_the_demo_ends_at_once_with_its_whole_output(tmp_path):
    out = tmp_path / "demo"
    run = _console(["demo", "--out", str(out)], tmp_path / "teardown-ran")
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "teardown-ran").exists()  # ended without the interpreter's teardown
    report = (out / "report.txt").read_text()
    assert report.strip() in run.stdout  # the whole report came through the pipe
    assert run.stdout.rstrip().endswith(f"Wrote {out / 'study.json'} and {out / 'report.txt'}")


def _maps(folder: Path) -> tuple[Path, Path, Path]:
    bones = np.zeros((20, 20, 30), np.uint8)
    bones[2:18, 5:15, 3:10] = 1
    bones[2:18, 5:15, 20:27] = 2
    lesions = np.zeros_like(bones)
    lesions[4:7, 8:11, 5:8] = 1
    paths = []
    for array, name in ((bones, "bones.nrrd"), (lesions, "lesions.nrrd")):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((2.0, 2.0, 2.0))
        sitk.WriteImage(image, str(folder / name))
        paths.append(folder / name)
    names = folder / "names.txt"
    names.write_text("1 femur_right\n2 femur_left\n")
    return paths[0], paths[1], names


def test_analyze_ends_at_once_with_its_warnings_its_error_and_its_code(tmp_path):
    bones, lesions, names = _maps(tmp_path)
    out = tmp_path / "out"
    run = _console(["analyze", "--bones", str(bones), "--bone-labels", str(names), "--lesions", str(lesions),
                    "--out", str(out)], tmp_path / "teardown-ran")
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "teardown-ran").exists()
    assert (out / "study.json").is_file() and (out / "report.txt").is_file()
    assert run.stderr.startswith("warning: #1: end unknown")  # the log's records came through (femurs alone)
    assert run.stdout == f"1 lesions localized; wrote {out / 'study.json'} and {out / 'report.txt'}\n"
    bad = _console(["analyze", "--bones", str(tmp_path / "missing.nrrd"), "--lesions", str(lesions), "--out",
                    str(tmp_path / "bad")], tmp_path / "teardown-ran-bad")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [f"crmo-analyzer: error: {tmp_path / 'missing.nrrd'}: bone map not found"]
    assert not (tmp_path / "teardown-ran-bad").exists()


def test_other_commands_end_as_python_does(tmp_path):
    """``outbox`` may hold connections in other runs: its process ends with the interpreter's teardown."""
    assert "outbox" not in DONE_ON_RETURN
    run = _console(["outbox", "--outbox", str(tmp_path / "outbox")], tmp_path / "teardown-ran")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "teardown-ran").exists()
