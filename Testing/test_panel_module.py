"""The module file ``CRMOAnalyzer.py`` itself, driven as a reader would, headless.

It is imported with slicer-core's real MRML (Slicer 5.12's classes) and the smallest stand-ins for what the wheel
lacks (``slicer_standins``). Each test names the defect of the issue "The CRMO Analyzer panel works in 3D Slicer"
that it covers; each fails on the module as it was before.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import need

slicer = need("slicer", "the panel is tested against slicer-core's real MRML classes")

import slicer_standins  # noqa: E402
from mrmlscenes import add_labelmap, add_segmentation, new_scene  # noqa: E402

from CRMOAnalyzerLib.slicer import mrml  # noqa: E402
from CRMOAnalyzerLib.samples.phantom import Grid, make_phantom  # noqa: E402
from vtk.util import numpy_support  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "CRMOAnalyzer" / "Resources" / "requirements.txt"
SLICER_PINS = ROOT / ".ci" / "slicer-5.12-constraints.txt"
SAMPLE_STUDY = ROOT / "CRMOAnalyzer" / "CRMOAnalyzerLib" / "resources" / "sample"


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(Grid((4.0, 4.0, 4.0)))


@pytest.fixture
def panel(monkeypatch):
    """(module, logic, scene, dialogs, packaging) with a fresh scene."""
    scene = new_scene()
    module, dialogs, packaging = slicer_standins.install(scene, monkeypatch)
    logic = module.CRMOAnalyzerLogic()
    yield types.SimpleNamespace(module=module, logic=logic, scene=scene, dialogs=dialogs, packaging=packaging)
    logic.stopObserving()
    mrml.forget_bone_map()


def scene_inputs(scene, phantom, kind: str):
    """Bone map (label map named by a color table) and lesions of the phantom as ``kind`` nodes."""
    bones = add_labelmap(scene, phantom.bones, "Bones")
    if kind == "segmentation":
        lesions = add_segmentation(scene, phantom.lesions, "Lesions")
    elif kind == "labelmap":
        lesions = add_labelmap(scene, phantom.lesions, "Lesion map", with_colors=False)
    else:
        lesions = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Lesion points")
        for point in phantom.points:
            lesions.AddControlPoint(*point.position_ras, point.label)
    return bones, lesions


def sites(study) -> list[tuple]:
    return sorted((lesion.bone, lesion.side or "") for lesion in study.lesions)


def wanted(phantom) -> list[tuple]:
    return sorted((spec["bone"], spec["side"] or "") for spec in phantom.expected)


# ---- first use: dependencies (defects 1, 2, 3) -------------------------------------------------------

def fake_distribution(folder: Path, name: str, version: str) -> None:
    """What pip leaves behind: a ``.dist-info`` folder that importlib.metadata finds."""
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")


def test_first_use_asks_once_installs_with_slicer_pins_and_goes_on(panel, phantom, tmp_path, monkeypatch):
    """Defect 1: ``import slicer.packaging`` made ``slicer`` local, so asking raised UnboundLocalError."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUIREMENTS.read_text(encoding="utf-8") + "crmo-test-missing-package>=2.0\n", encoding="utf-8")
    monkeypatch.setattr(panel.logic, "requirementsPath", lambda: str(requirements))
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    panel.packaging.install = lambda reqs, constraints: fake_distribution(site, "crmo-test-missing-package", "2.1")
    assert panel.logic.missingRequirements() == ["crmo-test-missing-package>=2.0"]

    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    message = panel.logic.analyze(lesions, bones)
    assert not message.startswith("!"), message
    assert sites(panel.logic.study) == wanted(phantom)
    assert len(panel.dialogs.asked) == 1 and len(panel.packaging.calls) == 1
    call = panel.packaging.calls[0]
    assert call["requirements"] == ["crmo-test-missing-package>=2.0"]
    pins = Path(call["constraints"]).read_text(encoding="utf-8").split()
    for name in ("numpy", "scipy", "SimpleITK", "pydicom", "highdicom"):  # Slicer's own, never replaced
        assert f"{name}=={importlib.metadata.version(name)}" in pins
    panel.logic.analyze(lesions, bones)
    assert len(panel.dialogs.asked) == 1, "asked again although everything is installed"


def test_declining_the_install_is_asked_once_and_says_what_is_missing(panel, tmp_path, monkeypatch):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("crmo-test-missing-package>=2.0\n", encoding="utf-8")
    monkeypatch.setattr(panel.logic, "requirementsPath", lambda: str(requirements))
    panel.dialogs.answers = [False]
    for _ in range(2):
        with pytest.raises(RuntimeError, match="crmo-test-missing-package"):
            panel.logic.ensureRequirements()
    assert len(panel.dialogs.asked) == 1


def test_an_install_that_needs_a_restart_says_so(panel, tmp_path, monkeypatch):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("crmo-test-missing-package>=2.0\n", encoding="utf-8")
    monkeypatch.setattr(panel.logic, "requirementsPath", lambda: str(requirements))
    with pytest.raises(RuntimeError, match="restart Slicer"):
        panel.logic.ensureRequirements()  # pip "succeeded" but the package is still not importable


def third_party_imports(folder: Path) -> set[str]:
    """Top-level names of every absolute import in the package's modules (the panel's features)."""
    names = set()
    for path in folder.rglob("*.py"):
        if {"cohort", "cli"} & set(path.relative_to(folder).parts):
            continue  # command line and cohorts are not features of the panel
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    # Slicer's own modules, and TotalSegmentator's extension with the torch it installs (the panel offers them)
    return names - set(sys.stdlib_module_names) - {"CRMOAnalyzerLib", "slicer", "vtk", "__future__", "DICOMLib",
                                                   "SampleData", "TotalSegmentator", "torch"}


def requirement_closure(names: list[str]) -> set[str]:
    """The distributions ``names`` need, with what they need in turn (as installed here)."""
    from packaging.requirements import Requirement

    seen, todo = set(), list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-").replace(".", "-")
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def read_requirements(path: Path) -> list[str]:
    from packaging.requirements import Requirement

    lines = [line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [Requirement(line).name for line in lines if line]


def test_requirements_cover_every_package_the_panel_imports(panel):
    """Defect 2: the exports imported hl7apy, fhir.resources, matplotlib, which requirements.txt lacked."""
    listed = read_requirements(REQUIREMENTS)
    from CRMOAnalyzerLib.slicer.requirements import SLICER_BUNDLED

    covered = requirement_closure([*listed, *SLICER_BUNDLED])
    distributions = importlib.metadata.packages_distributions()
    imported = third_party_imports(ROOT / "CRMOAnalyzer" / "CRMOAnalyzerLib")
    assert {"hl7apy", "fhir", "matplotlib", "jinja2", "highdicom"} <= imported  # the walk sees the exports
    uncovered = {name: distributions.get(name) for name in imported
                 if not {d.lower().replace("_", "-").replace(".", "-") for d in distributions.get(name, [name])} & covered}
    assert not uncovered, f"imported by the panel's code but neither in requirements.txt nor bundled by Slicer: {uncovered}"


def test_every_floor_admits_the_packages_slicer_5_12_bundles():
    """Defect 3: pyproject asked for highdicom>=0.28; Slicer 5.12.3 bundles 0.27.0 (and installing ours would replace it)."""
    import tomllib

    from packaging.requirements import Requirement

    pins = dict(line.split("==") for line in SLICER_PINS.read_text(encoding="utf-8").split() if "==" in line)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [*project["dependencies"], *(line for extra in project["optional-dependencies"].values() for line in extra)]
    lines += [line.split("#")[0].strip() for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines() if line.split("#")[0].strip()]
    checked = 0
    for line in lines:
        requirement = Requirement(line)
        pinned = next((v for k, v in pins.items() if k.lower() == requirement.name.lower()), None)
        if pinned is not None:
            checked += 1
            assert requirement.specifier.contains(pinned, prereleases=True), f"{line} refuses Slicer 5.12's {requirement.name} {pinned}"
    assert checked >= 6


# ---- analysis, observation, report (defects 4, 5, 8, 9) -------------------------------------------------

@pytest.mark.parametrize("kind", ["segmentation", "labelmap", "points"])
def test_analyze_gives_the_phantom_answers_for_every_kind_of_lesion_node(panel, phantom, kind):
    bones, lesions = scene_inputs(panel.scene, phantom, kind)
    message = panel.logic.analyze(lesions, bones)
    assert not message.startswith("!"), message
    assert sites(panel.logic.study) == wanted(phantom)
    table = panel.scene.GetFirstNodeByName(mrml.LESIONS_TABLE)
    assert table.GetNumberOfRows() == len(phantom.expected)


def paint(segmentation, segment_index: int, grow: int = 1) -> int:
    """A paint stroke: voxels of the segment's binary labelmap change in place (what the Segment Editor's effects
    end with), so the segmentation raises SourceRepresentationModified and no SegmentModified. Returns voxels added."""
    segment_id = segmentation.GetSegmentation().GetNthSegmentID(segment_index)
    layer = segmentation.GetBinaryLabelmapInternalRepresentation(segment_id)
    voxels = numpy_support.vtk_to_numpy(layer.GetPointData().GetScalars())
    label = segmentation.GetSegmentation().GetNthSegment(segment_index).GetLabelValue()
    before = int(np.count_nonzero(voxels == label))
    shaped = voxels.reshape(layer.GetDimensions()[::-1])
    k, j, i = (int(np.median(axis)) for axis in np.nonzero(shaped == label))
    stroke = shaped[k - grow:k + grow + 1, j - grow:j + grow + 1, i - grow - 3:i + grow + 4]
    stroke[stroke == 0] = label  # paint over background only, as the editor's default masking does
    layer.Modified()
    return int(np.count_nonzero(voxels == label)) - before


def test_painting_into_a_segment_refreshes_the_tables(panel, phantom):
    """Defect 4: paint strokes raise SourceRepresentationModified, which the panel did not observe."""
    bones, lesions = scene_inputs(panel.scene, phantom, "segmentation")
    panel.logic.analyze(lesions, bones)
    before = panel.logic.study.lesions[0].volume_mm3
    changed = []
    panel.logic.observeLesionNode(lesions, lambda: changed.append(1))
    panel.logic.edit(panel.logic.study.lesions[0].id, "marrow_edema", True)
    assert not changed, "storing the reader's finding must not trigger a refresh"
    added = paint(lesions, 0)
    assert added > 0 and changed, "a paint stroke did not reach the panel"
    panel.logic.analyze(lesions, bones)  # what the debounced refresh runs
    voxel = abs(np.linalg.det(phantom.lesions.affine[:3, :3]))
    assert panel.logic.study.lesions[0].volume_mm3 == pytest.approx(before + added * voxel)
    assert panel.logic.study.lesions[0].findings.get("marrow_edema") is True


@pytest.mark.parametrize("leave", ["stopObserving", "stop", "sceneClosed"])
def test_leaving_the_module_leaves_no_observer_behind(panel, phantom, leave):
    """Defect 9: exit() left observers (and the timer) running."""
    bones, lesions = scene_inputs(panel.scene, phantom, "segmentation")
    changed = []
    panel.logic.observeLesionNode(lesions, lambda: changed.append(1))
    getattr(panel.logic, leave)()
    paint(lesions, 1)
    assert not changed
    assert not lesions.HasObserver(slicer.vtkSegmentation.SourceRepresentationModified)


def test_a_closed_scene_leaves_no_study_and_leaving_stops_a_candidate_search(panel, phantom):
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    panel.logic.analyze(lesions, bones)
    assert "Scene closed" in panel.logic.sceneClosed() and panel.logic.study is None and panel.logic.results() is None
    volume = panel.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "STIR")
    volume.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(phantom.bones.affine))
    slicer.util.updateVolumeFromArray(volume, (phantom.bones.array > 0).astype(np.float32) * 100 + 10)
    panel.logic.startCandidates(volume, bones)
    process = panel.logic._candidatesRun[0]
    panel.logic.stop()
    assert process.poll() is not None and panel.logic._candidatesRun is None


def method(tree: ast.Module, class_name: str, name: str) -> ast.FunctionDef:
    cls = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name)
    return next(node for node in cls.body if isinstance(node, ast.FunctionDef) and node.name == name)


def calls(function: ast.FunctionDef) -> set[str]:
    return {ast.unparse(node.func) for node in ast.walk(function) if isinstance(node, ast.Call)}


def test_the_widget_stops_its_timer_and_observers_when_the_reader_leaves():
    """Defect 9, the widget's half: exit() and cleanup() stop everything the panel started."""
    tree = ast.parse(slicer_standins.MODULE_FILE.read_text(encoding="utf-8"))
    assert {"self._refreshTimer.stop", "self._candidatesTimer.stop", "self.logic.stop"} <= calls(method(tree, "CRMOAnalyzerWidget", "exit"))
    assert "self.exit" in calls(method(tree, "CRMOAnalyzerWidget", "cleanup"))


def test_a_report_edit_is_in_the_scene_at_once_and_survives_analysis(panel, phantom):
    """Defect 5: the edit only set a flag; the text node got the generated text at the next analysis."""
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    panel.logic.analyze(lesions, bones)
    generated = panel.logic.reportText()
    panel.logic.setReportText("Findings as the reader wrote them.")
    node = panel.scene.GetFirstNodeByName(mrml.REPORT_TEXT)
    assert node.GetText() == "Findings as the reader wrote them."
    panel.logic.analyze(lesions, bones)
    panel.logic.edit(panel.logic.study.lesions[0].id, "periosteal_reaction", True)
    assert node.GetText() == "Findings as the reader wrote them."
    assert panel.logic.regenerateReport() != "Findings as the reader wrote them."
    assert panel.logic.reportText().splitlines()[0] == generated.splitlines()[0]


def test_the_bone_map_is_read_once_and_again_only_when_it_changes(panel, phantom, monkeypatch):
    """Defect 8: every auto-refresh re-read the bone map (0.6-1.7 s per point placed on a 48-Mvoxel map)."""
    reads = []
    read = mrml._read_bone_map
    monkeypatch.setattr(mrml, "_read_bone_map", lambda *args: reads.append(1) or read(*args))
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    assert not panel.logic.boneMapIsRead(bones)
    panel.logic.analyze(lesions, bones)
    assert panel.logic.boneMapIsRead(bones)
    lesions.AddControlPoint(*phantom.points[0].position_ras, "again")
    panel.logic.analyze(lesions, bones)
    assert len(reads) == 1 and len(panel.logic.study.lesions) == len(phantom.expected) + 1
    array = slicer.util.arrayFromVolume(bones)
    array[array == array.max()] = 0  # the reader erases a bone
    slicer.util.arrayFromVolumeModified(bones)
    assert not panel.logic.boneMapIsRead(bones)
    panel.logic.analyze(lesions, bones)
    assert len(reads) == 2


# ---- the scene keeps everything (defects 5, 6) ---------------------------------------------------------

def save_and_reopen(scene, folder: Path):
    """Save the scene as a Slicer data bundle (.mrb) and read it into a new scene, as File > Open does."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if node.IsA("vtkMRMLStorableNode") and node.GetStorageNode() is None and not node.GetHideFromEditors():
            node.AddDefaultStorageNode()
    path = folder / "scene.mrb"
    assert scene.WriteToMRB(str(path))
    reopened = new_scene()
    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(str(folder / "cache"))
    io = slicer.vtkDataIOManager()
    io.SetCacheManager(cache)
    reopened.SetDataIOManager(io)
    reopened.SetCacheManager(cache)
    assert reopened.ReadFromMRB(str(path))
    return reopened


def test_a_saved_scene_brings_back_findings_overrides_report_edits_and_comparison(panel, phantom, tmp_path, monkeypatch):
    bones, lesions = scene_inputs(panel.scene, phantom, "segmentation")
    logic = panel.logic
    params = logic.getParameterNode()
    params.boneMap, params.lesionNode = bones, lesions
    logic.analyze(lesions, bones)
    first, second = (lesion.id for lesion in logic.study.lesions[:2])
    logic.edit(first, "marrow_edema", True)
    logic.edit(second, "sublocation", "diaphysis")
    baseline = tmp_path / "baseline.json"
    logic.saveStudy(str(baseline))
    data = json.loads(baseline.read_text(encoding="utf-8"))
    data["lesions"] = [lesion for lesion in data["lesions"] if lesion["id"] != first]
    data["study"]["date"] = "2000-01-01"
    baseline.write_text(json.dumps(data), encoding="utf-8")
    assert logic.compare(str(baseline)).startswith("1 new,")
    logic.setReportText("Edited after the comparison.")

    reopened = save_and_reopen(panel.scene, tmp_path / "bundle")
    monkeypatch.setattr(slicer, "mrmlScene", reopened)
    mrml.forget_bone_map()
    again = panel.module.CRMOAnalyzerLogic()
    assert again.sceneHasStudy() and again.study is None
    params = again.getParameterNode()
    assert params.lesionNode is not None and params.boneMap is not None
    message = again.restore(params.lesionNode, params.boneMap)
    assert not message.startswith("!"), message
    assert again.study.lesion(first).findings.get("marrow_edema") is True
    assert again.study.lesion(second).sublocation == "diaphysis"
    assert again.reportText() == "Edited after the comparison."
    assert again.comparison is not None and again.comparison.summary()["new"] == 1
    assert reopened.GetFirstNodeByName(mrml.COMPARISON_TABLE).GetNumberOfRows() == len(phantom.expected)


def test_a_study_loaded_without_scene_nodes_can_be_edited_and_is_kept_with_the_scene(panel, phantom, tmp_path, monkeypatch):
    """Defect 6: editing a study loaded from study.json without scene nodes called GetAttribute on None."""
    assert not panel.logic.sceneHasStudy() and panel.logic.restore() == ""
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    panel.logic.analyze(lesions, bones)
    path = tmp_path / "study.json"
    panel.logic.saveStudy(str(path))
    panel.logic.forget()

    message = panel.logic.loadStudy(str(path))
    assert not message.startswith("!"), message
    lesion_id = panel.logic.study.lesions[2].id
    panel.logic.edit(lesion_id, "bony_expansion", True)
    panel.logic.edit(lesion_id, "side", "left")

    reopened = save_and_reopen(panel.scene, tmp_path / "bundle")
    monkeypatch.setattr(slicer, "mrmlScene", reopened)
    again = panel.module.CRMOAnalyzerLogic()
    assert "restored" in again.restore()
    assert again.study.lesion(lesion_id).findings.get("bony_expansion") is True
    assert again.study.lesion(lesion_id).side == "left"


# ---- TotalSegmentator (defect 7) -------------------------------------------------------------------------

class FakeTotalSegmentator:
    """SlicerTotalSegmentator's logic as the panel calls it (process(volume, segmentation, quality=..., task=...))."""

    def __init__(self, restart: bool = False, command: list[str] | None = None) -> None:
        self.processed: list[dict] = []
        self.command, self.proc = command, None
        outer = self

        class InstallError(Exception):
            def __init__(self, message, restartRequired=False):
                super().__init__(message)
                self.restartRequired = restartRequired

        class TotalSegmentatorLogic:
            logCallback = None

            def setupPythonRequirements(self):
                if restart:
                    raise InstallError("installed", restartRequired=True)

            def process(self, volume, segmentation, quality=None, cpu=False, task=None, subset=None, interactive=False):
                outer.processed.append({"quality": quality, "task": task, "interactive": interactive})
                if outer.command:  # TotalSegmentator's own process, followed by its logProcessOutput
                    outer.proc = subprocess.Popen(outer.command, stdout=subprocess.PIPE, text=True)
                    self.logProcessOutput(outer.proc)

            def log(self, text):
                if self.logCallback:
                    self.logCallback(text)

            def logProcessOutput(self, proc):
                """SlicerTotalSegmentator's loop: a line at a time to the log, then CalledProcessError on failure."""
                while line := proc.stdout.readline():
                    self.log(line.rstrip())
                proc.wait()
                if proc.returncode != 0:
                    raise subprocess.CalledProcessError(proc.returncode, proc.args)

        self.module = types.ModuleType("TotalSegmentator")
        self.module.TotalSegmentatorLogic, self.module.InstallError = TotalSegmentatorLogic, InstallError


def fake_torch(gpu: bool) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.cuda = types.SimpleNamespace(is_available=lambda: gpu)
    torch.backends = types.SimpleNamespace(mps=types.SimpleNamespace(is_available=lambda: False))
    return torch


@pytest.mark.parametrize("gpu, answer, quality", [(False, False, "fast"), (False, True, "normal"), (True, None, "normal")])
def test_totalsegmentator_asks_without_a_gpu_and_defaults_to_the_fast_model(panel, monkeypatch, gpu, answer, quality):
    """Defect 7: started without ``quality``, TotalSegmentator ran full resolution on a CPU without asking."""
    fake = FakeTotalSegmentator()
    monkeypatch.setitem(sys.modules, "TotalSegmentator", fake.module)
    monkeypatch.setitem(sys.modules, "torch", fake_torch(gpu))
    panel.dialogs.answers = [answer] if answer is not None else []
    volume = panel.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "STIR")
    result = panel.logic.createBoneMap(volume, "total_mr")
    assert result.IsA("vtkMRMLSegmentationNode")
    assert fake.processed == [{"quality": quality, "task": "total_mr", "interactive": False}]
    assert len(panel.dialogs.asked) == (0 if gpu else 1)


def test_totalsegmentator_install_that_needs_a_restart_is_handled(panel, monkeypatch):
    fake = FakeTotalSegmentator(restart=True)
    monkeypatch.setitem(sys.modules, "TotalSegmentator", fake.module)
    restarted = []
    monkeypatch.setattr(slicer.util, "restart", lambda: restarted.append(1))
    panel.dialogs.answers = [False]  # not now
    volume = panel.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "STIR")
    result = panel.logic.createBoneMap(volume)
    assert isinstance(result, str) and result.startswith("!") and "Restart" in result
    assert not restarted and not fake.processed


def test_totalsegmentator_runs_with_progress_and_the_reader_can_cancel_it(panel, monkeypatch):
    """Its process prints a line per step; each reaches the panel's log with events processed; Cancel kills it."""
    script = "import time\nfor step in range(600):\n    print(f'step {step}', flush=True)\n    time.sleep(0.05)\n"
    fake = FakeTotalSegmentator(command=[sys.executable, "-c", script])
    monkeypatch.setitem(sys.modules, "TotalSegmentator", fake.module)
    lines = []
    panel.logic.logCallback = lines.append
    panel.logic.processEvents = lambda: panel.logic.cancelBoneMap() if len(lines) == 3 else None
    volume = panel.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "STIR")
    result = panel.logic.createBoneMap(volume, quality="fast")
    assert isinstance(result, str) and result.startswith("!") and "cancelled" in result
    assert fake.proc.returncode != 0 and fake.proc.poll() is not None  # killed, not left running
    assert lines[1:3] == ["step 0", "step 1"] and len(lines) < 20
    assert panel.scene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems() == 0


# ---- the self-test (defect 10) ---------------------------------------------------------------------------

def test_the_modules_self_test_passes_headless(panel):
    panel.module.CRMOAnalyzerTest().runTest()


def test_the_self_test_can_fail(panel, monkeypatch):
    """Defect 10: its duplicate-table check could not fail (getNodes is keyed by name)."""
    publish = mrml.publish

    def duplicating(study, scene, *args, **kwargs):
        nodes = publish(study, scene, *args, **kwargs)
        extra = scene.AddNewNodeByClass("vtkMRMLTableNode", mrml.LESIONS_TABLE)
        extra.SetAttribute(mrml.ROLE_ATTRIBUTE, "lesions")
        return nodes

    monkeypatch.setattr(mrml, "publish", duplicating)
    with pytest.raises(AssertionError):
        panel.module.CRMOAnalyzerTest().runTest()


def test_results_go_under_the_patient_and_study_of_the_lesion_node(panel, phantom):
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(panel.scene)
    patient = hierarchy.CreateSubjectItem(hierarchy.GetSceneItemID(), "Patient")
    study = hierarchy.CreateStudyItem(patient, "Whole-body MRI")
    hierarchy.CreateItem(study, lesions)  # as Slicer's DICOM or data module files a loaded node
    panel.logic.analyze(lesions, bones)
    for name in (mrml.LESIONS_TABLE, mrml.DISTRIBUTION_TABLE, mrml.REPORT_TEXT):
        item = hierarchy.GetItemByDataNode(panel.scene.GetFirstNodeByName(name))
        assert hierarchy.GetItemParent(item) == study, name


def test_the_sample_study_loads_and_analyses_with_the_answers_it_was_built_for(panel):
    """Sample Data's "CRMOAnalyzerSample" calls this: image, named bone map and lesion segments, analysed."""
    message = panel.logic.loadSampleStudy()
    assert not message.startswith("!"), message
    expected = json.loads((Path(SAMPLE_STUDY) / "expected.json").read_text(encoding="utf-8"))["lesions"]
    found = sorted((lesion.source["name"], lesion.bone, lesion.side, lesion.sublocation) for lesion in panel.logic.study.lesions)
    assert found == sorted((spec["name"], spec["bone"], spec["side"], spec["sublocation"]) for spec in expected)
    params = panel.logic.getParameterNode()
    assert params.inputVolume.GetName() == "CRMO sample STIR" and params.lesionNode.GetName() == "CRMO sample lesions"
    assert panel.logic.study.patient["id"] == "CRMO-DEMO-001"


def test_export_to_the_dicom_database_adds_the_sr_and_seg_as_quantitative_reporting_does(panel, monkeypatch):
    import pydicom

    imported = []
    dicomlib = types.ModuleType("DICOMLib")
    dicomlib.DICOMUtils = types.SimpleNamespace(
        importDicom=lambda folder, database=None, copyFiles=False: imported.append(
            (sorted(Path(folder).glob("*.dcm")), database, copyFiles)))
    monkeypatch.setitem(sys.modules, "DICOMLib", dicomlib)
    monkeypatch.setattr(slicer, "dicomDatabase", None, raising=False)
    panel.logic.loadSampleStudy()
    dicom = str(Path(SAMPLE_STUDY) / "dicom")
    assert "DICOM database is not open" in panel.logic.exportToDicomDatabase(dicom)
    database = types.SimpleNamespace(isOpen=True)
    monkeypatch.setattr(slicer, "dicomDatabase", database)
    message = panel.logic.exportToDicomDatabase(dicom)
    assert not message.startswith("!"), message
    (files, used, copied), = imported
    assert used is database and copied
    modalities = sorted(pydicom.dcmread(path).Modality for path in files)
    assert modalities == ["SEG", "SR"]


@pytest.mark.parametrize("kind", ["no segment", "empty segments", "empty label map", "empty point list"])
def test_a_lesion_node_that_marks_no_lesion_is_a_valid_study(panel, phantom, kind):
    """A normal exam, or a follow-up where every lesion resolved, is what a radiologist needs to record."""
    bones = add_labelmap(panel.scene, phantom.bones, "Bones")
    if kind == "no segment":
        lesions = panel.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Lesions")
    elif kind == "empty segments":
        lesions = add_segmentation(panel.scene, phantom.lesions, "Lesions")
        for index in range(lesions.GetSegmentation().GetNumberOfSegments()):
            segment_id = lesions.GetSegmentation().GetNthSegmentID(index)
            layer = lesions.GetBinaryLabelmapInternalRepresentation(segment_id)
            numpy_support.vtk_to_numpy(layer.GetPointData().GetScalars())[:] = 0
            layer.Modified()
    elif kind == "empty label map":
        empty = type(phantom.lesions)(np.zeros_like(phantom.lesions.array), phantom.lesions.affine, "empty", {})
        lesions = add_labelmap(panel.scene, empty, "Lesion map", with_colors=False)
    else:
        lesions = panel.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Lesion points")
    message = panel.logic.analyze(lesions, bones)
    assert not message.startswith("!"), message
    assert panel.logic.study.lesions == [] and "no lesion annotated" in " ".join(panel.logic.study.warnings)
    assert "No bone lesion was annotated." in panel.logic.reportText()


def test_swapped_inputs_are_analysed_only_when_the_reader_confirms(panel, phantom):
    bones = add_labelmap(panel.scene, phantom.bones, "Bones")
    message = panel.logic.analyze(bones, bones)  # the bone map chosen as the lesion node too
    assert message.startswith("!") and panel.logic.swappedInputs and "bone map given as lesions" in panel.logic.swappedInputs
    assert "--force" not in panel.logic.swappedInputs and panel.logic.study is None
    message = panel.logic.analyze(bones, bones, force=True)
    assert not message.startswith("!") and panel.logic.swappedInputs is None
    assert any("at the reader's request" in warning for warning in panel.logic.study.warnings)


def test_send_from_the_panel_keeps_what_is_refused_in_the_outbox_and_retry_sends_it_unchanged(panel, phantom, tmp_path,
                                                                                                monkeypatch):
    from test_send_mllp import Receiver, msh10

    monkeypatch.setenv("CRMO_OUTBOX", str(tmp_path / "outbox"))
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    panel.logic.analyze(lesions, bones)
    panel.logic.study.patient.update(id="P7", name="Doe^Jane")
    panel.logic.setReportText("The reader's own report.")
    receiver = Receiver(tmp_path / "outbox")
    try:
        refused = panel.logic.send(receiver.url)  # no accession: HL7 needs one, said in one line
        assert refused.startswith("!") and "accession" in refused.lower() and not receiver.received
        receiver.mode = "AE"
        message = panel.logic.send(receiver.url, accession="A7", timeout=5)
        assert message.startswith("!") and "kept in the outbox" in message
        assert panel.logic.outboxSummary().startswith("Outbox: 1 waiting")
        receiver.mode = "AA"
        assert not panel.logic.retryOutbox(timeout=5).startswith("!")
        assert panel.logic.outboxSummary() == "Outbox: empty."
        first, again = receiver.received[-2:]
        assert first == again and msh10(first) == msh10(again)  # resent unchanged
        assert "The reader's own report." in first
        assert panel.logic.savedDestinations() == []  # refused: not remembered
        assert not panel.logic.send(receiver.url, accession="A8", timeout=5).startswith("!")
        assert panel.logic.savedDestinations() == [receiver.url]  # accepted: offered next time
    finally:
        receiver.close()


def test_candidates_are_proposed_automatic_and_only_an_accepted_one_becomes_a_lesion(panel):
    from CRMOAnalyzerLib.candidates.stir_phantom import make_skeleton, make_stir_exam
    from CRMOAnalyzerLib.samples.phantom import Pose, _along

    knees = ("femur_left", "femur_right", "tibia", "fibula", "patella")
    skeleton = make_skeleton(Grid((3.0, 3.0, 3.0)), Pose(), knees, (-130, -40, -640), (130, 60, -440))
    lesion = {"name": "R distal femur", "bone": "femur_right", "side": "right", "radius_mm": 8.0, "contrast": 2.5,
              "centre": _along("femur", "right", from_distal_mm=40)}
    exam = make_stir_exam(0, skeleton, lesions=[lesion], noise=0.08)
    volume = panel.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "STIR")
    volume.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(exam.image.affine))
    slicer.util.updateVolumeFromArray(volume, exam.image.array.astype(np.float32))
    bones = add_labelmap(panel.scene, skeleton.bones, "Knee bones")

    message = panel.logic.findCandidates(volume, bones)
    assert not message.startswith("!"), message
    found = panel.logic.candidateList()
    assert found and found[0][2]["bone"] == "femur_right" and found[0][2]["side"] == "right"
    candidates = panel.scene.GetFirstNodeByName(mrml.CANDIDATES_SEGMENTATION)
    tags = [vtk_tag(candidates, segment_id, mrml.ALGORITHM_TYPE_TAG) for segment_id, _name, _facts in found]
    assert set(tags) == {"AUTOMATIC"}
    points = panel.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Lesion points")
    panel.logic.analyze(points, bones)
    assert panel.logic.study.lesions == []  # proposed is not reported

    first = found[0][0]
    assert not panel.logic.acceptCandidate(first).startswith("!")
    lesions = panel.logic.lesionNode
    assert lesions.IsA("vtkMRMLSegmentationNode") and [sid for sid, *_ in panel.logic.candidateList()] == [s for s, *_ in found[1:]]
    panel.logic.analyze(lesions, bones)
    [accepted] = panel.logic.study.lesions
    assert (accepted.bone, accepted.side) == ("femur_right", "right")
    segment_id = lesions.GetSegmentation().GetNthSegmentID(0)
    assert vtk_tag(lesions, segment_id, mrml.ALGORITHM_TYPE_TAG) == "AUTOMATIC"
    layer = lesions.GetBinaryLabelmapInternalRepresentation(segment_id)
    voxels = numpy_support.vtk_to_numpy(layer.GetPointData().GetScalars())
    voxels[np.flatnonzero(voxels == lesions.GetSegmentation().GetSegment(segment_id).GetLabelValue())[:5]] = 0  # erased
    layer.Modified()
    panel.logic.analyze(lesions, bones)
    assert vtk_tag(lesions, segment_id, mrml.ALGORITHM_TYPE_TAG) == "SEMIAUTOMATIC"  # edited by the reader
    for segment_id, _name, _facts in panel.logic.candidateList():
        panel.logic.rejectCandidate(segment_id)
    assert panel.logic.candidateList() == [] and len(panel.logic.study.lesions) == 1


def vtk_tag(node, segment_id: str, tag: str) -> str:
    import vtk

    value = vtk.reference("")
    node.GetSegmentation().GetSegment(segment_id).GetTag(tag, value)
    return str(value)


def test_a_candidate_search_runs_in_the_background_and_cancel_leaves_nothing(panel, phantom):
    bones = add_labelmap(panel.scene, phantom.bones, "Bones")
    volume = panel.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "STIR")
    volume.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(phantom.bones.affine))
    slicer.util.updateVolumeFromArray(volume, (phantom.bones.array > 0).astype(np.float32) * 100 + 10)
    assert "background" in panel.logic.startCandidates(volume, bones)
    assert panel.logic.pollCandidates() is None  # still running: the panel is free meanwhile
    process = panel.logic._candidatesRun[0]
    panel.logic.cancelCandidates()
    assert process.poll() is not None and panel.logic.pollCandidates().startswith("!")
    assert panel.scene.GetFirstNodeByName(mrml.CANDIDATES_SEGMENTATION) is None


def test_sample_data_registers_a_source_slicer_can_build_whose_button_loads_the_sample(panel, monkeypatch):
    registered = []
    sample_data = types.ModuleType("SampleData")
    sample_data.SampleDataLogic = types.SimpleNamespace(registerCustomSampleDataSource=lambda **kw: registered.append(kw))
    monkeypatch.setitem(sys.modules, "SampleData", sample_data)
    panel.module.registerSampleData()
    [source] = registered
    # Slicer 5.12's SampleDataSource takes len() of uris, fileNames, nodeNames (lists of one length), then the button
    # calls customDownloader(source)
    assert len(source["uris"]) == len(source["fileNames"]) == len(source["nodeNames"])
    assert Path(source["thumbnailFileName"]).is_file()
    message = source["customDownloader"](types.SimpleNamespace(**source))
    assert message.startswith("9 lesions analysed"), message


def test_the_outbox_summary_counts_unreadable_items_too(panel, tmp_path, monkeypatch):
    monkeypatch.setenv("CRMO_OUTBOX", str(tmp_path / "outbox"))
    assert panel.logic.outboxSummary() == "Outbox: empty."
    (tmp_path / "outbox").mkdir(exist_ok=True)
    (tmp_path / "outbox" / "broken.json").write_text("{not json", encoding="utf-8")
    assert panel.logic.outboxSummary() == "Outbox: no item to send. 1 unreadable (crmo-analyzer outbox lists them)."
    assert panel.logic.retryOutbox().startswith("Outbox: no item to send. 1 unreadable")  # the file stays for the reader
    assert (tmp_path / "outbox" / "broken.json").exists()


# ---- what the widget shows comes from the logic: table columns, cells, edits, results, remembered destinations ----

SUBLOCATION_SOURCE = ROOT / "CRMOAnalyzer" / "CRMOAnalyzerLib" / "localization" / "sublocation.py"


def _strings(node: ast.AST, function: ast.AST, functions: dict) -> set[str]:
    """The strings an expression of ``function`` can evaluate to: constants, the branches of a conditional, the values
    assigned to a name in the function, ``str(...)``, ``np.where``'s choices and the returns of a method called."""
    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) else set()
    if isinstance(node, ast.IfExp):
        return _strings(node.body, function, functions) | _strings(node.orelse, function, functions)
    if isinstance(node, ast.Subscript):
        return _strings(node.value, function, functions)
    if isinstance(node, ast.Name):
        values = [n.value for n in ast.walk(function) if isinstance(n, (ast.Assign, ast.NamedExpr))
                  and any(getattr(t, "id", None) == node.id for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))]
        return set().union(*(_strings(value, function, functions) for value in values))
    if isinstance(node, ast.Call):
        name = ast.unparse(node.func).split(".")[-1]
        if name == "str":
            return _strings(node.args[0], function, functions)
        if name == "where":
            return set().union(*(_strings(arg, function, functions) for arg in node.args[1:]))
        if name in functions:
            returns = [n.value for n in ast.walk(functions[name]) if isinstance(n, ast.Return) and n.value is not None]
            return set().union(*(_strings(value, functions[name], functions) for value in returns))
    return set()


def sublocations_the_localizer_writes() -> set[str]:
    """Every value ``localization/sublocation.py`` can give a lesion's ``sublocation`` (the first argument of each
    ``SubLocation(...)`` it builds), read from its source."""
    tree = ast.parse(SUBLOCATION_SOURCE.read_text(encoding="utf-8"))
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    written, calls = set(), 0
    for function in (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)):  # every locate, not one
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SubLocation" and node.args:
                calls += 1
                first = node.args[0]
                if not (isinstance(first, ast.Constant) and first.value is None):
                    found = _strings(first, function, functions)
                    assert found, f"cannot tell what line {node.lineno} of sublocation.py writes"
                    written |= found
    assert calls >= 15
    return written


def _schema_sublocations() -> set:
    schema = json.loads((ROOT / "CRMOAnalyzer" / "CRMOAnalyzerLib" / "resources" / "study.schema.json").read_text())
    return set(schema["$defs"]["lesion"]["properties"]["sublocation"]["enum"]) - {None}


def test_the_scan_of_the_localizer_finds_the_sublocations_of_every_kind_of_bone():
    written = sublocations_the_localizer_writes()
    assert {"epiphysis", "metaphysis", "diaphysis", "medial", "vertebral body", "ilium", "ischium", "pubis", "acetabulum",
            "ilium beside the sacroiliac joint", "posterior arc", "glenoid", "manubrium", "symphysis", "ala"} <= written


@pytest.mark.parametrize("value", sorted(sublocations_the_localizer_writes()))
def test_the_panel_offers_every_sublocation_the_localizer_can_write(panel, value):
    """The reader can set back any value the localizer wrote (the choices come from the study's vocabulary)."""
    [column] = [column for column in panel.logic.tableColumns() if column.kind == "sublocation"]
    assert value in column.choices


def test_the_table_columns_edit_what_the_model_holds(panel):
    from CRMOAnalyzerLib.anatomy import bones
    from CRMOAnalyzerLib.model import FINDINGS

    columns = {column.kind: column for column in panel.logic.tableColumns()}
    assert list(columns)[:3] == ["label", "site", "bone"] and len(columns) == 15
    assert {kind for kind, column in columns.items() if column.editor == "check"} == {
        "marrow_edema", "periosteal_reaction", "soft_tissue_inflammation", "bony_expansion", "vertebral_collapse", "symptomatic"}
    assert all(FINDINGS[kind] is bool for kind, column in columns.items() if column.editor == "check")
    assert columns["character"].choices == ("", *FINDINGS["character"])
    assert columns["sublocation"].choices == ("", *sorted(_schema_sublocations(), key=columns["sublocation"].choices.index))
    assert set(columns["sublocation"].choices) == {""} | _schema_sublocations()
    assert columns["bone"].choices == ("unassigned", *bones()) and columns["side"].choices == ("", "left", "right")
    assert columns["note"].editor == "text"
    assert all(not columns[kind].editor for kind in ("label", "site", "volume", "warnings"))


def test_cells_show_the_study_and_an_edited_cell_is_recorded_only_when_it_changes_an_editable_value(panel, phantom):
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    assert panel.logic.results() is None  # nothing analysed: the panel keeps what it shows
    panel.logic.analyze(lesions, bones)
    columns = [column.kind for column in panel.logic.tableColumns()]
    cells = panel.logic.tableCells()
    assert [lesion_id for lesion_id, _values in cells] == [row["id"] for row in panel.logic.lesionTableRows()]
    assert len(cells) == len(phantom.expected) and all(len(values) == len(columns) for _id, values in cells)
    lesion_id, values = cells[0]
    lesion = panel.logic.study.lesion(lesion_id)
    assert values[columns.index("bone")] == lesion.bone and values[columns.index("marrow_edema")] is False
    assert values[columns.index("label")] == "#1"

    edema, sublocation, volume = (columns.index(kind) for kind in ("marrow_edema", "sublocation", "volume"))
    assert panel.logic.editCell(lesion_id, edema, True)
    assert lesion.findings["marrow_edema"] is True and dict(panel.logic.tableCells())[lesion_id][edema] is True
    assert not panel.logic.editCell(lesion_id, edema, True)  # unchanged (the table being filled): nothing recorded
    assert not panel.logic.editCell(lesion_id, volume, "1")  # shown only
    assert not panel.logic.editCell(lesion_id, sublocation, "elbow")  # not one of the choices
    assert panel.logic.editCell(lesion_id, sublocation, "diaphysis")
    assert lesion.sublocation == "diaphysis" and "sublocation" in lesion.overrides
    assert panel.logic.editCell(lesion_id, columns.index("note"), "tender")
    assert panel.logic.study.lesion(lesion_id).findings["note"] == "tender"
    panel.logic.analyze(lesions, bones)  # the edits are in the scene
    assert dict(panel.logic.tableCells())[lesion_id][edema] is True


def test_results_carry_the_tables_the_report_and_the_regenerate_buttons_text(panel, phantom):
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    panel.logic.analyze(lesions, bones)
    results = panel.logic.results()
    assert results.distribution is panel.scene.GetFirstNodeByName(mrml.DISTRIBUTION_TABLE) and results.comparison is None
    assert results.report == panel.logic.reportText() and "femur" in results.report.lower()
    assert len(results.rows) == len(phantom.expected) and results.regenerateLabel == "Regenerate report"
    assert results.columns == panel.logic.tableColumns() and results.rows == panel.logic.tableCells()
    panel.logic.setReportText("The reader's words.")
    assert panel.logic.regenerateLabel() == "Regenerate report (discards your edits)"
    assert panel.logic.results().regenerateLabel == "Regenerate report (discards your edits)"
    assert panel.logic.results().report == "The reader's words."
    panel.logic.regenerateReport()
    assert panel.logic.results().regenerateLabel == "Regenerate report"
    empty = panel.logic.emptyResults()
    assert (empty.columns, empty.rows, empty.distribution, empty.report, empty.regenerateLabel) == ([], [], None, "", "Regenerate report")


def test_send_destinations_are_remembered_most_recent_first_ten_at_most(panel):
    logic = panel.logic
    assert logic.savedDestinations() == []
    logic.rememberDestination("mllp://ris:2575")
    assert slicer.app.settings().value("CRMOAnalyzer/SendDestinations") == "mllp://ris:2575"  # one reads back as a string
    assert logic.savedDestinations() == ["mllp://ris:2575"]
    for n in range(12):
        logic.rememberDestination(f"dicom://PACS@host{n}:104")
    saved = logic.savedDestinations()
    assert len(saved) == 10 and saved[0] == "dicom://PACS@host11:104" and "mllp://ris:2575" not in saved
    logic.rememberDestination("dicom://PACS@host5:104")
    assert logic.savedDestinations()[:2] == ["dicom://PACS@host5:104", "dicom://PACS@host11:104"]
    assert len(set(logic.savedDestinations())) == 10
    assert panel.module.CRMOAnalyzerLogic().savedDestinations() == logic.savedDestinations()  # a new session offers them


def test_a_deleted_lesion_node_empties_the_panel_once(panel, phantom):
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    panel.logic.analyze(lesions, bones)
    assert panel.logic.lesionNodeDeleted() == ""  # another node went: nothing to do
    panel.scene.RemoveNode(lesions)
    assert "lesion node was deleted" in panel.logic.lesionNodeDeleted()
    assert panel.logic.study is None and panel.logic.results() is None and panel.logic.lesionNodeDeleted() == ""


def test_swapped_inputs_ask_the_reader_and_other_problems_are_shown(panel, phantom):
    bones = add_labelmap(panel.scene, phantom.bones, "Bones")
    assert not panel.logic.askToAnalyzeAnyway("9 lesions analysed.") and not panel.dialogs.asked
    message = panel.logic.analyze(bones, bones)
    panel.dialogs.answers = [False]
    assert not panel.logic.askToAnalyzeAnyway(message) and "bone map given as lesions" in panel.dialogs.asked[-1]
    assert panel.logic.askToAnalyzeAnyway(message)  # the reader says yes: the panel analyses with force
    message = panel.logic.analyze(None, bones)
    assert not panel.logic.askToAnalyzeAnyway(message) and panel.dialogs.shown == [message[1:]]
    assert len(panel.dialogs.asked) == 2


def test_refresh_is_wanted_once_there_is_something_to_analyse(panel, phantom):
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    assert not panel.logic.refreshWanted(None) and panel.logic.refreshWanted(bones)
    assert "Reading the bone map" in panel.logic.analysisBusyText(bones)
    panel.logic.analyze(lesions, bones)
    assert panel.logic.refreshWanted(None) and panel.logic.analysisBusyText(bones) == ""


def test_saving_says_what_it_did_or_why_not(panel, phantom, tmp_path):
    path = tmp_path / "study.json"
    assert panel.logic.readyToSave().startswith("!") and panel.logic.saveStudy(str(path)).startswith("!")
    assert not path.exists()
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    panel.logic.analyze(lesions, bones)
    assert panel.logic.readyToSave() == "" and panel.logic.saveStudy(str(path)) == f"Study saved to {path}"
    assert len(json.loads(path.read_text(encoding="utf-8"))["lesions"]) == len(phantom.expected)


def test_the_bone_map_totalsegmentator_makes_becomes_the_panels(panel, monkeypatch):
    fake = FakeTotalSegmentator()
    monkeypatch.setitem(sys.modules, "TotalSegmentator", fake.module)
    monkeypatch.setitem(sys.modules, "torch", fake_torch(True))
    assert panel.logic.segmentBones(None).startswith("!Select the input volume") and not fake.processed
    volume = panel.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "STIR")
    assert panel.logic.segmentBones(volume, "total_mr") == "Bone map created with TotalSegmentator."
    bone_map = panel.logic.getParameterNode().boneMap
    assert bone_map.IsA("vtkMRMLSegmentationNode") and bone_map.GetName() == "STIR bones"


def test_cancelling_the_candidate_search_says_so_and_no_candidate_is_decided_without_one(panel, phantom):
    bones = add_labelmap(panel.scene, phantom.bones, "Bones")
    volume = panel.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "STIR")
    volume.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(phantom.bones.affine))
    slicer.util.updateVolumeFromArray(volume, (phantom.bones.array > 0).astype(np.float32) * 100 + 10)
    panel.logic.startCandidates(volume, bones)
    process = panel.logic._candidatesRun[0]
    assert "cancelled" in panel.logic.pollCandidates(cancel=True) and process.poll() is not None
    assert panel.logic.acceptCandidate(None).startswith("!") and panel.logic.rejectCandidate("").startswith("!")
    assert panel.scene.GetFirstNodeByName(mrml.CANDIDATES_SEGMENTATION) is None


# ---- the widget itself, on stand-in Qt widgets named as in the .ui: it binds signals and shows what the logic returns ----

@pytest.fixture
def widget(panel):
    widget = panel.module.CRMOAnalyzerWidget(types.SimpleNamespace(isEntered=True))
    widget.setup()
    yield widget
    widget.cleanup()


def test_every_connection_of_the_table_is_made(panel, widget):
    for name, signal, handler in panel.module.CONNECTIONS:
        assert getattr(widget, handler) in getattr(widget.ui, name).connections[signal], (name, signal)
    assert widget._refreshTimer.single and widget._refreshTimer.interval == 400 and widget._candidatesTimer.interval == 200


def test_the_widget_shows_the_analysis_and_records_the_readers_edits(panel, phantom, widget):
    ui, logic, Qt = widget.ui, widget.logic, sys.modules["qt"].Qt
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    widget._parameterNode.boneMap, widget._parameterNode.lesionNode = bones, lesions
    ui.analyzeButton.emit("clicked()")
    assert ui.statusLabel.text.startswith(f"{len(phantom.expected)} lesions analysed") and not ui.statusLabel.styleSheet
    assert ui.lesionTable.rows == len(phantom.expected) and ui.lesionTable.headers[:3] == ["Lesion", "Site", "Bone"]
    assert ui.distributionTableView.tableNode is panel.scene.GetFirstNodeByName(mrml.DISTRIBUTION_TABLE)
    assert ui.reportTextEdit.plainText == logic.reportText() and ui.regenerateReportButton.text == "Regenerate report"
    kinds = [column.kind for column in logic.tableColumns()]
    lesion_id, values = logic.tableCells()[0]
    assert ui.lesionTable.item(0, 0).text() == values[0] == "#1" and ui.lesionTable.item(0, 0).data(Qt.UserRole) == lesion_id
    flags = {kind: ui.lesionTable.item(0, index).flags() for index, kind in enumerate(kinds) if ui.lesionTable.item(0, index)}
    assert flags["label"] == flags["volume"] == Qt.ItemIsEnabled | Qt.ItemIsSelectable  # shown only
    assert flags["note"] & Qt.ItemIsEditable and flags["symptomatic"] & Qt.ItemIsUserCheckable
    assert not flags["note"] & Qt.ItemIsUserCheckable and not flags["symptomatic"] & Qt.ItemIsEditable

    ui.lesionTable.item(0, kinds.index("marrow_edema")).setCheckState(Qt.Checked)  # the reader ticks a finding
    slicer_standins.run_pending()
    assert logic.study.lesion(lesion_id).findings["marrow_edema"] is True
    assert ui.lesionTable.item(0, kinds.index("marrow_edema")).checkState() == Qt.Checked  # shown again, ticked
    combo = ui.lesionTable.cellWidget(0, kinds.index("sublocation"))
    assert [text for text, _data in combo.items] == logic.sublocationChoices()
    combo.setCurrentText("diaphysis")  # the reader overrides the sub-location
    slicer_standins.run_pending()
    assert logic.study.lesion(lesion_id).sublocation == "diaphysis"
    assert ui.lesionTable.cellWidget(0, kinds.index("sublocation")).currentText == "diaphysis"

    ui.reportTextEdit.setPlainText("The reader's report.")  # typing sends textChanged
    assert logic.reportText() == "The reader's report." and "discards" in ui.regenerateReportButton.text
    ui.regenerateReportButton.emit("clicked(bool)", False)
    assert ui.reportTextEdit.plainText == logic.reportText() != "The reader's report."
    assert ui.regenerateReportButton.text == "Regenerate report"

    panel.scene.RemoveNode(lesions)  # the reader deletes the lesion node
    slicer_standins.run_pending()
    assert ui.lesionTable.rows == 0 and "deleted" in ui.statusLabel.text and ui.reportTextEdit.plainText == ""


def test_the_widget_offers_the_remembered_destinations_and_says_what_needs_doing(panel, phantom, widget):
    panel.logic.rememberDestination("mllp://ris:2575")
    again = panel.module.CRMOAnalyzerWidget(types.SimpleNamespace(isEntered=True))
    again.setup()
    assert again.ui.sendDestinationComboBox.currentText == "mllp://ris:2575"
    again.ui.sendButton.emit("clicked(bool)", False)  # nothing analysed yet
    assert again.ui.exportStatusLabel.text.startswith("Nothing to send yet") and again.ui.exportStatusLabel.styleSheet
    again.ui.saveStudyButton.emit("clicked(bool)", False)
    assert again.ui.statusLabel.text.startswith("Nothing to save yet") and not panel.dialogs.paths
    again.exit()
    assert not again._refreshTimer.active and not again._candidatesTimer.active and again._parameterNode is None
    again.cleanup()


def test_a_failing_action_is_shown_and_leaves_no_dialog_open(panel, widget, monkeypatch):
    monkeypatch.setattr(widget.logic, "loadStudy", lambda *args: 1 / 0)
    panel.dialogs.paths = ["study.json"]
    with pytest.raises(ZeroDivisionError):  # Slicer's tryWithErrorDisplay shows it, then raises it to PythonQt's log
        widget.ui.loadStudyButton.emit("clicked(bool)", False)
    assert "the action failed" in panel.dialogs.shown[-1]
    assert panel.dialogs.progress[-1].closed and slicer.app.cursors == []


def test_the_widget_refreshes_after_edits_quietly_and_asks_only_when_the_reader_analyses(panel, phantom, widget):
    bones, lesions = scene_inputs(panel.scene, phantom, "points")
    p = widget._parameterNode
    p.boneMap, p.lesionNode = bones, bones  # the bone map chosen as the lesion node too
    widget.ui.lesionSelector.emit("currentNodeChanged(vtkMRMLNode*)", lesions)
    lesions.AddControlPoint(*phantom.points[0].position_ras, "new")  # an edit starts the debounce timer
    assert widget._refreshTimer.active
    widget._refreshTimer.emit("timeout()")  # the refresh: a problem is shown, never asked about
    assert not panel.dialogs.asked and widget.logic.study is None and widget.ui.statusLabel.styleSheet
    panel.dialogs.answers = [True]
    widget.ui.analyzeButton.emit("clicked()")
    assert len(panel.dialogs.asked) == 1 and widget.logic.study is not None and not widget.ui.statusLabel.styleSheet
