"""Lesion candidates in the panel: proposed AUTOMATIC in a background process; the reader accepts or rejects each.

A part of :class:`~.panel_logic.PanelLogic` (which holds the state these methods use)."""

import os
import shutil
import subprocess
import sys
import tempfile
import types
from typing import Optional

import slicer
from slicer.i18n import tr as _


class CandidatesMixin:
    """Lesion candidates in the panel (a part of the panel's logic)."""

    # -- lesion candidates: proposed AUTOMATIC; the reader accepts or rejects each --
    def findCandidates(self, volume, boneMap) -> str:
        """Propose lesion candidates (blocking): :meth:`startCandidates`, then wait for it."""
        message = self.startCandidates(volume, boneMap)
        if message.startswith("!"):
            return message
        while True:
            message = self.pollCandidates(wait=0.2)
            if message is not None:
                return message

    def startCandidates(self, volume, boneMap) -> str:
        """Start ``crmo-analyzer candidates`` on the image and the bone map as a background process (the panel stays
        live; :meth:`pollCandidates` shows them when it ends, :meth:`cancelCandidates` stops it). Returns a status
        message ("!" first on a problem)."""
        mrml = self._mrml()
        from CRMOAnalyzerLib.errors import CRMOInputError
        from CRMOAnalyzerLib.io.images import write_image
        from CRMOAnalyzerLib.io.labelnames import write_label_names

        if volume is None or boneMap is None:
            return "!" + _("Select the image (STIR) and the bone map first: candidates are looked for inside the bones.")
        self.cancelCandidates()
        folder = tempfile.mkdtemp(prefix="CRMOAnalyzer-candidates-")
        try:
            bonemap = mrml.bone_map(boneMap)
            write_image(os.path.join(folder, "stir.nrrd"), mrml.volume_image(volume, "STIR image"))
            write_image(os.path.join(folder, "bones.nrrd"), bonemap.labelmap)
        except CRMOInputError as error:
            return "!" + str(error)
        write_label_names(os.path.join(folder, "bones.json"), bonemap.names)
        python = shutil.which("PythonSlicer") or sys.executable
        command = [python, "-c", "from CRMOAnalyzerLib.cli.main import entry_point; entry_point()", "-q", "candidates",
                   "--image", os.path.join(folder, "stir.nrrd"), "--bones", os.path.join(folder, "bones.nrrd"),
                   "--bone-labels", os.path.join(folder, "bones.json"), "--out", os.path.join(folder, "out")]
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [os.path.dirname(os.path.abspath(__file__)), os.environ.get("PYTHONPATH")])))
        self._candidatesRun = (subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                                env=environment), folder, volume)
        return _("Looking for lesion candidates in the background ...")

    def pollCandidates(self, wait: float = 0.0, cancel: bool = False) -> Optional[str]:
        """None while the candidates run; when they end, publish them and return the status message. ``cancel`` (the
        reader pressed Cancel): stop the search and say so."""
        if cancel:
            self.cancelCandidates()
            return _("Candidate search cancelled: nothing was added.")
        if self._candidatesRun is None:
            return "!" + _("No candidate search is running.")
        process, folder, volume = self._candidatesRun
        try:
            process.wait(timeout=wait) if wait else None
        except subprocess.TimeoutExpired:
            return None
        if process.poll() is None:
            return None
        self._candidatesRun = None
        error = (process.stderr.read() or "").strip().splitlines()
        if process.returncode != 0:
            return "!" + (error[-1] if error else _("the candidate search stopped (exit {code})").format(code=process.returncode))
        from CRMOAnalyzerLib.io.files import read_json
        from CRMOAnalyzerLib.io.images import read_labelmap

        out = os.path.join(folder, "out")
        found = read_json(os.path.join(out, "candidates.json"), "candidates")["candidates"]
        result = types.SimpleNamespace(labelmap=read_labelmap(os.path.join(out, "candidates.nii.gz"), "candidates"),
                                       candidates=[types.SimpleNamespace(**candidate) for candidate in found])
        mrml = self._mrml()
        self.candidates = mrml.publish_candidates(result, slicer.mrmlScene, reference=volume)
        mrml.place_beside(volume, [self.candidates])
        if not found:
            return _("No lesion candidate found (the reader decides; this only proposes).")
        return _("{count} candidates proposed (AUTOMATIC): accept or reject each.").format(count=len(found))

    def cancelCandidates(self) -> None:
        """Stop a running candidate search (nothing is added to the scene)."""
        if self._candidatesRun is not None:
            self._candidatesRun[0].kill()
            self._candidatesRun[0].wait()
            self._candidatesRun = None

    def candidateList(self) -> list:
        """(segment ID, name, facts) of the candidates still to decide on."""
        if self.candidates is None or self.candidates.GetScene() is None:
            return []
        return self._mrml().candidate_segments(self.candidates)

    def centreOnCandidate(self, segmentId: str) -> None:
        facts = dict((sid, f) for sid, _name, f in self.candidateList()).get(segmentId) or {}
        if facts.get("centroid_ras"):
            self._mrml().centre_views(slicer.mrmlScene, facts["centroid_ras"])

    def acceptCandidate(self, segmentId: str, lesionNode=None) -> str:
        """The candidate becomes a lesion of ``lesionNode`` (a new "CRMO lesions" segmentation when there is none)."""
        from CRMOAnalyzerLib.errors import CRMOInputError

        mrml = self._mrml()
        if self.candidates is None or not segmentId:
            return "!" + _("No candidate chosen: press Find candidates, then choose one.")
        if lesionNode is None:  # a new lesion node, selected in the panel
            lesionNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", _("CRMO lesions"))
            self.getParameterNode().lesionNode = lesionNode
        try:
            mrml.accept_candidate(self.candidates, segmentId, lesionNode)
        except CRMOInputError as error:
            return "!" + str(error)
        self.lesionNode = lesionNode
        return _("Candidate accepted as a lesion of {node}; analyse to see it in the tables.").format(node=lesionNode.GetName())

    def rejectCandidate(self, segmentId: str) -> str:
        if self.candidates is None or not segmentId:
            return "!" + _("No candidate chosen: press Find candidates, then choose one.")
        self.candidates.GetSegmentation().RemoveSegment(segmentId)
        return _("Candidate rejected.")
