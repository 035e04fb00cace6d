"""The Slicer module's files agree with each other: code, .ui, parameter node, CMake lists, resources.

These run without Slicer: the module is read as source (ast), the .ui and CMake files as text.
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "CRMOAnalyzer"
MODULE = MODULE_DIR / "CRMOAnalyzer.py"
UI = MODULE_DIR / "Resources" / "UI" / "CRMOAnalyzer.ui"
CMAKE = MODULE_DIR / "CMakeLists.txt"

#: the Qt signals (Qt 5's signatures) the widget connects, by the class of the .ui widget that sends them
SIGNALS = {"QPushButton": {"clicked()", "clicked(bool)"}, "QTableWidget": {"cellClicked(int,int)", "itemChanged(QTableWidgetItem*)"},
           "QPlainTextEdit": {"textChanged()"}, "QComboBox": {"currentIndexChanged(int)", "currentTextChanged(QString)"},
           "qMRMLNodeComboBox": {"currentNodeChanged(vtkMRMLNode*)"}}
#: Qt classes a .ui may use without declaring them as custom widgets
QT_WIDGETS = {"QWidget", "QLabel", "QPushButton", "QCheckBox", "QComboBox", "QTableWidget", "QPlainTextEdit",
              "QLineEdit", "QGroupBox", "QFrame", "QSpinBox", "QDoubleSpinBox", "QTableView", "QTextEdit"}


@pytest.fixture(scope="module")
def tree() -> ast.Module:
    return ast.parse(MODULE.read_text(encoding="utf-8"), filename=str(MODULE))


@pytest.fixture(scope="module")
def ui() -> ET.Element:
    return ET.parse(UI).getroot()


def ui_widgets(ui: ET.Element) -> dict[str, str]:
    return {w.get("name"): w.get("class") for w in ui.iter("widget")}


def parameter_bindings(ui: ET.Element) -> dict[str, str]:
    """widget name -> SlicerParameterName."""
    out = {}
    for widget in ui.iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                out[widget.get("name")] = prop.findtext("string")
    return out


def parameter_fields(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(getattr(d, "id", None) == "parameterNodeWrapper" for d in node.decorator_list):
            return {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)}
    raise AssertionError("no @parameterNodeWrapper class in CRMOAnalyzer.py")


def constant(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"no constant {name}")


def widget_methods(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    cls = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "CRMOAnalyzerWidget")
    return {node.name: node for node in cls.body if isinstance(node, ast.FunctionDef)}


def test_every_widget_the_code_uses_is_in_the_ui(tree, ui):
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "ui" and isinstance(node.value.value, ast.Name) and node.value.value.id == "self"}
    assert used, "the widget uses no self.ui.<name>: the check would prove nothing"
    used |= {name for name, _signal, _handler in constant(tree, "CONNECTIONS")}
    missing = sorted(used - set(ui_widgets(ui)))
    assert not missing, f"CRMOAnalyzer.py uses widgets the .ui lacks: {missing}"


def test_every_parameter_binding_names_a_parameter_node_field(tree, ui):
    bindings = parameter_bindings(ui)
    fields = parameter_fields(tree)
    assert set(bindings.values()) <= fields, f"unknown SlicerParameterName: {sorted(set(bindings.values()) - fields)}"
    assert fields <= set(bindings.values()), f"parameter fields without a widget: {sorted(fields - set(bindings.values()))}"
    assert len(bindings) == len(set(bindings.values())), "a parameter is bound to two widgets"


def test_ui_is_a_qmrml_widget_with_declared_custom_widgets(ui):
    top = ui.find("widget")
    assert (top.get("class"), top.get("name")) == ("qMRMLWidget", "CRMOAnalyzer")
    declared = {c.findtext("class") for c in ui.iter("customwidget")}
    used = set(ui_widgets(ui).values())
    assert used <= QT_WIDGETS | declared, sorted(used - QT_WIDGETS - declared)
    assert {"qMRMLNodeComboBox", "ctkCollapsibleButton", "qMRMLTableView"} <= declared
    receivers = {c.findtext("receiver") for c in ui.iter("connection") if c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
    mrml_widgets = {name for name, cls in ui_widgets(ui).items() if cls in ("qMRMLNodeComboBox", "qMRMLTableView")}
    assert receivers == mrml_widgets, "every MRML widget must get the scene from the qMRMLWidget"


def test_module_has_the_template_classes(tree):
    classes = {node.name: [getattr(b, "id", None) for b in node.bases] for node in tree.body if isinstance(node, ast.ClassDef)}
    assert classes["CRMOAnalyzer"] == ["ScriptedLoadableModule"]
    assert classes["CRMOAnalyzerWidget"] == ["ScriptedLoadableModuleWidget", "VTKObservationMixin"]
    assert classes["CRMOAnalyzerLogic"] == ["ScriptedLoadableModuleLogic", "PanelLogic"]  # the behaviour: slicer/panel_logic.py
    assert classes["CRMOAnalyzerTest"] == ["ScriptedLoadableModuleTest"]


def test_every_connection_is_a_signal_of_its_widget_bound_to_a_handler_that_takes_its_arguments(tree, ui):
    """The CONNECTIONS table: each .ui widget sends a signal its class has, to a widget method that accepts the
    signal's arguments (PythonQt passes as many as the method takes); no handler is left unconnected."""
    connections = constant(tree, "CONNECTIONS")
    classes, methods = ui_widgets(ui), widget_methods(tree)
    assert len(connections) >= 20 and len(set(connections)) == len(connections)
    for name, signal, handler in connections:
        assert signal in SIGNALS[classes[name]], f"{name} ({classes[name]}) has no signal {signal}"
        assert handler in methods, f"{name}.{signal}: CRMOAnalyzerWidget has no method {handler}"
        arguments = [a.arg for a in methods[handler].args.args[1:]]
        required = len(arguments) - len(methods[handler].args.defaults)
        sent = len(signal[signal.index("(") + 1:-1].split(",")) if "()" not in signal else 0
        assert required <= sent, f"{name}.{signal} sends {sent} arguments; {handler} needs {required}"
    connected = {handler for _name, _signal, handler in connections}
    # the other handlers: scene observers, the lesion node's observer, the timers, the table's combo boxes
    others = {"onSceneStartClose", "onSceneEndClose", "onSceneEndImport", "onNodeAboutToBeRemoved", "onLesionNodeModified",
              "onRefreshTimeout", "onCandidatesTimeout", "onLesionValueEdited"}
    assert {name for name in methods if name.startswith("on")} - others == connected - {"runAnalysis"}, "handlers nothing connects"


def cmake_list(text: str, name: str) -> list[str]:
    match = re.search(rf"set\({name}\s+(.*?)\)", text, re.S)
    assert match, name
    return [item.replace("${MODULE_NAME}", "CRMOAnalyzer") for item in match.group(1).split()]


def files_on_disk() -> tuple[set[str], set[str]]:
    lib = {p.relative_to(MODULE_DIR).as_posix() for p in (MODULE_DIR / "CRMOAnalyzerLib").rglob("*")
           if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    scripts = {p for p in lib if p.endswith(".py")} | {"CRMOAnalyzer.py"}
    resources = {p for p in lib if not p.endswith(".py")}
    resources |= {p.relative_to(MODULE_DIR).as_posix() for p in (MODULE_DIR / "Resources").rglob("*") if p.is_file()}
    return scripts, resources


def test_cmake_lists_every_module_file_and_resource():
    text = CMAKE.read_text(encoding="utf-8")
    scripts, resources = files_on_disk()
    listed_scripts = cmake_list(text, "MODULE_PYTHON_SCRIPTS")
    listed_resources = cmake_list(text, "MODULE_PYTHON_RESOURCES")
    assert len(listed_scripts) == len(set(listed_scripts)) and len(listed_resources) == len(set(listed_resources))
    assert set(listed_scripts) == scripts, (f"add to MODULE_PYTHON_SCRIPTS: {sorted(scripts - set(listed_scripts))}; "
                                            f"remove: {sorted(set(listed_scripts) - scripts)}")
    assert set(listed_resources) == resources, (f"add to MODULE_PYTHON_RESOURCES: {sorted(resources - set(listed_resources))}; "
                                                f"remove: {sorted(set(listed_resources) - resources)}")
    assert "slicerMacroBuildScriptedModule(" in text and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    assert "add_subdirectory(Testing)" in text and (MODULE_DIR / "Testing" / "CMakeLists.txt").exists()


def test_extension_cmake_has_the_template_fields():
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    for field in ("EXTENSION_HOMEPAGE", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL",
                  "EXTENSION_DEPENDS"):
        assert re.search(rf'set\({field} "[^"]+"\)', text), field
    # no screenshot of the panel in a real Slicer exists yet: the field stays empty rather than naming a missing file
    assert re.search(r'set\(EXTENSION_SCREENSHOTURLS "[^"]*"\)', text), "EXTENSION_SCREENSHOTURLS"
    assert "project(CRMOAnalyzer)" in text and "add_subdirectory(CRMOAnalyzer)" in text
    assert "find_package(Slicer REQUIRED)" in text
    assert text.index("include(${Slicer_EXTENSION_GENERATE_CONFIG})") < text.index("include(${Slicer_EXTENSION_CPACK})")


def test_icon_is_a_128_pixel_png():
    data = (MODULE_DIR / "Resources" / "Icons" / "CRMOAnalyzer.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (128, 128)


def test_pip_requirements_are_dependencies_of_the_package():
    import tomllib

    declared = {re.split(r"[<>=!~\[ ]", d)[0].lower() for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    lines = (MODULE_DIR / "Resources" / "requirements.txt").read_text().splitlines()
    wanted = {re.split(r"[<>=!~\[ ]", line)[0].lower() for line in lines if line.strip() and not line.startswith("#")}
    assert wanted and wanted <= declared, sorted(wanted - declared)


def test_every_screenshot_url_names_a_file_of_the_repository():
    """The extension index shows EXTENSION_SCREENSHOTURLS: each must be a file this repository has (none is fine)."""
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    match = re.search(r'set\(EXTENSION_SCREENSHOTURLS\s+"([^"]*)"\)', text)
    assert match, "EXTENSION_SCREENSHOTURLS is not set"
    for url in match.group(1).split():
        path = re.sub(r"^https://raw\.githubusercontent\.com/[^/]+/[^/]+/[^/]+/", "", url)
        assert path != url and (ROOT / path).is_file(), f"screenshot URL names no file of the repository: {url}"
