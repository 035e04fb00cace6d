"""Scenes of real MRML nodes (the ``slicer-core`` wheel) built from core label maps, saved and read back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import slicer

from CRMOAnalyzerLib.slicer import mrml
from CRMOAnalyzerLib.io.images import LabelMap


def new_scene():
    scene = slicer.vtkMRMLScene()
    mrml.prepare_scene(scene)
    return scene


def add_labelmap(scene, labelmap: LabelMap, name: str, with_colors: bool = True):
    """A label map volume node (geometry from the core affine), with a color table naming its values."""
    return mrml.labelmap_node(scene, labelmap if with_colors else dataclasses.replace(labelmap, names={}), name)


def add_segmentation(scene, labelmap: LabelMap, name: str):
    """A segmentation node with one segment per label value, named after the label."""
    volume = add_labelmap(scene, labelmap, f"{name} source")
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(volume, node)
    segmentation = node.GetSegmentation()
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        segment.SetName(labelmap.names[segment.GetLabelValue()])
    scene.RemoveNode(volume)
    return node


def read_points_node(scene, path: Path, name: str = "Lesion points"):
    """A point list read from ``.mrk.json`` by Slicer's own markups JSON reader."""
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    storage = scene.AddNewNodeByClass("vtkMRMLMarkupsJsonStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    assert storage.ReadData(node)
    return node


def save_scene(scene, folder: Path) -> Path:
    """Write every node's data with its default storage node, then the scene file."""
    folder.mkdir(parents=True, exist_ok=True)
    for cls in ("vtkMRMLLabelMapVolumeNode", "vtkMRMLSegmentationNode", "vtkMRMLMarkupsFiducialNode",
                "vtkMRMLTableNode", "vtkMRMLColorTableNode"):
        nodes = scene.GetNodesByClass(cls)
        for index in range(nodes.GetNumberOfItems()):
            node = nodes.GetItemAsObject(index)
            storage = node.GetStorageNode()
            if storage is None:
                node.AddDefaultStorageNode()
                storage = node.GetStorageNode()
            storage.SetUseCompression(False)  # speed; the data are the same
            storage.SetFileName(str(folder / f"{node.GetID()}.{storage.GetDefaultWriteFileExtension()}"))
            assert storage.WriteData(node), node.GetName()
    path = folder / "scene.mrml"
    scene.SetRootDirectory(str(folder))
    scene.SetURL(str(path))
    assert scene.Commit()
    return path


def load_scene(path: Path):
    scene = new_scene()
    scene.SetRootDirectory(str(path.parent))
    scene.SetURL(str(path))
    assert scene.Connect()
    return scene


def node_named(scene, name: str):
    node = scene.GetFirstNodeByName(name)
    assert node is not None, name
    return node


