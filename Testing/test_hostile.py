"""Hostile inputs: hundreds of distinct generated bad files across every reader.

Each gives exit code 1 and a one-line error naming the file and the problem; never a traceback; never a
partial output file. The suite counts the distinct bad inputs per reader and prints them. Inputs that look
bad but are valid (an empty lesion map or point list: a normal exam) are checked apart, as valid.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CRMOAnalyzerLib.cli import main
from CRMOAnalyzerLib.io.images import write_image
from CRMOAnalyzerLib.io.labelnames import write_label_names
from CRMOAnalyzerLib.io.markups import write_points
from CRMOAnalyzerLib.samples.phantom import Grid, make_phantom
from CRMOAnalyzerLib.io.segmentation_file import write_seg_nrrd


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """Small valid inputs that the bad ones are derived from."""
    folder = tmp_path_factory.mktemp("good")
    phantom = make_phantom(Grid((6.0, 6.0, 6.0)), Grid((5.0, 5.0, 5.0)))
    write_image(folder / "bones.nii.gz", phantom.bones)
    write_image(folder / "bones.nrrd", phantom.bones)
    write_label_names(folder / "bones.json", phantom.bones.names)
    write_seg_nrrd(folder / "bones.seg.nrrd", phantom.bones)
    write_image(folder / "lesions.nii.gz", phantom.lesions)
    write_image(folder / "lesions.nrrd", phantom.lesions)
    write_seg_nrrd(folder / "lesions.seg.nrrd", phantom.lesions)
    write_points(folder / "points.mrk.json", phantom.points)
    assert main(["-q", "analyze", "--bones", str(folder / "bones.nii.gz"), "--bone-labels", str(folder / "bones.json"),
                 "--lesions", str(folder / "lesions.nii.gz"), "--out", str(folder / "result")]) == 0
    assert main(["-q", "analyze", "--bones", str(folder / "bones.nii.gz"), "--bone-labels", str(folder / "bones.json"),
                 "--lesions", str(folder / "lesions.nii.gz"), "--study-date", "2026-01-01", "--accession", "A1",
                 "--patient-id", "P1", "--birth-date", "2015-01-01",
                 "--out", str(folder / "base")]) == 0
    return folder, phantom


def _image(array, spacing=(5.0, 5.0, 5.0), direction=None, origin=(0.0, 0.0, 0.0)):
    image = sitk.GetImageFromArray(array, isVector=False)
    if image.GetDimension() == 3:
        image.SetSpacing(spacing)
        image.SetOrigin(origin)
        if direction is not None:
            image.SetDirection(direction)
    return image


def _nrrd_with(path: Path, source: Path, replace: dict[str, str]) -> Path:
    """Copy an uncompressed-header NRRD, replacing header fields (to make geometry sitk won't build)."""
    data = source.read_bytes()
    head, _, body = data.partition(b"\n\n")
    lines = head.decode("latin-1").split("\n")
    for key, value in replace.items():
        lines = [f"{key}: {value}" if line.startswith(f"{key}:") else line for line in lines]
    path.write_bytes("\n".join(lines).encode("latin-1") + b"\n\n" + body)
    return path


def cases(folder: Path, phantom) -> list[tuple[str, str, list, str | None]]:
    """(id, role, argv, expected message or None for a valid result with a warning)."""
    out: list[tuple[str, str, list, str | None]] = []
    bad = folder / "bad"
    bad.mkdir(exist_ok=True)
    small = np.zeros((8, 8, 8), np.uint8)
    small[2:5, 2:5, 2:5] = 75

    def image_case(name, image_or_bytes, message):
        path = bad / name
        if isinstance(image_or_bytes, bytes):
            path.write_bytes(image_or_bytes)
        else:
            sitk.WriteImage(image_or_bytes, str(path), False)
        for role in ("bones", "lesions"):
            out.append((f"{role}-{name}", role, [path], message))

    # truncated and corrupt image files, every format
    for source in ("bones.nii.gz", "bones.nrrd", "lesions.seg.nrrd", "lesions.nii.gz", "bones.seg.nrrd"):
        data = (folder / source).read_bytes()
        for fraction in (0.0, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
            image_case(f"trunc{int(fraction * 100)}-{source}", data[: int(len(data) * fraction)], "")
        image_case(f"flipped-bytes-{source}", data[:40] + bytes(b ^ 0xFF for b in data[40:200]) + data[200:], "")
    for name in ("zero.nii", "zero.nrrd", "zero.mha"):
        image_case(f"empty-{name}", b"", "cannot read")
    image_case("garbage.nii", os.urandom(2000), "cannot read")
    image_case("text.nrrd", b"hello world\n" * 50, "cannot read")
    image_case("png.nii.gz", b"\x89PNG\r\n\x1a\n" + os.urandom(100), "cannot read")
    # dimensions, components, pixel types
    image_case("2d.nrrd", _image(np.zeros((8, 8), np.uint8)), "2D")
    image_case("4d.nrrd", _image(np.zeros((2, 8, 8, 8), np.uint8)), "4D")
    image_case("vector.nrrd", sitk.GetImageFromArray(np.zeros((8, 8, 8, 3), np.uint8), isVector=True), "components per voxel")
    image_case("fraction.nrrd", _image(small.astype(np.float32) + 0.5), "fractional")
    image_case("nan.nrrd", _image(np.where(small > 0, np.nan, 0).astype(np.float32)), "non-finite")
    image_case("inf.nrrd", _image(np.where(small > 0, np.inf, 0).astype(np.float32)), "non-finite")
    image_case("negative.nrrd", _image(-small.astype(np.int16)), "negative")
    image_case("huge-label.nrrd", _image(small.astype(np.int64) * 2**40), "above")
    image_case("huge-float-label.nrrd", _image(small.astype(np.float64) * 1e12), "out of range")
    image_case("complex.nrrd", _image(small.astype(np.complex64)), "")
    # geometry sitk accepts but we must not: singular, NaN, non-orthonormal directions; zero or negative spacing
    base = bad / "base.nrrd"
    sitk.WriteImage(_image(small), str(base), False)
    for label, fields in {
        "singular": {"space directions": "(5,0,0) (5,0,0) (0,0,5)"},
        "nan-direction": {"space directions": "(nan,0,0) (0,5,0) (0,0,5)"},
        "zero-spacing": {"space directions": "(0,0,0) (0,5,0) (0,0,5)"},
        "skewed": {"space directions": "(5,1,0) (0,5,0) (0,0,5)"},
        "nan-origin": {"space origin": "(nan,0,0)"},
        "inf-origin": {"space origin": "(inf,0,0)"},
        "bad-sizes": {"sizes": "8 8 9999"},
        "bad-type": {"type": "quaternion"},
        "bad-encoding": {"encoding": "zip-of-zips"},
        "bad-dimension": {"dimension": "7"},
    }.items():
        path = _nrrd_with(bad / f"{label}.nrrd", base, fields)
        for role in ("bones", "lesions"):
            out.append((f"{role}-{label}", role, [path], ""))
    for spacing in ((0.0, 5.0, 5.0), (-5.0, 5.0, 5.0)):
        path = _nrrd_with(bad / f"spacing{spacing[0]}.nrrd", base, {"space directions": f"({spacing[0]},0,0) (0,5,0) (0,0,5)"})
        out.append((f"bones-spacing{spacing[0]}", "bones", [path], ""))
    # maps that read but mean nothing here
    far = bad / "far-lesions.nrrd"
    sitk.WriteImage(_image(small, origin=(9000.0, 0.0, 0.0)), str(far), False)
    out.append(("lesions-far-away", "lesions", [far], "do not overlap in space"))
    no_bones = bad / "no-bones.nrrd"
    sitk.WriteImage(_image(np.zeros((8, 8, 8), np.uint8)), str(no_bones), False)
    out.append(("bones-all-zero", "bones", [no_bones], "the bone map is empty"))
    out.append(("bones-missing", "bones", [bad / "nothing.nii.gz"], "not found"))
    out.append(("lesions-missing", "lesions", [bad / "nothing.nii.gz"], "not found"))
    out.append(("bones-folder", "bones", [bad], "is a folder"))
    out.append(("bones-unsupported", "bones", [bad / "x.png"], "unsupported"))
    (bad / "x.png").write_bytes(b"\x89PNG")

    # names files
    def names_case(name, content, message):
        path = bad / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        out.append((f"names-{name}", "names", [path], message))

    some = "\n".join(f"{v} {n}" for v, n in list(phantom.bones.names.items())[:5])
    names_case("missing-values.txt", some, "no name for label value")
    names_case("only-organs.txt", "\n".join(f"{v} liver" for v in phantom.bones.names), "no bone of the vocabulary")
    names_case("latin1.txt", "75 f\xe9mur".encode("latin-1"), "not UTF-8")
    names_case("utf16.txt", "75 femur".encode("utf-16"), "not UTF-8")
    names_case("empty.txt", "", "no label names")
    names_case("comments.txt", "# nothing\n# at all\n", "no label names")
    names_case("no-value.txt", "femur_left\n", "expected 'value name'")
    names_case("float-value.txt", "7.5 femur_left\n", "expected 'value name'")
    names_case("negative.txt", "-1 femur_left\n", "expected 'value name'")
    names_case("twice.txt", "1 femur\n1 tibia\n", "named twice")
    names_case("binary.txt", os.urandom(300), "")
    for i, text in enumerate(['{"1": ', "[1, 2]", '{"x": "femur"}', '{"1": 5}', '{"-3": "femur"}', '{"1": ""}', "{}",
                              '{"labels": []}', "null", '"femur"', "{" * 5000 + "}" * 5000]):
        names_case(f"bad{i}.json", text, "")
    names_case("csv-broken.csv", "LabelValue,Name\nx,femur\n", "expected LabelValue")

    # markups
    def points_case(name, content, message):
        path = bad / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        out.append((f"points-{name}", "points", [path], message))

    good_points = (folder / "points.mrk.json").read_text()
    for fraction in (0.0, 0.2, 0.5, 0.8, 0.95):
        points_case(f"trunc{int(fraction * 100)}.mrk.json", good_points[: int(len(good_points) * fraction)], "")
    doc = json.loads(good_points)
    variants = {
        "no-markups": {"x": 1}, "markups-not-list": {"markups": 3}, "list-doc": [1, 2, 3], "null": None,
        "bad-system": {"markups": [{"coordinateSystem": "IJK", "controlPoints": doc["markups"][0]["controlPoints"]}]},
        "bad-units": {"markups": [{"coordinateUnits": "um", "controlPoints": doc["markups"][0]["controlPoints"]}]},
        "points-not-list": {"markups": [{"controlPoints": {"a": 1}}]},
        "point-not-object": {"markups": [{"controlPoints": [5]}]},
        "markup-not-object": {"markups": ["x"]},
        "far-away": {"markups": [{"coordinateSystem": "RAS", "controlPoints": [{"position": [1e6, 0, 0]}]}]},
    }
    for position in ([1, 2], [1, 2, 3, 4], ["a", 2, 3], [None, 2, 3], [True, 2, 3], "1,2,3", {"x": 1}):
        variants[f"position-{json.dumps(position)[:12]}"] = {"markups": [{"controlPoints": [{"position": position}]}]}
    for name, variant in variants.items():
        points_case(f"{name}.mrk.json".replace("/", "_"), json.dumps(variant), "")
    points_case("nan.mrk.json", '{"markups": [{"controlPoints": [{"position": [NaN, 0, 0]}]}]}', "three finite numbers")
    points_case("inf.mrk.json", '{"markups": [{"controlPoints": [{"position": [Infinity, 0, 0]}]}]}', "three finite numbers")
    points_case("latin1.mrk.json", '{"markups": [{"label": "f\xe9mur"}]}'.encode("latin-1"), "not UTF-8")
    points_case("deep.mrk.json", "[" * 100000 + "]" * 100000, "")
    points_case("huge-number.mrk.json", '{"markups": [{"controlPoints": [{"position": [1e400, 0, 0]}]}]}', "")
    (bad / "dir.mrk.json").mkdir(exist_ok=True)
    out.append(("points-folder", "points", [bad / "dir.mrk.json"], "is a folder"))

    # study files for `report`
    study = json.loads((folder / "result" / "study.json").read_text())
    text = json.dumps(study)
    for fraction in (0.0, 0.1, 0.5, 0.9, 0.999):
        path = bad / f"study-trunc{fraction}.json"
        path.write_text(text[: int(len(text) * fraction)])
        out.append((f"study-trunc{fraction}", "study", [path], ""))
    mutations = {
        "foreign": lambda d: {"resourceType": "Patient"}, "list": lambda d: [d], "version-2": lambda d: {**d, "schema_version": 2},
        "version-str": lambda d: {**d, "schema_version": "1"}, "no-lesions": lambda d: {k: v for k, v in d.items() if k != "lesions"},
        "lesions-dict": lambda d: {**d, "lesions": {}}, "lesion-null": lambda d: {**d, "lesions": [None]},
        "bad-side": lambda d: {**d, "lesions": [{**d["lesions"][0], "laterality": "left"}]},
        "bad-volume": lambda d: {**d, "lesions": [{**d["lesions"][0], "volume_mm3": -1}]},
        "bad-centroid": lambda d: {**d, "lesions": [{**d["lesions"][0], "centroid_ras": ["a", 1, 2]}]},
        "empty-id": lambda d: {**d, "lesions": [{**d["lesions"][0], "id": ""}]},
        "bad-kind": lambda d: {**d, "lesions": [{**d["lesions"][0], "source": {"kind": "guess"}}]},
        "bad-sex": lambda d: {**d, "patient": {"sex": "X"}}, "bad-date": lambda d: {**d, "study": {"date": "yesterday"}},
    }
    for name, mutate in mutations.items():
        path = bad / f"study-{name}.json"
        path.write_text(json.dumps(mutate(json.loads(text))))
        out.append((f"study-{name}", "study", [path], ""))
    path = bad / "study-latin1.json"
    path.write_bytes(text.replace('"MR"', '"M\xe9R"').encode("latin-1", "replace"))
    out.append(("study-latin1", "study", [path], "not UTF-8"))

    # point files of the other formats: Slicer's .fcsv, CSV tables, and files of no point format
    points_case("empty.fcsv", "", "not a Slicer fiducial list")
    fcsv_head = ("# Markups fiducial file version = 5.0\n# CoordinateSystem = LPS\n"
                 "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n")
    good_rows = "".join(f"{n},{-p.position_ras[0]:.2f},{-p.position_ras[1]:.2f},{p.position_ras[2]:.2f},0,0,0,1,1,1,0,"
                        f"{p.label},,\n" for n, p in enumerate(phantom.points))
    for fraction in (0.1, 0.3, 0.6, 0.9):  # cut inside the header or inside a row
        text = fcsv_head + good_rows
        cut = text[: int(len(text) * fraction)]
        if cut.count("\n") < 3 or not cut.endswith("\n"):
            points_case(f"trunc{int(fraction * 100)}.fcsv", cut, "")
    for name, text, message in (
            ("no-header.fcsv", "1,2,3\n", "not a Slicer fiducial list"),
            ("ijk.fcsv", fcsv_head.replace("LPS", "IJK") + good_rows, "CoordinateSystem 'IJK'"),
            ("system-2.fcsv", fcsv_head.replace("LPS", "2") + good_rows, "CoordinateSystem '2'"),
            ("no-xyz.fcsv", "# Markups fiducial file version = 5.0\n# columns = id,label\n1,a\n", "no x, y, z column"),
            ("no-z.fcsv", "# columns = id,x,y,label\n1,2,3,a\n", "no z column"),
            ("text-x.fcsv", fcsv_head + "1,one,2,3,0,0,0,1,1,1,0,a,,\n", "x 'one' is not a finite number"),
            ("nan-y.fcsv", fcsv_head + "1,1,nan,3,0,0,0,1,1,1,0,a,,\n", "y 'nan' is not a finite number"),
            ("inf-z.fcsv", fcsv_head + "1,1,2,inf,0,0,0,1,1,1,0,a,,\n", "z 'inf' is not a finite number"),
            ("huge-z.fcsv", fcsv_head + "1,1,2,1e400,0,0,0,1,1,1,0,a,,\n", "z '1e400' is not a finite number"),
            ("empty-x.fcsv", fcsv_head + "1,,2,3,0,0,0,1,1,1,0,a,,\n", "x '' is not a finite number"),
            ("short-row.fcsv", fcsv_head + "1,2,3\n", "line 4 has 3 fields"),
            ("long-row.fcsv", fcsv_head + "1,2,3,4,0,0,0,1,1,1,0,a,,,extra\n", "line 4 has 15 fields"),
            ("open-quote.fcsv", fcsv_head + '1,2,3,4,0,0,0,1,1,1,0,"a,,\n', "malformed CSV"),
            ("far.fcsv", fcsv_head + "1,1e6,0,0,0,0,0,1,1,1,0,a,,\n", "no point lies inside the bone map"),
            ("latin1.fcsv", (fcsv_head + "1,1,2,3,0,0,0,1,1,1,0,f\xe9mur,,\n").encode("latin-1"), "not UTF-8"),
            ("utf16.fcsv", (fcsv_head + good_rows).encode("utf-16"), "not UTF-8"),
            ("binary.fcsv", os.urandom(400), ""),
            ("json.fcsv", good_points, "not a Slicer fiducial list")):
        points_case(name, text, message)
    csv_rows = "".join(f"{p.label},{p.position_ras[0]:.2f},{p.position_ras[1]:.2f},{p.position_ras[2]:.2f}\n"
                       for p in phantom.points)
    for name, text, message in (
            ("empty.csv", "", "the point table is empty"),
            ("blank-lines.csv", "\n\n  \n", "the point table is empty"),
            ("xyz.csv", "label,x,y,z\na,1,2,3\n", "no R, A, S (or L, P, S) columns"),
            ("ijk.csv", "label,i,j,k\na,1,2,3\n", "no R, A, S (or L, P, S) columns"),
            ("semicolons.csv", "label;r;a;s\na;1;2;3\n", "no R, A, S (or L, P, S) columns"),
            ("no-header.csv", csv_rows, "no R, A, S (or L, P, S) columns"),
            ("two-axes.csv", "label,r,a\na,1,2\n", "no R, A, S (or L, P, S) columns"),
            ("no-label.csv", "r,a,s\n1,2,3\n", "no label (or name) column"),
            ("both-systems.csv", "label,r,a,s,l,p\na,1,2,3,4,5\n", "both R, A, S and L, P, S"),
            ("text-a.csv", "label,r,a,s\na,1,two,3\n", "a 'two' is not a finite number"),
            ("nan-r.csv", "label,r,a,s\na,NaN,2,3\n", "r 'NaN' is not a finite number"),
            ("inf-s.csv", "label,r,a,s\na,1,2,-inf\n", "s '-inf' is not a finite number"),
            ("huge-s.csv", "label,r,a,s\na,1,2,1e999\n", "s '1e999' is not a finite number"),
            ("comma-decimal.csv", "label,r,a,s\na,\"1,5\",2,3\n", "r '1,5' is not a finite number"),
            ("short-row.csv", "label,r,a,s\na,1,2\n", "line 2 has 3 fields"),
            ("long-row.csv", "label,r,a,s\na,1,2,3,4\n", "line 2 has 5 fields"),
            ("open-quote.csv", 'label,r,a,s\n"a,1,2,3\n', "malformed CSV"),
            ("far.csv", "label,r,a,s\na,1e6,0,0\n", "no point lies inside the bone map"),
            ("far-lps.csv", "label,l,p,s\na,0,0,-1e6\n", "no point lies inside the bone map"),
            ("latin1.csv", "label,r,a,s\nf\xe9mur,1,2,3\n".encode("latin-1"), "not UTF-8"),
            ("utf16.csv", ("label,r,a,s\n" + csv_rows).encode("utf-16"), "not UTF-8"),
            ("binary.csv", os.urandom(500), ""),
            ("nul-bytes.csv", b"label,r,a,s\na,1,2\x00,3\n", ""),
            ("json.csv", good_points, "no R, A, S (or L, P, S) columns")):
        points_case(name, text, message)
    for name in ("points.txt", "points.xml", "points.mrk", "points", "points.nii.gz", "points.vtk", "points.xlsx",
                 "points.tsv", "points.dcm", "points.fcsv.bak", "points.csv.gz", "points.mrk.json.tmp"):
        points_case(name, "label,r,a,s\na,1,2,3\n" if name != "points.xlsx" else os.urandom(64), "unsupported point file")
    (bad / "dir.fcsv").mkdir(exist_ok=True)
    out.append(("points-folder-fcsv", "points", [bad / "dir.fcsv"], "is a folder"))
    (bad / "dir.csv").mkdir(exist_ok=True)
    out.append(("points-folder-csv", "points", [bad / "dir.csv"], "is a folder"))
    out.append(("points-missing-csv", "points", [bad / "nothing.csv"], "not found"))
    out.append(("points-missing-fcsv", "points", [bad / "nothing.fcsv"], "not found"))
    out.append(("points-missing-json", "points", [bad / "nothing.mrk.json"], "not found"))

    # swapped maps: a bone map as the lesions, lesions as the bones (refused unless --force)
    out.append(("swapped-bones-as-lesions", "lesions", [folder / "bones.nii.gz"], "of the skeleton"))
    out.append(("swapped-bones-nrrd-as-lesions", "lesions", [folder / "bones.nrrd"], "of the skeleton"))
    out.append(("swapped-bone-segmentation-as-lesions", "lesions", [folder / "bones.seg.nrrd"], "of the skeleton"))
    out.append(("swapped-lesion-segmentation-as-bones", "bones-named", [folder / "lesions.seg.nrrd"],
                "is this the lesion map given as bones?"))
    out.append(("swapped-lesion-map-as-bones", "bones-named", [folder / "lesions.nii.gz"],
                "give the bone names with --bone-labels"))
    out.append(("swapped-lesion-nrrd-as-bones", "bones-named", [folder / "lesions.nrrd"],
                "give the bone names with --bone-labels"))
    blob = phantom.lesions.array.copy()
    k, j, i = np.indices(blob.shape)
    centre = np.array(blob.shape) // 2
    blob[:] = (((k - centre[0]) * 5.0) ** 2 + ((j - centre[1]) * 5.0) ** 2 + ((i - centre[2]) * 5.0) ** 2 <= 70.0 ** 2)
    write_image(bad / "organ-sized.nii.gz", type(phantom.lesions)(blob, phantom.lesions.affine))
    out.append(("swapped-organ-sized-lesion", "lesions", [bad / "organ-sized.nii.gz"], "more than its bone"))

    # studies for `compare`: the same exam twice, another patient, files that are no study
    base, other = folder / "base" / "study.json", bad / "other-patient.json"
    copy = bad / "copy-of-base.json"
    copy.write_bytes(base.read_bytes())
    (bad / "link-to-base.json").symlink_to(base)
    doc = json.loads(base.read_text())
    other.write_text(json.dumps({**doc, "patient": {**doc["patient"], "id": "SOMEONE-ELSE"}}))
    uid = bad / "same-uid.json"
    uid.write_text(json.dumps({**doc, "study": {**doc["study"], "date": "2026-09-01", "accession": "A2",
                                               "study_instance_uid": "1.2.3.4"}}))
    uid_base = bad / "same-uid-base.json"
    uid_base.write_text(json.dumps({**doc, "study": {**doc["study"], "study_instance_uid": "1.2.3.4"}}))
    born = bad / "other-birth-date.json"
    born.write_text(json.dumps({**doc, "patient": {**doc["patient"], "birth_date": "2001-01-01"}}))
    out.append(("compare-same-file", "compare-self", [base], "it is the same file"))
    out.append(("compare-symlink", "compare-followup", [bad / "link-to-base.json"], "it is the same file"))
    out.append(("compare-copy", "compare-followup", [copy], "both are dated 2026-01-01 with accession A1"))
    out.append(("compare-same-uid", "compare-uid", [uid], "both have study instance UID 1.2.3.4"))
    out.append(("compare-other-patient", "compare-followup", [other], "not the same patient"))
    out.append(("compare-other-birth-date", "compare-followup", [born], "birth date differs"))
    for role in ("compare-baseline", "compare-followup"):
        for name in ("study-trunc0.5", "study-foreign", "study-version-2", "study-lesion-null", "study-latin1"):
            out.append((f"{role}-{name}", role, [bad / f"{name}.json"], ""))
        out.append((f"{role}-missing", role, [bad / "nothing.json"], "not found"))
        out.append((f"{role}-folder", role, [bad], "is a folder"))
        out.append((f"{role}-points-file", role, [folder / "points.mrk.json"], "not a CRMO Analyzer study"))
    return out


def _argv(folder: Path, role: str, path: Path, out: Path) -> list[str]:
    argv = {"bones": ["--bones", path, "--bone-labels", folder / "bones.json", "--lesions", folder / "lesions.nii.gz"],
            "bones-named": ["--bones", path, "--lesions", folder / "lesions.nii.gz"],
            "lesions": ["--bones", folder / "bones.nii.gz", "--bone-labels", folder / "bones.json", "--lesions", path],
            "names": ["--bones", folder / "bones.nii.gz", "--bone-labels", path, "--lesions", folder / "lesions.nii.gz"],
            "points": ["--bones", folder / "bones.nii.gz", "--bone-labels", folder / "bones.json", "--points", path]}
    if role == "study":
        return ["report", str(path), "--format", "text", "--out", str(out / "report.txt")]
    if role.startswith("compare"):
        base, follow = folder / "base" / "study.json", folder / "result" / "study.json"
        pair = {"compare-self": (path, path), "compare-baseline": (path, follow), "compare-followup": (base, path),
                "compare-uid": (folder / "bad" / "same-uid-base.json", path)}[role]
        return ["compare", *map(str, pair), "--out", str(out)]
    return ["analyze", *map(str, argv[role]), "--out", str(out)]


def reader(role: str, path: Path) -> str:
    """The reader a bad input is for (what the count is per)."""
    if role == "points":
        name = path.name.lower()
        kind = next((s for s in (".mrk.json", ".fcsv", ".csv") if name.endswith(s)), None)
        return f"points {kind}" if kind else "points, no point format"
    return {"bones": "bone map", "bones-named": "bone map", "lesions": "lesion map", "names": "label names",
            "study": "study.json (report)"}.get(role, "studies (compare)")


def _identity(role: str, path: Path) -> str:
    """What makes two bad inputs the same: the reader, the file's suffix and its bytes (or its kind, when none)."""
    suffix = "".join(path.suffixes[-2:]).lower()
    if path.is_symlink():
        return f"{role}:{suffix}:link"
    if path.is_file():
        return f"{role}:{suffix}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    return f"{role}:{suffix}:{'folder' if path.is_dir() else 'missing'}"


def test_hostile_inputs(good, tmp_path, capsys):
    folder, phantom = good
    all_cases = cases(folder, phantom)
    failures = []
    distinct: dict[str, set[str]] = {}
    for case_id, role, (path,), message in all_cases:
        distinct.setdefault(reader(role, path), set()).add(_identity(role, path))
        out = tmp_path / case_id
        if role == "study":
            out.mkdir()
        code = main(_argv(folder, role, path, out))
        _, err = capsys.readouterr()
        errors = [line for line in err.splitlines() if line.startswith("crmo-analyzer:")]
        leftovers = sorted(p.name for p in out.iterdir()) if out.exists() else []
        if "Traceback" in err or "internal error" in err:
            failures.append(f"{case_id}: traceback or internal error: {err.strip()[:300]}")
        elif code != 1 or len(errors) != 1:
            failures.append(f"{case_id}: exit {code}, stderr {err.strip()[:300]!r}")
        elif path.name not in errors[0] and str(path) not in errors[0]:
            failures.append(f"{case_id}: error does not name the file: {errors[0]}")
        elif message and message not in errors[0]:
            failures.append(f"{case_id}: expected {message!r} in {errors[0]}")
        if leftovers:
            failures.append(f"{case_id}: partial output {leftovers}")
    counts = {name: len(keys) for name, keys in sorted(distinct.items())}
    with capsys.disabled():
        print(f"\nhostile inputs: {sum(counts.values())} distinct bad inputs, each exit 1 with one line")
        for name, count in counts.items():
            print(f"  {count:4d}  {name}")
    assert not failures, f"{len(failures)} of {len(all_cases)} cases failed:\n" + "\n".join(failures)
    assert sum(counts.values()) >= 200 and len(counts) == 9 and min(counts.values()) >= 10, counts


@pytest.mark.parametrize("role, name, text", [
    ("lesions", "all-zero.nrrd", None),
    ("points", "no-points.mrk.json", json.dumps({"markups": [{"controlPoints": []}]})),
    ("points", "empty-markups.mrk.json", json.dumps({"markups": []})),
    ("points", "header-only.csv", "label,r,a,s\n"),
    ("points", "header-only.fcsv", "# Markups fiducial file version = 5.0\n# CoordinateSystem = LPS\n"),
])
def test_inputs_that_mark_no_lesion_are_a_normal_exam(good, tmp_path, capsys, role, name, text):
    """Not hostile: an empty lesion map or point list is a valid study without lesions (and says so)."""
    folder, _ = good
    path = tmp_path / name
    if text is None:
        sitk.WriteImage(_image(np.zeros((8, 8, 8), np.uint8)), str(path), False)
    else:
        path.write_text(text)
    code = main(_argv(folder, role, path, tmp_path / "out"))
    err = capsys.readouterr().err
    assert code == 0 and "no lesion annotated" in err and "Traceback" not in err
    assert json.loads((tmp_path / "out" / "study.json").read_text())["lesions"] == []


def test_unwritable_output_is_a_clear_error(good, tmp_path, capsys):
    folder, _ = good
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out in (blocker / "sub", Path("/proc/crmo-analyzer-test")):
        code = main(["analyze", "--bones", str(folder / "bones.nii.gz"), "--bone-labels", str(folder / "bones.json"),
                     "--lesions", str(folder / "lesions.nii.gz"), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 1 and "cannot create the output folder" in err and str(out) in err and "Traceback" not in err


def test_failed_write_keeps_the_previous_study(good, tmp_path, capsys):
    """Re-running into a folder whose report cannot be written leaves the earlier files whole."""
    folder, _ = good
    out = tmp_path / "out"
    argv = ["-q", "analyze", "--bones", str(folder / "bones.nii.gz"), "--bone-labels", str(folder / "bones.json"),
            "--lesions", str(folder / "lesions.nii.gz"), "--out", str(out)]
    assert main(argv) == 0
    before = (out / "study.json").read_bytes()
    (out / "report.txt").unlink()
    (out / "report.txt").mkdir()  # a folder where the report should go: the rename fails
    assert main(argv) == 1
    assert "report.txt: cannot write" in capsys.readouterr().err
    assert (out / "study.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["report.txt", "study.json"]
