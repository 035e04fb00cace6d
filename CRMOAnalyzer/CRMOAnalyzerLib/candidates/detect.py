"""Lesion candidates on a STIR image: bright marrow inside each bone, against the child's own marrow.

The method (thresholds and the basis of each rule in ``resources/candidates.json``):

1. the bone map is brought onto the image's grid (nearest neighbour) and each bone is eroded by a voxel:
   only voxels inside a bone count (joint fluid and oedema outside the bone, partial volume at its surface,
   are never proposed); a side-less paired bone (``tibia``) is split at the patient's midline;
2. the coil's smooth bias: the marrow's own smooth level (normalized Gaussian convolution of the
   log-intensity over the bones' inner voxels, lesions left out by a few robust passes) divides the image;
3. each bone is normalized by its own median (or its pair's on the other side, when that is clearly
   lower: the whole bone may be involved), smoothed a little within the bone;
4. candidates grow from voxels clearly above it (hysteresis: a seed threshold and a growth threshold,
   each the larger of a ratio and a multiple of the bone's noise);
5. held back: growth plates (thin bright bands across a long bone near its ends, symmetric with the paired
   bone), vessels (thin tubular regions), regions smaller than the minimum size; each remaining region is
   scored (higher = more suspicious) and those below the minimum score are dropped.

It proposes; the reader decides. Plain numpy/scipy/SimpleITK; no trained weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..anatomy import Bone, BoneKindValues
from ..localization.bonemap import BoneMap
from ..errors import CRMOInputError
from ..io.files import read_json, resource
from ..io.geometry import to_ras
from ..io.images import Image, LabelMap, to_sitk

__all__ = ["Candidate", "CandidateResult", "find_candidates", "rules", "SCHEMA"]

logger = logging.getLogger(__name__)

SCHEMA = "crmo-analyzer/candidates"


@lru_cache(maxsize=None)
def _rules() -> dict:
    return read_json(resource("candidates.json"), "candidate rules")


def rules() -> dict:
    """The thresholds of the method and the source of each rule (a fresh copy, safe to change)."""
    import copy  # noqa: PLC0415

    return copy.deepcopy(_rules())


@dataclass
class Candidate:
    """One proposed region (label value ``label`` of the candidate map)."""

    label: int
    bone: str
    side: str | None
    centroid_ras: list[float]
    volume_mm3: float
    score: float
    why: str
    median_ratio: float = 0.0
    peak_ratio: float = 0.0

    def to_dict(self) -> dict:
        return {"label": self.label, "bone": self.bone, "side": self.side, "centroid_ras": self.centroid_ras,
                "volume_mm3": self.volume_mm3, "score": self.score, "why": self.why,
                "median_ratio": self.median_ratio, "peak_ratio": self.peak_ratio}


@dataclass
class CandidateResult:
    """The candidates (best first) and their label map on the image's grid (value = ``Candidate.label``)."""

    labelmap: LabelMap
    candidates: list[Candidate]
    held_back: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self, inputs: dict | None = None) -> dict:
        """The ``candidates.json`` document."""
        return {"schema": SCHEMA, "schema_version": 1, "status": "AUTOMATIC",
                "note": "proposals for the reader; none is a lesion until the reader accepts it",
                "inputs": dict(inputs or {}), "candidates": [c.to_dict() for c in self.candidates],
                "held_back": dict(self.held_back), "warnings": list(self.warnings)}


# ---- the bone map on the image's grid -----------------------------------------------------------

@dataclass(frozen=True)
class _Unit:
    """A bone, or one side of a side-less paired bone: the piece normalized on its own."""

    number: int
    value: int
    bone: Bone
    side: str | None

    @property
    def name(self) -> str:
        return self.bone.name

    @property
    def display(self) -> str:
        display = self.bone.display
        return f"{self.side} {display}" if self.side and self.side not in display.lower() else display


def _spacing(affine: np.ndarray) -> np.ndarray:
    """Voxel size along (k, j, i), the array's axis order."""
    return np.linalg.norm(affine[:3, :3], axis=0)[::-1]


def _bones_on_grid(image: Image, bonemap: BoneMap) -> np.ndarray:
    labels = bonemap.labelmap
    if labels.same_grid(image):
        on_grid = np.asarray(labels.array)
    else:
        moving = to_sitk(labels)
        reference = to_sitk(Image(np.zeros(image.array.shape, dtype=np.uint8), image.affine))
        on_grid = sitk.GetArrayFromImage(sitk.Resample(moving, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                                                       moving.GetPixelID()))
    known = np.zeros(int(on_grid.max()) + 1, dtype=bool)
    for value in bonemap.bones:
        if value < known.size:
            known[value] = True
    return np.where(known[on_grid], on_grid, 0).astype(np.int32)


def _units(image: Image, bonemap: BoneMap, values: np.ndarray) -> tuple[np.ndarray, list[_Unit]]:
    """Unit number per voxel (0: no bone) and the units (index = number - 1)."""
    units_array = np.zeros(values.shape, dtype=np.int32)
    units: list[_Unit] = []
    midline = bonemap.midline
    for value in np.unique(values[values > 0]):
        value = int(value)
        bone = bonemap.bones[value]
        where = np.nonzero(values == value)
        if bone.paired and bone.side is None and midline is not None:
            ras = to_ras(image.affine, np.column_stack(where[::-1]))
            right = midline.signed_distance(ras) > 0
            for side, keep in (("right", right), ("left", ~right)):
                if keep.any():
                    units.append(_Unit(len(units) + 1, value, bone, side))
                    units_array[tuple(axis[keep] for axis in where)] = len(units)
            continue
        side = bone.side.value if bone.side is not None else bonemap.inherited_sides.get(value, (None,))[0] if bone.paired else None
        units.append(_Unit(len(units) + 1, value, bone, side))
        units_array[where] = len(units)
    return units_array, units


def _inner(units_array: np.ndarray, erode: int) -> np.ndarray:
    """Voxels whose 6 neighbours belong to the same unit (repeated ``erode`` times); the image's edge is outside."""
    inner = units_array > 0
    current = units_array
    for _ in range(erode):
        keep = inner.copy()
        for axis in range(3):
            size = current.shape[axis]
            low = [slice(None)] * 3
            high = [slice(None)] * 3
            low[axis], high[axis] = slice(0, size - 1), slice(1, size)
            same = current[tuple(low)] == current[tuple(high)]
            keep[tuple(low)] &= same
            keep[tuple(high)] &= same
            edge = [slice(None)] * 3
            for index in (0, size - 1):
                edge[axis] = index
                keep[tuple(edge)] = False
        inner = keep
        current = np.where(inner, units_array, 0)
    return inner


# ---- the coil's bias: the marrow's own smooth level -------------------------------------------------

def _smooth_level(log_image: np.ndarray, weights: np.ndarray, where: tuple, spacing: np.ndarray,
                  sigma_mm: float, cell_mm: float) -> np.ndarray:
    """Normalized Gaussian convolution of ``log_image`` over ``weights``, sampled at the voxels ``where``.

    Computed on cells of about ``cell_mm`` (sums of the values and weights), smoothed, interpolated back.
    """
    factor = np.maximum(1, np.round(cell_mm / spacing)).astype(int)
    shape = tuple(int(np.ceil(n / f)) * f for n, f in zip(log_image.shape, factor))
    values = np.zeros(shape, dtype=np.float64)
    counts = np.zeros(shape, dtype=np.float64)
    values[tuple(slice(0, n) for n in log_image.shape)] = np.where(weights, log_image, 0.0)
    counts[tuple(slice(0, n) for n in log_image.shape)] = weights

    def cells(array):
        small = tuple(n // f for n, f in zip(shape, factor))
        return array.reshape(small[0], factor[0], small[1], factor[1], small[2], factor[2]).sum(axis=(1, 3, 5))

    sigma = sigma_mm / (factor * spacing)
    smooth_values = ndimage.gaussian_filter(cells(values), sigma, mode="constant")
    smooth_counts = ndimage.gaussian_filter(cells(counts), sigma, mode="constant")
    coords = [(np.asarray(axis, dtype=float) + 0.5) / f - 0.5 for axis, f in zip(where, factor)]
    top = ndimage.map_coordinates(smooth_values, coords, order=1, mode="nearest")
    bottom = ndimage.map_coordinates(smooth_counts, coords, order=1, mode="nearest")
    return top / np.maximum(bottom, 1e-12)


def _bias_corrected(array: np.ndarray, inner: np.ndarray, spacing: np.ndarray, rule: dict) -> np.ndarray:
    """The image divided by the marrow's smooth level, at the inner voxels (elsewhere 0)."""
    where = np.nonzero(inner)
    values = array[where].astype(np.float64)
    floor = max(float(np.median(values)) * 1e-3, 1e-6)
    log_full = np.zeros(array.shape, dtype=np.float64)
    log_full[where] = np.log(np.maximum(values, floor))
    weights = inner.copy()
    for _ in range(int(rule["passes"])):
        level = _smooth_level(log_full, weights, where, spacing, rule["sigma_mm"], rule["cell_mm"])
        residual = log_full[where] - level
        weights = inner.copy()
        weights[tuple(axis[residual > np.log(rule["outlier_ratio"])] for axis in where)] = False
    corrected = np.zeros(array.shape, dtype=np.float32)
    corrected[where] = np.exp(log_full[where] - level)
    return corrected


# ---- growth plates ----------------------------------------------------------------------------

@dataclass
class _Bands:
    """A long bone's bright bands across it near its ends: (start, stop) in mm along the axis from the proximal
    end, the bone's length, and the projection of each of its inner voxels."""

    unit: _Unit
    bands: list[tuple[float, float]]
    length: float
    position: np.ndarray  # mm from the proximal end, per inner voxel of the unit
    where: tuple


def _bands(unit: _Unit, units_array: np.ndarray, inner: np.ndarray, bright: np.ndarray, affine: np.ndarray,
           towards: np.ndarray | None, rule: dict) -> _Bands | None:
    whole = np.nonzero(units_array == unit.number)
    if whole[0].size < 20:
        return None
    ras = to_ras(affine, np.column_stack(whole[::-1]))
    centre = ras.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((ras - centre).T))
    axis = vectors[:, -1]
    if towards is not None:
        if (towards - centre) @ axis < 0:  # the proximal end is the one nearer the trunk
            axis = -axis
    elif axis[2] < 0:
        axis = -axis
    t_all = (ras - centre) @ axis
    proximal, length = float(t_all.max()), float(t_all.max() - t_all.min())
    mine = inner[whole]
    where = tuple(a[mine] for a in whole)
    position = proximal - t_all[mine]
    if length <= 0 or position.size == 0:
        return None
    slab = rule["slab_mm"]
    bins = np.floor(position / slab).astype(int)
    count = np.bincount(bins)
    lit = np.bincount(bins, weights=bright[where].astype(float), minlength=count.size)
    fraction = lit / np.maximum(count, 1)
    centres = (np.arange(count.size) + 0.5) * slab
    near_end = (centres <= rule["end_fraction"] * length) | (centres >= (1 - rule["end_fraction"]) * length)
    flagged = (fraction >= rule["min_cross_fraction"]) & (count >= 3) & near_end
    bands = []
    index = 0
    while index < flagged.size:
        if not flagged[index]:
            index += 1
            continue
        stop = index
        while stop + 1 < flagged.size and flagged[stop + 1]:
            stop += 1
        if (stop - index + 1) * slab <= rule["max_thickness_mm"]:
            bands.append((index * slab, (stop + 1) * slab))
        index = stop + 1
    return _Bands(unit, bands, length, position, where)


def _growth_plates(units: list[_Unit], units_array: np.ndarray, inner: np.ndarray, bright: np.ndarray,
                   affine: np.ndarray, towards: np.ndarray | None, rule: dict) -> tuple[np.ndarray, int]:
    """Voxels held back as growth plates, and how many bands."""
    found = {}
    for unit in units:
        if unit.bone.kind == BoneKindValues.LONG:
            bands = _bands(unit, units_array, inner, bright, affine, towards, rule)
            if bands is not None:
                found[unit.number] = bands
    plates = np.zeros(inner.shape, dtype=bool)
    held = 0
    for number, bands in found.items():
        unit = bands.unit
        partner = next((b for b in found.values() if b.unit.bone.base == unit.bone.base and b.unit.side is not None
                        and unit.side is not None and b.unit.side != unit.side), None)
        for start, stop in bands.bands:
            if partner is not None:
                middle = (start + stop) / 2 / bands.length
                tolerance = rule["symmetry_fraction"]
                if not any(abs((a + b) / 2 / partner.length - middle) <= tolerance for a, b in partner.bands):
                    continue
            inside = (bands.position >= start - rule["margin_mm"]) & (bands.position <= stop + rule["margin_mm"])
            plates[tuple(axis[inside] for axis in bands.where)] = True
            held += 1
    return plates & bright, held


# ---- the method ------------------------------------------------------------------------------------

def _normalized(corrected: np.ndarray, inner: np.ndarray, units_array: np.ndarray, units: list[_Unit],
                rule: dict) -> tuple[np.ndarray, dict[int, str]]:
    """Each unit divided by its reference (own median, or its pair's when clearly lower); how each was referenced."""
    medians = {}
    for unit in units:
        values = corrected[(units_array == unit.number) & inner]
        medians[unit.number] = float(np.median(values)) if values.size >= rule["min_bone_voxels"] else None
    overall = float(np.median(corrected[inner]))
    reference = np.ones(len(units) + 1, dtype=np.float32)
    how = {}
    for unit in units:
        own = medians[unit.number]
        peer, peer_name = _peer(unit, units, medians)
        if own is None:
            reference[unit.number], how[unit.number] = overall, "the median marrow of all bones"
        elif peer is not None and own > rule["paired_lower_ratio"] * peer:
            reference[unit.number] = peer
            how[unit.number] = f"the median marrow of {peer_name} (this {unit.display} is {own / peer:.1f}x it)"
        else:
            reference[unit.number], how[unit.number] = own, f"the median marrow of the {unit.display}"
    return np.where(inner, corrected / reference[units_array], 0.0).astype(np.float32), how


def _peer(unit: _Unit, units: list[_Unit], medians: dict) -> tuple[float | None, str]:
    """The reference a whole bone is compared with: its pair on the other side; for a vertebra the other vertebrae;
    else none."""
    if unit.side is not None:
        pair = [medians[u.number] for u in units if u.bone.base == unit.bone.base and u.side and u.side != unit.side
                and medians[u.number]]
        if pair:
            return float(np.median(pair)), "the paired bone on the other side"
    if unit.bone.kind == BoneKindValues.VERTEBRA:
        others = [medians[u.number] for u in units if u.bone.kind == BoneKindValues.VERTEBRA and u is not unit
                  and medians[u.number]]
        if len(others) >= 2:
            return float(np.median(others)), "the other vertebrae"
    return None, ""  # other bones are no reference: their marrow differs (red and yellow marrow), and so may the bias


def _smooth_within(values: np.ndarray, mask: np.ndarray, spacing: np.ndarray, sigma_mm: float) -> np.ndarray:
    if sigma_mm <= 0:
        return values
    sigma = sigma_mm / spacing
    top = ndimage.gaussian_filter(np.where(mask, values, 0).astype(np.float32), sigma)
    bottom = ndimage.gaussian_filter(mask.astype(np.float32), sigma)
    return np.where(mask, top / np.maximum(bottom, 1e-6), 0.0).astype(np.float32)


def _touches(region: np.ndarray, box: tuple, mask: np.ndarray) -> bool:
    """Whether a region (inside ``box``) touches ``mask`` (26-neighbours)."""
    grown = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box, mask.shape))
    mine = np.zeros([s.stop - s.start for s in grown], dtype=bool)
    mine[tuple(slice(s.start - g.start, s.stop - g.start) for s, g in zip(box, grown))] = region
    return bool((ndimage.binary_dilation(mine, np.ones((3, 3, 3), dtype=bool)) & mask[grown]).any())


def _fluid_outside(region: np.ndarray, box: tuple, bones: np.ndarray, inner: np.ndarray, array: np.ndarray,
                   rule: dict) -> bool:
    """Whether a region hugs the bone's surface (at least ``surface_fraction`` of it in the outermost layer of the
    eroded bone) and the voxels outside every bone next to it (within ``reach_voxels``) are brighter than the region
    itself: fluid
    spilling into the bone's surface, not a lesion (which is brightest inside the bone and reaches into it)."""
    reach = int(rule["reach_voxels"])
    low = [max(s.start - reach, 0) for s in box]
    high = [min(s.stop + reach, n) for s, n in zip(box, array.shape)]
    grown = tuple(slice(a, b) for a, b in zip(low, high))
    mine = np.zeros([b - a for a, b in zip(low, high)], dtype=bool)
    mine[tuple(slice(s.start - a, s.stop - a) for s, a in zip(box, low))] = region
    cube = np.ones((3, 3, 3), dtype=bool)
    outside_bones = bones[grown] == 0
    shell = ndimage.binary_dilation(mine, cube, iterations=reach) & outside_bones
    if shell.sum() < 3:
        return False
    near_surface = ndimage.binary_dilation(~inner[grown], cube)  # the first layer inside the eroded bone
    if float(near_surface[mine].mean()) < rule["surface_fraction"]:
        return False  # a region reaching deep into the bone is no fluid spilling in
    outside = float(np.percentile(array[grown][shell], rule["fluid_percentile"]))
    return outside > rule["fluid_ratio"] * float(np.median(array[grown][mine]))


def find_candidates(image: Image, bonemap: BoneMap, settings: dict | None = None) -> CandidateResult:
    """Lesion candidates of a STIR image, on its grid, inside the bones of ``bonemap`` (any grid).

    ``settings``: the rules (``rules()``), changed for experiments; default the bundled ones.
    """
    rule = settings or _rules()
    array = np.asarray(image.array)
    if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
        raise CRMOInputError(image.source, "the image has non-finite (NaN or infinite) or non-numeric values")
    array = array.astype(np.float32)
    values = _bones_on_grid(image, bonemap)
    if not values.any():
        raise CRMOInputError(image.source, f"the image and the bone map {bonemap.labelmap.source} do not overlap in space")
    units_array, units = _units(image, bonemap, values)
    spacing = _spacing(image.affine)
    inner = _inner(units_array, int(rule["inside_bone"]["erode_voxels"]))
    empty = LabelMap(np.zeros(array.shape, dtype=np.uint16), image.affine.copy(), "candidates", {})
    if inner.sum() < 20:
        warning = f"{image.source}: the bones inside the image are too thin or too few for candidates"
        logger.warning(warning)
        return CandidateResult(empty, [], {}, [warning])
    if float(np.ptp(array[inner])) == 0.0:
        raise CRMOInputError(image.source, "the image is constant inside the bones: no signal to compare")
    corrected = _bias_corrected(array, inner, spacing, rule["bias"])
    ratio, how = _normalized(corrected, inner, units_array, units, rule["reference"])
    ratio = _smooth_within(ratio, inner, spacing, rule["threshold"]["smooth_mm"])
    threshold = rule["threshold"]
    seed_at = np.full(len(units) + 1, np.inf, dtype=np.float32)
    grow_at = np.full(len(units) + 1, np.inf, dtype=np.float32)
    noise = {}
    for unit in units:
        below = 1.0 - ratio[(units_array == unit.number) & inner]
        below = below[below >= 0]
        if below.size >= 10:  # the half below the reference: lesions are bright, so this half is the marrow's noise
            noise[unit.number] = 1.4826 * float(np.median(below))
    typical = float(np.median(list(noise.values()))) if noise else 0.0
    for unit in units:
        spread = noise.setdefault(unit.number, typical)
        seed_at[unit.number] = max(threshold["seed_ratio"], 1 + threshold["seed_noise_z"] * spread)
        grow_at[unit.number] = max(threshold["grow_ratio"], 1 + threshold["grow_noise_z"] * spread)
    bright = inner & (ratio >= grow_at[units_array])
    seeds = inner & (ratio >= seed_at[units_array])
    towards = bonemap.trunk_centre
    plates, bands = _growth_plates(units, units_array, inner, bright, image.affine, towards, rule["growth_plate"])
    held = {"growth_plate": bands, "fluid": 0, "vessel": 0, "small": 0, "low_score": 0}
    labels, count = ndimage.label(bright & ~plates, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return CandidateResult(empty, [], held, [])
    voxel_mm3 = image.voxel_volume_mm3
    voxel_term = float(np.mean(spacing ** 2)) / 12.0
    found = []
    for number, box in enumerate(ndimage.find_objects(labels), 1):
        region = labels[box] == number
        if not seeds[box][region].any():
            continue
        where = tuple(axis + s.start for axis, s in zip(np.nonzero(region), box))
        n = where[0].size
        volume = n * voxel_mm3
        if n < rule["size"]["min_voxels"] or volume < rule["size"]["min_volume_mm3"]:
            held["small"] += 1
            continue
        ras = to_ras(image.affine, np.column_stack(where[::-1]))
        centroid = ras.mean(axis=0)
        signal = ratio[where]
        core = ras[signal >= 1.0 + (signal.max() - 1.0) / 2]  # the shape at half its peak, not its smoothed rim
        if len(core) >= 3:
            spread = np.sort(np.linalg.eigvalsh(np.cov((core - core.mean(axis=0)).T)))[::-1] + voxel_term
            if (4 * np.sqrt(spread[1]) <= rule["vessel"]["max_width_mm"]
                    and np.sqrt(spread[0] / spread[1]) >= rule["vessel"]["min_elongation"]):
                held["vessel"] += 1
                continue
        if volume < rule["growth_plate"]["edge_max_mm3"] and _touches(region, box, plates):
            held["growth_plate"] += 1  # a fringe of a growth plate held back, left beyond its band
            continue
        if _fluid_outside(region, box, units_array, inner, array, rule["inside_bone"]):
            held["fluid"] += 1
            continue
        unit_numbers = units_array[where]
        unit = units[int(np.bincount(unit_numbers).argmax()) - 1]
        median, peak = float(np.median(signal)), float(np.percentile(signal, 95))
        score_rule = rule["score"]
        score = (median - 1.0) * min(1.0, float(np.sqrt(volume / score_rule["size_mm3"])))
        pelvis = unit.bone.base in score_rule["healthy_foci_bones"]
        if pelvis:
            score *= score_rule["healthy_foci_factor"]
        if score < score_rule["min_score"]:
            held["low_score"] += 1
            continue
        why = (f"marrow signal {median:.1f}x (peak {peak:.1f}x) {how[unit.number]} after removing the coil's smooth "
               f"bias, over {volume:.0f} mm³ inside the bone (bone noise {noise.get(unit.number, 0):.2f})"
               + ("; scored lower: healthy children have bright foci in the pelvis" if pelvis else ""))
        found.append((score, where, Candidate(0, unit.name, unit.side, [round(float(x), 2) for x in centroid],
                                               round(volume, 1), round(score, 3), why, round(median, 2), round(peak, 2))))
    found.sort(key=lambda item: -item[0])
    out = np.zeros(array.shape, dtype=np.uint16)
    candidates = []
    for label, (_, where, candidate) in enumerate(found, 1):
        out[where] = label
        candidate.label = label
        candidates.append(candidate)
    names = {c.label: f"candidate {c.label}: {c.side + ' ' if c.side else ''}{c.bone}" for c in candidates}
    return CandidateResult(LabelMap(out, image.affine.copy(), "candidates", names), candidates, held, [])
