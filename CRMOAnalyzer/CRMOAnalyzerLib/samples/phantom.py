"""A synthetic child-sized skeleton with CRMO-like lesions, on any grid and in any pose.

Used by the bundled sample study, the tests and the benchmarks. Bones are simple solids (capsules,
ellipsoids, boxes) placed in an anatomical frame (x patient right, y anterior, z superior, mm;
midline at x = 0); ``pose`` moves the patient in the scanner (rotation and offset), and the grid
(spacing, direction, origin) is chosen independently, so every coordinate rule can be tested.
Every lesion records the bone, side and sub-location it was built in: the known answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..anatomy import totalsegmentator_ids
from ..io.geometry import LPS_TO_RAS, grid_affine, to_index, to_ras
from ..io.images import Image, LabelMap
from ..io.markups import PointLesion

__all__ = ["Pose", "Grid", "Phantom", "make_phantom", "skeleton_shapes", "LESIONS", "FLAT_LESIONS", "ARMS", "rotation"]


def rotation(axis, degrees: float) -> np.ndarray:
    """3x3 rotation about ``axis`` by ``degrees`` (right-handed)."""
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    x, y, z = axis
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) * c + s * k + (1 - c) * np.outer(axis, axis)


@dataclass(frozen=True)
class Pose:
    """Where the patient lies in RAS: ``ras = rotation @ anatomical + offset``."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def to_ras(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=float) @ self.rotation.T + self.offset

    def to_anatomical(self, ras: np.ndarray) -> np.ndarray:
        return (np.asarray(ras, dtype=float) - self.offset) @ self.rotation


@dataclass(frozen=True)
class Grid:
    """An image grid: spacing (i, j, k) and an ITK (LPS) direction matrix; its origin is fitted to the body."""

    spacing: tuple[float, float, float] = (4.0, 4.0, 4.0)
    direction_lps: np.ndarray = field(default_factory=lambda: np.eye(3))


# ---- solids in the anatomical frame --------------------------------------------------------------

class _Capsule:
    def __init__(self, p0, p1, radius):
        self.p0, self.p1, self.radius = np.asarray(p0, float), np.asarray(p1, float), float(radius)

    def bounds(self):
        return np.minimum(self.p0, self.p1) - self.radius, np.maximum(self.p0, self.p1) + self.radius

    def contains(self, a):
        d = self.p1 - self.p0
        t = np.clip(((a - self.p0) @ d) / (d @ d), 0.0, 1.0)
        return np.linalg.norm(a - (self.p0 + t[:, None] * d), axis=1) <= self.radius


class _Ellipsoid:
    def __init__(self, centre, radii):
        self.centre, self.radii = np.asarray(centre, float), np.asarray(radii, float)

    def bounds(self):
        return self.centre - self.radii, self.centre + self.radii

    def contains(self, a):
        return np.sum(((a - self.centre) / self.radii) ** 2, axis=1) <= 1.0


class _Box:
    def __init__(self, low, high):
        self.low, self.high = np.asarray(low, float), np.asarray(high, float)

    def bounds(self):
        return self.low, self.high

    def contains(self, a):
        return np.all((a >= self.low) & (a <= self.high), axis=1)


def _long_bone(p0, p1, radius, flare=1.6):
    """A long bone: shaft plus wider ends (metaphyseal flare), as in a child."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    u = (p1 - p0) / np.linalg.norm(p1 - p0)
    end = flare * radius
    return [_Capsule(p0, p1, radius), _Capsule(p0 + u * end, p0 + u * 2.2 * end, end),
            _Capsule(p1 - u * 2.2 * end, p1 - u * end, end)]


_LEVELS = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)]


def _vertebra_z() -> dict[str, tuple[float, float]]:
    """Centre height and body height of every vertebra, C1 at the top."""
    z, out = 440.0, {}
    for level in _LEVELS:
        height = {"C": 14.0, "T": 20.0, "L": 26.0}[level[0]]
        out[level] = (z - height / 2, height)
        z -= height + 2.0
    return out


def _body_radius(level: str) -> float:
    return {"C": 9.0, "T": 12.0, "L": 16.0}[level[0]]


#: arm poses: "down" beside the trunk, or "on_chest" (elbows bent, the hands resting on the lower chest and
#: abdomen: the wrists then lie nearer the trunk's centre than the elbows)
ARMS = ("down", "on_chest")


# long bones of the limbs: (name, proximal end, distal end, radius); x is the patient's right side
def _limbs(s: float, arms: str = "down") -> list[tuple[str, tuple, tuple, float]]:
    forearm = [("radius", (s * 163, 8, 132), (s * 172, 22, -60), 6), ("ulna", (s * 147, 2, 135), (s * 156, 16, -58), 6)]
    if arms == "on_chest":
        forearm = [("radius", (s * 160, 12, 140), (s * 40, 110, 80), 6), ("ulna", (s * 145, 0, 140), (s * 32, 100, 70), 6)]
    return [
        ("humerus", (s * 135, -5, 400), (s * 150, -5, 150), 11),
        *forearm,
        ("femur", (s * 75, 5, -165), (s * 65, 10, -525), 12),
        ("tibia", (s * 62, 8, -552), (s * 58, 5, -835), 11),
        ("fibula", (s * 92, -2, -562), (s * 94, -2, -828), 6),
    ]


def _limb_axis(name: str, side: str, arms: str = "down") -> tuple[np.ndarray, np.ndarray]:
    s = 1.0 if side == "right" else -1.0
    row = next(r for r in _limbs(s, arms) if r[0] == name)
    return np.array(row[1], float), np.array(row[2], float)


def _flat_shapes(s: float, side: str) -> list[tuple[str, object]]:
    """Flat bones shaped like real ones, on one side (``s`` +1 right, -1 left), for ``flat=True``: a hip bone with
    an iliac wing, a sacroiliac part reaching the sacrum, an acetabular cup around the shaped femoral head
    (``shaped=True``: centre (s*50, 0, -150), radius 13), ischium and pubis below it; a scapula with a body on the
    back, a glenoid facing the shaped humeral head (centre (s*128, -5, 402), radius 16), an acromion above the head
    and a coracoid in front; the mandible's ramus and condyle."""
    hip, scapula = f"hip_{side}", f"scapula_{side}"
    return [
        (hip, _Ellipsoid((s * 70, -12, -80), (12, 38, 42))),  # iliac wing
        (hip, _Capsule((s * 66, -14, -85), (s * 36, -12, -95), 12)),  # to the sacroiliac joint (sacrum |x| <= 30)
        (hip, _Ellipsoid((s * 46, 0, -142), (16, 22, 22))),  # acetabular cup (the femoral head written over it)
        (hip, _Capsule((s * 50, -14, -158), (s * 44, -18, -192), 10)),  # ischial body and tuberosity
        (hip, _Capsule((s * 44, -18, -192), (s * 30, 0, -192), 5)),  # ischial ramus
        (hip, _Capsule((s * 45, 12, -140), (s * 8, 30, -160), 8)),  # superior pubic ramus to the symphysis
        (hip, _Capsule((s * 8, 30, -165), (s * 30, 0, -192), 5)),  # inferior pubic ramus
        (scapula, _Ellipsoid((s * 80, -50, 350), (30, 6, 55))),  # body
        (scapula, _Ellipsoid((s * 104, -8, 402), (6, 10, 14))),  # glenoid
        (scapula, _Capsule((s * 102, -10, 398), (s * 88, -44, 380), 7)),  # neck
        (scapula, _Capsule((s * 85, -55, 395), (s * 122, -20, 432), 5)),  # spine and acromion
        (scapula, _Capsule((s * 100, -5, 410), (s * 100, 25, 415), 5)),  # coracoid
        ("mandible", _Capsule((s * 44, 22, 466), (s * 48, 14, 500), 7)),  # ramus
        ("mandible", _Capsule((s * 44, 22, 470), (s * 44, 30, 496), 4)),  # coronoid process
        ("mandible", _Ellipsoid((s * 49, 13, 503), (9, 6, 5))),  # condyle
    ]


def skeleton_shapes(arms: str = "down", shaped: bool = False, flat: bool = False) -> tuple[list[tuple[str, object]], dict[str, int]]:
    """(name, solid) for every bone, and the label value of each name (TotalSegmentator ``total`` ids
    where that task has the class, 118 + the ``appendicular_bones`` id for side-less limb bones); ``arms``: one of ARMS;
    ``shaped``: long-bone ends shaped like real ones (femoral head, neck and greater trochanter, femoral condyles,
    tibial plateau, humeral head), which move the bones' principal axes and widen their ends; ``flat``: the hip bones,
    scapulae and mandible shaped like real ones (:func:`_flat_shapes`; use with ``shaped``) instead of ellipsoids."""
    total = {name: value for value, name in totalsegmentator_ids("total").items()}
    appendicular = {name: 118 + value for value, name in totalsegmentator_ids("appendicular_bones").items()}
    values = {**total, **appendicular, "mandible": 140}
    shapes: list[tuple[str, object]] = []
    shapes.append(("skull", _Ellipsoid((0, 5, 560), (70, 85, 80))))
    shapes += [("mandible", _Capsule((-42, 25, 470), (0, 68, 462), 8)), ("mandible", _Capsule((0, 68, 462), (42, 25, 470), 8))]
    heights = _vertebra_z()
    for level in _LEVELS:
        z, h = heights[level]
        r = _body_radius(level)
        shapes.append((f"vertebrae_{level}", _Box((-r, -r, z - h / 2), (r, r, z + h / 2))))  # body
        shapes.append((f"vertebrae_{level}", _Box((-r * 0.8, -3.0 * r, z - h * 0.35), (r * 0.8, -r, z + h * 0.35))))  # arch
    bottom = heights["L5"][0] - heights["L5"][1] / 2 - 2
    shapes.append(("sacrum", _Box((-30, -25, bottom - 75), (30, 10, bottom))))
    shapes.append(("sternum", _Box((-12, 70, 220), (12, 82, 360))))
    for side, s in (("right", 1.0), ("left", -1.0)):
        for n in range(1, 13):
            z0 = heights[f"T{n}"][0]
            a = 70 + 40 * min(1.0, n / 6)
            thetas = np.linspace(0.35, 2.5 if n <= 10 else 1.6, 7)
            pts = [(s * a * np.sin(t), 8 - 72 * np.cos(t), z0 - 45 * t / np.pi) for t in thetas]
            for p, q in zip(pts[:-1], pts[1:]):
                shapes.append((f"rib_{side}_{n}", _Capsule(p, q, 5)))
        shapes.append((f"clavicula_{side}", _Capsule((s * 18, 60, 402), (s * 125, 5, 418), 7)))
        if flat:
            shapes += _flat_shapes(s, side)
        else:
            shapes.append((f"scapula_{side}", _Ellipsoid((s * 88, -62, 345), (38, 8, 60))))
            shapes.append((f"hip_{side}", _Ellipsoid((s * 68, -8, -105), (32, 22, 62))))
        for name, p0, p1, r in _limbs(s, arms):
            label = f"{name}_{side}" if name in ("humerus", "femur") else name
            shapes += [(label, solid) for solid in _long_bone(p0, p1, r)]
        if shaped:
            femur = f"femur_{side}"
            shapes += [(femur, _Capsule((s * 75, 5, -170), (s * 52, 0, -152), 8)), (femur, _Ellipsoid((s * 50, 0, -150), (13, 13, 13))),
                       (femur, _Ellipsoid((s * 88, 0, -163), (10, 10, 12))),
                       (femur, _Ellipsoid((s * 53, 8, -527), (11, 18, 13))), (femur, _Ellipsoid((s * 77, 8, -527), (11, 18, 13))),
                       ("tibia", _Ellipsoid((s * 62, 8, -546), (24, 18, 6))),
                       (f"humerus_{side}", _Ellipsoid((s * 128, -5, 402), (16, 16, 16)))]
        shapes.append(("patella", _Ellipsoid((s * 66, 38, -528), (14, 7, 16))))
        if arms == "on_chest":  # the carpus beyond the wrist, on the chest; the fingers left out
            shapes.append(("carpal", _Ellipsoid((s * 24, 116, 68), (14, 8, 12))))
        else:
            shapes.append(("carpal", _Ellipsoid((s * 168, 22, -80), (18, 10, 14))))
            shapes += [("metacarpal", _Capsule((s * (160 + 6 * f), 24, -96), (s * (160 + 6 * f), 26, -140), 3)) for f in range(4)]
            shapes += [("phalanges_hand", _Capsule((s * (160 + 6 * f), 26, -146), (s * (160 + 6 * f), 28, -190), 2.5))
                       for f in range(4)]
        shapes.append(("tarsal", _Ellipsoid((s * 60, 10, -862), (22, 35, 18))))
        shapes += [("metatarsal", _Capsule((s * (48 + 7 * f), 48, -866), (s * (48 + 7 * f), 100, -870), 3)) for f in range(4)]
        shapes += [("phalanges_feet", _Capsule((s * (48 + 7 * f), 106, -870), (s * (48 + 7 * f), 130, -871), 2.5)) for f in range(4)]
    return shapes, values


def _along(name: str, side: str, from_proximal_mm: float | None = None, from_distal_mm: float | None = None) -> np.ndarray:
    p0, p1 = _limb_axis(name, side)
    u = (p1 - p0) / np.linalg.norm(p1 - p0)
    return p0 + u * from_proximal_mm if from_proximal_mm is not None else p1 - u * from_distal_mm


def _clavicle_point(side: str, fraction: float) -> np.ndarray:
    s = 1.0 if side == "right" else -1.0
    p0, p1 = np.array((s * 18, 60, 402.0)), np.array((s * 125, 5, 418.0))
    return p0 + fraction * (p1 - p0)


#: The sample lesion set: typical CRMO (bilateral symmetric metaphyseal, medial clavicle, vertebral
#: body, pelvis), each with the answer the phantom was built to give.
LESIONS: list[dict] = [
    {"name": "R distal femur", "centre": lambda: _along("femur", "right", from_distal_mm=42), "radius": 9,
     "bone": "femur_right", "side": "right", "sublocation": "metaphysis", "bone_end": "distal"},
    {"name": "L distal femur", "centre": lambda: _along("femur", "left", from_distal_mm=40), "radius": 8,
     "bone": "femur_left", "side": "left", "sublocation": "metaphysis", "bone_end": "distal"},
    # the tibial lesions sit well inside the square rule's metaphysis, not on its border, so that every grid and pose
    # gives the same answer (in the bundled sample the proximal ones' centres lie 45-46 mm from the tibia's edge, the
    # physis 18 mm and the metaphysis's end 54-57 mm from it)
    {"name": "R proximal tibia", "centre": lambda: _along("tibia", "right", from_proximal_mm=33), "radius": 8,
     "bone": "tibia", "side": "right", "sublocation": "metaphysis", "bone_end": "proximal"},
    {"name": "L proximal tibia", "centre": lambda: _along("tibia", "left", from_proximal_mm=34), "radius": 8,
     "bone": "tibia", "side": "left", "sublocation": "metaphysis", "bone_end": "proximal"},
    {"name": "L distal tibia", "centre": lambda: _along("tibia", "left", from_distal_mm=32), "radius": 7,
     "bone": "tibia", "side": "left", "sublocation": "metaphysis", "bone_end": "distal"},
    {"name": "R distal fibula", "centre": lambda: _along("fibula", "right", from_distal_mm=24), "radius": 4,
     "bone": "fibula", "side": "right", "sublocation": "metaphysis", "bone_end": "distal"},
    {"name": "R medial clavicle", "centre": lambda: _clavicle_point("right", 0.15), "radius": 6,
     "bone": "clavicula_right", "side": "right", "sublocation": "medial", "bone_end": None},
    {"name": "T8 body", "centre": lambda: np.array((0.0, 3.0, _vertebra_z()["T8"][0])), "radius": 7,
     "bone": "vertebrae_T8", "side": None, "sublocation": "vertebral body", "bone_end": None},
    {"name": "L ilium", "centre": lambda: np.array((-70.0, -8.0, -80.0)), "radius": 12,
     "bone": "hip_left", "side": "left", "sublocation": None, "bone_end": None},
]


def _rib_point(side: str, n: int, t: float) -> np.ndarray:
    """A point on the axis of the phantom's rib ``n`` at its parameter ``t`` (0.35 at the spine to 2.5 in front)."""
    s = 1.0 if side == "right" else -1.0
    a = 70 + 40 * min(1.0, n / 6)
    return np.array((s * a * np.sin(t), 8 - 72 * np.cos(t), _vertebra_z()[f"T{n}"][0] - 45 * t / np.pi))


def _flat_lesions() -> list[dict]:
    out = []
    for side, s in (("right", 1.0), ("left", -1.0)):
        short = side[0].upper()
        hip, scapula = f"hip_{side}", f"scapula_{side}"
        for name, xyz, bone, where in (
                ("iliac wing", (72, -10, -70), hip, "ilium"),
                ("ilium at the sacroiliac joint", (40, -12, -95), hip, "ilium beside the sacroiliac joint"),
                ("acetabulum", (40, 0, -132), hip, "acetabulum"),
                ("ischial tuberosity", (46, -19, -188), hip, "ischium"),
                ("superior pubic ramus", (20, 24, -153), hip, "pubis"),
                ("glenoid", (104, -8, 398), scapula, "glenoid"),
                ("coracoid", (100, 20, 414), scapula, "coracoid"),
                ("acromion", (114.6, -27, 424.6), scapula, "acromion"),
                ("scapular body", (78, -50, 340), scapula, "body"),
                ("mandibular body", (25, 42.4, 466.8), "mandible", "body"),
                ("mandibular ramus", (46.1, 17.8, 484), "mandible", "ramus"),
                ("mandibular condyle", (49, 13, 502), "mandible", "condyle")):
            centre = np.array(xyz, float) * np.array([s, 1.0, 1.0])
            out.append({"name": f"{short} {name}", "centre": lambda c=centre: c, "radius": 4, "bone": bone, "side": side,
                        "sublocation": where, "bone_end": None})
        for n, t, where in ((6, 0.6, "posterior arc"), (6, np.pi / 2, "lateral arc"), (6, 2.45, "anterior arc"),
                            (3, 2.4, "anterior arc"), (11, 0.5, "posterior arc"), (12, 1.5, "lateral arc")):
            out.append({"name": f"{short} rib {n} {where}", "centre": lambda side=side, n=n, t=t: _rib_point(side, n, t),
                        "radius": 4, "bone": f"rib_{side}_{n}", "side": side, "sublocation": where, "bone_end": None})
    out += [{"name": "mandibular symphysis", "centre": lambda: np.array((2.0, 68.0, 462.0)), "radius": 4, "bone": "mandible",
             "side": None, "sublocation": "symphysis", "bone_end": None},
            {"name": "manubrium", "centre": lambda: np.array((0.0, 76.0, 345.0)), "radius": 5, "bone": "sternum",
             "side": None, "sublocation": "manubrium", "bone_end": None},
            {"name": "sternal body", "centre": lambda: np.array((0.0, 76.0, 250.0)), "radius": 5, "bone": "sternum",
             "side": None, "sublocation": "body", "bone_end": None}]
    return out


#: Lesions of the flat and irregular bones, with their answers, for ``make_phantom(shaped=True, flat=True)``: hip bone
#: (ilium, ilium beside the sacroiliac joint, acetabulum, ischium, pubis), scapula (glenoid, coracoid, acromion, body),
#: mandible (body, ramus, condyle, symphysis), ribs (posterior, lateral, anterior arc), sternum (manubrium, body).
FLAT_LESIONS: list[dict] = _flat_lesions()


@dataclass
class Phantom:
    """A rasterized phantom: bone map with names, lesion map (value i+1 = ``expected[i]``), points, image."""

    bones: LabelMap
    lesions: LabelMap
    image: Image | None
    points: list[PointLesion]
    expected: list[dict]
    pose: Pose


def _fit_grid(grid: Grid, pose: Pose, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
    ras = pose.to_ras(corners)
    probe = grid_affine(grid.spacing, (0, 0, 0), grid.direction_lps)
    ijk = to_index(probe, ras)
    start, stop = np.floor(ijk.min(axis=0)) - 1, np.ceil(ijk.max(axis=0)) + 1
    origin_ras = to_ras(probe, start[None])[0]
    affine = grid_affine(grid.spacing, (LPS_TO_RAS[:3, :3] @ origin_ras), grid.direction_lps)
    return affine, tuple(int(n) for n in (stop - start + 1))


def _rasterize(shapes, values: dict[str, int], affine: np.ndarray, size_ijk, pose: Pose, dtype) -> np.ndarray:
    array = np.zeros(size_ijk[::-1], dtype=dtype)
    for name, solid in shapes:
        low, high = solid.bounds()
        corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
        ijk = to_index(affine, pose.to_ras(corners))
        start = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, size_ijk)
        stop = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 0, size_ijk)
        if np.any(stop <= start):
            continue
        i, j, k = np.meshgrid(*(np.arange(a, b) for a, b in zip(start, stop)), indexing="ij")
        idx = np.column_stack([i.ravel(), j.ravel(), k.ravel()])
        inside = solid.contains(pose.to_anatomical(to_ras(affine, idx)))
        hit = idx[inside]
        array[hit[:, 2], hit[:, 1], hit[:, 0]] = values[name]
    return array


def make_phantom(bone_grid: Grid = Grid(), lesion_grid: Grid | None = None, pose: Pose = Pose(),
                 with_image: bool = False, lesions: list[dict] | None = None, seed: int = 0, arms: str = "down",
                 shaped: bool = False, flat: bool = False) -> Phantom:
    """Rasterize the skeleton (``arms``, ``shaped``, ``flat``: see :func:`skeleton_shapes`) on ``bone_grid`` and the lesions
    (and a STIR-like image) on ``lesion_grid``."""
    lesion_grid = lesion_grid or bone_grid
    lesions = LESIONS if lesions is None else lesions
    shapes, values = skeleton_shapes(arms, shaped, flat)
    low = np.array([-200.0, -110.0, -900.0])
    high = np.array([200.0, 140.0, 650.0])
    affine, size = _fit_grid(bone_grid, pose, low, high)
    used = {name for name, _ in shapes}
    bone_array = _rasterize(shapes, values, affine, size, pose, np.uint8)
    names = {values[name]: name for name in sorted(used)}
    bones = LabelMap(bone_array, affine, "phantom bones", names)

    lesion_shapes = [(str(n), _Ellipsoid(spec["centre"](), (spec["radius"],) * 3)) for n, spec in enumerate(lesions, 1)]
    l_affine, l_size = _fit_grid(lesion_grid, pose, low, high)
    lesion_array = _rasterize(lesion_shapes, {str(n): n for n in range(1, len(lesions) + 1)}, l_affine, l_size, pose, np.uint8)
    lesion_map = LabelMap(lesion_array, l_affine, "phantom lesions", {n: spec["name"] for n, spec in enumerate(lesions, 1)})

    image = None
    if with_image:
        rng = np.random.default_rng(seed)
        marrow = _rasterize(shapes, {name: 1 for name in used}, l_affine, l_size, pose, np.uint8)
        stir = 40.0 + 60.0 * marrow + 260.0 * (lesion_array > 0) + rng.normal(0.0, 25.0, lesion_array.shape)
        image = Image(np.clip(stir, 0, 1000).astype(np.int16), l_affine, "phantom STIR")
    points = [PointLesion(spec["name"], pose.to_ras(spec["centre"]()[None])[0]) for spec in lesions]
    expected = [{k: spec[k] for k in ("name", "bone", "side", "sublocation", "bone_end")} for spec in lesions]
    return Phantom(bones, lesion_map, image, points, expected, pose)
