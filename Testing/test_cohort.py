"""Cohort: frequency tables against cohorts whose counts are known, the Dask path, bad inputs, resume."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import statistics
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from CRMOAnalyzerLib.anatomy import bones
from CRMOAnalyzerLib.cli.main import main
from CRMOAnalyzerLib.cohort import aggregate, collect, deduplicate, run_cohort
from CRMOAnalyzerLib.cohort.records import study_record
from CRMOAnalyzerLib.cohort.sites import pattern_class, site_of_bone
from CRMOAnalyzerLib.cohort.synthetic import (SyntheticExam, study_document, synthetic_cohort, write_image_sets,
                                              write_studies)
from CRMOAnalyzerLib.io.files import write_json

SECRET = b"s" * 32


def _exam(pid: str, lesions: list[tuple], date: str = "2020-01-01", exam: int = 1) -> SyntheticExam:
    specs = [{"bone": b, "side": s, "sublocation": w, "bone_end": e} for b, s, w, e in lesions]
    return SyntheticExam(pid, "F", dt.date(2010, 1, 1), dt.date.fromisoformat(date), exam, specs)


#: four patients counted by hand (patient D has a follow-up exam 200 days later)
HAND = [
    _exam("A", [("tibia", "left", "metaphysis", "distal"), ("tibia", "right", "metaphysis", "distal"),
                ("clavicula_right", "right", "medial", None)]),
    _exam("B", [("femur_left", "left", "metaphysis", "distal"), ("femur_right", "right", "epiphysis", "proximal"),
                ("vertebrae_T8", None, "vertebral body", None)]),
    _exam("C", [("clavicula_left", "left", "medial", None)]),
    _exam("D", [("tibia", "right", "metaphysis", "proximal"), ("fibula", "right", "metaphysis", "distal")]),
    _exam("D", [("tibia", "right", "metaphysis", "proximal"), ("clavicula_left", "left", "medial", None)],
          date="2020-07-19", exam=2),
]


def _tables(exams):
    records = [study_record(study_document(e), f"{e.patient_id}-{e.exam}", f"c{n}", SECRET) for n, e in enumerate(exams)]
    good, duplicates = deduplicate(records)
    assert not duplicates
    return aggregate(good)


def _by(rows, key):
    return {row[key]: row for row in rows}


def test_tables_of_a_hand_counted_cohort():
    t = _tables(HAND)
    s = t.summary
    assert (s["patients"], s["exams"], s["lesions_baseline"]) == (4, 5, 9)
    assert (s["lesions_per_patient_median"], s["lesions_per_patient_min"], s["lesions_per_patient_max"]) == (2.5, 1, 3)
    assert (s["unifocal_pct"], s["multifocal_pct"]) == (25.0, 75.0)
    assert (s["bilateral_site_pct"], s["symmetric_pct"], s["symmetric_pct_of_bilateral_site"]) == (50.0, 25.0, 50.0)
    sites = _by(t.tables["sites"], "site")
    assert (sites["tibia"]["patients"], sites["tibia"]["patients_pct"], sites["tibia"]["lesions"]) == (2, 50.0, 3)
    assert sites["tibia"]["lesions_pct"] == 33.3
    assert (sites["tibia"]["patients_bilateral"], sites["tibia"]["patients_symmetric"]) == (1, 1)
    assert (sites["femur"]["patients_bilateral"], sites["femur"]["patients_symmetric"]) == (1, 0)
    assert (sites["clavicle"]["patients_left"], sites["clavicle"]["patients_right"]) == (1, 1)
    assert sites["spine"]["lesions_midline"] == 1 and sites["pelvis"]["patients"] == 0
    patterns = {(r["scheme"], r["class"]): r["patients"] for r in t.tables["patterns"]}
    assert [patterns[("andronikou", c)] for c in ("tibio_appendicular", "claviculo_spinal", "clavicle_and_tibia", "other")] \
        == [1, 1, 1, 1]
    sides = _by(t.tables["sides"], "side")
    assert (sides["left"]["lesions"], sides["right"]["lesions"], sides["midline"]["lesions"]) == (3, 5, 1)
    long_bone = {(r["sublocation"], r["bone_end"]): r["lesions"] for r in t.tables["sublocations"] if r["kind"] == "long"}
    assert long_bone == {("metaphysis", "distal"): 4, ("metaphysis", "proximal"): 1, ("epiphysis", "proximal"): 1}
    follow = [r for r in t.tables["exams"] if r["exam"] == 2]
    assert len(follow) == 1
    assert (follow[0]["days_since_baseline"], follow[0]["new_sites"], follow[0]["resolved_sites"],
            follow[0]["lesion_change"]) == (200, "clavicle", "fibula", 0)
    assert sorted(r["patient"] for r in t.tables["patients"]) == ["P0001", "P0002", "P0003", "P0004"]


def test_tables_match_the_counts_of_a_generated_cohort():
    exams = synthetic_cohort(300, seed=7)
    t = _tables(exams)
    truth_patients, truth_lesions, bilateral = Counter(), Counter(), Counter()
    counts, classes = [], Counter()
    for exam in exams:
        per_site = {}
        for lesion in exam.lesions:
            site = site_of_bone(bones()[lesion["bone"]].base)
            per_site.setdefault(site, set()).add(lesion["side"])
            truth_lesions[site] += 1
        truth_patients.update(per_site.keys())
        bilateral.update(s for s, sides in per_site.items() if {"left", "right"} <= sides)
        counts.append(len(exam.lesions))
        classes[pattern_class(per_site)] += 1
    sites = _by(t.tables["sites"], "site")
    for site, n in truth_patients.items():
        assert sites[site]["patients"] == n, site
        assert sites[site]["lesions"] == truth_lesions[site], site
        assert sites[site]["patients_bilateral"] == bilateral[site], site
    assert t.summary["lesions_per_patient_median"] == statistics.median(counts)
    assert {r["class"]: r["patients"] for r in t.tables["patterns"] if r["scheme"] == "andronikou"} == \
        {c: classes[c] for c in ("tibio_appendicular", "claviculo_spinal", "clavicle_and_tibia", "other")}
    # the generator follows the published cohorts (Andronikou: tibia 68%, clavicle 38%; d'Angelo: femur 61%)
    assert abs(sites["tibia"]["patients_pct"] - 68) < 8
    assert abs(sites["clavicle"]["patients_pct"] - 38) < 8
    assert abs(sites["femur"]["patients_pct"] - 61) < 8


def _files_text(folder: Path) -> str:
    text = []
    for path in folder.rglob("*"):
        if path.is_file() and "private" not in path.relative_to(folder).parts:
            text.append(path.read_bytes().decode("latin-1"))
    return "\n".join(text)


def test_cli_logs_bad_cases_goes_on_and_resumes(tmp_path, capsys):
    studies = tmp_path / "studies"
    paths = write_studies(studies, 12, seed=3, exams=2)
    (studies / "corrupt.json").write_text('{"schema": "crmo-analyzer/study", ', encoding="utf-8")
    write_json(studies / "foreign.json", {"resourceType": "Bundle"})
    newer = json.loads(paths[0].read_text(encoding="utf-8"))
    newer["schema_version"] = 2
    newer["patient"]["id"] = "SYN-NEWER"
    write_json(studies / "newer.json", newer)
    shutil.copy(paths[1], studies / "copy-of-an-exam.json")  # the same patient and date again
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    code = main(["cohort", str(studies), str(empty), "--out", str(out), "--workers", "2", "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "5 case(s) failed" in err
    with open(out / "private" / "failures.csv", encoding="utf-8") as handle:
        reasons = {Path(row["source"]).name: row["reason"] for row in csv.DictReader(handle)}
    assert "malformed JSON" in reasons["corrupt.json"]
    assert "not a CRMO Analyzer study" in reasons["foreign.json"]
    assert "schema_version 2 is not supported" in reasons["newer.json"]
    assert "no study .json file" in reasons["empty"]
    duplicate = [r for n, r in reasons.items() if "duplicate exam" in r]
    assert len(duplicate) == 1
    summary = {r["measure"]: r["value"] for r in csv.DictReader(open(out / "tables" / "summary.csv", encoding="utf-8"))}
    assert (summary["patients"], summary["exams"]) == ("12", "24")
    for name in ("sites", "exams", "patients", "summary"):
        rows = list(csv.DictReader(open(out / "tables" / f"{name}.csv", encoding="utf-8")))
        assert pq.read_table(out / "tables" / f"{name}.parquet").num_rows == len(rows)
    for figure in ("body_map", "sites", "lesions_per_patient", "patterns"):
        assert (out / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / "figures" / f"{figure}.svg").read_bytes()[:500]
    assert 'src="figures/body_map.png"' in (out / "report.html").read_text(encoding="utf-8")
    shared = _files_text(out)  # no patient identifier in any shared output
    assert "SYN-" not in shared and "Synthetic^" not in shared
    first = json.loads(paths[0].read_text(encoding="utf-8"))
    assert first["study"]["date"] not in shared and first["patient"]["birth_date"] not in shared

    # re-run: finished cases are skipped, the failed ones are tried again; same pseudonyms
    patients_before = (out / "tables" / "patients.csv").read_text(encoding="utf-8")
    result = run_cohort([studies, empty], out, workers=1, progress=False, figures=False)
    assert (result.cases, result.skipped, result.processed) == (28, 25, 3)
    assert result.exit_code == 1 and len(result.failures) == 5
    assert (out / "tables" / "patients.csv").read_text(encoding="utf-8") == patients_before


def test_dask_local_cluster_gives_the_same_tables(tmp_path):
    distributed = pytest.importorskip("distributed")
    studies = tmp_path / "studies"
    write_studies(studies, 15, seed=11)
    local = run_cohort([studies], tmp_path / "local", workers=1, progress=False, figures=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        on_cluster = run_cohort([studies], tmp_path / "dask", dask=cluster, progress=False, figures=False)
        with distributed.Client(cluster) as client:
            again = run_cohort([studies], tmp_path / "client", dask=client, progress=False, figures=False, redo=True)
    assert on_cluster.exit_code == 0 and again.exit_code == 0 and on_cluster.processed == 15
    for result in (on_cluster, again):
        assert result.tables.tables["sites"] == local.tables.tables["sites"]
        assert result.tables.tables["patterns"] == local.tables.tables["patterns"]


def test_manifest_of_image_sets_is_analyzed(tmp_path):
    manifest = write_image_sets(tmp_path / "images", 2, seed=5, spacing=4.0)
    expected = json.loads((tmp_path / "images" / "expected.json").read_text(encoding="utf-8"))["patients"]
    with open(manifest, "a", encoding="utf-8") as handle:
        handle.write("bones.nii.gz,bones.labels.json,missing-lesions.nii.gz,SYN-X,2020-01-01,F,2010-01-01\n")
    result = run_cohort([manifest], tmp_path / "out", workers=1, progress=False, figures=False)
    assert result.exit_code == 1
    assert [(Path(f.source).name, "not found" in f.reason) for f in result.failures] == [("manifest.csv:4", True)]
    truth = Counter()
    for lesions in expected.values():
        truth.update({(site_of_bone(bones()[l["bone"]].base), l["side"] or "midline") for l in lesions})
    sites = _by(result.tables.tables["sites"], "site")
    for (site, side), n in truth.items():
        column = {"left": "patients_left", "right": "patients_right", "midline": "patients"}[side]
        assert sites[site][column] == n, (site, side)
    assert len(list((tmp_path / "out" / "private" / "studies").glob("*/study.json"))) == 2


def test_manifest_without_the_needed_columns_is_a_failure(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("scan,who\na.nii,x\n", encoding="utf-8")
    cases, failures = collect([manifest])
    assert cases == [] and len(failures) == 1
    assert "needs the columns bones and lesions" in failures[0].reason


def test_in_process_cases_leave_the_core_logger_as_found():
    """Cases muting the core's warnings, even overlapping in threads, restore its level when the last one ends."""
    import logging
    import threading

    from CRMOAnalyzerLib.cohort.work import _core_warnings_muted

    logger = logging.getLogger("CRMOAnalyzerLib")
    before = logger.level
    inside, release = threading.Barrier(3), threading.Event()

    def case():
        with _core_warnings_muted():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=case) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert logger.level == logging.ERROR  # muted while cases run
    release.set()
    for thread in threads:
        thread.join()
    assert logger.level == before


def test_a_cohort_of_image_sets_runs_in_a_process_that_analyzed_before(tmp_path):
    """The pipeline's threads do not follow a fork: a process that ran an analysis (its thread pool started) and then
    a cohort of image sets in forked workers must not hang (it did: the workers' copy of the pool took the reads and
    had no thread to run them). In a fresh Python with a time limit, so that a hang fails instead of stalling."""
    import os
    import subprocess
    import sys

    script = f"""
from pathlib import Path
from CRMOAnalyzerLib.cli.demo import SAMPLE, sample_inputs
from CRMOAnalyzerLib.cohort.run import run_cohort
from CRMOAnalyzerLib.cohort.synthetic import write_image_sets
from CRMOAnalyzerLib.pipeline import analyze_files
tmp = Path({str(tmp_path)!r})
manifest = write_image_sets(tmp / "images", 2, seed=5, spacing=4.0)
print(len(analyze_files(sample_inputs(SAMPLE)).lesions), flush=True)
result = run_cohort([manifest], tmp / "out", workers=2, progress=False, figures=False)
print(result.exit_code, len(result.failures), len(list((tmp / "out" / "private" / "studies").glob("*/study.json"))))
"""
    package = str(Path(__file__).resolve().parents[1] / "CRMOAnalyzer")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([package, os.environ.get("PYTHONPATH", "")])}
    try:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("the cohort's forked workers hung after an analysis in the same process")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["9", "0", "0", "2"]
