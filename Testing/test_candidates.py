"""Lesion candidates on STIR: known lesions found in the right bone and side, confounders not proposed, the command."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.candidates import find_candidates
from CRMOAnalyzerLib.candidates.stir_phantom import CONFOUNDERS, MARROW, make_skeleton, make_stir_exam
from CRMOAnalyzerLib.cli import candidates as cli_candidates
from CRMOAnalyzerLib.io.images import Image, LabelMap, read_image, read_labelmap, write_image
from CRMOAnalyzerLib.io.labelnames import write_label_names
from CRMOAnalyzerLib.samples.phantom import Grid, Pose, _along, rotation
from CRMOAnalyzerLib.pipeline import AnalysisInputs, analyze_files

cli_main = importlib.import_module("CRMOAnalyzerLib.cli.main")  # the module (the package exports its function)

KNEES = ("femur_left", "femur_right", "tibia", "fibula", "patella")
LOW, HIGH = (-130, -40, -640), (130, 60, -440)
#: the patient off-centre and turned; the image grid oblique (its LPS direction matrix is no identity)
POSE = Pose(rotation((0, 0, 1), 8), np.array((40.0, -20.0, 100.0)))
OBLIQUE = Grid((3.0, 3.0, 3.0), rotation((1, 1, 0), 20))


def lesion(name, bone, side, centre, radius=8.0, contrast=2.5):
    return {"name": name, "bone": bone, "side": side, "centre": centre, "radius_mm": radius, "contrast": contrast}


R_FEMUR = lesion("R distal femur", "femur_right", "right", _along("femur", "right", from_distal_mm=40))
L_TIBIA = lesion("L proximal tibia", "tibia", "left", _along("tibia", "left", from_proximal_mm=38))


@pytest.fixture(scope="module")
def knees():
    """The knees on an oblique grid (the STIR grid), and the same bones on a plain LPS grid (the bone map's)."""
    stir_grid = make_skeleton(OBLIQUE, POSE, KNEES, LOW, HIGH)
    bone_grid = make_skeleton(Grid((2.5, 2.5, 2.5)), POSE, KNEES, LOW, HIGH)
    return stir_grid, BoneMap(bone_grid.bones, bone_grid.bones.names, "knee bones")


def exam(knees, lesions=(), **confounders):
    return make_stir_exam(0, knees[0], lesions=list(lesions), noise=0.08, **confounders)


def test_lesions_found_in_their_bone_and_side_on_an_oblique_grid_with_every_confounder(knees):
    scan = exam(knees, [R_FEMUR, L_TIBIA])
    result = find_candidates(scan.image, knees[1])
    assert [(c.bone, c.side) for c in sorted(result.candidates, key=lambda c: c.bone)] == [
        ("femur_right", "right"), ("tibia", "left")]
    for candidate in result.candidates:
        spec = R_FEMUR if candidate.bone == "femur_right" else L_TIBIA
        centre = POSE.to_ras(np.asarray(spec["centre"])[None])[0]
        assert np.linalg.norm(np.asarray(candidate.centroid_ras) - centre) < 5.0
        truth = scan.lesions.array == (1 if spec is R_FEMUR else 2)
        mine = result.labelmap.array == candidate.label
        assert (truth & mine).sum() >= 0.5 * mine.sum()  # on the lesion, not beside it
        assert candidate.score > 0 and 1.5 < candidate.median_ratio < 3.0 and 2.0 < candidate.peak_ratio < 3.2
        assert "marrow" in candidate.why
    assert result.labelmap.array.shape == scan.image.array.shape
    assert np.allclose(result.labelmap.affine, scan.image.affine)
    assert sorted(np.unique(result.labelmap.array)) == [0, 1, 2]
    assert result.held_back["growth_plate"] >= 4  # both knees' plates were seen and held back


def test_growth_plates_in_both_legs_are_not_proposed(knees):
    scan = exam(knees, plates=True, fluid=False, vessels=False)
    plates = scan.confounders.array == CONFOUNDERS["plate"]
    assert np.median(scan.image.array[plates]) > 1.6 * MARROW  # they are there, and bright
    result = find_candidates(scan.image, knees[1])
    assert result.candidates == [] and not result.labelmap.array.any()
    assert result.held_back["growth_plate"] >= 4


def test_an_asymmetric_band_is_no_growth_plate(knees):
    """A plate in one leg only (the other leg's missing) is not held back as a growth plate: it is proposed."""
    scan = exam(knees, plates=True, fluid=False, vessels=False)
    image = scan.image.array.copy()
    plates = scan.confounders.array == CONFOUNDERS["plate"]
    left = scan.bones.array == next(v for v, n in scan.bones.names.items() if n == "femur_left")
    image[plates & left] = int(MARROW)
    result = find_candidates(Image(image, scan.image.affine, "one-sided plates"), knees[1])
    assert {c.bone for c in result.candidates} == {"femur_right"}


def test_joint_fluid_outside_the_bone_is_not_proposed(knees):
    scan = exam(knees, plates=False, fluid=True, vessels=False)
    fluid = scan.confounders.array == CONFOUNDERS["fluid"]
    assert np.median(scan.image.array[fluid]) > 2.5 * MARROW
    assert (fluid & (scan.bones.array > 0)).any()  # it reaches into the bone map's outer layer
    result = find_candidates(scan.image, knees[1])
    assert result.candidates == []



def test_a_lesion_at_the_joint_next_to_fluid_is_still_proposed(knees):
    """Fluid is held back only where a region hugs the bone's surface: a lesion 14 mm from the knee, reaching into
    the bone, stays a candidate although the effusion beside it is brighter."""
    epiphysis = lesion("R distal femoral end", "femur_right", "right", _along("femur", "right", from_distal_mm=14),
                       contrast=3.0)
    scan = exam(knees, [epiphysis], plates=False, fluid=True, vessels=False)
    result = find_candidates(scan.image, knees[1])
    assert [(c.bone, c.side) for c in result.candidates] == [("femur_right", "right")]
    assert (result.labelmap.array[scan.lesions.array == 1] > 0).mean() > 0.5
    assert result.held_back["fluid"] >= 1  # the effusion's spill was held back, not the lesion

def _bar_scene():
    """Two femora as boxes on a 2 mm grid: a thin oblique bright tube in the right, a bright ball of the same volume
    in the left."""
    shape = (60, 40, 80)  # k, j, i
    bones = np.zeros(shape, dtype=np.uint8)
    bones[5:55, 10:30, 5:30] = 1
    bones[5:55, 10:30, 50:75] = 2
    rng = np.random.default_rng(3)
    image = 100.0 * (bones > 0) + rng.normal(0, 6, shape)
    for step in range(14):  # a vessel: two voxels (4 mm) wide, 14 long, oblique
        image[20 + step, 15 + step // 3:17 + step // 3, 12 + step // 2:14 + step // 2] = 300.0
    k, j, i = np.ogrid[:shape[0], :shape[1], :shape[2]]
    ball = (k - 30) ** 2 + (j - 20) ** 2 + (i - 62) ** 2 <= 2.2 ** 2
    image[ball] = 300.0
    affine = np.diag([-2.0, -2.0, 2.0, 1.0])
    labels = LabelMap(bones, affine, "bars", {1: "femur_right", 2: "femur_left"})
    return Image(image.astype(np.float32), affine, "bar STIR"), BoneMap(labels, labels.names, "bars"), int(ball.sum())


def test_a_thin_tubular_vessel_is_not_proposed_a_focus_of_similar_volume_is():
    image, bonemap, ball = _bar_scene()
    assert 14 <= ball <= 60
    result = find_candidates(image, bonemap)
    assert [(c.bone, c.side) for c in result.candidates] == [("femur_left", "left")]
    assert result.held_back["vessel"] == 1


def test_a_brighter_lesion_scores_higher(knees):
    dim = dict(R_FEMUR, contrast=1.8)
    bright = dict(L_TIBIA, contrast=3.5)
    result = find_candidates(exam(knees, [dim, bright]).image, knees[1])
    assert [c.bone for c in result.candidates] == ["tibia", "femur_right"]  # best first
    assert result.candidates[0].score > result.candidates[1].score
    assert [c.label for c in result.candidates] == [1, 2]


# ---- the command ------------------------------------------------------------------------------------

def run(capsys, *argv):
    argv = ["candidates", *map(str, argv)]
    if "candidates" in cli_main.SUBCOMMANDS:
        code = cli_main.main(argv)
    else:  # until cli/main.py registers the subcommand: the same parser and error handling
        parser = cli_main._Parser(prog="crmo-analyzer")
        parser.add_argument("-q", "--quiet", action="store_true")
        parser.add_argument("--debug", action="store_true")
        cli_candidates.add_subparser(parser.add_subparsers())
        code = cli_main._run(parser.parse_args(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(knees, tmp_path_factory):
    folder = tmp_path_factory.mktemp("candidate-inputs")
    bonemap = knees[1]
    write_image(folder / "bones.nii.gz", bonemap.labelmap)
    write_label_names(folder / "bones.txt", bonemap.names)
    write_image(folder / "stir.nii.gz", exam(knees, [R_FEMUR, L_TIBIA]).image)
    write_image(folder / "normal.nii.gz", exam(knees).image)
    return folder


def test_command_writes_the_map_and_list_and_analyze_localizes_them(files, tmp_path, capsys):
    code, out, err = run(capsys, "--image", files / "stir.nii.gz", "--bones", files / "bones.nii.gz",
                         "--bone-labels", files / "bones.txt", "--out", tmp_path / "found")
    assert code == 0, err
    assert "2 lesion candidates proposed" in out
    document = json.loads((tmp_path / "found" / "candidates.json").read_text())
    assert document["status"] == "AUTOMATIC"
    listed = document["candidates"]
    assert {(c["bone"], c["side"]) for c in listed} == {("femur_right", "right"), ("tibia", "left")}
    for c in listed:
        assert set(c) >= {"label", "bone", "side", "centroid_ras", "volume_mm3", "score", "why"}
    labels = read_labelmap(tmp_path / "found" / "candidates.nii.gz")
    stir = read_image(files / "stir.nii.gz")
    assert labels.array.shape == stir.array.shape and np.allclose(labels.affine, stir.affine, atol=1e-4)
    assert sorted(np.unique(labels.array)) == [0] + sorted(c["label"] for c in listed)

    study = analyze_files(AnalysisInputs(bones=files / "bones.nii.gz", bone_labels=files / "bones.txt",
                                         lesions=tmp_path / "found" / "candidates.nii.gz"))
    by_value = {lesion.source["value"]: lesion for lesion in study.lesions}
    for c in listed:
        assert by_value[c["label"]].bone == c["bone"]
        assert by_value[c["label"]].side == c["side"]


def test_command_with_no_candidate_exits_0_with_an_empty_list(files, tmp_path, capsys):
    code, out, err = run(capsys, "--image", files / "normal.nii.gz", "--bones", files / "bones.nii.gz",
                         "--bone-labels", files / "bones.txt", "--out", tmp_path / "none")
    assert code == 0, err
    assert "0 lesion candidates" in out
    assert json.loads((tmp_path / "none" / "candidates.json").read_text())["candidates"] == []
    assert not read_labelmap(tmp_path / "none" / "candidates.nii.gz").array.any()
    study = analyze_files(AnalysisInputs(bones=files / "bones.nii.gz", bone_labels=files / "bones.txt",
                                         lesions=tmp_path / "none" / "candidates.nii.gz"))
    assert study.lesions == []


def test_bad_input_is_one_line_naming_the_file(files, tmp_path, capsys):
    common = ("--bones", files / "bones.nii.gz", "--bone-labels", files / "bones.txt", "--out", tmp_path / "x")
    missing = tmp_path / "nothing.nii.gz"
    code, _, err = run(capsys, "--image", missing, *common)
    assert code == 1 and err.count("\n") == 1 and f"{missing}: STIR image not found" in err

    stir = read_image(files / "stir.nii.gz")
    far = stir.affine.copy()
    far[:3, 3] += 5000.0
    write_image(tmp_path / "far.nii.gz", Image(stir.array, far))
    code, _, err = run(capsys, "--image", tmp_path / "far.nii.gz", *common)
    assert code == 1 and err.count("\n") == 1 and "far.nii.gz: the image and the bone map" in err and "overlap" in err

    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not an image")
    code, _, err = run(capsys, "--image", broken, *common)
    assert code == 1 and err.count("\n") == 1 and str(broken) in err and "Traceback" not in err

    code, _, err = run(capsys, "--image", files / "stir.nii.gz", "--bones", files / "bones.nii.gz",
                       "--out", tmp_path / "x")  # knee bones with TotalSegmentator ids: value 140 has no name there
    assert code == 1 and err.count("\n") == 1 and "--bone-labels" in err
    assert not (tmp_path / "x" / "candidates.json").exists()


def test_coil_bias_is_removed_a_lesion_at_the_dark_end_is_found_the_bright_end_is_not():
    """A long box of marrow under a bias falling threefold from one end to the other: the lesion (twice the marrow
    around it) at the dark end is fainter than the normal marrow at the bright end."""
    shape = (100, 24, 24)  # k (superior), j, i: a bone 200 mm long
    bones = np.zeros(shape, dtype=np.uint8)
    bones[2:98, 4:20, 4:20] = 1
    k, j, i = np.ogrid[:shape[0], :shape[1], :shape[2]]
    signal = np.where(bones > 0, 1.0, 0.1)
    lesion = (k - 15) ** 2 + (j - 12) ** 2 + (i - 12) ** 2 <= 4 ** 2
    signal[lesion] = 2.0
    bias = np.exp(np.log(3.0) * (k / shape[0] - 0.5))  # 0.58 at the lesion's end, 1.7 at the other
    image = 100.0 * signal * bias + np.random.default_rng(5).normal(0, 4, shape)
    affine = np.diag([-2.0, -2.0, 2.0, 1.0])
    assert image[lesion].mean() < np.median(image[85:95][bones[85:95] > 0])  # fainter than the bright end's marrow
    labels = LabelMap(bones, affine, "box", {1: "sternum"})
    result = find_candidates(Image(image.astype(np.float32), affine, "biased STIR"), BoneMap(labels, labels.names, "box"))
    assert len(result.candidates) == 1
    mine = result.labelmap.array == 1
    assert (mine & lesion).sum() >= 0.6 * mine.sum() and (mine & lesion).sum() >= 0.6 * lesion.sum()


def test_a_wholly_bright_vertebra_is_measured_against_the_other_vertebrae():
    """A vertebra bright throughout has no normal marrow of its own: the other vertebrae are its reference."""
    shape = (70, 20, 20)
    bones = np.zeros(shape, dtype=np.uint8)
    names = {}
    for n, level in enumerate(("L1", "L2", "L3", "L4", "L5"), 1):
        bones[2 + 13 * (n - 1):13 * n, 4:16, 4:16] = n
        names[n] = f"vertebrae_{level}"
    signal = np.where(bones > 0, 1.0, 0.1)
    signal[bones == 3] = 2.5
    image = 100.0 * signal + np.random.default_rng(7).normal(0, 5, shape)
    affine = np.diag([-2.0, -2.0, 2.0, 1.0])
    labels = LabelMap(bones, affine, "spine", names)
    result = find_candidates(Image(image.astype(np.float32), affine, "spine STIR"), BoneMap(labels, names, "spine"))
    assert [(c.bone, c.side) for c in result.candidates] == [("vertebrae_L3", None)]
    assert "other vertebrae" in result.candidates[0].why
    assert result.candidates[0].median_ratio > 2.0

