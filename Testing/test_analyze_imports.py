"""``crmo-analyzer analyze`` imports only what it uses, when it uses it (issue 19): importing the pipeline and the
command line loads none of the heavy libraries (jinja2 comes later, for the report), and a whole analysis, flat bones
and their neighbours' distances included, loads none of the export, plotting, schema, progress or scipy libraries. Each check runs in a fresh Python,
so that modules imported by other tests do not count. No time is measured here (benchmarks/bench_localize.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "CRMOAnalyzer"

#: libraries the analyze path never needs: exports, sending, plotting, schemas, progress bars, cohorts
NEVER = {"jsonschema", "matplotlib", "rich", "highdicom", "pydicom", "hl7apy", "hl7", "fhir", "pynetdicom",
         "dicomweb_client", "requests", "dask", "distributed", "pyarrow", "pandas", "nrrd", "slicerio", "scipy"}
#: needed by a step only (the report's templates), so never on import
LATER = {"jinja2"}


def loaded_after(code: str) -> list[str]:
    """The top-level packages of NEVER | LATER loaded in a fresh Python after running ``code``."""
    probe = (f"{code}\nimport sys, json\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(NEVER | LATER)!r}))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_pipeline_and_the_command_line_loads_no_heavy_library():
    assert loaded_after("import CRMOAnalyzerLib.pipeline") == []
    assert loaded_after("import CRMOAnalyzerLib.localization.localize, CRMOAnalyzerLib.reading.read") == []
    assert loaded_after("from CRMOAnalyzerLib.cli.main import build_parser\nbuild_parser()") == []


def test_the_pipeline_loads_the_localization_only_when_it_analyzes():
    """``analyze_files`` starts reading the maps (in threads) before the localization's modules load, so that they
    load while the files are read: importing the pipeline must not load them."""
    probe = ("import sys, CRMOAnalyzerLib.pipeline\n"
             "print(sorted(m for m in sys.modules if m.startswith(('CRMOAnalyzerLib.localization.', 'CRMOAnalyzerLib.model'))))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_probe_sees_a_heavy_import():
    """The check would fail if a module on the path imported one of them at its top."""
    assert loaded_after("import CRMOAnalyzerLib.pipeline\nimport jinja2") == ["jinja2"]


def _write(array: np.ndarray, path: Path) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(image, str(path), False)


def test_a_whole_analysis_loads_no_export_plotting_schema_or_progress_library(tmp_path):
    """``analyze`` from files to study.json and report.txt: jinja2 renders the report; nothing of NEVER is loaded."""
    bones = np.zeros((64, 40, 60), np.uint8)
    bones[5:55, 15:25, 5:15] = 1  # femur_right (low i: the patient's right in LPS-identity files)
    bones[5:55, 15:25, 45:55] = 2  # femur_left
    bones[5:55, 15:25, 27:33] = 3  # a vertebra on the midline
    bones[56:60, 15:25, 2:18] = 4  # hip_right above the right femur, the sacrum beside it: the hip bone's frame
    bones[56:60, 15:25, 20:26] = 5  # measures distances to both (and the femur's long axis its articulation)
    lesions = np.zeros_like(bones)
    lesions[8:12, 18:22, 8:12] = 1
    lesions[30:34, 18:22, 48:52] = 2
    lesions[56:59, 18:22, 8:12] = 3
    _write(bones, tmp_path / "bones.nrrd")
    _write(lesions, tmp_path / "lesions.nrrd")
    (tmp_path / "names.json").write_text(json.dumps({"1": "femur_right", "2": "femur_left", "3": "vertebrae_L1",
                                                     "4": "hip_right", "5": "sacrum"}))
    out = tmp_path / "out"
    args = ["analyze", "--bones", str(tmp_path / "bones.nrrd"), "--bone-labels", str(tmp_path / "names.json"),
            "--lesions", str(tmp_path / "lesions.nrrd"), "--out", str(out), "--force"]
    loaded = loaded_after(f"from CRMOAnalyzerLib.cli.main import main\nassert main({args!r}) == 0")
    assert set(loaded) & NEVER == set()
    assert "jinja2" in loaded  # the report was rendered: the probe saw the run's imports
    hip = json.loads((out / "study.json").read_text())["lesions"][2]
    assert hip["bone"] == "hip_right" and not any("cut by the edge" in w for w in hip["warnings"])  # its frame measured
    assert (out / "report.txt").read_text()


def test_a_command_builds_its_own_parser_only_and_the_help_lists_every_command():
    probe = ("import sys\nfrom CRMOAnalyzerLib.cli.main import SUBCOMMANDS, _command, build_parser\n"
             "parser = build_parser(_command(['-q', 'analyze', '--bones', 'b.nrrd']))\n"
             "print(sorted(m.split('.')[2] for m in sys.modules if m.startswith(('CRMOAnalyzerLib.cli.', "
             "'CRMOAnalyzerLib.exports'))))\n"
             "everything = build_parser(_command(['--help']))\n"
             "print(sorted(everything._subparsers._group_actions[0].choices) == sorted(SUBCOMMANDS))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    modules, every = out.stdout.strip().splitlines()[-2:]
    assert modules == "['analyze', 'main']"  # no other command's module, no export
    assert every == "True"
