"""Point files: Slicer's .mrk.json, its older .fcsv and a CSV point table read the same points; others are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from CRMOAnalyzerLib.errors import CRMOInputError
from CRMOAnalyzerLib.io.markups import POINT_FORMATS, PointLesion, read_points, write_points

#: the points every file below holds, RAS mm
RAS = {"F-1": (10.0, -20.0, 30.5), "F-2": (-5.25, 7.0, -100.0)}
LPS = {label: (-r, -a, s) for label, (r, a, s) in RAS.items()}
COLUMNS = "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"


def _fcsv(version: str, system: str | None, points: dict, header: bool = True) -> str:
    lines = [f"# Markups fiducial file version = {version}\n"]
    if system is not None:
        lines.append(f"# CoordinateSystem = {system}\n")
    if header:
        lines.append(COLUMNS)
    for n, (label, (x, y, z)) in enumerate(points.items()):
        lines.append(f"vtkMRMLMarkupsFiducialNode_{n},{x},{y},{z},0,0,0,1,1,1,0,{label},\"a, quoted note\",vtkMRMLScalarVolumeNode1\n")
    return "".join(lines)


GOOD = {
    "slicer5 LPS.fcsv": _fcsv("5.0", "LPS", LPS),
    "slicer4.11 RAS.fcsv": _fcsv("4.11", "RAS", RAS),
    "slicer4.6 code 1 (LPS).fcsv": _fcsv("4.6", "1", LPS),
    "slicer4.6 code 0 (RAS).fcsv": _fcsv("4.6", "0", RAS),
    "slicer4.4 no system (RAS).fcsv": _fcsv("4.4", None, RAS),
    "slicer4.6 no columns line.fcsv": _fcsv("4.6", "0", RAS, header=False),
    "slicer export LPS.csv": "label,l,p,s,defined,selected,visible,locked,description\n" + "".join(
        f"{label},{x},{y},{z},1,1,1,0,\"a, quoted note\"\n" for label, (x, y, z) in LPS.items()),
    "slicer export RAS.csv": "label,r,a,s,defined,selected,visible,locked,description\n" + "".join(
        f"{label},{x},{y},{z},1,1,1,0,\n" for label, (x, y, z) in RAS.items()),
    "hand table RAS.csv": "Name, R, A, S\n" + "".join(f"{label}, {x}, {y}, {z}\n" for label, (x, y, z) in RAS.items()),
}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_fcsv_and_csv_give_the_points_of_the_mrk_json(tmp_path, name):
    write_points(tmp_path / "ref.mrk.json", [PointLesion(label, np.array(ras)) for label, ras in RAS.items()])
    reference = read_points(tmp_path / "ref.mrk.json")
    path = tmp_path / name.replace(" ", "_")
    path.write_text(GOOD[name], encoding="utf-8")
    points = read_points(path)
    assert [p.label for p in points] == [p.label for p in reference] == ["F-1", "F-2"]
    np.testing.assert_allclose([p.position_ras for p in points], [RAS["F-1"], RAS["F-2"]])
    np.testing.assert_allclose([p.position_ras for p in points], [p.position_ras for p in reference], atol=1e-3)
    if "quoted" in GOOD[name]:
        assert points[0].description == "a, quoted note"


def test_fcsv_agrees_with_slicerio(tmp_path):
    """slicerio (Slicer's own reader outside Slicer) reads the same positions and coordinate system."""
    from slicerio.markups import read_markups_fcsv

    for name in ("slicer5 LPS.fcsv", "slicer4.6 code 0 (RAS).fcsv"):
        path = tmp_path / "f.fcsv"
        path.write_text(GOOD[name])
        markup = read_markups_fcsv(str(path))["markups"][0]
        flip = np.array([-1.0, -1.0, 1.0]) if markup["coordinateSystem"] == "LPS" else np.ones(3)
        theirs = [np.array(cp["position"]) * flip for cp in markup["controlPoints"]]
        np.testing.assert_allclose([p.position_ras for p in read_points(path)], theirs)


def test_undefined_rows_are_skipped_and_empty_lists_are_no_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("label,r,a,s,defined\nx,1,2,3,0\ny,4,5,6,1\n")
    assert [p.label for p in read_points(path)] == ["y"]
    for name, text in (("e.csv", "label,r,a,s\n"), ("e.fcsv", _fcsv("5.0", "LPS", {})),
                       ("e.mrk.json", json.dumps({"markups": []})),
                       ("e2.mrk.json", json.dumps({"markups": [{"type": "Fiducial", "controlPoints": []}]}))):
        (tmp_path / name).write_text(text)
        assert read_points(tmp_path / name) == [], name


@pytest.mark.parametrize("name, text, problem", [
    ("p.txt", "label,r,a,s\nx,1,2,3\n", "unsupported point file .txt: the formats read are"),
    ("p", "label,r,a,s\n", "unsupported point file (no suffix)"),
    ("p.mrk.json", _fcsv("5.0", "LPS", LPS), "malformed JSON at line 1 column 1"),
    ("p.mrk.json", '{"points": []}', "not a Slicer markups file"),
    ("p.fcsv", "x,y,z\n1,2,3\n", "not a Slicer fiducial list"),
    ("p.fcsv", _fcsv("5.0", "IJK", LPS), "CoordinateSystem 'IJK'"),
    ("p.fcsv", "# Markups fiducial file version = 5.0\n# columns = id,label\n1,a\n", "no x, y, z column"),
    ("p.fcsv", _fcsv("5.0", "LPS", {"a": ("1", "nan", "3")}), "line 4: y 'nan' is not a finite number"),
    ("p.fcsv", _fcsv("5.0", "LPS", LPS) + "1,2\n", "line 6 has 2 fields"),
    ("p.csv", "", "the point table is empty"),
    ("p.csv", "label,x,y,z\na,1,2,3\n", "no R, A, S (or L, P, S) columns"),
    ("p.csv", "r,a,s\n1,2,3\n", "no label (or name) column"),
    ("p.csv", "label,r,a,s,l,p\na,1,2,3,4,5\n", "both R, A, S and L, P, S"),
    ("p.csv", "label,r,a,s\na,1,two,3\n", "line 2: a 'two' is not a finite number"),
    ("p.csv", "label,r,a,s\na,1,2,inf\n", "line 2: s 'inf' is not a finite number"),
    ("p.csv", "label,r,a,s\na,1,2\n", "line 2 has 3 fields; the header has 4"),
    ("p.csv", 'label,r,a,s\n"a,1,2,3\n', "malformed CSV"),
])
def test_other_point_files_get_one_line_naming_the_formats_or_the_problem(tmp_path, name, text, problem):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CRMOInputError) as error:
        read_points(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert problem in message, message
    if "formats read" in problem or "not a Slicer" in problem or "malformed JSON" in problem or "columns" in problem:
        assert POINT_FORMATS in message


def test_analyze_reads_the_sample_points_from_fcsv_and_csv_alike(tmp_path, capsys):
    from conftest import SAMPLE

    from CRMOAnalyzerLib.cli import main

    points = read_points(SAMPLE / "lesions.mrk.json")
    assert len(points) == 9
    lps = [(p.label, -p.position_ras[0], -p.position_ras[1], p.position_ras[2]) for p in points]
    (tmp_path / "p.fcsv").write_text("# Markups fiducial file version = 5.0\n# CoordinateSystem = LPS\n" + COLUMNS + "".join(
        f"{n},{x:.3f},{y:.3f},{z:.3f},0,0,0,1,1,1,0,{label},,\n" for n, (label, x, y, z) in enumerate(lps)))
    (tmp_path / "p.csv").write_text("label,r,a,s\n" + "".join(
        f"{p.label},{p.position_ras[0]:.3f},{p.position_ras[1]:.3f},{p.position_ras[2]:.3f}\n" for p in points))
    studies = {}
    for name in ("lesions.mrk.json", "p.fcsv", "p.csv"):
        source = SAMPLE / name if name.endswith(".mrk.json") else tmp_path / name
        assert main(["-q", "analyze", "--bones", str(SAMPLE / "bones.nii.gz"), "--bone-labels",
                     str(SAMPLE / "bones.labels.json"), "--points", str(source), "--out", str(tmp_path / "out" / name)]) == 0
        document = json.loads((tmp_path / "out" / name / "study.json").read_text())
        studies[name] = [(l["source"]["name"], l["bone"], l["sublocation"]) for l in document["lesions"]]
    capsys.readouterr()
    assert studies["p.fcsv"] == studies["p.csv"] == studies["lesions.mrk.json"]
    assert len(studies["p.csv"]) == 9 and all(bone != "unassigned" for _, bone, _ in studies["p.csv"])
