"""CRMO Analyzer: mark CRMO lesions, see their bone, side and sub-location, tabulate and report.

Slicer's scripted-module template (module, widget, logic, test). The widget only wires the panel
to the logic; the logic calls the MRML adapter ``CRMOAnalyzerLib.mrml`` and the core. Nothing here
computes anatomy.
"""

import importlib.util
import logging
import os
import tempfile
from typing import Annotated, Optional, Union

import qt
import slicer
from slicer import (vtkMRMLLabelMapVolumeNode, vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode,
                    vtkMRMLSegmentationNode)
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

#: Python modules the core needs that Slicer may lack: import name -> pip requirement
REQUIREMENTS_FILE = "requirements.txt"
BOOLEAN_FINDINGS = ("marrow_edema", "periosteal_reaction", "soft_tissue_inflammation", "bony_expansion",
                    "vertebral_collapse", "symptomatic")
SIDES = ("", "left", "right")
SUBLOCATIONS = ("", "epiphysis", "metaphysis", "diaphysis", "medial", "middle", "lateral", "vertebral body",
                "posterior elements")
CHARACTERS = ("", "lytic", "sclerotic", "mixed")
#: lesion table columns: (title, kind) where kind is the model field or finding it edits
TABLE_COLUMNS = [("ID", "id"), ("Site", "site"), ("Bone", "bone"), ("Side", "side"), ("Sub-location", "sublocation"),
                 ("Volume (mm³)", "volume"), ("Character", "character"), ("Marrow edema", "marrow_edema"),
                 ("Periosteal reaction", "periosteal_reaction"), ("Soft-tissue inflammation", "soft_tissue_inflammation"),
                 ("Bony expansion", "bony_expansion"), ("Vertebral collapse", "vertebral_collapse"),
                 ("Symptomatic", "symptomatic"), ("Note", "note"), ("Warnings", "warnings")]
REFRESH_DELAY_MS = 400


#
# CRMOAnalyzer
#

class CRMOAnalyzer(ScriptedLoadableModule):
    """Module description for Slicer's module list."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CRMO Analyzer")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = []
        self.parent.contributors = ["CRMO Analyzer developers"]
        self.parent.helpText = _(
            "Mark bone lesions of chronic recurrent multifocal osteomyelitis (CRMO) as segments or points; "
            "the panel localizes each lesion (bone, side, sub-location) from a bone segmentation, tabulates the "
            "distribution and drafts report text. Decision support, not a diagnosis.")
        self.parent.acknowledgementText = _(
            "Bone names and codes follow TotalSegmentator and SlicerTotalSegmentator; distribution rules follow "
            "Khanna et al., RadioGraphics 2009;29:1159-77.")


#
# CRMOAnalyzerParameterNode
#

@parameterNodeWrapper
class CRMOAnalyzerParameterNode:
    """The panel's inputs: the image, the bone map, the lesion node, and options."""

    inputVolume: vtkMRMLScalarVolumeNode
    boneMap: Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]
    lesionNode: Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode, vtkMRMLMarkupsFiducialNode]
    boneTask: Annotated[str, Choice(["total", "total_mr"])] = "total"
    autoRefresh: bool = True
    forceCompare: bool = False


#
# CRMOAnalyzerWidget
#

class CRMOAnalyzerWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: selectors, lesion table, distribution table, report; all work goes to the logic."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedLesionNode = None
        self._fillingTable = False
        self._reportEdited = False
        self._refreshTimer = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CRMOAnalyzer.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CRMOAnalyzerLogic()
        self.logic.logCallback = self.showMessage

        self._refreshTimer = qt.QTimer()
        self._refreshTimer.setSingleShot(True)
        self._refreshTimer.setInterval(REFRESH_DELAY_MS)
        self._refreshTimer.connect("timeout()", self.onRefreshTimeout)

        self.ui.totalSegmentatorButton.visible = self.logic.totalSegmentatorAvailable()
        self.ui.totalSegmentatorTaskComboBox.visible = self.logic.totalSegmentatorAvailable()
        self.ui.lesionTable.setColumnCount(len(TABLE_COLUMNS))
        self.ui.lesionTable.setHorizontalHeaderLabels([title for title, _kind in TABLE_COLUMNS])
        for key, label in self.logic.exportFormats():
            self.ui.exportFormatComboBox.addItem(label, key)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.NodeAboutToBeRemovedEvent, self.onNodeAboutToBeRemoved)

        self.ui.analyzeButton.connect("clicked(bool)", self.onAnalyzeButton)
        self.ui.addLesionButton.connect("clicked(bool)", self.onAddLesionButton)
        self.ui.totalSegmentatorButton.connect("clicked(bool)", self.onTotalSegmentatorButton)
        self.ui.lesionTable.connect("cellClicked(int,int)", self.onLesionRowClicked)
        self.ui.lesionTable.connect("itemChanged(QTableWidgetItem*)", self.onLesionItemChanged)
        self.ui.reportTextEdit.connect("textChanged()", self.onReportEdited)
        self.ui.regenerateReportButton.connect("clicked(bool)", self.onRegenerateReport)
        self.ui.copyReportButton.connect("clicked(bool)", self.onCopyReport)
        self.ui.saveStudyButton.connect("clicked(bool)", self.onSaveStudy)
        self.ui.loadStudyButton.connect("clicked(bool)", self.onLoadStudy)
        self.ui.lesionSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onLesionNodeChanged)
        self.ui.exportButton.connect("clicked(bool)", self.onExportButton)
        self.ui.compareButton.connect("clicked(bool)", self.onCompareButton)
        self.initializeParameterNode()

    # -- parameter node, the template's way --
    def cleanup(self) -> None:
        self.removeObservers()
        if self._refreshTimer:
            self._refreshTimer.stop()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        self._refreshTimer.stop()
        self.setParameterNode(None)
        self.logic.forget()
        self.clearResults(_("Scene closed: the panel is empty. Your findings were saved with the scene if you saved it."))

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: Optional[CRMOAnalyzerParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
        self.observeLesionNode(self._parameterNode.lesionNode if self._parameterNode else None)

    # -- messages --
    def showMessage(self, text: str, error: bool = False, label=None) -> None:
        label = label or self.ui.statusLabel
        label.text = text
        label.setStyleSheet("color: #b00020;" if error else "")
        (logging.error if error else logging.info)(text)

    def showResult(self, message: str, label) -> bool:
        """Show a logic status message ("!" first: a problem) on a label; returns True when it is no problem."""
        problem = message.startswith("!")
        self.showMessage(message[1:] if problem else message, error=problem, label=label)
        return not problem

    def clearResults(self, message: str = "") -> None:
        self._fillingTable = True
        self.ui.lesionTable.setRowCount(0)
        self._fillingTable = False
        self.ui.distributionTableView.setMRMLTableNode(None)
        self.ui.comparisonTableView.setMRMLTableNode(None)
        self.ui.reportTextEdit.setPlainText("")
        self._reportEdited = False
        if message:
            self.showMessage(message)

    # -- lesion node observation: debounced refresh --
    def onLesionNodeChanged(self, node) -> None:
        self.observeLesionNode(node)

    def observeLesionNode(self, node) -> None:
        if self._observedLesionNode is not None:
            for event in self.logic.lesionNodeEvents(self._observedLesionNode):
                self.removeObserver(self._observedLesionNode, event, self.onLesionNodeModified)
        self._observedLesionNode = node
        if node is not None:
            for event in self.logic.lesionNodeEvents(node):
                self.addObserver(node, event, self.onLesionNodeModified)

    def onLesionNodeModified(self, caller=None, event=None) -> None:
        if self.logic.storing or not self._parameterNode or not self._parameterNode.autoRefresh:
            return
        self._refreshTimer.start()  # restarts: one analysis after the edits stop

    def onRefreshTimeout(self) -> None:
        if self.logic.study is not None or self._parameterNode.boneMap is not None:
            self.runAnalysis(quiet=True)

    def onNodeAboutToBeRemoved(self, caller, event) -> None:
        # called for every removed node; the removed node itself is not passed through this observer,
        # so check after the removal whether the nodes the panel shows still exist
        qt.QTimer.singleShot(0, self.checkNodesStillExist)

    def checkNodesStillExist(self) -> None:
        if self.logic.lesionNode is not None and self.logic.lesionNode.GetScene() is None:
            self.observeLesionNode(None)
            self.logic.forget()
            self.clearResults(_("The lesion node was deleted: select another lesion node and press Analyze."))

    # -- actions --
    def runAnalysis(self, quiet: bool = False) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("CRMO Analyzer could not analyze the lesions."), waitCursor=True):
            message = self.logic.analyze(p.lesionNode, p.boneMap, p.inputVolume,
                                         report=self.ui.reportTextEdit.toPlainText() if self._reportEdited else True)
            if message.startswith("!"):
                self.showMessage(message[1:], error=True)
                if not quiet:
                    slicer.util.warningDisplay(message[1:], windowTitle=_("CRMO Analyzer"))
                return
            self.showMessage(message)
            self.updateResults()

    def onAnalyzeButton(self) -> None:
        self.runAnalysis()

    def onAddLesionButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not add a lesion."), waitCursor=False):
            node = self._parameterNode.lesionNode
            if node is None:
                node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", _("CRMO lesions"))
                self._parameterNode.lesionNode = node
            self.showMessage(self.logic.addLesion(node))

    def onTotalSegmentatorButton(self) -> None:
        volume = self._parameterNode.inputVolume
        if volume is None:
            self.showMessage(_("Select the input volume first: TotalSegmentator segments the bones of that volume."), error=True)
            return
        with slicer.util.tryWithErrorDisplay(_("TotalSegmentator failed."), waitCursor=True):
            self._parameterNode.boneMap = self.logic.createBoneMap(volume, self._parameterNode.boneTask)
            self.showMessage(_("Bone map created with TotalSegmentator."))

    def updateResults(self) -> None:
        study = self.logic.study
        if study is None:
            return
        self._fillingTable = True
        table = self.ui.lesionTable
        table.setRowCount(len(study.lesions))
        for row, values in enumerate(self.logic.lesionTableRows()):
            for column, (_title, kind) in enumerate(TABLE_COLUMNS):
                self.setCell(row, column, kind, values)
        table.resizeColumnsToContents()
        self._fillingTable = False
        self.ui.distributionTableView.setMRMLTableNode(self.logic.nodes.get("CRMO distribution"))
        self.ui.comparisonTableView.setMRMLTableNode(self.logic.nodes.get("CRMO comparison"))
        if not self._reportEdited:
            self.setReportText(self.logic.nodes["CRMO report"].GetText())

    def setCell(self, row: int, column: int, kind: str, values: dict) -> None:
        table = self.ui.lesionTable
        lesionId = values["id"]
        choices = {"bone": self.logic.boneChoices(), "side": SIDES, "sublocation": SUBLOCATIONS, "character": CHARACTERS}
        if kind in choices:
            combo = qt.QComboBox()
            combo.addItems(list(choices[kind]))
            combo.setCurrentText(str(values.get(kind, "")))
            combo.connect("currentTextChanged(QString)",
                          lambda text, i=lesionId, k=kind: self.onLesionValueEdited(i, k, text))
            table.setCellWidget(row, column, combo)
            return
        item = qt.QTableWidgetItem()
        item.setData(qt.Qt.UserRole, lesionId)
        if kind in BOOLEAN_FINDINGS:
            item.setFlags(qt.Qt.ItemIsEnabled | qt.Qt.ItemIsUserCheckable | qt.Qt.ItemIsSelectable)
            item.setCheckState(qt.Qt.Checked if values.get(kind) == "yes" else qt.Qt.Unchecked)
        elif kind == "note":
            item.setText(str(values.get("note", "")))
        else:
            item.setText(str(values.get(kind, "")))
            item.setFlags(qt.Qt.ItemIsEnabled | qt.Qt.ItemIsSelectable)
        table.setItem(row, column, item)

    def onLesionItemChanged(self, item) -> None:
        if self._fillingTable:
            return
        kind = TABLE_COLUMNS[item.column()][1]
        lesionId = item.data(qt.Qt.UserRole)
        if kind in BOOLEAN_FINDINGS:
            self.onLesionValueEdited(lesionId, kind, item.checkState() == qt.Qt.Checked)
        elif kind == "note":
            self.onLesionValueEdited(lesionId, kind, item.text())

    def onLesionValueEdited(self, lesionId: str, kind: str, value) -> None:
        if self._fillingTable:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not record the change."), waitCursor=False):
            self.logic.edit(lesionId, kind, value, report=self.ui.reportTextEdit.toPlainText() if self._reportEdited else True)
            if kind in ("bone", "side", "sublocation"):
                self.updateResults()  # the site column follows the override
            elif not self._reportEdited:
                self.setReportText(self.logic.nodes["CRMO report"].GetText())

    def onLesionRowClicked(self, row: int, column: int) -> None:
        item = self.ui.lesionTable.item(row, 0)
        if item is not None:
            self.logic.centreOn(item.text())

    def setReportText(self, text: str) -> None:
        blocked = self.ui.reportTextEdit.blockSignals(True)
        self.ui.reportTextEdit.setPlainText(text)
        self.ui.reportTextEdit.blockSignals(blocked)

    def onReportEdited(self) -> None:
        self._reportEdited = True
        self.ui.regenerateReportButton.text = _("Regenerate report (discards your edits)")

    def onRegenerateReport(self) -> None:
        self._reportEdited = False
        self.ui.regenerateReportButton.text = _("Regenerate report")
        if self.logic.study is not None:
            self.logic.publish(report=True)
            self.setReportText(self.logic.nodes["CRMO report"].GetText())

    def onCopyReport(self) -> None:
        qt.QApplication.clipboard().setText(self.ui.reportTextEdit.toPlainText())
        self.showMessage(_("Report text copied to the clipboard."))

    def onSaveStudy(self) -> None:
        if self.logic.study is None:
            self.showMessage(_("Nothing to save yet: press Analyze first."), error=True)
            return
        path = qt.QFileDialog.getSaveFileName(None, _("Save study"), "study.json", "Study (*.json)")
        if path:
            with slicer.util.tryWithErrorDisplay(_("Could not save the study."), waitCursor=True):
                self.logic.saveStudy(path)
                self.showMessage(_("Study saved to {path}").format(path=path))

    def onExportButton(self) -> None:
        ui = self.ui
        with slicer.util.tryWithErrorDisplay(_("CRMO Analyzer could not export the study."), waitCursor=True):
            panelFormat = ui.exportFormatComboBox.itemData(ui.exportFormatComboBox.currentIndex)
            message = self.logic.export(panelFormat, ui.exportFolderPathLineEdit.currentPath,
                                        dicomDir=ui.dicomFolderPathLineEdit.currentPath,
                                        keyFile=ui.researchKeyPathLineEdit.currentPath, accession=ui.accessionLineEdit.text,
                                        reportText=ui.reportTextEdit.toPlainText() or None)  # what the reader sees goes out
            self.showResult(message, ui.exportStatusLabel)

    def onCompareButton(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("CRMO Analyzer could not compare the studies."), waitCursor=True):
            message = self.logic.compare(self.ui.baselineStudyPathLineEdit.currentPath, self._parameterNode.forceCompare,
                                         report=self.ui.reportTextEdit.toPlainText() if self._reportEdited else True)
            if self.showResult(message, self.ui.compareStatusLabel):
                self.updateResults()
                if self._reportEdited:
                    self.setReportText(self.logic.nodes["CRMO report"].GetText())

    def onLoadStudy(self) -> None:
        path = qt.QFileDialog.getOpenFileName(None, _("Load study"), "", "Study (*.json)")
        if path:
            with slicer.util.tryWithErrorDisplay(_("Could not load the study."), waitCursor=True):
                p = self._parameterNode
                self.showMessage(self.logic.loadStudy(path, p.lesionNode, p.boneMap, p.inputVolume))
                self._reportEdited = False
                self.updateResults()


#
# CRMOAnalyzerLogic
#

class CRMOAnalyzerLogic(ScriptedLoadableModuleLogic):
    """Scriptable without the widget: analyze scene nodes, record edits, publish tables and report.

    Progress and messages go through ``logCallback`` (the widget sets it). Domain work is done by
    ``CRMOAnalyzerLib`` (core + MRML adapter), imported only after its dependencies are present.
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.logCallback = None
        self.study = None
        self.lesionNode = None
        self.nodes = {}
        self.baseline = None
        self.comparison = None
        self.storing = False
        self._terminologiesLoaded = False

    def getParameterNode(self):
        return CRMOAnalyzerParameterNode(super().getParameterNode())

    def log(self, text: str) -> None:
        logging.info(text)
        if self.logCallback:
            self.logCallback(text)

    # -- dependencies, the Slicer way --
    def missingRequirements(self) -> list:
        path = os.path.join(os.path.dirname(__file__), "Resources", REQUIREMENTS_FILE)
        with open(path, encoding="utf-8") as stream:
            lines = [line.split("#")[0].strip() for line in stream]
        missing = []
        for requirement in filter(None, lines):
            name = requirement.split(";")[0]
            for sep in "<>=!~[ ":
                name = name.split(sep)[0]
            module = {"pynrrd": "nrrd", "pyyaml": "yaml"}.get(name.lower(), name.replace("-", "_"))
            if importlib.util.find_spec(module) is None:
                missing.append(requirement)
        return missing

    def ensureRequirements(self) -> None:
        """Install missing Python packages after asking the user (pip, in Slicer's Python)."""
        missing = self.missingRequirements()
        if not missing:
            return
        if not slicer.util.confirmOkCancelDisplay(
                _("CRMO Analyzer needs these Python packages, which will now be installed:") + "\n" + "\n".join(missing),
                windowTitle=_("CRMO Analyzer: install dependencies")):
            raise RuntimeError(_("CRMO Analyzer cannot run without: ") + ", ".join(missing))
        self.log(_("Installing ") + ", ".join(missing) + " ...")
        try:
            import slicer.packaging  # Slicer >= 5.12

            slicer.packaging.pip_ensure(missing, requester="CRMOAnalyzer")
        except (ImportError, AttributeError):
            slicer.util.pip_install(missing)
        self.log(_("Python dependencies installed."))

    def _mrml(self):
        self.ensureRequirements()
        from CRMOAnalyzerLib import mrml

        if not self._terminologiesLoaded and hasattr(slicer.modules, "terminologies"):
            mrml.load_terminologies()
            self._terminologiesLoaded = True
        return mrml

    # -- analysis and edits --
    def lesionNodeEvents(self, node) -> list:
        if node.IsA("vtkMRMLSegmentationNode"):
            return [slicer.vtkSegmentation.SegmentAdded, slicer.vtkSegmentation.SegmentRemoved,
                    slicer.vtkSegmentation.SegmentModified]
        if node.IsA("vtkMRMLMarkupsNode"):
            return [slicer.vtkMRMLMarkupsNode.PointAddedEvent, slicer.vtkMRMLMarkupsNode.PointRemovedEvent,
                    slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent]
        return [slicer.vtkMRMLVolumeNode.ImageDataModifiedEvent]

    def analyze(self, lesionNode, boneMap, volume=None, report=True) -> str:
        """Analyze and publish; returns a status message ("!" first when it is a problem for the user)."""
        mrml = self._mrml()
        from CRMOAnalyzerLib.errors import CRMOInputError

        if lesionNode is None:
            return "!" + _("Select a lesion node (segmentation, label map or point list), or press Add lesion.")
        if boneMap is None:
            return "!" + _("No bone map: select a bone segmentation or label map, or create one with TotalSegmentator.")
        try:
            info = mrml.study_info(slicer.mrmlScene)
            study = mrml.analyze_nodes(lesions=lesionNode, bones=boneMap, volume=volume,
                                       patient=info.get("patient"), study=info.get("study"))
        except CRMOInputError as error:
            return "!" + str(error)
        study.clinical = dict(info.get("clinical") or {})
        self.study, self.lesionNode = study, lesionNode
        self.publish(report)
        self._store()
        message = _("{count} lesions analysed.").format(count=len(study.lesions))
        if study.warnings:
            message += " " + _("Check: ") + "; ".join(study.warnings[:3]) + (" ..." if len(study.warnings) > 3 else "")
        return message

    def _store(self, lesionIds=None) -> None:
        self.storing = True
        try:
            self._mrml().store_annotations(self.study, self.lesionNode, lesionIds)
        finally:
            self.storing = False

    def publish(self, report=True) -> None:
        """Publish tables and report; with a baseline, the comparison follows the current study."""
        mrml = self._mrml()
        self._updateComparison()
        self.nodes = mrml.publish(self.study, slicer.mrmlScene, report, comparison=self.comparison)
        if self.comparison is not None:
            self.nodes[mrml.COMPARISON_TABLE] = mrml.publish_comparison(self.comparison, slicer.mrmlScene)

    def _updateComparison(self) -> None:
        from CRMOAnalyzerLib.compare import compare_studies
        from CRMOAnalyzerLib.errors import CRMOInputError

        self.comparison = None
        if self.baseline is None or self.study is None:
            return
        try:  # force: the reader accepted a patient mismatch when pressing Compare
            self.comparison = compare_studies(self.baseline, self.study, force=True, sources=(_("the baseline"), _("the current study")))
        except CRMOInputError as error:
            self.log(str(error))

    def lesionTableRows(self) -> list:
        from CRMOAnalyzerLib.tables import lesion_rows

        return [{**row, "volume": row["volume_mm3"]} for row in lesion_rows(self.study)]

    def boneChoices(self) -> list:
        from CRMOAnalyzerLib.anatomy import bones

        return ["unassigned", *bones()]

    def edit(self, lesionId: str, kind: str, value, report=True) -> None:
        """Record a finding or an override of one lesion, in the study and in the scene, and republish."""
        lesion = self.study.lesion(lesionId)
        if kind in ("bone", "side", "sublocation"):
            lesion.override(**{kind: value or None})
        elif value in ("", None, False) and kind != "note":
            lesion.findings.pop(kind, None)
        else:
            lesion.findings[kind] = value
        self._store([lesionId])
        self.publish(report)

    def centreOn(self, lesionId: str) -> None:
        if self.study is not None:
            self._mrml().centre_views(slicer.mrmlScene, self.study.lesion(lesionId).centroid_ras)

    def forget(self) -> None:
        self.study, self.lesionNode, self.nodes = None, None, {}
        self.baseline, self.comparison = None, None

    def addLesion(self, node) -> str:
        """Start placing a point, or add an empty segment to paint, for a new lesion."""
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

    def totalSegmentatorAvailable(self) -> bool:
        return hasattr(slicer.modules, "totalsegmentator")

    def createBoneMap(self, volume, task: str = "total"):
        """Run TotalSegmentator (its own extension) on the volume; returns the new segmentation."""
        import TotalSegmentator

        logic = TotalSegmentator.TotalSegmentatorLogic()
        logic.logCallback = self.log
        if hasattr(logic, "setupPythonRequirements"):
            logic.setupPythonRequirements()
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"{volume.GetName()} bones")
        logic.process(volume, segmentation, task=task, interactive=True)
        return segmentation

    # -- study.json --
    def saveStudy(self, path: str) -> None:
        from CRMOAnalyzerLib.model import save_study

        save_study(self.study, path)

    def loadStudy(self, path: str, lesionNode=None, boneMap=None, volume=None) -> str:
        """Load ``study.json``; with scene nodes selected, its findings and overrides go onto their lesions."""
        from CRMOAnalyzerLib.model import load_study

        mrml = self._mrml()
        loaded = load_study(path)
        if lesionNode is None or boneMap is None:
            self.study, self.lesionNode = loaded, None
            self.publish(True)
            return _("Study loaded (not linked to scene nodes: select them and press Analyze to link).")
        self.analyze(lesionNode, boneMap, volume)
        if self.study is None:
            return "!" + _("Could not analyze the selected nodes.")
        byKey = {mrml.lesion_key(lesion): lesion for lesion in loaded.lesions}
        matched = 0
        for lesion in self.study.lesions:
            source = byKey.get(mrml.lesion_key(lesion))
            if source is None:
                continue
            matched += 1
            lesion.findings = dict(source.findings)
            values = {"bone": source.bone, "side": source.side, "sublocation": source.sublocation, "bone_end": source.bone_end}
            for name in source.overrides:
                lesion.override(**{name: values[name]})
        self.study.patient, self.study.study, self.study.clinical = loaded.patient, loaded.study, loaded.clinical
        self._store()
        self.publish(True)
        return _("Study loaded: {matched} of {count} lesions matched the scene.").format(matched=matched, count=len(self.study.lesions))

    # -- follow-up --
    def compare(self, baselinePath: str, force: bool = False, report=True) -> str:
        """Compare the current study with a baseline ``study.json``: publish the "CRMO comparison" table and the
        report's follow-up paragraph (appended to ``report`` when it is the reader's text). Returns a status
        message ("!" first when it is a problem for the user)."""
        mrml = self._mrml()
        from CRMOAnalyzerLib.compare import same_patient
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
        self.publish(report)
        if self.comparison is None:
            self.baseline = None
            return "!" + _("Nothing to compare: neither study has a lesion.")
        if report is not True:
            self.nodes[mrml.REPORT_TEXT].SetText(self._withFollowUp(str(report), previous))
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
        from CRMOAnalyzerLib.panel_exports import PANEL_FORMATS

        return [(key, chosen.label) for key, chosen in PANEL_FORMATS.items()]

    def export(self, panelFormat: str, outDir: str, dicomDir: str = "", keyFile: str = "", accession: str = "",
               reportText: Optional[str] = None) -> str:
        """Write the study in a panel format into ``outDir`` with the CLI's own writers (atomic files).

        ``reportText`` is the report the panel shows (with the reader's edits and any follow-up paragraph): it goes
        out instead of a newly generated one.

        Returns a status message ("!" first when it is a problem for the user: a missing input, bad data).
        """
        self.ensureRequirements()
        from CRMOAnalyzerLib.errors import CRMOInputError
        from CRMOAnalyzerLib.panel_exports import export_study

        if self.study is None:
            return "!" + _("Nothing to export yet: press Analyze (or load a study) first.")
        try:
            with tempfile.TemporaryDirectory() as folder:
                lesions = self._lesionVoxelsFile(folder) if panelFormat == "sr" else None
                written = export_study(self.study, panelFormat, outDir, dicom=dicomDir or None, key_file=keyFile or None,
                                       lesions=lesions, accession=(accession or "").strip() or None, text=reportText,
                                       baseline=self.baseline)
        except CRMOInputError as error:
            return "!" + str(error)
        return _("Wrote {files}").format(files=", ".join(str(path) for path in written))

    def _lesionVoxelsFile(self, folder: str) -> Optional[str]:
        """The scene's lesion voxels as a label map file for the DICOM SEG (None for points or no node)."""
        if self.lesionNode is None:
            return None
        voxels = self._mrml().lesion_voxels(self.lesionNode)
        if voxels is None:
            return None
        from CRMOAnalyzerLib.images import write_image

        return str(write_image(os.path.join(folder, "lesions.nrrd"), voxels))


#
# CRMOAnalyzerTest
#

class CRMOAnalyzerTest(ScriptedLoadableModuleTest):
    """Self-test: a synthetic skeleton with nine lesions of known site, through the logic, into the tables."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_CRMOAnalyzer1()

    def test_CRMOAnalyzer1(self):
        import numpy as np

        logic = CRMOAnalyzerLogic()
        logic.ensureRequirements()
        from CRMOAnalyzerLib.phantom import Grid, make_phantom

        self.delayDisplay("Building a synthetic skeleton with nine CRMO lesions")
        phantom = make_phantom(Grid((3.0, 3.0, 3.0)))
        bones = self._labelmap(phantom.bones, "Phantom bones")
        lesions = self._labelmap(phantom.lesions, "Phantom lesions")
        segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Phantom lesion segments")
        slicer.modules.segmentations.logic().ImportLabelmapToSegmentationNode(lesions, segmentation)

        message = logic.analyze(segmentation, bones)
        self.assertFalse(message.startswith("!"), message)
        table = slicer.util.getNode("CRMO lesions")
        self.assertEqual(table.GetNumberOfRows(), 9)
        bone, side = table.GetColumnIndex("bone"), table.GetColumnIndex("side")
        found = sorted((table.GetCellText(row, bone), table.GetCellText(row, side)) for row in range(table.GetNumberOfRows()))
        wanted = sorted((spec["bone"], spec["side"] or "") for spec in phantom.expected)
        self.assertEqual(found, wanted)
        self.assertGreater(slicer.util.getNode("CRMO distribution").GetNumberOfRows(), 0)
        self.assertIn("femur", slicer.util.getNode("CRMO report").GetText().lower())

        self.delayDisplay("Recording a finding and an override")
        first = logic.study.lesions[0].id
        logic.edit(first, "marrow_edema", True)
        logic.edit(first, "sublocation", "diaphysis")
        logic.analyze(segmentation, bones)  # re-read from the scene: the edits were stored there
        self.assertEqual(logic.study.lesion(first).findings.get("marrow_edema"), True)
        self.assertEqual(logic.study.lesion(first).sublocation, "diaphysis")
        self.assertEqual(len(slicer.util.getNodes("CRMO lesions*")), 1)
        self.assertTrue(np.isfinite(logic.study.lesion(first).centroid_ras).all())

        self.delayDisplay("Comparing the study with itself, exporting the tables")
        folder = slicer.util.tempDirectory()
        logic.saveStudy(os.path.join(folder, "study.json"))
        message = logic.compare(os.path.join(folder, "study.json"))
        self.assertFalse(message.startswith("!"), message)
        self.assertGreaterEqual(slicer.util.getNode("CRMO comparison").GetNumberOfRows(), 9)
        self.assertIn("FOLLOW-UP", slicer.util.getNode("CRMO report").GetText())
        message = logic.export("csv", folder)
        self.assertFalse(message.startswith("!"), message)
        self.assertTrue(os.path.isfile(os.path.join(folder, "lesions.csv")))
        self.assertTrue(logic.export("sr", folder).startswith("!"))  # no DICOM series: a message, no traceback
        self.delayDisplay("Test passed")

    def _labelmap(self, labelmap, name):
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", name)
        node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(labelmap.affine))
        slicer.util.updateVolumeFromArray(node, labelmap.array)
        colors = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLColorTableNode", name + " colors")
        colors.SetTypeToUser()
        colors.SetNumberOfColors(max(labelmap.names) + 1)
        for value, label in labelmap.names.items():
            colors.SetColor(value, label, 0.9, 0.6, 0.4, 1.0)
        node.CreateDefaultDisplayNodes()
        node.GetDisplayNode().SetAndObserveColorNodeID(colors.GetID())
        return node
