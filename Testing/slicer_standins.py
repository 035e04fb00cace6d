"""The smallest stand-ins for what the ``slicer-core`` wheel lacks, so ``CRMOAnalyzer.py`` imports and runs headless.

The wheel gives Slicer 5.12's real MRML classes and ``slicer.util``; it has no application, no Qt, no
``slicer.ScriptedLoadableModule``, ``slicer.parameterNodeWrapper``, ``slicer.i18n`` or ``slicer.packaging``.
These stand-ins do only what the module calls, the way Slicer does it (read against Slicer's source at
tag v5.12.3): the parameter node keeps node references and parameters in a real ``vtkMRMLScriptedModuleNode``,
so it is saved with the scene; dialogs answer from a queue and record what they were asked.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

import slicer

MODULE_FILE = Path(__file__).resolve().parents[1] / "CRMOAnalyzer" / "CRMOAnalyzer.py"


class Dialogs:
    """Records every question the module asks; answers from ``answers`` (default: yes / OK)."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.answers: list[bool] = []
        self.shown: list[str] = []

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
    def __init__(self, parent: Any = None) -> None:
        self.parent = parent


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
    """``slicer.app``: its settings, and ``processEvents`` (nothing to process headless)."""

    def __init__(self) -> None:
        self._settings = Settings()

    def settings(self) -> Settings:
        return self._settings

    def processEvents(self) -> None:
        pass


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
    monkeypatch.setattr(slicer.util, "tempDirectory", lambda *args, **kwargs: tempfile.mkdtemp())
    spec = importlib.util.spec_from_file_location("CRMOAnalyzer", MODULE_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, dialogs, packaging
