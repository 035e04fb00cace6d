"""A bone map from TotalSegmentator (its own Slicer extension): quality asked without a GPU, progress, cancel.

A part of :class:`~.panel_logic.PanelLogic` (which holds the state these methods use)."""

from typing import Optional

import slicer
from slicer.i18n import tr as _


class TotalSegmentatorMixin:
    """A bone map from TotalSegmentator (its own Slicer extension) (a part of the panel's logic)."""

    # -- TotalSegmentator (its own extension) --
    def totalSegmentatorAvailable(self) -> bool:
        return hasattr(getattr(slicer, "modules", None), "totalsegmentator")

    def totalSegmentatorQuality(self, hasGpu: bool) -> str:
        """"normal" on a GPU; without one, ask, defaulting to "fast" (full resolution takes 5-50 minutes on a CPU)."""
        if hasGpu:
            return "normal"
        fullResolution = slicer.util.confirmYesNoDisplay(
            _("No GPU was found. TotalSegmentator's fast model takes a few minutes on a CPU; full resolution takes "
              "5 to 50 minutes, during which Slicer is busy.\n\nCompute full resolution anyway? (No: use the fast model)"),
            windowTitle=_("CRMO Analyzer: TotalSegmentator"))
        return "normal" if fullResolution else "fast"

    def createBoneMap(self, volume, task: str = "total", quality: Optional[str] = None):
        """Run TotalSegmentator on the volume; returns the new segmentation, or a message ("!" first) on a problem.

        TotalSegmentator runs as its own process; each line it prints goes to ``log`` and ``processEvents`` (the widget
        passes Slicer's, so the panel stays live), and :meth:`cancelBoneMap` stops it.
        """
        if volume is None:
            return "!" + _("Select the input volume first: TotalSegmentator segments the bones of that volume.")
        import TotalSegmentator

        tsLogic = TotalSegmentator.TotalSegmentatorLogic()
        tsLogic.logCallback = self._boneMapProgress
        installError = getattr(TotalSegmentator, "InstallError", ())
        try:
            tsLogic.setupPythonRequirements()
        except installError as error:
            if getattr(error, "restartRequired", False):
                if slicer.util.confirmOkCancelDisplay(_("TotalSegmentator finished installing; Slicer must restart to use it. "
                                                        "Restart now? (Save your scene first.)")):
                    slicer.util.restart()
                return "!" + _("Restart Slicer to finish installing TotalSegmentator.")
            return "!" + _("TotalSegmentator could not be set up: {error}").format(error=error)
        if quality is None:
            import torch

            hasGpu = bool(torch.cuda.is_available()) or bool(getattr(getattr(torch.backends, "mps", None), "is_available", lambda: False)())
            quality = self.totalSegmentatorQuality(hasGpu)
        follow = tsLogic.logProcessOutput

        def followCancellable(process, *args, **kwargs):
            self._boneMapProcess = process
            return follow(process, *args, **kwargs)

        tsLogic.logProcessOutput = followCancellable
        self._boneMapCancelled, self._boneMapProcess = False, None
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"{volume.GetName()} bones")
        self.log(_("TotalSegmentator ({quality} model) is segmenting the bones ...").format(quality=quality))
        try:
            tsLogic.process(volume, segmentation, quality=quality, task=task, interactive=False)
        except Exception:
            slicer.mrmlScene.RemoveNode(segmentation)
            if self._boneMapCancelled:
                return "!" + _("TotalSegmentator was cancelled: no bone map was made.")
            raise
        finally:
            self._boneMapProcess = None
        return segmentation

    def segmentBones(self, volume, task: str = "total") -> str:
        """:meth:`createBoneMap` for the panel: the new segmentation becomes the parameter node's bone map. Returns a
        status message ("!" first on a problem)."""
        result = self.createBoneMap(volume, task)
        if isinstance(result, str):
            return result
        self.getParameterNode().boneMap = result
        return _("Bone map created with TotalSegmentator.")

    def _boneMapProgress(self, line: str) -> None:
        self.log(line)
        if self.processEvents:
            self.processEvents()  # the reader may press Cancel

    def cancelBoneMap(self) -> None:
        """Stop a running TotalSegmentator (its process is killed; nothing is added to the scene)."""
        self._boneMapCancelled = True
        if self._boneMapProcess is not None:
            self._boneMapProcess.kill()
