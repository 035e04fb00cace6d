"""Swapped inputs are refused with one line (unless --force), on real-looking maps built from the phantom:
a whole-body bone map, a TotalSegmentator-style map with organs and muscles, and a lesion map."""

from __future__ import annotations

import json

import numpy as np
import pytest

from CRMOAnalyzerLib.cli import main
from CRMOAnalyzerLib.io.geometry import to_ras
from CRMOAnalyzerLib.io.images import LabelMap, write_image
from CRMOAnalyzerLib.io.labelnames import write_label_names
from CRMOAnalyzerLib.samples.phantom import Grid, make_phantom
from CRMOAnalyzerLib.io.segmentation_file import write_seg_nrrd

#: TotalSegmentator 'total' ids of organs and muscles (v2): (name, id, centre RAS mm, radii mm) on the phantom's body
ORGANS = [("spleen", 1, (-80, 30, 110), (35, 30, 50)), ("kidney_right", 2, (50, 50, 40), (25, 25, 55)),
          ("kidney_left", 3, (-50, 50, 45), (25, 25, 55)), ("liver", 5, (70, 10, 100), (70, 60, 55)),
          ("stomach", 6, (-40, -10, 120), (40, 35, 50)), ("lung_upper_lobe_left", 10, (-70, 10, 250), (60, 70, 110)),
          ("lung_upper_lobe_right", 13, (70, 10, 250), (60, 70, 110)),
          ("gluteus_maximus_left", 80, (-80, 80, -100), (60, 40, 70)), ("gluteus_maximus_right", 81, (80, 80, -100), (60, 40, 70)),
          ("autochthon_left", 86, (-25, 60, 50), (15, 20, 200)), ("autochthon_right", 87, (25, 60, 50), (15, 20, 200)),
          ("iliopsoas_left", 88, (-90, 0, -350), (70, 70, 200)), ("iliopsoas_right", 89, (90, 0, -350), (70, 70, 200))]


def _ellipsoids(grid: LabelMap, shapes) -> np.ndarray:
    """Label values of ellipsoids (RAS) on ``grid``, where the grid holds no bone."""
    k, j, i = np.indices(grid.array.shape)
    ras = to_ras(grid.affine, np.column_stack([i.ravel(), j.ravel(), k.ravel()])).astype(np.float32)
    out = np.zeros(grid.array.size, np.uint8)
    for _, value, centre, radii in shapes:
        out[(((ras - np.array(centre, np.float32)) / np.array(radii, np.float32)) ** 2).sum(axis=1) <= 1] = value
    out = out.reshape(grid.array.shape)
    out[grid.array > 0] = 0
    return out


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    folder = tmp_path_factory.mktemp("swapped")
    phantom = make_phantom(Grid((4.0, 4.0, 4.0)))
    bones, lesions = phantom.bones, phantom.lesions
    assert not {value for _, value, _, _ in ORGANS} & set(bones.names)
    write_image(folder / "bones.nii.gz", bones)
    write_label_names(folder / "bones.json", bones.names)
    organs = _ellipsoids(bones, ORGANS)
    with_organs = LabelMap(np.where(bones.array > 0, bones.array, organs), bones.affine)
    write_image(folder / "totalseg.nii.gz", with_organs)
    write_label_names(folder / "totalseg.json", {**bones.names, **{value: name for name, value, _, _ in ORGANS}})
    assert (organs > 0).sum() > 2 * (bones.array > 0).sum()  # organs and muscles outweigh the skeleton, as in a body
    write_seg_nrrd(folder / "lesions.seg.nrrd", lesions)
    write_image(folder / "lesions.nii.gz", lesions)
    by_bone = LabelMap(lesions.array, lesions.affine, "", {n + 1: spec["bone"] for n, spec in enumerate(phantom.expected)})
    write_seg_nrrd(folder / "lesions-named-by-bone.seg.nrrd", by_bone)
    value = {name: v for v, name in bones.names.items()}
    chosen = ["patella", "clavicula_left", "clavicula_right", "sternum", "vertebrae_T8"]
    subset = np.zeros_like(bones.array)
    for number, name in enumerate(chosen, start=1):
        subset[bones.array == value[name]] = number
    write_seg_nrrd(folder / "some-bones.seg.nrrd", LabelMap(subset, bones.affine, "", dict(enumerate(chosen, start=1))))
    mr_bones = ["femur_left", "femur_right", "hip_left", "hip_right", "sacrum", "humerus_left", "humerus_right",
                *(f"vertebrae_L{n}" for n in range(1, 6))]
    kept = np.isin(bones.array, [value[name] for name in mr_bones])
    write_image(folder / "totalseg_mr.nii.gz", LabelMap(np.where(kept, bones.array, organs), bones.affine))
    write_label_names(folder / "totalseg_mr.json", {**{value[name]: name for name in mr_bones},
                                                    **{v: name for name, v, _, _ in ORGANS}})
    liver = _ellipsoids(LabelMap(np.zeros_like(bones.array), bones.affine), [o for o in ORGANS if o[0] == "liver"])
    write_image(folder / "liver.nii.gz", LabelMap((liver > 0).astype(np.uint8), bones.affine))
    return folder


def analyze(capsys, folder, bones, lesions, *extra):
    labels = {"bones.nii.gz": ["--bone-labels", folder / "bones.json"],
              "totalseg.nii.gz": ["--bone-labels", folder / "totalseg.json"],
              "totalseg_mr.nii.gz": ["--bone-labels", folder / "totalseg_mr.json"]}.get(bones, [])
    out = folder / "out"
    if out.exists():
        for path in out.iterdir():
            path.unlink()
    code = main([str(a) for a in ["analyze", "--bones", folder / bones, *labels, "--lesions", folder / lesions, *extra,
                                  "--out", out]])
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, err, out


REFUSED = {
    "whole-body bone map as lesions": ("bones.nii.gz", "bones.nii.gz", "bones.nii.gz: 73 labels of", "% of the skeleton"),
    "TotalSegmentator map with organs as lesions": ("bones.nii.gz", "totalseg.nii.gz", "totalseg.nii.gz: ",
                                                    "% of the skeleton"),
    "liver as a lesion": ("bones.nii.gz", "liver.nii.gz", "liver.nii.gz: label 1 (L1) holds 964.9 cm³", "more than its bone"),
    "bones named and filled as lesions": ("bones.nii.gz", "some-bones.seg.nrrd", "5 of 5 labels are named as bones "
                                          "(patella, clavicula_left, clavicula_right, sternum, ...)", "fill their bones"),
    "lesion segmentation as bones": ("lesions.seg.nrrd", "lesions.nii.gz", "lesions.seg.nrrd: only 1 of 9 labels name a "
                                     "bone (hip_left)", "is this the lesion map given as bones?"),
    "both swapped": ("lesions.seg.nrrd", "bones.nii.gz", "lesions.seg.nrrd: only 1 of 9", "R distal femur"),
    "lesion label map as bones, no names": ("lesions.nii.gz", "bones.nii.gz", "no name for label value(s) 1, 2, 3",
                                            "give the bone names with --bone-labels"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_swapped_inputs_are_refused_in_one_line(maps, capsys, case):
    bones, lesions, start, problem = REFUSED[case]
    code, err, out = analyze(capsys, maps, bones, lesions)
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("crmo-analyzer: error:")]
    assert code == 1 and len(errors) == 1, err
    assert start in errors[0] and problem in errors[0], errors[0]
    assert "--force" in errors[0] or "--bone-labels" in errors[0]
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("case", [c for c in sorted(REFUSED) if "no names" not in c])
def test_force_analyzes_what_looks_swapped_and_says_so(maps, capsys, case):
    bones, lesions, _, problem = REFUSED[case]
    code, err, out = analyze(capsys, maps, bones, lesions, "--force")
    assert code == 0, err
    assert "looks swapped (--force)" in err and problem in err
    if not bones.startswith("lesions"):
        study = json.loads((out / "study.json").read_text())
        assert any("looks swapped (--force)" in w for w in study["warnings"])


@pytest.mark.parametrize("bones, lesions, count", [
    ("bones.nii.gz", "lesions.nii.gz", 9),
    ("bones.nii.gz", "lesions.seg.nrrd", 9),
    ("totalseg.nii.gz", "lesions.seg.nrrd", 9),  # organs and muscles in the bone map are ignored, not a swap
    ("bones.nii.gz", "lesions-named-by-bone.seg.nrrd", 9),  # a reader may name lesions after their bone
])
def test_real_lesion_and_bone_maps_pass(maps, capsys, bones, lesions, count):
    code, err, out = analyze(capsys, maps, bones, lesions)
    assert code == 0, err
    study = json.loads((out / "study.json").read_text())
    assert len(study["lesions"]) == count and "swapped" not in err
    assert sorted(l["bone"] for l in study["lesions"]) == sorted(
        ["femur_right", "femur_left", "tibia", "tibia", "tibia", "fibula", "clavicula_right", "vertebrae_T8", "hip_left"])


def test_a_bone_map_with_more_organs_than_bones_passes(maps, capsys):
    """total_mr-style: 12 bones among 13 organs and muscles; the lesions in those bones are localized."""
    code, err, out = analyze(capsys, maps, "totalseg_mr.nii.gz", "lesions.seg.nrrd")
    assert code == 0, err
    bones = {l["source"]["name"]: l["bone"] for l in json.loads((out / "study.json").read_text())["lesions"]}
    assert (bones["R distal femur"], bones["L distal femur"], bones["L ilium"]) == ("femur_right", "femur_left", "hip_left")
