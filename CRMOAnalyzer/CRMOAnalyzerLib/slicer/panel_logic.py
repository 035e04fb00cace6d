"""The panel's logic: everything the CRMO Analyzer panel does, scriptable and tested without Qt.

Analyze scene nodes, record the reader's edits in the scene, publish the tables and report, compare with a baseline,
export, send, propose candidates, run TotalSegmentator, and install the panel's requirements (asked once, with
Slicer's own packages pinned). What the panel shows comes from here too: the lesion table's columns (with each
editable column's choices) and cells, the results after each action (:class:`Results`), the regenerate button's text,
the send destinations remembered in Slicer's settings. The widget (``CRMOAnalyzer.py``) only binds Qt signals to these
methods and shows what they return; the module's logic class adds Slicer's parameter node. Calls Slicer's MRML through :mod:`.mrml`; imports Slicer, never Qt; the
rest of CRMOAnalyzerLib only after its dependencies are present. Messages go through ``logCallback``.
"""

import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Optional

import slicer
from slicer.i18n import tr as _
from slicer.util import VTKObservationMixin

from .bone_segmentation import TotalSegmentatorMixin
from .panel_candidates import CandidatesMixin
from .panel_send import SendMixin
from .requirements import MODULE_DIR, RequirementsMixin

#: the bundled synthetic sample study (resources of the core package)
SAMPLE_STUDY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources", "sample")
#: the lesion table: (title, kind), kind the model field or finding the column shows (and edits, see ``tableColumns``)
TABLE_COLUMNS = (("Lesion", "label"), ("Site", "site"), ("Bone", "bone"), ("Side", "side"), ("Sub-location", "sublocation"),
                 ("Volume (mm³)", "volume"), ("Character", "character"), ("Marrow edema", "marrow_edema"),
                 ("Periosteal reaction", "periosteal_reaction"), ("Soft-tissue inflammation", "soft_tissue_inflammation"),
                 ("Bony expansion", "bony_expansion"), ("Vertebral collapse", "vertebral_collapse"),
                 ("Symptomatic", "symptomatic"), ("Note", "note"), ("Warnings", "warnings"))
#: milliseconds without a further edit of the lesion node before the panel analyses again; between looks at a candidate search
REFRESH_DELAY_MS = 400
CANDIDATES_POLL_MS = 200


@dataclass(frozen=True)
class Column:
    """A lesion table column: ``editor`` is "choice" (one of ``choices``), "check" (a yes/no finding), "text" or ""
    (shown, not edited)."""

    title: str
    kind: str
    editor: str = ""
    choices: tuple = ()


@dataclass(frozen=True)
class Results:
    """What the panel shows: the lesion table's :class:`Column` s and rows (lesion ID, one value per column: a bool for a
    "check" column, else text), the distribution and comparison table nodes, the report text, the regenerate button's
    text."""

    columns: list
    rows: list
    distribution: object = None
    comparison: object = None
    report: str = ""
    regenerateLabel: str = ""


class PanelLogic(RequirementsMixin, TotalSegmentatorMixin, CandidatesMixin, SendMixin, VTKObservationMixin):
    """Scriptable without the widget: analyze scene nodes, record edits, publish tables and report.

    The module's ``CRMOAnalyzerLogic`` is this with Slicer's ``ScriptedLoadableModuleLogic`` (and its typed parameter
    node, ``getParameterNode``).
    """

    def __init__(self) -> None:
        VTKObservationMixin.__init__(self)
        self.logCallback = None
        self.study = None
        self.lesionNode = None
        self.nodes = {}
        self.baseline = None
        self.comparison = None
        self.storing = False
        self._terminologiesLoaded = False
        self._requirementsMet = False
        self._installDeclined = False
        self._observed = None
        self._onLesionNodeChanged = None
        self.processEvents = None  # the widget sets Slicer's, so long runs keep the panel live
        self.swappedInputs = None  # why the last inputs looked swapped (the reader may analyse anyway)
        self.candidates = None  # the "CRMO candidates (AUTOMATIC)" segmentation
        self._candidatesRun = None  # (process, folder, image node) of a running candidate search
        self._boneMapProcess = None
        self._boneMapCancelled = False

    def log(self, text: str) -> None:
        logging.info(text)
        if self.logCallback:
            self.logCallback(text)

    # -- watching the lesion node: paint strokes, points placed or moved --
    def lesionNodeEvents(self, node) -> list:
        if node.IsA("vtkMRMLSegmentationNode"):
            # painting changes a segment's voxels: SourceRepresentationModified, not SegmentModified
            return [slicer.vtkSegmentation.SegmentAdded, slicer.vtkSegmentation.SegmentRemoved,
                    slicer.vtkSegmentation.SegmentModified, slicer.vtkSegmentation.SourceRepresentationModified]
        if node.IsA("vtkMRMLMarkupsNode"):
            return [slicer.vtkMRMLMarkupsNode.PointAddedEvent, slicer.vtkMRMLMarkupsNode.PointRemovedEvent,
                    slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent]
        return [slicer.vtkMRMLVolumeNode.ImageDataModifiedEvent]

    def observeLesionNode(self, node, onChanged) -> None:
        """Call ``onChanged()`` when the reader changes the lesions of ``node`` (not when the panel stores findings)."""
        self.stopObserving()
        self._observed, self._onLesionNodeChanged = node, onChanged
        if node is not None:
            for event in self.lesionNodeEvents(node):
                self.addObserver(node, event, self._lesionNodeModified)

    def stopObserving(self) -> None:
        self.removeObservers()
        self._observed, self._onLesionNodeChanged = None, None

    def stop(self) -> None:
        """The reader left the module: nothing keeps running (no observer, no candidate search)."""
        self.stopObserving()
        self.cancelCandidates()

    def sceneClosed(self) -> str:
        """The scene is closing: forget its study; returns what the panel says."""
        self.stopObserving()
        self.forget()
        return _("Scene closed: the panel is empty. Your findings were saved with the scene if you saved it.")

    def _lesionNodeModified(self, caller=None, event=None) -> None:
        if not self.storing and self._onLesionNodeChanged is not None:
            self._onLesionNodeChanged()

    def refreshWanted(self, boneMap) -> bool:
        """Whether an edit of the lesion node should analyse again: once there is a study, or a bone map to read."""
        return self.study is not None or boneMap is not None

    def lesionNodeDeleted(self) -> str:
        """After a node was removed: when it was the lesion node, forget the study and say what to do ("" otherwise)."""
        if self.lesionNode is None or self.lesionNode.GetScene() is not None:
            return ""
        self.stopObserving()
        self.forget()
        return _("The lesion node was deleted: select another lesion node and press Analyze.")

    # -- analysis and edits --
    def boneMapIsRead(self, boneMap) -> bool:
        """Whether the bone map is already read (a refresh is quick) or must be read (show progress)."""
        from CRMOAnalyzerLib.slicer import mrml

        return boneMap is not None and mrml.bone_map_is_cached(boneMap)

    def askToAnalyzeAnyway(self, message: str) -> bool:
        """After :meth:`analyze` said ``message``: True when the inputs looked swapped and the reader wants them analysed
        anyway (asked); any other problem is shown in a warning too."""
        if not message.startswith("!"):
            return False
        if self.swappedInputs:
            return bool(slicer.util.confirmYesNoDisplay(self.swappedInputs + "\n\n" + _("Analyze them as given anyway?"),
                                                        windowTitle=_("CRMO Analyzer")))
        slicer.util.warningDisplay(message[1:], windowTitle=_("CRMO Analyzer"))
        return False

    def analysisBusyText(self, boneMap) -> str:
        """What the progress dialog says while analysing ("" when it is quick: no dialog)."""
        return "" if self.boneMapIsRead(boneMap) else _("Reading the bone map and localizing the lesions ...")

    def analyze(self, lesionNode, boneMap, volume=None, force: bool = False) -> str:
        """Analyze and publish; returns a status message ("!" first when it is a problem for the user).

        Inputs that look swapped (a bone map as lesions, a lesion map as bones) are analysed only with ``force``;
        until then ``swappedInputs`` holds the reason, for the panel to ask the reader.
        """
        mrml = self._mrml()
        from CRMOAnalyzerLib.errors import CRMOInputError

        self.swappedInputs = None
        if lesionNode is None:
            return "!" + _("Select a lesion node (segmentation, label map or point list), or press Add lesion.")
        if boneMap is None:
            return "!" + _("No bone map: select a bone segmentation or label map, or create one with TotalSegmentator.")
        try:
            info = mrml.study_info(slicer.mrmlScene)
            study = mrml.analyze_nodes(lesions=lesionNode, bones=boneMap, volume=volume,
                                       patient=info.get("patient"), study=info.get("study"), force=force)
        except mrml.SwappedInputs as error:
            self.swappedInputs = str(error)
            return "!" + str(error)
        except CRMOInputError as error:
            return "!" + str(error)
        study.clinical = dict(info.get("clinical") or {})
        self.study, self.lesionNode = study, lesionNode
        self._store()
        self.publish()
        message = (_("{count} lesions analysed.").format(count=len(study.lesions)) if study.lesions
                   else _("No lesion annotated: a valid study with no lesion (a normal exam)."))
        if study.warnings:
            message += " " + _("Check: ") + "; ".join(study.warnings[:3]) + (" ..." if len(study.warnings) > 3 else "")
        return message

    def _store(self, lesionIds=None) -> None:
        """Keep what the reader recorded in the scene: in the lesion node, or with the study when it has none."""
        mrml = self._mrml()
        self.storing = True
        try:
            if self.lesionNode is not None:
                mrml.mark_edited_candidates(self.lesionNode)
                mrml.store_annotations(self.study, self.lesionNode, lesionIds)
                mrml.store_study(None, slicer.mrmlScene)
            else:
                mrml.store_study(self.study, slicer.mrmlScene)
        finally:
            self.storing = False

    def publish(self) -> None:
        """Publish tables and report (a reader's edited report is kept); with a baseline, the comparison follows."""
        mrml = self._mrml()
        self._updateComparison()
        self.nodes = mrml.publish(self.study, slicer.mrmlScene, True, comparison=self.comparison, parent=self.lesionNode)
        if self.comparison is not None:
            self.nodes[mrml.COMPARISON_TABLE] = mrml.publish_comparison(self.comparison, slicer.mrmlScene)
            mrml.place_beside(self.lesionNode, [self.nodes[mrml.COMPARISON_TABLE]])

    def _updateComparison(self) -> None:
        from CRMOAnalyzerLib.reading.compare import compare_studies
        from CRMOAnalyzerLib.errors import CRMOInputError

        self.comparison = None
        if self.baseline is None or self.study is None:
            return
        try:  # force: the reader accepted a patient mismatch when pressing Compare
            self.comparison = compare_studies(self.baseline, self.study, force=True, sources=(_("the baseline"), _("the current study")))
        except CRMOInputError as error:
            self.log(str(error))

    def lesionTableRows(self) -> list:
        from CRMOAnalyzerLib.reading.tables import lesion_rows

        return [{**row, "volume": row["volume_mm3"]} for row in lesion_rows(self.study)]

    def boneChoices(self) -> list:
        from CRMOAnalyzerLib.anatomy import bones

        return ["unassigned", *bones()]

    def sublocationChoices(self) -> list:
        """"" (none) and every sub-location a study may hold (``study.schema.json``, the contract the localizer writes)."""
        from CRMOAnalyzerLib.io.files import read_json, resource

        schema = read_json(resource("study.schema.json"), "study schema")
        return ["", *(value for value in schema["$defs"]["lesion"]["properties"]["sublocation"]["enum"] if value is not None)]

    def tableColumns(self) -> list:
        """The lesion table's :class:`Column` s: the bone, side, sub-location and character are chosen from the model's
        values, the yes/no findings ticked, the note typed; the rest is shown only."""
        from CRMOAnalyzerLib.model import FINDINGS

        choices = {"bone": tuple(self.boneChoices()), "side": ("", "left", "right"),
                   "sublocation": tuple(self.sublocationChoices()), "character": ("", *FINDINGS["character"])}
        columns = []
        for title, kind in TABLE_COLUMNS:
            editor = ("choice" if kind in choices else "check" if FINDINGS.get(kind) is bool
                      else "text" if FINDINGS.get(kind) is str else "")
            columns.append(Column(_(title), kind, editor, choices.get(kind, ())))
        return columns

    def tableCells(self) -> list:
        """(lesion ID, one value per :meth:`tableColumns` column) for each lesion, head to toe."""
        columns = self.tableColumns()
        return [(row["id"], [row.get(column.kind) == "yes" if column.editor == "check" else str(row.get(column.kind, ""))
                             for column in columns]) for row in self.lesionTableRows()]

    def editCell(self, lesionId: str, column: int, value) -> bool:
        """The reader changed a cell: record it (:meth:`edit`) unless the column is not editable or nothing changed;
        returns whether it was recorded (the table must then be shown again)."""
        edited = self.tableColumns()[column]
        if not edited.editor or edited.editor == "choice" and value not in edited.choices:
            return False
        current = dict(self.tableCells()).get(lesionId)
        if current is None or current[column] == value:
            return False
        self.edit(lesionId, edited.kind, value)
        return True

    def results(self) -> Optional[Results]:
        """What the panel shows now; None before any study (the panel keeps what it shows)."""
        if self.study is None:
            return None
        mrml = self._mrml()
        return Results(self.tableColumns(), self.tableCells(), self.nodes.get(mrml.DISTRIBUTION_TABLE),
                       self.nodes.get(mrml.COMPARISON_TABLE), self.reportText(), self.regenerateLabel())

    def emptyResults(self) -> Results:
        """An empty panel (the scene was closed, the lesion node deleted)."""
        return Results([], [], regenerateLabel=self.regenerateLabel(edited=False))

    def regenerateLabel(self, edited: Optional[bool] = None) -> str:
        """The regenerate button's text: it warns when regenerating would discard the reader's edits."""
        edited = self.reportEdited() if edited is None else edited
        return _("Regenerate report (discards your edits)") if edited else _("Regenerate report")

    def edit(self, lesionId: str, kind: str, value) -> None:
        """Record a finding or an override of one lesion, in the study and in the scene, and republish."""
        lesion = self.study.lesion(lesionId)
        if kind in ("bone", "side", "sublocation"):
            lesion.override(**{kind: value or None})
        elif value in ("", None, False) and kind != "note":
            lesion.findings.pop(kind, None)
        else:
            lesion.findings[kind] = value
        self._store([lesionId])
        self.publish()

    # -- the report: the reader's edits are stored at once and never overwritten --
    def reportText(self) -> str:
        node = self._mrml().report_node(slicer.mrmlScene)
        return (node.GetText() or "") if node is not None else ""

    def reportEdited(self) -> bool:
        return self._mrml().report_edited(slicer.mrmlScene)

    def setReportText(self, text: str) -> None:
        """The reader edited the report: the text node holds the edit now (a scene saved next keeps it)."""
        self._mrml().set_report_text(slicer.mrmlScene, text)

    def regenerateReport(self) -> str:
        """Drop the reader's edits and write the generated report; returns it."""
        self._mrml().set_report_text(slicer.mrmlScene, None)
        if self.study is not None:
            self.publish()
        return self.reportText()

    def centreOn(self, lesionId: str) -> None:
        if self.study is not None:
            self._mrml().centre_views(slicer.mrmlScene, self.study.lesion(lesionId).centroid_ras)

    def forget(self) -> None:
        self.study, self.lesionNode, self.nodes = None, None, {}
        self.baseline, self.comparison = None, None
        if "CRMOAnalyzerLib.slicer.mrml" in sys.modules:
            sys.modules["CRMOAnalyzerLib.slicer.mrml"].forget_bone_map()

    def sceneHasStudy(self) -> bool:
        """Whether the scene holds a study the panel published (cheap: no package is imported or installed)."""
        nodes = slicer.mrmlScene.GetNodesByClass("vtkMRMLTextNode")
        return any(nodes.GetItemAsObject(i).GetAttribute("CRMOAnalyzer.role") == "report" for i in range(nodes.GetNumberOfItems()))

    def restore(self, lesionNode=None, boneMap=None, volume=None) -> str:
        """After a scene is opened: bring back the study it holds (annotations, report edits, comparison).

        With lesion and bone nodes, analysis re-reads the findings and overrides stored in the lesion node;
        a study loaded from study.json without nodes comes back from the scene as the reader left it.
        Returns a status message, "" when the scene holds no study.
        """
        if not self.sceneHasStudy():
            return ""
        mrml = self._mrml()
        self.baseline = mrml.stored_baseline(slicer.mrmlScene)
        stored = mrml.stored_study(slicer.mrmlScene)
        if stored is not None:
            self.study, self.lesionNode = stored, None
            self.publish()
            return _("Study restored from the scene ({count} lesions, not linked to scene nodes).").format(count=len(stored.lesions))
        if lesionNode is not None and boneMap is not None:
            return self.analyze(lesionNode, boneMap, volume)
        return ""

    @classmethod
    def registerSampleData(cls) -> bool:
        """Register "CRMOAnalyzerSample" in Sample Data: one click loads the bundled sample study (:meth:`loadSampleStudy`
        of a new logic). Returns False for an install without the sample."""
        import SampleData

        if not os.path.isdir(SAMPLE_STUDY):
            return False
        SampleData.SampleDataLogic.registerCustomSampleDataSource(  # no download: the files are here (lists: Slicer needs them)
            category="CRMO Analyzer", sampleName="CRMOAnalyzerSample", uris=[], fileNames=[], nodeNames=[],
            thumbnailFileName=os.path.join(MODULE_DIR, "Resources", "Icons", "CRMOAnalyzer.png"),
            customDownloader=lambda source: cls().loadSampleStudy())
        return True

    def loadSampleStudy(self, folder: str = SAMPLE_STUDY) -> str:
        """Load the bundled synthetic sample study, select it in the panel's inputs and analyse it."""
        nodes = self._mrml().load_sample_study(slicer.mrmlScene, folder)
        parameters = self.getParameterNode()
        parameters.inputVolume, parameters.boneMap, parameters.lesionNode = nodes["image"], nodes["bones"], nodes["lesions"]
        return self.analyze(nodes["lesions"], nodes["bones"], nodes["image"])

    def addLesion(self, node=None) -> str:
        """Start placing a point, or add an empty segment to paint, for a new lesion; with no lesion node, a new
        "CRMO lesions" point list becomes the parameter node's."""
        if node is None:
            node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", _("CRMO lesions"))
            self.getParameterNode().lesionNode = node
        if node.IsA("vtkMRMLMarkupsFiducialNode"):
            selection = slicer.app.applicationLogic().GetSelectionNode()
            selection.SetReferenceActivePlaceNodeClassName("vtkMRMLMarkupsFiducialNode")
            selection.SetActivePlaceNodeID(node.GetID())
            slicer.app.applicationLogic().GetInteractionNode().SetCurrentInteractionMode(slicer.vtkMRMLInteractionNode.Place)
            return _("Click on the lesion in a view to place its point.")
        if node.IsA("vtkMRMLSegmentationNode"):
            count = node.GetSegmentation().GetNumberOfSegments()
            segmentId = node.GetSegmentation().AddEmptySegment("", _("Lesion {n}").format(n=count + 1))
            slicer.util.selectModule("SegmentEditor")
            editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
            editor.setSegmentationNode(node)
            editor.setCurrentSegmentID(segmentId)
            return _("Paint the new segment in the Segment Editor; come back and the tables update.")
        return "!" + _("Lesions in a label map volume are drawn with the Segment Editor or an external tool.")

    # -- study.json --
    def readyToSave(self) -> str:
        """"" when there is a study to save, else why not ("!" first)."""
        return "" if self.study is not None else "!" + _("Nothing to save yet: press Analyze first.")

    def saveStudy(self, path: str) -> str:
        """Save the study as ``study.json``; returns a status message ("!" first when there is nothing to save)."""
        from CRMOAnalyzerLib.reading.read import read

        if self.readyToSave():
            return self.readyToSave()
        read(self.study).save(path)
        return _("Study saved to {path}").format(path=path)

    def loadStudy(self, path: str, lesionNode=None, boneMap=None, volume=None) -> str:
        """Load ``study.json``; with scene nodes selected, its findings and overrides go onto their lesions."""
        from CRMOAnalyzerLib.errors import CRMOInputError
        from CRMOAnalyzerLib.model import load_study

        mrml = self._mrml()
        try:
            loaded = load_study(path)
        except CRMOInputError as error:
            return "!" + str(error)
        mrml.set_report_text(slicer.mrmlScene, None)  # a new study: its report is generated again
        if lesionNode is None or boneMap is None:
            self.study, self.lesionNode = loaded, None
            self._store()
            self.publish()
            return _("Study loaded (not linked to scene nodes: select them and press Analyze to link).")
        message = self.analyze(lesionNode, boneMap, volume)
        if message.startswith("!"):
            return message
        matched = mrml.apply_annotations(self.study, loaded)
        self.study.patient, self.study.study, self.study.clinical = loaded.patient, loaded.study, loaded.clinical
        self._store()
        self.publish()
        return _("Study loaded: {matched} of {count} lesions matched the scene.").format(matched=matched, count=len(self.study.lesions))

    # -- follow-up --
    def compare(self, baselinePath: str, force: bool = False) -> str:
        """Compare the current study with a baseline ``study.json``: publish the "CRMO comparison" table and the
        report's follow-up paragraph (added to the reader's text when it is edited). Returns a status message
        ("!" first when it is a problem for the user)."""
        mrml = self._mrml()
        from CRMOAnalyzerLib.reading.compare import same_patient
        from CRMOAnalyzerLib.errors import CRMOInputError
        from CRMOAnalyzerLib.model import load_study

        if self.study is None:
            return "!" + _("No current study: press Analyze (or load a study) first, then compare it with the baseline.")
        if not baselinePath:
            return "!" + _("Choose the baseline study.json (an earlier exam of the same patient).")
        try:
            baseline = load_study(baselinePath)
        except CRMOInputError as error:
            return "!" + str(error)
        problem = same_patient(baseline, self.study)
        if problem and not force:
            return "!" + _("Not the same patient: {problem}. Tick 'Compare even if the patient differs' to compare anyway.").format(problem=problem)
        previous = self.comparison.paragraph() if self.comparison is not None else None
        self.baseline = baseline
        self.publish()
        if self.comparison is None:
            self.baseline = None
            return "!" + _("Nothing to compare: neither study has a lesion.")
        mrml.store_baseline(baseline, slicer.mrmlScene)
        if self.reportEdited():
            self.setReportText(self._withFollowUp(self.reportText(), previous))
        counts = self.comparison.summary()
        message = _("{new} new, {resolved} resolved, {persistent} persistent lesions.").format(**counts)
        return " ".join([message, *self.comparison.warnings])

    def _withFollowUp(self, text: str, previous: Optional[str]) -> str:
        """The reader's report text with the follow-up paragraph: replacing the previous one, else appended."""
        paragraph = self.comparison.paragraph()
        if previous and previous in text:
            return text.replace(previous, paragraph)
        return text.rstrip() + "\n\nFOLLOW-UP\n" + paragraph + "\n"

    # -- exports --
    def exportFormats(self) -> list:
        """(key, label) of each format the panel exports (those of ``crmo-analyzer report --format``)."""
        from CRMOAnalyzerLib.slicer.panel_exports import PANEL_FORMATS

        return [(key, chosen.label) for key, chosen in PANEL_FORMATS.items()]

    def export(self, panelFormat: str, outDir: str, dicomDir: str = "", keyFile: str = "", accession: str = "") -> str:
        """Write the study in a panel format into ``outDir`` with the CLI's own writers (atomic files).

        The report the panel shows (the text node, with the reader's edits and any follow-up paragraph) goes out.
        Returns a status message ("!" first when it is a problem for the user: a missing input, bad data).
        """
        self.ensureRequirements()
        from CRMOAnalyzerLib.errors import CRMOInputError
        from CRMOAnalyzerLib.slicer.panel_exports import export_study

        if self.study is None:
            return "!" + _("Nothing to export yet: press Analyze (or load a study) first.")
        try:
            with tempfile.TemporaryDirectory() as folder:
                lesions = self._lesionVoxelsFile(folder) if panelFormat == "sr" else None
                written = export_study(self.study, panelFormat, outDir, dicom=dicomDir or None, key_file=keyFile or None,
                                       lesions=lesions, accession=(accession or "").strip() or None,
                                       text=self.reportText() or None, baseline=self.baseline)
        except CRMOInputError as error:
            return "!" + str(error)
        return _("Wrote {files}").format(files=", ".join(str(path) for path in written))

    def exportToDicomDatabase(self, dicomDir: str = "") -> str:
        """Write the SR (and SEG) and add them to Slicer's DICOM database, so the DICOM browser lists them with the
        images (as QuantitativeReporting does). Returns a status message ("!" first on a problem)."""
        database = getattr(slicer, "dicomDatabase", None)
        if database is None or not database.isOpen:
            return "!" + _("Slicer's DICOM database is not open: open the DICOM module once, then export again.")
        folder = tempfile.mkdtemp(prefix="CRMOAnalyzer-DICOM-")
        message = self.export("sr", folder, dicomDir=dicomDir)
        if message.startswith("!"):
            return message
        from DICOMLib import DICOMUtils

        DICOMUtils.importDicom(folder, database, copyFiles=True)
        names = sorted(name for name in os.listdir(folder) if name.endswith(".dcm"))
        return _("Added to the DICOM database: {files}").format(files=", ".join(names))
