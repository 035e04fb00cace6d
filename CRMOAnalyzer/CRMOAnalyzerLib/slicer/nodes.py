"""Scene nodes in the MRML adapter: a bare scene set up, node geometry as core images, nodes found by role,
label maps made nodes, and the views.

Node geometry (``IJKToRAS``, the segments' image-to-world matrices, linear parent transforms) becomes the
core's ``LabelMap``/``Image`` (``array[k, j, i]`` + ``ijk -> RAS``). Nodes the adapter makes (tables, report
text, candidates) carry a role attribute, so a renamed node is still found, not duplicated.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..errors import CRMOInputError
from ..io.images import Image, LabelMap

__all__ = ["ROLE_ATTRIBUTE", "prepare_scene", "volume_image", "segmentation_labelmap", "labelmap_node", "place_beside",
           "centre_views"]

#: node attribute marking the nodes the adapter owns (``mrml.publish``'s tables and report text, the candidates), so a
#: renamed node is still found, not duplicated
ROLE_ATTRIBUTE = "CRMOAnalyzer.role"


# ---- scene set-up --------------------------------------------------------------------------------

def prepare_scene(scene: Any) -> None:
    """Register what a bare scene (``slicer-core`` without the application) lacks; no-op in Slicer.

    Registers the markups JSON storage node class in ``scene`` and, once per process, the
    segmentation converter rules (binary labelmap <-> closed surface).
    """
    if not scene.IsNodeClassRegistered("vtkMRMLMarkupsJsonStorageNode"):
        scene.RegisterNodeClass(slicer.vtkMRMLMarkupsJsonStorageNode())
    _register_converter_rules()


@lru_cache(maxsize=None)
def _register_converter_rules() -> None:
    if hasattr(slicer, "app"):
        return  # the application registered them at start-up
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())
    factory.RegisterConverterRule(slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule())


# ---- geometry: nodes -> core images --------------------------------------------------------------

def _name(node: Any) -> str:
    return node.GetName() or node.GetID() or node.GetClassName()


def _array(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _to_world(node: Any) -> np.ndarray:
    """4x4 from the node's coordinates to world RAS (its linear parent transforms), identity if none."""
    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        raise CRMOInputError(_name(node), f"is under the non-linear transform {_name(parent)!r}: harden the transform first")
    matrix = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(matrix)
    return _array(matrix)


def volume_image(node: Any, what: str = "image", label: bool = False, names: dict[int, str] | None = None) -> Image:
    """A scalar or label map volume node as a core :class:`Image` (or :class:`LabelMap`), in world RAS."""
    data = node.GetImageData() if node is not None else None
    if data is None or min(data.GetDimensions()) < 1:
        raise CRMOInputError(_name(node) if node is not None else what, f"the {what} volume has no voxels")
    if data.GetNumberOfScalarComponents() != 1:
        raise CRMOInputError(_name(node), f"the {what} volume has {data.GetNumberOfScalarComponents()} components per voxel, expected 1")
    ijk_to_ras = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    affine = _to_world(node) @ _array(ijk_to_ras)
    array = np.array(slicer.util.arrayFromVolume(node), copy=True)
    if label:
        if array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
                raise CRMOInputError(_name(node), f"the {what} holds non-integer values: not a label map")
            array = array.astype(np.int32)
        return LabelMap(array, affine, _name(node), dict(names or {}))
    return Image(array, affine, _name(node))


def _segments(node: Any) -> list[tuple[str, Any]]:
    segmentation = node.GetSegmentation()
    return [(segmentation.GetNthSegmentID(i), segmentation.GetNthSegment(i)) for i in range(segmentation.GetNumberOfSegments())]


def segmentation_labelmap(node: Any, what: str = "segmentation",
                          empty_ok: bool = False) -> tuple[LabelMap | None, dict[int, str], list[str]]:
    """All segments of a segmentation node on one grid: value ``n`` is the ``n``-th segment.

    Returns the label map (names = segment names), the segment ID of each value, and warnings
    (empty segments, overlapping segments). Segments on other grids are mapped onto the first
    segment's grid (nearest voxel). A segmentation with no (non-empty) segment is an error, or with
    ``empty_ok`` gives ``None`` and a warning that says so.
    """
    segments = _segments(node)
    if not segments:
        if empty_ok:
            return None, {}, [f"{_name(node)}: the {what} has no segment: no lesion annotated"]
        raise CRMOInputError(_name(node), f"the {what} has no segment")
    labelmap_name = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    segmentation = node.GetSegmentation()
    if not segmentation.ContainsRepresentation(labelmap_name):
        segmentation.CreateRepresentation(labelmap_name)
    world = _to_world(node)
    reference: np.ndarray | None = None
    pieces: list[tuple[int, np.ndarray]] = []
    warnings: list[str] = []
    names: dict[int, str] = {}
    ids: dict[int, str] = {}
    layers: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # shared layers: non-zero voxels sorted by value, once
    for value, (segment_id, segment) in enumerate(segments, start=1):
        names[value], ids[value] = segment.GetName(), segment_id
        image = node.GetBinaryLabelmapInternalRepresentation(segment_id)
        extent = image.GetExtent() if image is not None else (0, -1, 0, -1, 0, -1)
        if image is None or extent[0] > extent[1] or extent[2] > extent[3] or extent[4] > extent[5]:
            warnings.append(f"segment {segment.GetName()!r} of {_name(node)} is empty: no lesion for it")
            continue
        dims = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
        layer = image.GetAddressAsString("vtkObject")
        if layer not in layers:
            flat = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(-1)
            nonzero = np.flatnonzero(flat)
            order = np.argsort(flat[nonzero], kind="stable")
            layers[layer] = (nonzero[order], flat[nonzero][order])
        nonzero, values = layers[layer]
        label = segment.GetLabelValue()
        found = nonzero[np.searchsorted(values, label, "left"):np.searchsorted(values, label, "right")]
        if found.size == 0:
            warnings.append(f"segment {segment.GetName()!r} of {_name(node)} is empty: no lesion for it")
            continue
        matrix = vtk.vtkMatrix4x4()
        image.GetImageToWorldMatrix(matrix)
        to_world = world @ _array(matrix)
        k, j, i = np.unravel_index(found, dims)
        ijk = np.column_stack([i + extent[0], j + extent[2], k + extent[4]]).astype(np.int64)
        if reference is None:
            reference = to_world
        elif not np.allclose(to_world, reference, atol=1e-6):
            ras = ijk @ to_world[:3, :3].T + to_world[:3, 3]
            inverse = np.linalg.inv(reference)
            ijk = np.rint(ras @ inverse[:3, :3].T + inverse[:3, 3]).astype(np.int64)
        pieces.append((value, ijk))
    if reference is None:
        if empty_ok:
            return None, {}, [f"{_name(node)}: every segment of the {what} is empty: no lesion annotated"]
        raise CRMOInputError(_name(node), f"every segment of the {what} is empty")
    low = np.min([p.min(axis=0) for _, p in pieces], axis=0)
    high = np.max([p.max(axis=0) for _, p in pieces], axis=0)
    size = high - low + 1
    dtype = np.uint8 if len(segments) < 256 else np.uint16
    array = np.zeros((size[2], size[1], size[0]), dtype=dtype)
    for value, ijk in pieces:
        local = ijk - low
        previous = array[local[:, 2], local[:, 1], local[:, 0]]
        overlapped = sorted({names[int(v)] for v in np.unique(previous[previous > 0])})
        if overlapped:
            warnings.append(f"segment {names[value]!r} of {_name(node)} overlaps {', '.join(map(repr, overlapped))}: "
                            f"shared voxels count for {names[value]!r}")
        array[local[:, 2], local[:, 1], local[:, 0]] = value
    affine = reference.copy()
    affine[:3, 3] = reference[:3, :3] @ low + reference[:3, 3]
    return LabelMap(array, affine, _name(node), names), ids, warnings


def _is(node: Any, class_name: str) -> bool:
    return node is not None and node.IsA(class_name)


# ---- nodes by role -------------------------------------------------------------------------------

def _nodes(scene: Any, class_name: str) -> list[Any]:
    nodes = scene.GetNodesByClass(class_name)
    return [nodes.GetItemAsObject(index) for index in range(nodes.GetNumberOfItems())]


def _by_role(scene: Any, class_name: str, role: str) -> Any | None:
    """The node :func:`publish` made for ``role`` (found by its role attribute, whatever its name), or None."""
    return next((node for node in _nodes(scene, class_name) if node.GetAttribute(ROLE_ATTRIBUTE) == role), None)


def _singleton(scene: Any, class_name: str, name: str, role: str) -> Any:
    found = (_by_role(scene, class_name, role) or next((n for n in _nodes(scene, class_name) if n.GetName() == name), None)
             or scene.AddNewNodeByClass(class_name, name))
    found.SetAttribute(ROLE_ATTRIBUTE, role)
    return found


def labelmap_node(scene: Any, labelmap: LabelMap, name: str) -> Any:
    """A label map volume node of a core :class:`LabelMap`: its voxels and geometry, and, when it has names, a color
    table naming its values (which :func:`analyze_nodes` reads back as bone or lesion names)."""
    node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", name)
    node.SetIJKToRASMatrix(slicer.util.vtkMatrixFromArray(labelmap.affine))
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(labelmap.array))
    if labelmap.names:
        colors = scene.AddNewNodeByClass("vtkMRMLColorTableNode", f"{name} names")
        colors.SetTypeToUser()
        colors.SetNumberOfColors(max(labelmap.names) + 1)
        for value, label in labelmap.names.items():
            colors.SetColor(value, label, 0.95, 0.85, 0.6, 1.0)
        node.CreateDefaultDisplayNodes()
        node.GetDisplayNode().SetAndObserveColorNodeID(colors.GetID())
    return node


# ---- where nodes show: subject hierarchy, slice views ----------------------------------------------

def place_beside(reference: Any, nodes: Iterable[Any]) -> None:
    """Put nodes under the subject-hierarchy parent of ``reference`` (its patient's study), if it has one."""
    if reference is None or reference.GetScene() is None:
        return
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(reference.GetScene())
    if hierarchy is None:
        return
    item = hierarchy.GetItemByDataNode(reference)
    parent = hierarchy.GetItemParent(item) if item else 0
    if not parent or parent == hierarchy.GetSceneItemID():
        return
    for node in nodes:
        item = hierarchy.GetItemByDataNode(node)
        if not item:  # Slicer's subject hierarchy plugins add an item for each new node; a bare scene does not
            hierarchy.CreateItem(parent, node)
        elif hierarchy.GetItemParent(item) != parent:
            hierarchy.SetItemParent(item, parent)


def centre_views(scene: Any, ras: Iterable[float]) -> int:
    """Centre every slice view of the scene on a RAS point; returns how many views moved."""
    r, a, s = (float(x) for x in ras)
    nodes = scene.GetNodesByClass("vtkMRMLSliceNode")
    for index in range(nodes.GetNumberOfItems()):
        nodes.GetItemAsObject(index).JumpSliceByCentering(r, a, s)
    return nodes.GetNumberOfItems()
