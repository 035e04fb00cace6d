"""Synthetic STIR-like whole-body images on the phantom skeleton, with known lesions and confounders.

For the candidate finder's tests and benchmark. Signal relative to red marrow (1.0): soft tissue 0.5, lesions
``contrast`` x marrow (spheres clipped to their bone), growth plates 2.2 (thin discs across both ends of every
long bone, both limbs), joint fluid 3.5 (knees, one hip, one ankle: outside the bone, reaching into the bone
map's outermost voxel layer as a segmentation a voxel too large would), vessels 3.0 (femoral vessels beside
the femur) and 2.5 (nutrient vessels through the femoral and tibial shafts, basivertebral veins), a smooth
multiplicative coil bias, partial volume (Gaussian point-spread of half a voxel) and Rician noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..io.images import Image, LabelMap
from ..samples.phantom import (Grid, Phantom, Pose, _along, _Capsule, _clavicle_point, _Ellipsoid, _fit_grid, _limbs,
                       _rasterize, _vertebra_z, make_phantom, skeleton_shapes)

__all__ = ["StirExam", "make_skeleton", "make_stir_exam", "random_lesions", "SITES", "LONG_BONES", "CONFOUNDERS"]

MARROW = 200.0
SOFT_TISSUE = 0.5
PLATE = 2.2
FLUID = 3.5
BIG_VESSEL = 3.0
SMALL_VESSEL = 2.5

#: label values of the confounder map
CONFOUNDERS = {"plate": 1, "fluid": 2, "vessel": 3}

LONG_BONES = ("humerus", "radius", "ulna", "femur", "tibia", "fibula")


class _Disc:
    """A flat cylinder: centre, unit axis, radius, thickness."""

    def __init__(self, centre, axis, radius, thickness):
        self.centre, self.axis = np.asarray(centre, float), np.asarray(axis, float) / np.linalg.norm(axis)
        self.radius, self.half = float(radius), float(thickness) / 2

    def bounds(self):
        reach = self.radius + self.half
        return self.centre - reach, self.centre + reach

    def contains(self, a):
        d = a - self.centre
        along = d @ self.axis
        across = np.linalg.norm(d - along[:, None] * self.axis, axis=1)
        return (np.abs(along) <= self.half) & (across <= self.radius)


def _side_sign(side: str) -> float:
    return 1.0 if side == "right" else -1.0


#: lesion sites: name -> (bone name in the map, side or None, centre (anatomical mm) from a random generator)
SITES: dict[str, tuple] = {}
for _side in ("right", "left"):
    _s = _side[0].upper()
    SITES.update({
        f"{_s} distal femur": (f"femur_{_side}", _side, lambda r, sd=_side: _along("femur", sd, from_distal_mm=r.uniform(26, 45))),
        f"{_s} proximal femur": (f"femur_{_side}", _side, lambda r, sd=_side: _along("femur", sd, from_proximal_mm=r.uniform(35, 55))),
        f"{_s} femoral shaft": (f"femur_{_side}", _side, lambda r, sd=_side: _along("femur", sd, from_proximal_mm=r.uniform(140, 200))),
        f"{_s} proximal tibia": ("tibia", _side, lambda r, sd=_side: _along("tibia", sd, from_proximal_mm=r.uniform(26, 45))),
        f"{_s} distal tibia": ("tibia", _side, lambda r, sd=_side: _along("tibia", sd, from_distal_mm=r.uniform(26, 40))),
        f"{_s} distal fibula": ("fibula", _side, lambda r, sd=_side: _along("fibula", sd, from_distal_mm=r.uniform(20, 35))),
        f"{_s} proximal humerus": (f"humerus_{_side}", _side, lambda r, sd=_side: _along("humerus", sd, from_proximal_mm=r.uniform(35, 55))),
        f"{_s} medial clavicle": (f"clavicula_{_side}", _side, lambda r, sd=_side: _clavicle_point(sd, r.uniform(0.1, 0.25))),
        f"{_s} ilium": (f"hip_{_side}", _side, lambda r, sd=_side: np.array((_side_sign(sd) * 70.0, -8.0, r.uniform(-95, -70)))),
        f"{_s} calcaneus": ("tarsal", _side, lambda r, sd=_side: np.array((_side_sign(sd) * 60.0, r.uniform(-5, 15), -862.0))),
    })
for _level in ("T6", "T9", "T12", "L2", "L4"):
    SITES[f"{_level} body"] = (f"vertebrae_{_level}", None, lambda r, lv=_level: np.array((0.0, 2.0, _vertebra_z()[lv][0])))
SITES["sacrum"] = ("sacrum", None, lambda r: np.array((r.uniform(-10, 10), -8.0, _vertebra_z()["L5"][0] - 60)))


@dataclass
class StirExam:
    """A synthetic exam: the STIR image, the named bone map, the true lesion map (value n = ``lesions[n-1]``)."""

    image: Image
    bones: LabelMap
    lesions: LabelMap
    expected: list[dict]  # name, bone, side, radius_mm, contrast, volume_mm3
    pose: Pose
    confounders: LabelMap | None = None  # 1 growth plate, 2 joint fluid, 3 vessel (where each was drawn)


def make_skeleton(grid: Grid = Grid((3.0, 3.0, 3.0)), pose: Pose = Pose(), bones: tuple[str, ...] | None = None,
                  low=None, high=None) -> Phantom:
    """The phantom's bone map on ``grid`` (rasterize once, reuse for many exams); ``bones`` (names) and the
    anatomical box ``low``-``high`` (mm) give a smaller scene, e.g. the knees."""
    if bones is None and low is None and high is None:
        return make_phantom(grid, pose=pose, lesions=[])
    shapes, values = skeleton_shapes()
    shapes = [(name, solid) for name, solid in shapes if bones is None or name in bones]
    low = np.array((-200.0, -110.0, -900.0) if low is None else low, float)
    high = np.array((200.0, 140.0, 650.0) if high is None else high, float)
    affine, size = _fit_grid(grid, pose, low, high)
    array = _rasterize(shapes, values, affine, size, pose, np.uint8)
    names = {values[name]: name for name in sorted({name for name, _ in shapes})}
    bone_map = LabelMap(array, affine, "phantom bones", names)
    empty = LabelMap(np.zeros_like(array), affine, "phantom lesions", {})
    return Phantom(bone_map, empty, None, [], [], pose)


def random_lesions(rng: np.random.Generator, radii=(3.0, 5.0, 8.0, 12.0), contrasts=(1.8, 2.5, 3.5),
                   count: int = 12, offset: int = 0) -> list[dict]:
    """``count`` lesions at distinct random sites, cycling through every (radius, contrast) pair."""
    names = list(rng.choice(sorted(SITES), size=count, replace=False))
    pairs = [(r, c) for r in radii for c in contrasts]
    lesions = []
    for n, name in enumerate(names):
        radius, contrast = pairs[(n + offset) % len(pairs)]
        bone, side, where = SITES[name]
        lesions.append({"name": name, "bone": bone, "side": side, "centre": where(rng), "radius_mm": radius,
                        "contrast": contrast})
    return lesions


def _confounders(plates: bool, fluid: bool, vessels: bool):
    """Solids (anatomical frame) of each confounder: (kind, solid, inside the bone only)."""
    solids = []
    for side in ("right", "left"):
        s = _side_sign(side)
        limbs = {row[0]: row for row in _limbs(s)}
        if plates:
            for name in LONG_BONES:
                _, p0, p1, radius = limbs[name]
                p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
                u = (p1 - p0) / np.linalg.norm(p1 - p0)
                end = 1.6 * radius
                for tip, direction in ((p0, u), (p1, -u)):
                    solids.append(("plate", _Disc(tip + direction * 0.6 * end, u, end + 2, 3.0), True))
        if fluid:
            femur, tibia = limbs["femur"], limbs["tibia"]
            knee = (np.asarray(femur[2], float) + np.asarray(tibia[1], float)) / 2
            solids.append(("fluid", _Ellipsoid(knee + np.array((0, 6, 0)), (30, 28, 24)), False))
        if vessels:
            _, p0, p1, radius = limbs["femur"]
            p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
            shift = np.array((-s * (radius + 10), 8, 0))
            solids.append(("vessel", _Capsule(p0 + shift, p1 + shift, 3.0), False))
            for name in ("femur", "tibia"):
                _, p0, p1, radius = limbs[name]
                p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
                middle = (p0 + p1) / 2
                solids.append(("vessel", _Capsule(middle + np.array((-s * 14, 10, 18)), middle + np.array((s * 4, -2, -14)), 1.5), True))
    if fluid:
        _, p0, _, _ = _limbs(1.0)[3]
        solids.append(("fluid", _Ellipsoid(np.asarray(p0, float), (24, 24, 26)), False))
        ankle = (np.asarray(_limbs(-1.0)[4][2], float) + np.array((-60.0, 10, -862))) / 2
        solids.append(("fluid", _Ellipsoid(ankle, (22, 24, 16)), False))
    if vessels:
        for level in ("T10", "T12", "L2", "L3"):
            z = _vertebra_z()[level][0]
            solids.append(("vessel", _Capsule((-9, -6, z), (9, -6, z), 1.5), True))
    return solids


def _ras_grid(affine: np.ndarray, shape) -> list[np.ndarray]:
    k, j, i = (np.arange(n, dtype=np.float32) for n in shape)
    return [affine[row, 0] * i[None, None, :] + affine[row, 1] * j[None, :, None] + affine[row, 2] * k[:, None, None]
            + affine[row, 3] for row in range(3)]


def make_stir_exam(seed: int = 0, skeleton: Phantom | None = None, lesions: list[dict] | None = None,
                   noise: float = 0.12, bias: float = 0.35, plates: bool = True, fluid: bool = True,
                   vessels: bool = True, grid: Grid = Grid((3.0, 3.0, 3.0)), pose: Pose = Pose()) -> StirExam:
    """A STIR-like exam with known lesions (``random_lesions(rng)`` when not given) and the confounders asked for.

    ``noise``: standard deviation relative to marrow; ``bias``: amplitude of the smooth log-bias field.
    """
    rng = np.random.default_rng(seed)
    skeleton = skeleton or make_skeleton(grid, pose)
    pose = skeleton.pose
    bones = skeleton.bones
    affine, shape = bones.affine, bones.array.shape
    size_ijk = shape[::-1]
    bone = bones.array > 0
    lesions = random_lesions(rng) if lesions is None else lesions

    spacing = np.linalg.norm(affine[:3, :3], axis=0)[::-1]
    signal = np.where(bone, 1.0, 0.0).astype(np.float32)
    body = ndimage.distance_transform_edt(~bone, sampling=spacing) <= 30.0
    signal[body & ~bone] = SOFT_TISSUE
    heterogeneity = ndimage.gaussian_filter(rng.normal(0, 1, shape).astype(np.float32), 12.0 / spacing)
    heterogeneity /= max(float(heterogeneity[bone].std()), 1e-6)
    signal[bone] *= 1.0 + 0.06 * heterogeneity[bone]

    inner = ndimage.binary_erosion(bone)
    drawn = np.zeros(shape, dtype=np.uint8)
    for kind, solid, inside in _confounders(plates, fluid, vessels):
        mask = _rasterize([("x", solid)], {"x": 1}, affine, size_ijk, pose, np.uint8).astype(bool)
        if kind == "plate":
            mask &= bone
            signal[mask] = PLATE
        elif kind == "fluid":
            mask &= ~inner  # outside the bone and its outermost voxel layer
            signal[mask] = FLUID
        else:
            mask = mask & bone if inside else mask & ~bone
            signal[mask] = SMALL_VESSEL if inside else BIG_VESSEL
        drawn[mask] = CONFOUNDERS[kind]

    truth = np.zeros(shape, dtype=np.uint8)
    expected = []
    for n, spec in enumerate(lesions, 1):
        solid = _Ellipsoid(spec["centre"], (spec["radius_mm"],) * 3)
        mask = _rasterize([("x", solid)], {"x": 1}, affine, size_ijk, pose, np.uint8).astype(bool) & bone
        truth[mask & (truth == 0)] = n
        signal[mask] = spec["contrast"] * (1.0 + 0.06 * heterogeneity[mask])
        expected.append({k: spec[k] for k in ("name", "bone", "side", "radius_mm", "contrast")}
                        | {"volume_mm3": float(mask.sum() * abs(np.linalg.det(affine[:3, :3])))})

    signal = ndimage.gaussian_filter(signal, 0.5)  # partial volume
    x, y, z = _ras_grid(affine, shape)
    phases = rng.uniform(0, 2 * np.pi, 4)
    field = np.exp(bias * (0.6 * np.cos(2 * np.pi * z / 900 + phases[0]) + 0.25 * np.cos(2 * np.pi * x / 500 + phases[1])
                           + 0.25 * np.cos(2 * np.pi * y / 400 + phases[2]) + 0.3 * np.cos(2 * np.pi * z / 350 + phases[3])))
    del x, y, z
    scale = MARROW * field
    sigma = noise * MARROW
    real = signal * scale + rng.normal(0, sigma, shape).astype(np.float32)
    imaginary = rng.normal(0, sigma, shape).astype(np.float32)
    image = np.sqrt(real ** 2 + imaginary ** 2)
    names = {n: spec["name"] for n, spec in enumerate(lesions, 1)}
    return StirExam(Image(np.clip(image, 0, 32000).astype(np.int16), affine.copy(), "synthetic STIR"), bones,
                    LabelMap(truth, affine.copy(), "true lesions", names), expected, pose,
                    LabelMap(drawn, affine.copy(), "confounders", {v: k for k, v in CONFOUNDERS.items()}))
