"""A bone segmentation with names: which bone is where, and where the patient's midline lies."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..anatomy import Bone, find_bone
from ..errors import CRMOInputError
from ..io.geometry import to_index
from ..io.images import Image, LabelMap
from .distances import components, distances_to
from .measure import LesionVoxels, sample_nearest
from .runs import LabelRuns, NotALabelMap, Runs, label_runs


__all__ = ["BoneMap", "Midline", "PAIR_VOLUME_RATIO", "PAIR_ANGLE_DEGREES"]

logger = logging.getLogger(__name__)

#: a left/right pair whose smaller bone has less than this fraction of the larger one's volume is left out of the midline
PAIR_VOLUME_RATIO = 0.7
#: a pair whose right-minus-left direction lies more than this from the other pairs' is left out of the midline
PAIR_ANGLE_DEGREES = 20.0


@dataclass(frozen=True)
class Midline:
    """The mid-sagittal plane: ``normal`` points to the patient's right (RAS), ``offset`` = normal . p on it."""

    normal: np.ndarray
    offset: float
    basis: str  # what it was estimated from, for the study's record
    warnings: tuple[str, ...] = ()  # left/right pairs left out, and why

    def signed_distance(self, ras: np.ndarray) -> np.ndarray | float:
        """mm to the patient's right of the midline (negative: left)."""
        return np.asarray(ras, dtype=float) @ self.normal - self.offset

    def side(self, ras: np.ndarray) -> str:
        """``"right"`` or ``"left"`` of the midline."""
        return "right" if float(self.signed_distance(ras)) > 0 else "left"


class BoneMap:
    """A labelmap of bones whose values have names from the bone vocabulary.

    Parameters
    ----------
    labelmap: LabelMap
        The bone segmentation (any grid, any direction).
    names: dict[int, str]
        Label value -> name (TotalSegmentator class or Slicer segment name). Values absent from the
        image are ignored; values present in the image but missing here are an error.
    names_source: str
        Where the names came from (for messages).
    """

    def __init__(self, labelmap: LabelMap, names: dict[int, str], names_source: str = "") -> None:
        self.labelmap = labelmap
        self.names = dict(names)
        self.names_source = names_source or labelmap.source
        present = self.present_values
        if not present:
            raise CRMOInputError(labelmap.source, "the bone map is empty (no non-zero voxel)")
        missing = sorted(set(present) - set(names))
        if missing:
            shown = ", ".join(map(str, missing[:8])) + (" ..." if len(missing) > 8 else "")
            raise CRMOInputError(self.names_source, f"no name for label value(s) {shown} of {labelmap.source}")
        self.bones: dict[int, Bone] = {}
        self.ignored: dict[int, str] = {}
        for value in present:
            self._add(value)
        if not self.bones:
            raise CRMOInputError(self.names_source, "no bone of the vocabulary among the names of "
                                 f"{labelmap.source} (names seen: {', '.join(sorted(set(names.values()))[:6])})")
        if self.ignored:
            logger.info("%s: label values that are not bones are ignored: %s", labelmap.source,
                        ", ".join(f"{v} {n}" for v, n in sorted(self.ignored.items())[:10]))

    def _add(self, value: int) -> None:
        bone = find_bone(self.names[value])
        if bone is None:
            self.ignored[value] = self.names[value]
        else:
            self.bones[value] = bone

    @property
    def present_values(self) -> list[int]:
        """list: the non-zero label values the image holds."""
        return [int(v) for v in self._runs.values]

    @cached_property
    def _runs(self) -> LabelRuns:
        try:
            return label_runs(self.labelmap.array, self.labelmap.affine)
        except NotALabelMap as error:
            raise CRMOInputError(self.labelmap.source, f"bone map: {error}") from None

    @cached_property
    def _index(self) -> dict[int, int]:
        return {int(v): n for n, v in enumerate(self._runs.values)}

    def centroid(self, value: int) -> np.ndarray:
        """RAS centroid of a label."""
        return self._runs.centroids_ras[self._index[value]]

    def voxel_count(self, value: int) -> int:
        """Number of voxels of a label."""
        return int(self._runs.counts[self._index[value]])

    def values_at(self, ras: np.ndarray) -> np.ndarray:
        """Bone label value at RAS points (0 outside every bone or outside the grid, -1 off the grid)."""
        return self._bones_only(sample_nearest(self.labelmap, ras, outside=-1).astype(np.int64))

    def values_under(self, lesions: Image, voxels: list[LesionVoxels]) -> np.ndarray:
        """:meth:`values_at` every voxel of ``voxels`` (lesions of the map ``lesions``), one after the other: read by
        index when the lesion map lies on the bone map's grid, else sampled at the voxel centres."""
        if not voxels:
            return np.zeros(0, np.int64)
        if lesions.same_grid(self.labelmap):
            flat = self.labelmap.array.reshape(-1)
            return self._bones_only(flat[np.concatenate([v.indices for v in voxels])].astype(np.int64))
        return self.values_at(np.concatenate([v.positions_ras for v in voxels]))

    def _bones_only(self, values: np.ndarray) -> np.ndarray:
        """Values that are no bone of the vocabulary (an organ of a TotalSegmentator map) become 0; -1 stays."""
        known = np.isin(values, list(self.bones))
        return np.where(known | (values == -1), values, 0)

    @cached_property
    def midline(self) -> Midline | None:
        """The mid-sagittal plane from the anatomy, or ``None`` when the map holds no reference.

        Its direction comes from left/right pairs of named bones (right centroid minus left), else the
        RAS x axis; its position from midline bones (spine, sternum, sacrum, skull, mandible), else the
        midpoints of the pairs. A patient lying off-centre or rotated about the long axis therefore still
        gets the right sides. Every pair is checked: a pair whose two bones differ in volume by more than
        ``PAIR_VOLUME_RATIO`` (a partly segmented or cut bone), or whose direction lies more than
        ``PAIR_ANGLE_DEGREES`` from the other pairs' (mislabelled or disagreeing), is left out and named.
        """
        sides: dict[str, dict[str, list[int]]] = {}
        midline_points = []
        for value, bone in self.bones.items():
            if bone.midline:
                midline_points.append(self.centroid(value))
            elif bone.side is not None:
                sides.setdefault(bone.base, {}).setdefault(bone.side.value, []).append(value)
        pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        warnings: list[str] = []
        for base, by_side in sides.items():
            if set(by_side) != {"left", "right"}:
                continue
            count = {side: sum(self.voxel_count(v) for v in values) for side, values in by_side.items()}
            centre = {side: sum(self.centroid(v) * self.voxel_count(v) for v in values) / count[side]
                      for side, values in by_side.items()}
            ratio = min(count.values()) / max(count.values())
            if ratio < PAIR_VOLUME_RATIO:
                smaller = min(count, key=count.get)
                warnings.append(f"midline: the {base.replace('_', ' ')} pair is left out: the {smaller} one has "
                                f"{100 * ratio:.0f}% of the other's volume (partly segmented or cut by the image?)")
                continue
            pairs[base] = (centre["right"] - centre["left"], (centre["right"] + centre["left"]) / 2)
        pairs = {base: pair for base, pair in pairs.items() if np.linalg.norm(pair[0]) > 0}
        while len(pairs) >= 2:
            units = {base: v / np.linalg.norm(v) for base, (v, _) in pairs.items()}
            total = np.sum(list(units.values()), axis=0)
            angle = {}
            for base, unit in units.items():
                rest = total - unit
                cosine = float(unit @ rest / max(np.linalg.norm(rest), 1e-9))
                angle[base] = float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
            worst = max(angle, key=angle.get)
            if angle[worst] <= PAIR_ANGLE_DEGREES:
                break
            warnings.append(f"midline: the {worst.replace('_', ' ')} pair is left out: its left-to-right direction lies "
                            f"{angle[worst]:.0f} degrees from the other pairs' (mislabelled side or partly segmented bone?)")
            del pairs[worst]
        if pairs:
            normal = np.sum([v / np.linalg.norm(v) for v, _ in pairs.values()], axis=0)
            normal = normal / np.linalg.norm(normal)
            basis = f"{len(pairs)} left/right bone pairs"
        else:
            normal = np.array([1.0, 0.0, 0.0])
            basis = "the RAS left-right axis"
        if midline_points:
            offset = float(np.median(np.asarray(midline_points) @ normal))
            basis += f" and {len(midline_points)} midline bones"
        elif pairs:
            offset = float(np.median(np.asarray([m for _, m in pairs.values()]) @ normal))
        else:
            return None
        return Midline(normal=normal, offset=offset, basis=basis, warnings=tuple(warnings))

    @cached_property
    def trunk_centre(self) -> np.ndarray | None:
        """RAS centre of the trunk (vertebrae, sacrum, sternum, ribs, hip bones: ``sublocation.json``), or ``None``
        when the map holds none (a limb-only map): the skull, the mandible and the limbs are never the trunk."""
        from .sublocation import rules  # noqa: PLC0415

        prefixes = tuple(rules()["long_bone_ends"]["trunk"])
        trunk = [v for v, b in self.bones.items() if b.base.startswith(prefixes)]
        if not trunk:
            return None
        weights = np.array([self.voxel_count(v) for v in trunk], dtype=float)
        points = np.array([self.centroid(v) for v in trunk])
        return (points * weights[:, None]).sum(axis=0) / max(weights.sum(), 1.0)

    @cached_property
    def inherited_sides(self) -> dict[int, tuple[str, str]]:
        """Side-less paired bones (``tibia``) that articulate with named bones of one side only: value -> (side,
        the named bone). For maps with no midline (one knee): a bone whose ends lie within ``articulation_max_mm``
        of bones of one side takes that side, repeatedly (the tarsus through the tibia); near both sides, none."""
        from .sublocation import end_slabs, rules  # noqa: PLC0415

        reach = rules()["long_bone_ends"]["articulation_max_mm"]
        known = {v: (b.side.value, b.display) for v, b in self.bones.items() if b.side is not None}
        tips = {v: [part.moments()[0] for part in end_slabs(self._runs.of(v)).values() if part.count]
                for v in self.bones if self.voxel_count(v) >= 10}

        def touching(a: int, b: int) -> bool:  # an end of either lies within reach of the other (one label may hold both legs)
            return any(distances_to(self._runs.of(other), tips[bone]).min() <= reach
                       for bone, other in ((a, b), (b, a)) if tips.get(bone))

        sideless = [v for v, b in self.bones.items() if b.paired and b.side is None and v in tips]
        inherited: dict[int, tuple[str, str]] = {}
        changed = True
        while changed:
            changed = False
            for value in sideless:
                if value in inherited:
                    continue
                near = {v: how for v, how in {**known, **inherited}.items() if touching(value, v)}
                if len({side for side, _ in near.values()}) == 1:
                    side = next(iter(near.values()))[0]
                    names = sorted(self.bones[v].display for v in near)
                    inherited[value] = (side, f"articulates with the {side} {', '.join(names)}")
                    changed = True
        return inherited

    def pieces(self, value: int, least: float = 0.05) -> int:
        """How many separate pieces (26-connected) a label holds, not counting pieces under ``least`` of its voxels."""
        labels, _count = components(self._runs.of(value).mask()[0], fully_connected=True)
        sizes = np.bincount(labels.ravel())[1:]
        return int(np.sum(sizes >= least * sizes.sum()))

    def lumbar_vertebrae(self) -> list[Runs]:
        """The voxels of the lumbar vertebrae (and of a side-less spine label such as total_mr's ``vertebrae``):
        never a separate S1 label, which holds the S1 ala too."""
        return [self._runs.of(v) for v, b in self.bones.items()
                if b.kind.value == "vertebra" and (b.name.startswith("vertebrae_L") or b.name == "vertebrae")]

    def touches_edge(self, runs: Runs) -> bool:
        """Whether any of the voxels lies on the outermost layer of the image (a bone there is cut, not ended)."""
        size_i, size_j, size_k = self.labelmap.shape_ijk
        return bool(np.any((runs.start == 0) | (runs.stop == size_i) | (runs.j == 0) | (runs.j == size_j - 1)
                           | (runs.k == 0) | (runs.k == size_k - 1)))

    def partners(self, base: str, side: str | None) -> list[Runs]:
        """The voxels of the bones named ``base`` (``"tibia"``) on ``side``: a side-less paired bone split at
        the midline, or whole if it took that side from the bones it articulates with (no midline); with no
        side, only bones that have none (so never the other leg's)."""
        found = []
        for value, bone in self.bones.items():
            if bone.base != base:
                continue
            if side is None or bone.side is not None:
                if (bone.side.value if bone.side else None) == side:
                    found.append(self._runs.of(value))
            elif self.midline is not None:
                found.append(self.bone_runs(value, side))
            elif self.inherited_sides.get(value, (None,))[0] == side:
                found.append(self._runs.of(value))
        return [runs for runs in found if runs.count]

    def bone_runs(self, value: int, side: str | None = None) -> Runs:
        """A bone's voxels; for a side-less paired bone, only those on ``side``."""
        runs = self._runs.of(value)
        if side is not None and self.bones[value].side is None and self.bones[value].paired and self.midline:
            right, left = runs.split(self.midline.normal, self.midline.offset)
            runs = right if side == "right" else left
        return runs

    def nearest_bone(self, points_ras: np.ndarray, max_mm: float) -> tuple[int, float] | None:
        """The bone nearest to any of the points within ``max_mm``: (value, distance), or ``None``; ties go to the
        bone first in the vocabulary's name order, never to a label value."""
        points_ras = np.asarray(points_ras, dtype=float).reshape(-1, 3)
        if len(points_ras) > 20000:
            points_ras = points_ras[:: len(points_ras) // 20000 + 1]
        low, high = points_ras.min(axis=0) - max_mm, points_ras.max(axis=0) + max_mm
        corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
        ijk = to_index(self.labelmap.affine, corners)
        box_low, box_high = np.floor(ijk.min(axis=0)).astype(np.int64), np.ceil(ijk.max(axis=0)).astype(np.int64)
        found = {}
        for value in self.bones:
            runs = self._runs.of(value).crop(box_low, box_high)
            if runs.count:
                distance = float(distances_to(runs, points_ras).min())
                if distance <= max_mm:
                    found[value] = distance
        if not found:
            return None
        best = min(found, key=lambda v: (found[v], self.bones[v].name))
        return best, found[best]
