"""CRMO Analyzer: mark CRMO lesions, see their bone, side and sub-location, tabulate and report.

Slicer's scripted-module template (module, widget, logic, test). The widget only binds Qt signals to
the logic; the logic calls the MRML adapter ``CRMOAnalyzerLib.slicer.mrml`` and the core, so everything the
panel does is tested headless (``Testing/test_panel_module.py``). Nothing here computes anatomy.
"""

import logging
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

from CRMOAnalyzerLib.slicer.panel_logic import CANDIDATES_POLL_MS, REFRESH_DELAY_MS, PanelLogic

README_URL = "https://github.com/crmo-analyzer/SlicerCRMOAnalyzer#readme"
#: the widget's signals: (widget of the .ui, Qt signal, handler of CRMOAnalyzerWidget)
CONNECTIONS = (
    ("analyzeButton", "clicked()", "runAnalysis"), ("addLesionButton", "clicked(bool)", "onAddLesionButton"),
    ("totalSegmentatorButton", "clicked(bool)", "onTotalSegmentatorButton"), ("lesionTable", "cellClicked(int,int)", "onLesionRowClicked"),
    ("lesionTable", "itemChanged(QTableWidgetItem*)", "onLesionItemChanged"), ("reportTextEdit", "textChanged()", "onReportEdited"),
    ("regenerateReportButton", "clicked(bool)", "onRegenerateReport"), ("copyReportButton", "clicked(bool)", "onCopyReport"),
    ("saveStudyButton", "clicked(bool)", "onSaveStudy"), ("loadStudyButton", "clicked(bool)", "onLoadStudy"),
    ("lesionSelector", "currentNodeChanged(vtkMRMLNode*)", "onLesionNodeChanged"), ("exportButton", "clicked(bool)", "onExportButton"),
    ("exportToDicomDatabaseButton", "clicked(bool)", "onExportToDicomDatabase"), ("sendButton", "clicked(bool)", "onSendButton"),
    ("retryOutboxButton", "clicked(bool)", "onRetryOutbox"), ("findCandidatesButton", "clicked(bool)", "onFindCandidates"),
    ("acceptCandidateButton", "clicked(bool)", "onAcceptCandidate"), ("rejectCandidateButton", "clicked(bool)", "onRejectCandidate"),
    ("candidateComboBox", "currentIndexChanged(int)", "onCandidateChosen"), ("compareButton", "clicked(bool)", "onCompareButton"))


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
    CRMOAnalyzerLogic.registerSampleData()


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
    """The panel: binds Qt signals to the logic and shows what it returns; holds no behaviour of its own."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = self._parameterNodeGuiTag = None
        self._fillingTable, self._columns = False, []
        self._refreshTimer = self._candidatesTimer = self._candidatesDialog = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CRMOAnalyzer.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CRMOAnalyzerLogic()
        self.logic.logCallback = self.showMessage
        self.logic.processEvents = slicer.app.processEvents  # long runs keep the panel live (and Cancel pressable)

        self._refreshTimer, self._candidatesTimer = qt.QTimer(), qt.QTimer()
        self._refreshTimer.setSingleShot(True)
        for timer, interval, handler in ((self._refreshTimer, REFRESH_DELAY_MS, self.onRefreshTimeout),
                                         (self._candidatesTimer, CANDIDATES_POLL_MS, self.onCandidatesTimeout)):
            timer.setInterval(interval)
            timer.connect("timeout()", handler)

        self.ui.totalSegmentatorButton.visible = self.logic.totalSegmentatorAvailable()
        self.ui.totalSegmentatorTaskComboBox.visible = self.logic.totalSegmentatorAvailable()
        for key, label in self.logic.exportFormats():
            self.ui.exportFormatComboBox.addItem(label, key)
        self.ui.sendDestinationComboBox.addItems(self.logic.savedDestinations())

        scene = slicer.mrmlScene
        for event, handler in ((scene.StartCloseEvent, self.onSceneStartClose), (scene.EndCloseEvent, self.onSceneEndClose),
                               (scene.EndImportEvent, self.onSceneEndImport), (scene.NodeAboutToBeRemovedEvent, self.onNodeAboutToBeRemoved)):
            self.addObserver(scene, event, handler)
        for name, signal, handler in CONNECTIONS:
            getattr(self.ui, name).connect(signal, getattr(self, handler))
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
            self._candidatesTimer.stop()
        if self.logic:
            self.logic.stop()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self._parameterNode = None

    def onSceneStartClose(self, caller, event) -> None:
        self._refreshTimer.stop()
        self.setParameterNode(None)
        self.clearResults(self.logic.sceneClosed())

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

    def showResultOf(self, action, label=None, busy: str = "", cancel=None) -> str:
        """Run a logic action (with a progress dialog when ``busy`` says what takes long, whose Cancel calls ``cancel``),
        show its message and the results, and return the message; an error is shown in Slicer's error display."""
        dialog = slicer.util.createProgressDialog(labelText=busy, maximum=0) if busy else None
        if dialog and cancel:
            dialog.connect("canceled()", cancel)
        if dialog:
            slicer.app.processEvents()  # the dialog shows before the work starts
        try:
            with slicer.util.tryWithErrorDisplay(_("CRMO Analyzer: the action failed."), waitCursor=True):
                message = action()
                self.showResult(message, label)
                return message
        finally:
            if dialog:
                dialog.close()
            self.updateResults()

    def clearResults(self, message: str = "") -> None:
        self.updateResults(self.logic.emptyResults())
        if message:
            self.showMessage(message)

    # -- lesion node observation: debounced refresh --
    def onLesionNodeChanged(self, node) -> None:
        self.logic.observeLesionNode(node, self.onLesionNodeModified)

    def onLesionNodeModified(self) -> None:
        if self._parameterNode and self._parameterNode.autoRefresh:
            self._refreshTimer.start()  # restarts: one analysis after the edits stop

    def onRefreshTimeout(self) -> None:
        if self._parameterNode and self.logic.refreshWanted(self._parameterNode.boneMap):
            self.runAnalysis(quiet=True)

    def onNodeAboutToBeRemoved(self, caller, event) -> None:
        qt.QTimer.singleShot(0, self.checkNodesStillExist)  # the removed node is not passed: check after the removal

    def checkNodesStillExist(self) -> None:
        message = self.logic.lesionNodeDeleted()
        if message:
            self.clearResults(message)

    # -- actions --
    def runAnalysis(self, quiet: bool = False, force: bool = False) -> None:
        p = self._parameterNode
        message = self.showResultOf(lambda: self.logic.analyze(p.lesionNode, p.boneMap, p.inputVolume, force=force),
                                    busy=self.logic.analysisBusyText(p.boneMap))
        if not quiet and self.logic.askToAnalyzeAnyway(message):
            self.runAnalysis(force=True)

    def onAddLesionButton(self) -> None:
        self.showResultOf(lambda: self.logic.addLesion(self._parameterNode.lesionNode))

    def onTotalSegmentatorButton(self) -> None:
        p = self._parameterNode
        self.showResultOf(lambda: self.logic.segmentBones(p.inputVolume, p.boneTask),
                          busy=_("TotalSegmentator is segmenting the bones ..."), cancel=self.logic.cancelBoneMap)

    def updateResults(self, results=None) -> None:
        """Show what the logic returns (``results``, else :meth:`PanelLogic.results`; None: nothing to change)."""
        results = results or self.logic.results()
        if results is None:
            return
        self._fillingTable, table, self._columns = True, self.ui.lesionTable, results.columns
        table.setColumnCount(len(results.columns))
        table.setHorizontalHeaderLabels([column.title for column in results.columns])
        table.setRowCount(len(results.rows))
        for row, (lesionId, values) in enumerate(results.rows):
            for index, (column, value) in enumerate(zip(results.columns, values)):
                self.setCell(row, index, column, lesionId, value)
        table.resizeColumnsToContents()
        self._fillingTable = False
        self.ui.distributionTableView.setMRMLTableNode(results.distribution)
        self.ui.comparisonTableView.setMRMLTableNode(results.comparison)
        blocked = self.ui.reportTextEdit.blockSignals(True)
        self.ui.reportTextEdit.setPlainText(results.report)
        self.ui.reportTextEdit.blockSignals(blocked)
        self.ui.regenerateReportButton.text = results.regenerateLabel

    def setCell(self, row: int, index: int, column, lesionId: str, value) -> None:
        if column.editor == "choice":
            combo = qt.QComboBox()
            combo.addItems(list(column.choices))
            combo.setCurrentText(value)
            combo.connect("currentTextChanged(QString)", lambda text, i=lesionId, c=index: self.onLesionValueEdited(i, c, text))
            self.ui.lesionTable.setCellWidget(row, index, combo)
            return
        item = qt.QTableWidgetItem()
        item.setData(qt.Qt.UserRole, lesionId)
        editable = {"check": qt.Qt.ItemIsUserCheckable, "text": qt.Qt.ItemIsEditable}.get(column.editor, 0)
        item.setFlags(qt.Qt.ItemIsEnabled | qt.Qt.ItemIsSelectable | editable)
        if column.editor == "check":
            item.setCheckState(qt.Qt.Checked if value else qt.Qt.Unchecked)
        else:
            item.setText(value)
        self.ui.lesionTable.setItem(row, index, item)

    def onLesionItemChanged(self, item) -> None:
        if not self._fillingTable:
            check = self._columns[item.column()].editor == "check"
            self.onLesionValueEdited(item.data(qt.Qt.UserRole), item.column(),
                                     item.checkState() == qt.Qt.Checked if check else item.text())

    def onLesionValueEdited(self, lesionId: str, column: int, value) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not record the change."), waitCursor=False):
            if self.logic.editCell(lesionId, column, value):
                qt.QTimer.singleShot(0, self.updateResults)  # the edited cell's widget sent this: rebuild after it returns

    def onLesionRowClicked(self, row: int, column: int) -> None:
        self.logic.centreOn(self.ui.lesionTable.item(row, 0).text())

    def onReportEdited(self) -> None:
        self.logic.setReportText(self.ui.reportTextEdit.toPlainText())  # in the scene at once
        self.ui.regenerateReportButton.text = self.logic.regenerateLabel()

    def onRegenerateReport(self) -> None:
        self.logic.regenerateReport()
        self.updateResults()

    def onCopyReport(self) -> None:
        qt.QApplication.clipboard().setText(self.ui.reportTextEdit.toPlainText())
        self.showMessage(_("Report text copied to the clipboard."))

    def onSaveStudy(self) -> None:
        if self.showResult(self.logic.readyToSave()):
            path = qt.QFileDialog.getSaveFileName(None, _("Save study"), "study.json", "Study (*.json)")
            if path:
                self.showResultOf(lambda: self.logic.saveStudy(path))

    def onLoadStudy(self) -> None:
        path = qt.QFileDialog.getOpenFileName(None, _("Load study"), "", "Study (*.json)")
        if path:
            p = self._parameterNode
            self.showResultOf(lambda: self.logic.loadStudy(path, p.lesionNode, p.boneMap, p.inputVolume),
                              busy=_("Loading the study ..."))

    def studyOptions(self) -> dict:
        return {"dicomDir": self.ui.dicomFolderPathLineEdit.currentPath, "accession": self.ui.accessionLineEdit.text}

    def onExportButton(self) -> None:
        ui = self.ui
        self.showResultOf(lambda: self.logic.export(ui.exportFormatComboBox.currentData, ui.exportFolderPathLineEdit.currentPath,
                                                    keyFile=ui.researchKeyPathLineEdit.currentPath, **self.studyOptions()),
                          ui.exportStatusLabel, busy=_("Exporting ..."))

    def onExportToDicomDatabase(self) -> None:
        self.showResultOf(lambda: self.logic.exportToDicomDatabase(self.ui.dicomFolderPathLineEdit.currentPath),
                          self.ui.exportStatusLabel, busy=_("Writing the SR and adding it to the DICOM database ..."))

    def onSendButton(self) -> None:
        destination = self.ui.sendDestinationComboBox.currentText.strip()
        self.showResultOf(lambda: self.logic.send(destination, **self.studyOptions()), self.ui.exportStatusLabel,
                          busy=_("Sending to {destination} ...").format(destination=destination))
        self.ui.outboxLabel.text = self.logic.outboxSummary()

    def onRetryOutbox(self) -> None:
        self.showResultOf(self.logic.retryOutbox, self.ui.exportStatusLabel, busy=_("Sending the outbox again ..."))
        self.ui.outboxLabel.text = self.logic.outboxSummary()

    def onFindCandidates(self) -> None:
        p = self._parameterNode
        message = self.logic.startCandidates(p.inputVolume, p.boneMap)
        if self.showResult(message):  # runs in the background: polled until it ends or the reader cancels
            self._candidatesDialog = slicer.util.createProgressDialog(labelText=message, maximum=0)
            self._candidatesDialog.connect("canceled()", self.logic.cancelCandidates)
            self._candidatesTimer.start()

    def onCandidatesTimeout(self) -> None:
        result = self.logic.pollCandidates(cancel=self._candidatesDialog.wasCanceled)
        if result is not None:
            self._candidatesTimer.stop()
            self._candidatesDialog.close()
            self.showResult(result)
            self.fillCandidates()

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

    def onAcceptCandidate(self) -> None:
        self.showResultOf(lambda: self.logic.acceptCandidate(self.ui.candidateComboBox.currentData, self._parameterNode.lesionNode))
        self.fillCandidates()

    def onRejectCandidate(self) -> None:
        self.showResultOf(lambda: self.logic.rejectCandidate(self.ui.candidateComboBox.currentData))
        self.fillCandidates()

    def onCompareButton(self) -> None:
        self.showResultOf(lambda: self.logic.compare(self.ui.baselineStudyPathLineEdit.currentPath, self._parameterNode.forceCompare),
                          self.ui.compareStatusLabel)


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
