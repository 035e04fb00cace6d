"""The panel's requirements: asked once, installed with Slicer's own packages pinned (``slicer.packaging``).

A part of :class:`~.panel_logic.PanelLogic` (which holds the state these methods use)."""

import importlib
import importlib.metadata
import os
import tempfile

import slicer
from slicer.i18n import tr as _

#: the folder of ``CRMOAnalyzer.py`` (its ``Resources`` hold the pip requirements)
MODULE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: pip requirements of the panel's features that Slicer does not ship (Resources/requirements.txt)
REQUIREMENTS_FILE = "requirements.txt"
#: packages Slicer bundles (SuperBuild/External_python-*.cmake): pinned at Slicer's versions whenever we install
SLICER_BUNDLED = ("numpy", "scipy", "SimpleITK", "pydicom", "highdicom", "dicomweb-client", "requests", "packaging")


class RequirementsMixin:
    """The panel's requirements (a part of the panel's logic)."""

    # -- dependencies: asked once, installed with Slicer's own packages pinned --
    def requirementsPath(self) -> str:
        return os.path.join(MODULE_DIR, "Resources", REQUIREMENTS_FILE)

    def missingRequirements(self) -> list:
        """Requirements of ``Resources/requirements.txt`` that are absent or older than their floor."""
        from packaging.requirements import Requirement

        missing = []
        with open(self.requirementsPath(), encoding="utf-8") as stream:
            lines = [line.split("#")[0].strip() for line in stream]
        for line in filter(None, lines):
            requirement = Requirement(line)
            try:
                installed = importlib.metadata.version(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                missing.append(line)
                continue
            if not requirement.specifier.contains(installed, prereleases=True):
                missing.append(line)
        return missing

    def bundledConstraints(self) -> str:
        """Path of a pip constraints file pinning the packages Slicer bundles at the versions it has."""
        pins = []
        for name in SLICER_BUNDLED:
            try:
                pins.append(f"{name}=={importlib.metadata.version(name)}")
            except importlib.metadata.PackageNotFoundError:
                continue
        path = os.path.join(tempfile.mkdtemp(prefix="CRMOAnalyzer-"), "slicer-constraints.txt")
        with open(path, "w", encoding="utf-8") as stream:
            stream.write("\n".join(pins) + "\n")
        return path

    def ensureRequirements(self) -> None:
        """Install the missing Python packages after asking once, never changing a package Slicer bundles.

        Raises RuntimeError with a one-line message when the reader declined, or when Slicer must restart.
        """
        if self._requirementsMet:
            return
        missing = self.missingRequirements()
        if missing and self._installDeclined:
            raise RuntimeError(_("CRMO Analyzer needs Python packages that were not installed ({packages}). "
                                 "Reload the module to be asked again.").format(packages=", ".join(missing)))
        if missing:
            constraints = self.bundledConstraints()
            try:
                packaging = importlib.import_module("slicer.packaging")  # Slicer >= 5.11: asks, shows progress
            except ImportError:
                packaging = None
            try:
                if packaging is not None:
                    packaging.pip_ensure(missing, constraints=constraints, requester="CRMO Analyzer")
                else:
                    if not slicer.util.confirmOkCancelDisplay(
                            _("CRMO Analyzer needs these Python packages, which will now be installed:") + "\n" + "\n".join(missing),
                            windowTitle=_("CRMO Analyzer: install dependencies")):
                        raise RuntimeError("declined")
                    slicer.util.pip_install([*missing, "-c", constraints])
            except RuntimeError as error:
                self._installDeclined = True
                raise RuntimeError(_("CRMO Analyzer cannot run without: {packages}").format(packages=", ".join(missing))) from error
            importlib.invalidate_caches()
            still = self.missingRequirements()
            if still:
                raise RuntimeError(_("Python packages were installed but cannot be used yet ({packages}): restart Slicer.")
                                   .format(packages=", ".join(still)))
            self.log(_("Python dependencies installed."))
        self._requirementsMet = True

    def _mrml(self):
        self.ensureRequirements()
        from CRMOAnalyzerLib.slicer import mrml

        if not self._terminologiesLoaded and hasattr(getattr(slicer, "modules", None), "terminologies"):
            mrml.load_terminologies()
            self._terminologiesLoaded = True
        return mrml
