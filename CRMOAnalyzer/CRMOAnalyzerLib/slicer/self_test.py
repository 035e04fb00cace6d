"""The module's self-test (Slicer's Reload and Test): a synthetic skeleton with nine lesions of known site, through
the panel's logic into the tables, the report, a follow-up comparison and an export."""

import json
import os

import numpy as np
import slicer


def run_self_test(test, logic) -> None:
    """Run on ``test`` (a ``ScriptedLoadableModuleTest``: its ``delayDisplay`` and assertions) with the module's logic."""
    logic.ensureRequirements()
    from CRMOAnalyzerLib.samples.phantom import Grid, make_phantom

    test.delayDisplay("Building a synthetic skeleton with nine CRMO lesions")
    phantom = make_phantom(Grid((3.0, 3.0, 3.0)))
    from CRMOAnalyzerLib.slicer.mrml import labelmap_node

    bones = labelmap_node(slicer.mrmlScene, phantom.bones, "Phantom bones")
    lesions = labelmap_node(slicer.mrmlScene, phantom.lesions, "Phantom lesions")
    segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Phantom lesion segments")
    slicer.modules.segmentations.logic().ImportLabelmapToSegmentationNode(lesions, segmentation)

    message = logic.analyze(segmentation, bones)
    test.assertFalse(message.startswith("!"), message)
    table = slicer.util.getNode("CRMO lesions")
    test.assertEqual(table.GetNumberOfRows(), 9)
    bone, side = table.GetColumnIndex("bone"), table.GetColumnIndex("side")
    found = sorted((table.GetCellText(row, bone), table.GetCellText(row, side)) for row in range(table.GetNumberOfRows()))
    wanted = sorted((spec["bone"], spec["side"] or "") for spec in phantom.expected)
    test.assertEqual(found, wanted)
    test.assertGreater(slicer.util.getNode("CRMO distribution").GetNumberOfRows(), 0)
    test.assertIn("femur", slicer.util.getNode("CRMO report").GetText().lower())

    test.delayDisplay("Recording a finding and an override")
    first = logic.study.lesions[0].id
    logic.edit(first, "marrow_edema", True)
    logic.edit(first, "sublocation", "diaphysis")
    logic.analyze(segmentation, bones)  # re-read from the scene: the edits were stored there
    test.assertEqual(logic.study.lesion(first).findings.get("marrow_edema"), True)
    test.assertEqual(logic.study.lesion(first).sublocation, "diaphysis")
    tables = [node for node in slicer.util.getNodesByClass("vtkMRMLTableNode") if node.GetAttribute("CRMOAnalyzer.role") == "lesions"]
    test.assertEqual(len(tables), 1)  # republishing updates the table, never adds one
    test.assertTrue(np.isfinite(logic.study.lesion(first).centroid_ras).all())

    test.delayDisplay("Editing the report: the scene holds the edit, analysis keeps it")
    logic.setReportText("Reader's report.")
    test.assertEqual(slicer.util.getNode("CRMO report").GetText(), "Reader's report.")
    logic.analyze(segmentation, bones)
    test.assertEqual(slicer.util.getNode("CRMO report").GetText(), "Reader's report.")
    test.assertIn("femur", logic.regenerateReport().lower())

    test.delayDisplay("Comparing with a baseline that lacks one lesion, exporting the tables")
    folder = slicer.util.tempDirectory()
    baselinePath = os.path.join(folder, "baseline.json")
    logic.saveStudy(baselinePath)
    with open(baselinePath, encoding="utf-8") as stream:
        baseline = json.load(stream)
    baseline["lesions"] = [lesion for lesion in baseline["lesions"] if lesion["id"] != first]
    baseline["study"]["date"] = "2000-01-01"
    with open(baselinePath, "w", encoding="utf-8") as stream:
        json.dump(baseline, stream)
    message = logic.compare(baselinePath)
    test.assertFalse(message.startswith("!"), message)
    test.assertTrue(message.startswith("1 new,"), message)
    test.assertEqual(slicer.util.getNode("CRMO comparison").GetNumberOfRows(), 9)
    test.assertIn("FOLLOW-UP", slicer.util.getNode("CRMO report").GetText())
    message = logic.export("csv", folder)
    test.assertFalse(message.startswith("!"), message)
    test.assertTrue(os.path.isfile(os.path.join(folder, "lesions.csv")))
    test.assertTrue(logic.export("sr", folder).startswith("!"))  # no DICOM series: a message, no traceback
    test.delayDisplay("Test passed")
