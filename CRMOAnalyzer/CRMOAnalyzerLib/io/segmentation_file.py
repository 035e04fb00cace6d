"""Slicer ``.seg.nrrd`` segmentations in and out, through ``slicerio`` (no Slicer needed)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import CRMOInputError
from .files import atomic_write
from .geometry import LPS_TO_RAS
from .volumes import LabelMap, checked_affine

__all__ = ["read_seg_nrrd", "write_seg_nrrd"]

logger = logging.getLogger(__name__)


def read_seg_nrrd(path: str | os.PathLike, what: str = "segmentation") -> LabelMap:
    """Read a Slicer segmentation as one label map, a value per segment (1, 2, ... in file order).

    Segments on several layers (overlapping segments) are merged; where they overlap, the later
    segment wins and a warning says how many voxels that touched. ``names`` holds segment names.
    """
    import slicerio  # noqa: PLC0415 (heavy, only for this format)

    path = Path(path)
    if not path.is_file():
        raise CRMOInputError(path, f"{what} not found")
    try:
        seg = slicerio.read_segmentation(os.fspath(path))
    except Exception as error:  # slicerio/pynrrd raise many types for a damaged file
        raise CRMOInputError(path, f"cannot read {what}: {type(error).__name__}: {error}") from error
    voxels = np.asarray(seg.get("voxels"))
    if voxels.ndim == 3:
        voxels = voxels[np.newaxis]
    if voxels.ndim != 4:
        raise CRMOInputError(path, f"{what} voxels are {voxels.ndim}D, expected 3D (or layers of 3D)")
    if voxels.dtype.kind not in "iub":
        raise CRMOInputError(path, f"{what} has pixel type {voxels.dtype}, expected integer labels")
    ijk_to_lps = np.asarray(seg["ijkToLPS"], dtype=float)
    checked_affine(os.fspath(path), np.linalg.norm(ijk_to_lps[:3, :3], axis=0), ijk_to_lps[:3, 3],
                    ijk_to_lps[:3, :3] / np.linalg.norm(ijk_to_lps[:3, :3], axis=0))
    segments = seg.get("segments") or []
    out = np.zeros(voxels.shape[1:], dtype=np.uint16 if len(segments) > 255 else np.uint8)
    names: dict[int, str] = {}
    overlap = 0
    for number, segment in enumerate(segments, start=1):
        layer = int(segment.get("layer", 0))
        if not 0 <= layer < voxels.shape[0]:
            raise CRMOInputError(path, f"segment {segment.get('name')!r} refers to layer {layer}, which the file lacks")
        mask = voxels[layer] == int(segment["labelValue"])
        overlap += int(np.count_nonzero(out[mask]))
        out[mask] = number
        names[number] = str(segment.get("name") or segment.get("id") or f"Segment_{number}")
    if overlap:
        logger.warning("%s: %d voxels belong to more than one segment; each was counted in the later segment", path, overlap)
    return LabelMap(np.ascontiguousarray(out.transpose(2, 1, 0)), LPS_TO_RAS @ ijk_to_lps, os.fspath(path), names)


def write_seg_nrrd(path: str | os.PathLike, labelmap: LabelMap, colors: dict[int, tuple[float, float, float]] | None = None,
                   tags: dict[int, dict[str, str]] | None = None) -> Path:
    """Write a label map as a Slicer segmentation, one segment per named value (atomically)."""
    import slicerio  # noqa: PLC0415

    ijk_to_lps = LPS_TO_RAS @ labelmap.affine
    voxels = labelmap.array.transpose(2, 1, 0)
    seg = slicerio.create_segmentation(voxels.shape, ijk_to_lps, dtype=voxels.dtype)
    seg["voxels"] = np.ascontiguousarray(voxels)
    seg["segments"] = []
    for value, name in sorted(labelmap.names.items()):
        ijk = np.argwhere(voxels == value)
        extent = [int(x) for pair in zip(ijk.min(0), ijk.max(0)) for x in pair] if len(ijk) else [0, -1, 0, -1, 0, -1]
        segment = {"id": f"Segment_{value}", "name": name, "labelValue": int(value), "layer": 0, "extent": extent,
                   "color": list((colors or {}).get(value, (0.9, 0.3, 0.3)))}
        if tags and value in tags:
            segment["tags"] = dict(tags[value])
        seg["segments"].append(segment)
    return atomic_write(path, lambda tmp: slicerio.write_segmentation(os.fspath(tmp), seg))
