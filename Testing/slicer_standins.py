"""The smallest stand-ins for what the ``slicer-core`` wheel lacks, so ``CRMOAnalyzer.py`` imports and runs headless.

The wheel gives Slicer 5.12's real MRML classes and ``slicer.util``; it has no application, no Qt, no
``slicer.ScriptedLoadableModule``, ``slicer.parameterNodeWrapper``, ``slicer.i18n`` or ``slicer.packaging``.
These stand-ins do only what the module calls, the way Slicer does it (read against Slicer's source at
tag v5.12.3): the parameter node keeps node references and parameters in a real ``vtkMRMLScriptedModuleNode``,
so it is saved with the scene; dialogs answer from a queue and record what they were asked.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import xml.etree.ElementTree as ET
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

import slicer

MODULE_FILE = Path(__file__).resolve().parents[1] / "CRMOAnalyzer" / "CRMOAnalyzer.py"
UI_FILE = MODULE_FILE.parent / "Resources" / "UI" / "CRMOAnalyzer.ui"


class Dialogs:
    """Records every question the module asks; answers from ``answers`` (default: yes / OK)."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.answers: list[bool] = []
        self.shown: list[str] = []
        self.paths: list[str] = []  # what the file dialogs answer
        self.progress: list[Any] = []  # the progress dialogs shown

    def confirm(self, text: str, *args: Any, **kwargs: Any) -> bool:
        self.asked.append(text)
        return self.answers.pop(0) if self.answers else True

    def show(self, text: str, *args: Any, **kwargs: Any) -> None:
        self.shown.append(text)


class Packaging:
    """``slicer.packaging`` (Slicer >= 5.11): ``pip_ensure`` asks once, then "installs" by calling ``install``."""

    def __init__(self, dialogs: Dialogs) -> None:
        self.dialogs = dialogs
        self.calls: list[dict[str, Any]] = []
        self.install = lambda requirements, constraints: None

    def pip_ensure(self, requirements, constraints=None, requester=None, **kwargs):
        self.calls.append({"requirements": list(requirements), "constraints": constraints, "requester": requester})
        if not self.dialogs.confirm(f"{requester}: install {requirements}"):
            raise RuntimeError("User declined package installation")
        self.install(requirements, constraints)


# ---- slicer.parameterNodeWrapper ------------------------------------------------------------------

class Choice:
    def __init__(self, choices: list[str]) -> None:
        self.choices = choices


def _is_node_type(annotation: Any) -> bool:
    options = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Union else (annotation,)
    return all(isinstance(option, type) and issubclass(option, slicer.vtkMRMLNode) for option in options)


def parameterNodeWrapper(cls: type) -> type:
    """Fields typed as MRML nodes are node references, the others parameters (strings), as Slicer stores them."""
    hints = typing.get_type_hints(cls, include_extras=True)
    defaults = {name: getattr(cls, name, None) for name in hints}

    class Wrapped:
        __name__ = cls.__name__

        def __init__(self, node: Any) -> None:
            object.__setattr__(self, "parameterNode", node)
            for name, default in defaults.items():
                if not _is_node_type(hints[name]) and not node.GetParameter(name):
                    node.SetParameter(name, str(default))

        def __getattr__(self, name: str) -> Any:
            if name not in hints:
                raise AttributeError(name)
            node = self.parameterNode
            if _is_node_type(hints[name]):
                return node.GetNodeReference(name)
            text = node.GetParameter(name)
            return text == "True" if hints[name] is bool else text

        def __setattr__(self, name: str, value: Any) -> None:
            if name not in hints:
                raise AttributeError(name)
            if _is_node_type(hints[name]):
                self.parameterNode.SetNodeReferenceID(name, value.GetID() if value is not None else None)
            else:
                self.parameterNode.SetParameter(name, str(value))

        def connectGui(self, ui: Any) -> object:
            return object()

        def disconnectGui(self, tag: object) -> None:
            pass

    return Wrapped


# ---- slicer.ScriptedLoadableModule ----------------------------------------------------------------

class ScriptedLoadableModule:
    def __init__(self, parent: Any) -> None:
        self.parent = parent


class ScriptedLoadableModuleWidget:
    """The template's widget base: ``setup`` gives ``layout``; ``resourcePath`` names the module's resources."""

    def __init__(self, parent: Any = None) -> None:
        self.parent = parent

    def setup(self) -> None:
        self.layout = types.SimpleNamespace(addWidget=lambda widget: None)

    def resourcePath(self, name: str) -> str:
        return str(MODULE_FILE.parent / "Resources" / name)


class ScriptedLoadableModuleLogic:
    """``getParameterNode`` as Slicer 5.12's: the scene's singleton vtkMRMLScriptedModuleNode of the module."""

    def __init__(self, parent: Any = None) -> None:
        self.moduleName = type(self).__name__.removesuffix("Logic")

    def getParameterNode(self) -> Any:
        node = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = slicer.vtkMRMLScriptedModuleNode()
            node.SetSingletonTag(self.moduleName)
            node.SetAttribute("ModuleName", self.moduleName)
            node = slicer.mrmlScene.AddNode(node)
        return node


class ScriptedLoadableModuleTest:
    def delayDisplay(self, message: str, msec: int = 0) -> None:
        pass

    def assertEqual(self, first, second, msg=None):
        assert first == second, msg or f"{first!r} != {second!r}"

    def assertTrue(self, value, msg=None):
        assert value, msg

    def assertFalse(self, value, msg=None):
        assert not value, msg

    def assertIn(self, member, container, msg=None):
        assert member in container, msg or f"{member!r} not in {container!r}"

    def assertGreater(self, first, second, msg=None):
        assert first > second, msg or f"{first!r} <= {second!r}"


# ---- qt: the widgets of the panel's .ui, as far as the widget uses them ----------------------------

class Qt:
    UserRole, WaitCursor = 256, 3
    ItemIsSelectable, ItemIsEditable, ItemIsUserCheckable, ItemIsEnabled = 1, 2, 16, 32
    Unchecked, Checked = 0, 2


PENDING: list = []  # QTimer.singleShot(0, ...) calls, run by ``run_pending`` (the event loop's next turn)


def run_pending() -> None:
    while PENDING:
        PENDING.pop(0)()


def _call(handler: Any, args: tuple) -> None:
    """Call a slot as PythonQt does: with as many of the signal's arguments as the callable takes."""
    parameters = [p for p in inspect.signature(handler).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    handler(*args[:len(parameters)])


class Widget:
    """Any widget of the .ui (or made by the module): records its connections; ``emit`` sends a signal."""

    def __init__(self, name: str = "", cls: str = "QWidget") -> None:
        self.name, self.cls, self.connections = name, cls, {}
        self.text, self.visible, self.currentPath, self.styleSheet, self.blocked = "", True, "", "", False
        self.items, self.currentIndex, self.plainText, self.tableNode = [], -1, "", None
        self.columnCount, self.headers, self.cells, self.cellWidgets, self.rows = 0, [], {}, {}, 0

    def connect(self, signal: str, handler: Any) -> None:
        self.connections.setdefault(signal, []).append(handler)

    def emit(self, signal: str, *args: Any) -> None:
        if not self.blocked:
            for handler in self.connections.get(signal, []):
                _call(handler, args)

    def blockSignals(self, block: bool) -> bool:
        before, self.blocked = self.blocked, block
        return before

    def setStyleSheet(self, style: str) -> None:
        self.styleSheet = style

    def setMRMLScene(self, scene: Any) -> None:
        pass

    def setMRMLTableNode(self, node: Any) -> None:
        self.tableNode = node

    # QPlainTextEdit
    def setPlainText(self, text: str) -> None:
        self.plainText = text
        self.emit("textChanged()")

    def toPlainText(self) -> str:
        return self.plainText

    # QComboBox
    def addItem(self, text: str, data: Any = None) -> None:
        self.items.append((text, data))
        if self.currentIndex < 0:
            self.currentIndex = 0

    def addItems(self, texts) -> None:
        for text in texts:
            self.addItem(text)

    def clear(self) -> None:
        self.items, self.currentIndex = [], -1

    def itemData(self, index: int) -> Any:
        return self.items[index][1] if 0 <= index < len(self.items) else None

    @property
    def currentData(self) -> Any:
        return self.itemData(self.currentIndex)

    @property
    def currentText(self) -> str:
        return self.items[self.currentIndex][0] if 0 <= self.currentIndex < len(self.items) else ""

    def setCurrentText(self, text: str) -> None:
        index = next((i for i, (item, _data) in enumerate(self.items) if item == text), -1)
        if index >= 0 and index != self.currentIndex:
            self.currentIndex = index
            self.emit("currentIndexChanged(int)", index)
            self.emit("currentTextChanged(QString)", text)

    # QTableWidget
    def setColumnCount(self, count: int) -> None:
        self.columnCount = count

    def setHorizontalHeaderLabels(self, labels) -> None:
        self.headers = list(labels)

    def setRowCount(self, count: int) -> None:
        self.rows = count
        self.cells = {key: item for key, item in self.cells.items() if key[0] < count}
        self.cellWidgets = {key: widget for key, widget in self.cellWidgets.items() if key[0] < count}

    def rowCount(self) -> int:
        return self.rows

    def setItem(self, row: int, column: int, item: TableItem) -> None:
        self.cells[row, column] = item
        item.table, item.position = self, (row, column)
        self.emit("itemChanged(QTableWidgetItem*)", item)  # as QTableModel::setItem (dataChanged)

    def item(self, row: int, column: int) -> Any:
        return self.cells.get((row, column))

    def setCellWidget(self, row: int, column: int, widget: Widget) -> None:
        self.cellWidgets[row, column] = widget

    def cellWidget(self, row: int, column: int) -> Any:
        return self.cellWidgets.get((row, column))

    def resizeColumnsToContents(self) -> None:
        pass


class TableItem:
    """QTableWidgetItem: a change of a checked item in a table sends the table's itemChanged."""

    def __init__(self) -> None:
        self.table, self.position, self.data_, self.flags_, self.check, self.text_ = None, (-1, -1), {}, 0, None, ""

    def setData(self, role: int, value: Any) -> None:
        self.data_[role] = value

    def data(self, role: int) -> Any:
        return self.data_.get(role)

    def setFlags(self, flags: int) -> None:
        self.flags_ = flags

    def flags(self) -> int:
        return self.flags_

    def _changed(self) -> None:
        if self.table is not None:
            self.table.emit("itemChanged(QTableWidgetItem*)", self)

    def setCheckState(self, state: int) -> None:
        self.check = state
        self._changed()

    def checkState(self) -> int:
        return self.check

    def setText(self, text: str) -> None:
        self.text_ = text
        self._changed()

    def text(self) -> str:
        return self.text_

    def column(self) -> int:
        return self.position[1]


class Timer(Widget):
    """QTimer: started and stopped; a test sends its ``timeout()``. ``singleShot(0, f)`` runs at ``run_pending``."""

    def __init__(self) -> None:
        super().__init__("", "QTimer")
        self.active, self.interval, self.single = False, 0, False

    def setSingleShot(self, single: bool) -> None:
        self.single = single

    def setInterval(self, interval: int) -> None:
        self.interval = interval

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    @staticmethod
    def singleShot(msec: int, function: Any) -> None:
        PENDING.append(function)


class ProgressDialog(Widget):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", "QProgressDialog")
        self.labelText, self.wasCanceled, self.closed = kwargs.get("labelText", ""), False, False

    def close(self) -> None:
        self.closed = True


def child_widgets(root: Any) -> types.SimpleNamespace:
    """``slicer.util.childWidgetVariables`` of the panel's .ui: one stand-in per named widget, of its class."""
    return types.SimpleNamespace(**{w.get("name"): Widget(w.get("name"), w.get("class"))
                                    for w in ET.parse(UI_FILE).getroot().iter("widget")})


class Settings:
    """``slicer.app.settings()``: a QSettings in INI format, as Slicer's. Like it, a list of one item reads back as the
    item (a string) and an empty list as nothing (None)."""

    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}

    def setValue(self, key: str, value: Any) -> None:
        self.stored[key] = list(value) if isinstance(value, (list, tuple)) else value

    def value(self, key: str, defaultValue: Any = None) -> Any:
        value = self.stored.get(key, defaultValue)
        if isinstance(value, list):
            return None if not value else value[0] if len(value) == 1 else tuple(value)
        return value


class App:
    """``slicer.app``: its settings, ``processEvents`` (nothing to process headless) and the wait cursor."""

    def __init__(self) -> None:
        self._settings = Settings()
        self.cursors: list[int] = []

    def settings(self) -> Settings:
        return self._settings

    def processEvents(self) -> None:
        pass

    def setOverrideCursor(self, cursor: int) -> None:
        self.cursors.append(cursor)

    def restoreOverrideCursor(self) -> None:
        self.cursors.pop()

    def testingEnabled(self) -> bool:
        return False


class _Modules(types.SimpleNamespace):
    """``slicer.modules``: the segmentations logic the self-test uses; no terminologies, no TotalSegmentator."""

    class segmentations:  # noqa: N801 (Slicer's name)
        @staticmethod
        def logic():
            return slicer.vtkSlicerSegmentationsModuleLogic()


def install(scene: Any, monkeypatch: Any) -> tuple[types.ModuleType, Dialogs, Packaging]:
    """Put the stand-ins in place for ``scene`` and import ``CRMOAnalyzer.py``; returns (module, dialogs, packaging).

    Everything goes through pytest's ``monkeypatch``, so it is undone after the test.
    """
    dialogs = Dialogs()
    packaging = Packaging(dialogs)
    qt = types.ModuleType("qt")
    qt.Qt, qt.QTimer, qt.QComboBox, qt.QTableWidgetItem = Qt, Timer, lambda: Widget("", "QComboBox"), TableItem
    qt.QApplication = types.SimpleNamespace(clipboard=lambda: types.SimpleNamespace(setText=dialogs.shown.append))
    qt.QFileDialog = types.SimpleNamespace(getSaveFileName=lambda *args: dialogs.paths.pop(0),
                                           getOpenFileName=lambda *args: dialogs.paths.pop(0))
    PENDING.clear()
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text
    i18n.translate = lambda context, text: text
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.Choice, wrapper.parameterNodeWrapper = Choice, parameterNodeWrapper
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")
    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic, ScriptedLoadableModuleTest):
        setattr(scripted, cls.__name__, cls)
    package = types.ModuleType("slicer.packaging")
    package.pip_ensure = packaging.pip_ensure
    for name, value in {"qt": qt, "slicer.i18n": i18n, "slicer.parameterNodeWrapper": wrapper,
                        "slicer.ScriptedLoadableModule": scripted, "slicer.packaging": package}.items():
        monkeypatch.setitem(sys.modules, name, value)
    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)
    monkeypatch.setattr(slicer, "modules", _Modules(), raising=False)
    monkeypatch.setattr(slicer, "app", App(), raising=False)
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", dialogs.confirm)
    monkeypatch.setattr(slicer.util, "confirmYesNoDisplay", dialogs.confirm)
    monkeypatch.setattr(slicer.util, "warningDisplay", dialogs.show)
    monkeypatch.setattr(slicer.util, "errorDisplay", dialogs.show)
    monkeypatch.setattr(slicer.util, "loadUI", lambda path: Widget("CRMOAnalyzer", "qMRMLWidget"))
    monkeypatch.setattr(slicer.util, "childWidgetVariables", child_widgets)
    monkeypatch.setattr(slicer.util, "createProgressDialog", lambda *args, **kwargs: dialogs.progress.append(
        ProgressDialog(**kwargs)) or dialogs.progress[-1])
    monkeypatch.setattr(slicer.util, "tempDirectory", lambda *args, **kwargs: tempfile.mkdtemp())
    spec = importlib.util.spec_from_file_location("CRMOAnalyzer", MODULE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, dialogs, packaging
