"""CRMO Analyzer: mark CRMO lesions, see their bone, side and sub-location, tabulate and report.

Slicer's scripted-module template (module, widget, logic, test). The widget only binds Qt signals to
the logic; the logic calls the MRML adapter ``CRMOAnalyzerLib.slicer.mrml`` and the core, so everything the
panel does is tested headless (``Testing/test_panel_module.py``). Nothing here computes anatomy.
"""

import logging
import os
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

from CRMOAnalyzerLib.slicer.panel_logic import SAMPLE_STUDY, PanelLogic

README_URL = "https://github.com/crmo-analyzer/SlicerCRMOAnalyzer#readme"
BOOLEAN_FINDINGS = ("marrow_edema", "periosteal_reaction", "soft_tissue_inflammation", "bony_expansion",
                    "vertebral_collapse", "symptomatic")
SIDES = ("", "left", "right")
SUBLOCATIONS = ("", "epiphysis", "metaphysis", "diaphysis", "medial", "middle", "lateral", "vertebral body",
                "posterior elements", "ilium", "ilium beside the sacroiliac joint", "ischium", "pubis", "acetabulum",
                "anterior arc", "lateral arc", "posterior arc", "body", "glenoid", "acromion", "coracoid", "manubrium",
                "ramus", "condyle", "symphysis")
CHARACTERS = ("", "lytic", "sclerotic", "mixed")
#: lesion table columns: (title, kind) where kind is the model field or finding it edits
TABLE_COLUMNS = [("Lesion", "label"), ("Site", "site"), ("Bone", "bone"), ("Side", "side"), ("Sub-location", "sublocation"),
                 ("Volume (mm³)", "volume"), ("Character", "character"), ("Marrow edema", "marrow_edema"),
                 ("Periosteal reaction", "periosteal_reaction"), ("Soft-tissue inflammation", "soft_tissue_inflammation"),
                 ("Bony expansion", "bony_expansion"), ("Vertebral collapse", "vertebral_collapse"),
                 ("Symptomatic", "symptomatic"), ("Note", "note"), ("Warnings", "warnings")]
REFRESH_DELAY_MS = 400
#: Slicer setting holding the destinations the reader sent to (most recent first)
DESTINATIONS_SETTING = "CRMOAnalyzer/SendDestinations"


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
            "distribution and drafts report text. Decision support, not a diagnosis. For Slicer 5.12 and newer. "
            "See the <a href=\"{url}\">user guide</a>.").format(url=README_URL)
        self.parent.acknowledgementText = _(
            "Bone names and codes follow TotalSegmentator (Wasserthal et al., Radiol Artif Intell 2023;5:e230024) and "
            "SlicerTotalSegmentator; distribution rules follow Khanna et al., RadioGraphics 2009;29:1159-77. "
            "Built on 3D Slicer, SimpleITK, highdicom, pydicom, hl7apy and fhir.resources.")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData() -> None:
    """One click in Sample Data loads the bundled sample study (image, bone map, lesions) and analyses it."""
    import SampleData

    if not os.path.isdir(SAMPLE_STUDY):
        return  # an install without the sample
    SampleData.SampleDataLogic.registerCustomSampleDataSource(  # no download: the files are here (lists: Slicer needs them)
        category="CRMO Analyzer", sampleName="CRMOAnalyzerSample", uris=[], fileNames=[], nodeNames=[],
        thumbnailFileName=os.path.join(os.path.dirname(__file__), "Resources", "Icons", "CRMOAnalyzer.png"),
        customDownloader=lambda source: CRMOAnalyzerLogic().loadSampleStudy())


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
    """The panel: binds Qt signals to the logic and shows what it publishes; holds no behaviour of its own."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._fillingTable = False
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
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndImportEvent, self.onSceneEndImport)
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
        self.ui.exportToDicomDatabaseButton.connect("clicked(bool)", self.onExportToDicomDatabase)
        self.ui.sendButton.connect("clicked(bool)", self.onSendButton)
        self.ui.findCandidatesButton.connect("clicked(bool)", self.onFindCandidates)
        self.ui.acceptCandidateButton.connect("clicked(bool)", lambda: self.onDecideCandidate(accept=True))
        self.ui.rejectCandidateButton.connect("clicked(bool)", lambda: self.onDecideCandidate(accept=False))
        self.ui.candidateComboBox.connect("currentIndexChanged(int)", self.onCandidateChosen)
        self.ui.retryOutboxButton.connect("clicked(bool)", self.onRetryOutbox)
        self.ui.sendDestinationComboBox.addItems(self.savedDestinations())
        self.ui.compareButton.connect("clicked(bool)", self.onCompareButton)
        self.initializeParameterNode()

    # -- parameter node, the template's way; nothing is left running outside the module --
    def cleanup(self) -> None:
        self.exit()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        if self.logic.study is None and self.logic.sceneHasStudy():  # a scene opened before the panel was
            self.onSceneEndImport(None, None)

    def exit(self) -> None:
        if self._refreshTimer:
            self._refreshTimer.stop()
        if self.logic:
            self.logic.stopObserving()
            self.logic.cancelCandidates()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self._parameterNode = None

    def onSceneStartClose(self, caller, event) -> None:
        self._refreshTimer.stop()
        self.setParameterNode(None)
        self.logic.forget()
        self.clearResults(_("Scene closed: the panel is empty. Your findings were saved with the scene if you saved it."))

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onSceneEndImport(self, caller, event) -> None:
        """A scene was opened: bring back its study, findings, report edits and comparison."""
        if self.parent.isEntered:
            self.initializeParameterNode()
        p = self._parameterNode
        if p is not None and self.logic.sceneHasStudy():
            self.showResultOf(lambda: self.logic.restore(p.lesionNode, p.boneMap, p.inputVolume),
                              busy=_("Bringing back the CRMO study of the scene ..."))

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode: Optional[CRMOAnalyzerParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
        self.onLesionNodeChanged(self._parameterNode.lesionNode if self._parameterNode else None)

    # -- messages --
    def showMessage(self, text: str, error: bool = False, label=None) -> None:
        label = label or self.ui.statusLabel
        label.text = text
        label.setStyleSheet("color: #b00020;" if error else "")
        (logging.error if error else logging.info)(text)

    def showResult(self, message: str, label=None) -> bool:
        """Show a logic status message ("!" first: a problem) on a label; returns True when it is no problem."""
        problem = message.startswith("!")
        if message:
            self.showMessage(message[1:] if problem else message, error=problem, label=label)
        return not problem

    def showResultOf(self, action, label=None, busy: str = "") -> bool:
        """Run a logic action (with a progress dialog when ``busy`` says what takes long), show its message."""
        with slicer.util.tryWithErrorDisplay(_("CRMO Analyzer: the action failed."), waitCursor=True):
            dialog = slicer.util.createProgressDialog(labelText=busy, maximum=0) if busy else None
            try:
                if dialog:
                    slicer.app.processEvents()
                ok = self.showResult(action(), label)
            finally:
                if dialog:
                    dialog.close()
            self.updateResults()
            return ok
        return False

    def clearResults(self, message: str = "") -> None:
        self._fillingTable = True
        self.ui.lesionTable.setRowCount(0)
        self._fillingTable = False
        self.ui.distributionTableView.setMRMLTableNode(None)
        self.ui.comparisonTableView.setMRMLTableNode(None)
        self.setReportText("")
        if message:
            self.showMessage(message)

    # -- lesion node observation: debounced refresh --
    def onLesionNodeChanged(self, node) -> None:
        self.logic.observeLesionNode(node, self.onLesionNodeModified)

    def onLesionNodeModified(self) -> None:
        if self._parameterNode and self._parameterNode.autoRefresh:
            self._refreshTimer.start()  # restarts: one analysis after the edits stop

    def onRefreshTimeout(self) -> None:
        if self._parameterNode and (self.logic.study is not None or self._parameterNode.boneMap is not None):
            self.runAnalysis(quiet=True)

    def onNodeAboutToBeRemoved(self, caller, event) -> None:
        # called for every removed node; the removed node itself is not passed through this observer,
        # so check after the removal whether the nodes the panel shows still exist
        qt.QTimer.singleShot(0, self.checkNodesStillExist)

    def checkNodesStillExist(self) -> None:
        if self.logic.lesionNode is not None and self.logic.lesionNode.GetScene() is None:
            self.logic.stopObserving()
            self.logic.forget()
            self.clearResults(_("The lesion node was deleted: select another lesion node and press Analyze."))

    # -- actions --
    def runAnalysis(self, quiet: bool = False, force: bool = False) -> None:
        p = self._parameterNode
        busy = "" if self.logic.boneMapIsRead(p.boneMap) else _("Reading the bone map and localizing the lesions ...")
        message = ""

        def analyze():
            nonlocal message
            message = self.logic.analyze(p.lesionNode, p.boneMap, p.inputVolume, force=force)
            return message

        if self.showResultOf(analyze, busy=busy) or quiet or not message:
            return
        if self.logic.swappedInputs and slicer.util.confirmYesNoDisplay(
                self.logic.swappedInputs + "\n\n" + _("Analyze them as given anyway?"), windowTitle=_("CRMO Analyzer")):
            self.runAnalysis(force=True)
        elif not self.logic.swappedInputs:
            slicer.util.warningDisplay(message[1:], windowTitle=_("CRMO Analyzer"))

    def onAnalyzeButton(self) -> None:
        self.runAnalysis()

    def onAddLesionButton(self) -> None:
        if self._parameterNode.lesionNode is None:
            self._parameterNode.lesionNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", _("CRMO lesions"))
        self.showResultOf(lambda: self.logic.addLesion(self._parameterNode.lesionNode))

    def onTotalSegmentatorButton(self) -> None:
        p = self._parameterNode
        if p.inputVolume is None:
            self.showMessage(_("Select the input volume first: TotalSegmentator segments the bones of that volume."), error=True)
            return
        dialog = slicer.util.createProgressDialog(labelText=_("TotalSegmentator is segmenting the bones ..."), maximum=0)
        dialog.connect("canceled()", self.logic.cancelBoneMap)
        self.logic.processEvents = slicer.app.processEvents
        try:
            with slicer.util.tryWithErrorDisplay(_("TotalSegmentator failed."), waitCursor=False):
                result = self.logic.createBoneMap(p.inputVolume, p.boneTask)
                if isinstance(result, str):
                    self.showResult(result)
                else:
                    p.boneMap = result
                    self.showMessage(_("Bone map created with TotalSegmentator."))
        finally:
            self.logic.processEvents = None
            dialog.close()

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
        self.setReportText(self.logic.reportText())
        self.ui.regenerateReportButton.text = (_("Regenerate report (discards your edits)") if self.logic.reportEdited()
                                               else _("Regenerate report"))

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
            self.logic.edit(lesionId, kind, value)
        qt.QTimer.singleShot(0, self.updateResults)  # the edited cell's widget sent this signal: rebuild after it returns

    def onLesionRowClicked(self, row: int, column: int) -> None:
        item = self.ui.lesionTable.item(row, 0)
        if item is not None:
            self.logic.centreOn(item.text())

    def setReportText(self, text: str) -> None:
        blocked = self.ui.reportTextEdit.blockSignals(True)
        self.ui.reportTextEdit.setPlainText(text)
        self.ui.reportTextEdit.blockSignals(blocked)

    def onReportEdited(self) -> None:
        self.logic.setReportText(self.ui.reportTextEdit.toPlainText())  # in the scene at once
        self.ui.regenerateReportButton.text = _("Regenerate report (discards your edits)")

    def onRegenerateReport(self) -> None:
        self.ui.regenerateReportButton.text = _("Regenerate report")
        self.setReportText(self.logic.regenerateReport())

    def onCopyReport(self) -> None:
        qt.QApplication.clipboard().setText(self.ui.reportTextEdit.toPlainText())
        self.showMessage(_("Report text copied to the clipboard."))

    def onSaveStudy(self) -> None:
        if self.logic.study is None:
            self.showMessage(_("Nothing to save yet: press Analyze first."), error=True)
            return
        path = qt.QFileDialog.getSaveFileName(None, _("Save study"), "study.json", "Study (*.json)")
        if path:
            self.showResultOf(lambda: self.logic.saveStudy(path) or _("Study saved to {path}").format(path=path))

    def onExportButton(self) -> None:
        ui = self.ui
        panelFormat = ui.exportFormatComboBox.itemData(ui.exportFormatComboBox.currentIndex)
        self.showResultOf(lambda: self.logic.export(panelFormat, ui.exportFolderPathLineEdit.currentPath,
                                                    dicomDir=ui.dicomFolderPathLineEdit.currentPath,
                                                    keyFile=ui.researchKeyPathLineEdit.currentPath,
                                                    accession=ui.accessionLineEdit.text),
                          ui.exportStatusLabel, busy=_("Exporting ..."))

    def onExportToDicomDatabase(self) -> None:
        self.showResultOf(lambda: self.logic.exportToDicomDatabase(self.ui.dicomFolderPathLineEdit.currentPath),
                          self.ui.exportStatusLabel, busy=_("Writing the SR and adding it to the DICOM database ..."))

    def onFindCandidates(self) -> None:
        p = self._parameterNode
        message = self.logic.startCandidates(p.inputVolume, p.boneMap)
        if not self.showResult(message):
            return
        dialog = slicer.util.createProgressDialog(labelText=message, maximum=0)
        dialog.connect("canceled()", self.logic.cancelCandidates)
        timer = qt.QTimer()
        timer.setInterval(200)

        def poll():
            result = None if dialog.wasCanceled else self.logic.pollCandidates()
            if result is None and not dialog.wasCanceled:
                return
            timer.stop()
            dialog.close()
            self.showResult(result or _("Candidate search cancelled: nothing was added."))
            self.fillCandidates()

        timer.connect("timeout()", poll)
        self._candidatesTimer = timer  # kept alive while it runs
        timer.start()

    def fillCandidates(self) -> None:
        combo = self.ui.candidateComboBox
        blocked = combo.blockSignals(True)
        combo.clear()
        for segmentId, name, _facts in self.logic.candidateList():
            combo.addItem(name, segmentId)
        combo.blockSignals(blocked)

    def onCandidateChosen(self, index: int) -> None:
        segmentId = self.ui.candidateComboBox.itemData(index)
        if segmentId:
            self.logic.centreOnCandidate(segmentId)

    def onDecideCandidate(self, accept: bool) -> None:
        segmentId = self.ui.candidateComboBox.itemData(self.ui.candidateComboBox.currentIndex)
        if not segmentId:
            return
        p = self._parameterNode
        if accept:
            self.showResultOf(lambda: self.logic.acceptCandidate(segmentId, p.lesionNode))
            p.lesionNode = self.logic.lesionNode or p.lesionNode
        else:
            self.showResultOf(lambda: self.logic.rejectCandidate(segmentId))
        self.fillCandidates()

    def savedDestinations(self) -> list:
        value = slicer.app.settings().value(DESTINATIONS_SETTING) or []
        return [value] if isinstance(value, str) else list(value)

    def onSendButton(self) -> None:
        destination = self.ui.sendDestinationComboBox.currentText.strip()
        ok = self.showResultOf(lambda: self.logic.send(destination, accession=self.ui.accessionLineEdit.text,
                                                       dicomDir=self.ui.dicomFolderPathLineEdit.currentPath),
                               self.ui.exportStatusLabel, busy=_("Sending to {destination} ...").format(destination=destination))
        if ok:  # remembered, most recent first
            destinations = [destination] + [d for d in self.savedDestinations() if d != destination]
            slicer.app.settings().setValue(DESTINATIONS_SETTING, destinations[:10])
        self.ui.outboxLabel.text = self.logic.outboxSummary()

    def onRetryOutbox(self) -> None:
        self.showResultOf(self.logic.retryOutbox, self.ui.exportStatusLabel, busy=_("Sending the outbox again ..."))
        self.ui.outboxLabel.text = self.logic.outboxSummary()

    def onCompareButton(self) -> None:
        self.showResultOf(lambda: self.logic.compare(self.ui.baselineStudyPathLineEdit.currentPath, self._parameterNode.forceCompare),
                          self.ui.compareStatusLabel)

    def onLoadStudy(self) -> None:
        path = qt.QFileDialog.getOpenFileName(None, _("Load study"), "", "Study (*.json)")
        if path:
            p = self._parameterNode
            self.showResultOf(lambda: self.logic.loadStudy(path, p.lesionNode, p.boneMap, p.inputVolume),
                              busy=_("Loading the study ..."))


#
# CRMOAnalyzerLogic
#

class CRMOAnalyzerLogic(ScriptedLoadableModuleLogic, PanelLogic):
    """Scriptable without the widget: everything the panel does (:class:`CRMOAnalyzerLib.slicer.panel_logic.PanelLogic`,
    tested headless), with Slicer's typed parameter node."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        PanelLogic.__init__(self)

    def getParameterNode(self):
        return CRMOAnalyzerParameterNode(super().getParameterNode())


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
        from CRMOAnalyzerLib.slicer.self_test import run_self_test

        run_self_test(self, CRMOAnalyzerLogic())
