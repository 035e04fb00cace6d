"""Bone maps built independently of the phantom, for the sub-location rules: a pelvis (lumbar spine, sacrum, hip
bones, femora), a chest (thoracic spine, ribs, sternum), shoulders (scapulae, humeri) and long bones with a
physis, each at any size (``scale``), on any grid and in any pose, with point lesions of known answer.

The shapes are drawn here, in an anatomical frame (x patient right, y anterior, z superior, mm, midline x = 0),
with proportions of their own (not the phantom's), so thresholds tuned on the phantom are tested on other geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from CRMOAnalyzerLib.io.images import LabelMap
from CRMOAnalyzerLib.io.markups import PointLesion
from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.samples.phantom import Grid, Pose, _Box, _Capsule, _Ellipsoid, _fit_grid, _rasterize, rotation

__all__ = ["Built", "POSES", "build", "pelvis", "chest", "shoulders", "long_bone_with_physis"]

#: (grid, pose) pairs: the identity, an oblique LPS direction matrix with anisotropic voxels, a patient off-centre and
#: rotated about the long axis on a flipped grid
POSES = {
    "identity": (Grid((2.5, 2.5, 2.5)), Pose()),
    "oblique": (Grid((2.0, 2.5, 3.5), rotation((1, 1, 0.3), 25)), Pose()),
    "off_centre_rotated": (Grid((2.5, 2.5, 2.5), np.diag([-1.0, -1.0, 1.0])),
                           Pose(rotation((0, 0, 1), -20) @ rotation((1, 0, 0), 6), np.array([140.0, -60.0, 250.0]))),
}


@dataclass
class Built:
    """A built bone map, its pose, and point lesions with (bone, side, sub-location) answers."""

    bonemap: BoneMap
    pose: Pose
    points: list[PointLesion]
    answers: list[tuple]


def build(shapes: list[tuple[str, object]], lesions: list[tuple[str, tuple, str, str | None, str | None]],
          grid: Grid, pose: Pose, low, high) -> Built:
    """Rasterize ``shapes`` (name, solid) in the box ``low``..``high`` on ``grid`` in ``pose``; lesions are (name,
    anatomical point, bone, side, sub-location)."""
    values = {name: n for n, name in enumerate(sorted({name for name, _ in shapes}), start=1)}
    affine, size = _fit_grid(grid, pose, np.asarray(low, float), np.asarray(high, float))
    array = _rasterize(shapes, values, affine, size, pose, np.uint8)
    names = {v: k for k, v in values.items()}
    bonemap = BoneMap(LabelMap(array, affine, "built bones", names), names)
    points = [PointLesion(name, pose.to_ras(np.array([xyz], float))[0]) for name, xyz, *_ in lesions]
    return Built(bonemap, pose, points, [tuple(answer) for _, _, *answer in lesions])


# ---- pelvis ----------------------------------------------------------------------------------------------------

def pelvis(scale: float = 1.0, femora: bool = True, lumbar: tuple[str, ...] = ("vertebrae_L4", "vertebrae_L5"),
           s1_label: bool = False, l5_half_width: float = 18.0):
    """A pelvis: the ``lumbar`` vertebrae of L4 and L5 (bodies, arches and wide transverse processes; L5's body
    ``l5_half_width`` mm either side of the midline, L4's 6 mm wider, so that only the one resting on the sacrum may be
    measured), a sacrum with alae wider than the bodies, two hip bones (iliac wing, sacroiliac part, acetabular cup,
    ischium, pubis) and, with ``femora``, the femoral heads and upper shafts (all x ``scale``). Returns (shapes,
    lesions, low, high)."""
    k = scale
    shapes: list[tuple[str, object]] = []
    for level, z, w in (("vertebrae_L4", 60.0, l5_half_width + 6.0), ("vertebrae_L5", 30.0, l5_half_width)):
        if level in lumbar:
            shapes += [(level, _Box((-w * k, -15 * k, (z - 11) * k), (w * k, 15 * k, (z + 11) * k))),  # body
                           (level, _Box((-12 * k, -42 * k, (z - 8) * k), (12 * k, -15 * k, (z + 8) * k))),  # arch
                           (level, _Box((-42 * k, -30 * k, (z - 4) * k), (42 * k, -20 * k, (z + 4) * k)))]  # transverse processes
    sacrum = "vertebrae_S1" if s1_label else "sacrum"
    shapes += [(sacrum, _Box((-50 * k, -22 * k, -10 * k), (50 * k, 14 * k, 14 * k))),  # S1: body and alae
               ("sacrum", _Box((-40 * k, -26 * k, -40 * k), (40 * k, 8 * k, -10 * k))),  # S2-S3
               ("sacrum", _Box((-16 * k, -34 * k, -80 * k), (16 * k, -4 * k, -40 * k)))]  # S4-S5
    lesions = [("sacral body S1", (3 * k, -4 * k, 2 * k), "sacrum", None, "body"),
               ("right sacral ala", (36 * k, -4 * k, 2 * k), "sacrum", "right", "ala"),
               ("left sacral ala", (-34 * k, -6 * k, 0), "sacrum", "left", "ala"),
               ("left lateral mass S2", (-30 * k, -10 * k, -25 * k), "sacrum", "left", "ala"),
               ("sacral body S4", (-4 * k, -20 * k, -60 * k), "sacrum", None, "body")]
    for side, s in (("right", 1.0), ("left", -1.0)):
        hip = f"hip_{side}"
        head = np.array((s * 82, 4, -110)) * k
        shapes += [(hip, _Ellipsoid(np.array((s * 95, -10, 20)) * k, np.array((14, 45, 50)) * k)),  # iliac wing
                   (hip, _Capsule(np.array((s * 92, -14, 10)) * k, np.array((s * 55, -16, 0)) * k, 13 * k)),  # to the SI joint
                   (hip, _Ellipsoid(head + np.array((s * -4, 0, 6)) * k, np.array((20, 26, 26)) * k)),  # acetabular cup
                   (hip, _Capsule(np.array((s * 84, -16, -130)) * k, np.array((s * 76, -22, -170)) * k, 11 * k)),  # ischium
                   (hip, _Capsule(np.array((s * 76, -22, -170)) * k, np.array((s * 30, 0, -168)) * k, 6 * k)),  # ischial ramus
                   (hip, _Capsule(np.array((s * 70, 16, -106)) * k, np.array((s * 10, 36, -132)) * k, 9 * k)),  # sup. pubic ramus
                   (hip, _Capsule(np.array((s * 10, 36, -138)) * k, np.array((s * 30, 0, -168)) * k, 6 * k))]  # inf. pubic ramus
        if femora:
            shapes += [(f"femur_{side}", _Ellipsoid(head, np.array((15, 15, 15)) * k)),
                       (f"femur_{side}", _Capsule(head, np.array((s * 110, 6, -135)) * k, 9 * k)),
                       (f"femur_{side}", _Capsule(np.array((s * 112, 6, -130)) * k, np.array((s * 100, 10, -300)) * k, 14 * k))]
        lesions += [(f"{side} iliac wing", (s * 97 * k, -10 * k, 40 * k), hip, side, "ilium"),
                    (f"{side} ilium at the sacroiliac joint", (s * 60 * k, -16 * k, 2 * k), hip, side,
                     "ilium beside the sacroiliac joint"),
                    (f"{side} acetabular roof", (s * 80 * k, 4 * k, -88 * k), hip, side, "acetabulum"),
                    (f"{side} ischial tuberosity", (s * 77 * k, -22 * k, -168 * k), hip, side, "ischium"),
                    (f"{side} superior pubic ramus", (s * 35 * k, 27 * k, -121 * k), hip, side, "pubis")]
    low, high = np.array([-150.0, -80.0, -320.0]) * k, np.array([150.0, 80.0, 90.0]) * k
    return shapes, lesions, low, high


# ---- chest ------------------------------------------------------------------------------------------------------

def _rib_point(s: float, n: int, t: float, k: float) -> np.ndarray:
    """Rib ``n`` at parameter t (0 at the spine, pi at the sternum): half an ellipse from beside the spine (y -30 mm)
    to the sternum (y 132 mm), (60 + 35 min(1, n/5)) mm from the midline at its widest (all x ``k``), falling 30 mm."""
    a = (60 + 35 * min(1.0, n / 5)) * k
    return np.array((s * a * np.sin(t), (51 - 81 * np.cos(t)) * k, (250 - 22 * n) * k - 30 * k * t / np.pi))


def chest(scale: float = 1.0, sternum: bool = True):
    """Thoracic spine T3-T10 (bodies and arches), ribs 3-9 on both sides (ellipses from the spine to the front), and
    a sternum (manubrium and body in one label)."""
    k = scale
    shapes: list[tuple[str, object]] = []
    for n in range(3, 11):
        z = (250 - 22 * n) * k
        shapes += [(f"vertebrae_T{n}", _Box((-13 * k, -35 * k, z - 9 * k), (13 * k, -9 * k, z + 9 * k))),
                   (f"vertebrae_T{n}", _Box((-9 * k, -60 * k, z - 6 * k), (9 * k, -35 * k, z + 6 * k)))]
    lesions = []
    for side, s in (("right", 1.0), ("left", -1.0)):
        for n in range(3, 10):
            ts = np.linspace(0.15, np.pi - 0.25, 9)
            pts = [_rib_point(s, n, t, k) for t in ts]
            shapes += [(f"rib_{side}_{n}", _Capsule(p, q, 4.5 * k)) for p, q in zip(pts[:-1], pts[1:])]
        for n, t, where in ((4, 0.45, "posterior arc"), (6, np.pi / 2, "lateral arc"), (8, 2.6, "anterior arc"),
                            (5, 0.7, "posterior arc"), (7, 1.9, "lateral arc")):
            lesions.append((f"{side} rib {n} {where}", tuple(_rib_point(s, n, t, k)), f"rib_{side}_{n}", side, where))
    if sternum:
        top = 250 * k - 22 * k * 2.5
        shapes.append(("sternum", _Box((-13 * k, 130 * k, top - 150 * k), (13 * k, 142 * k, top))))
        lesions += [("manubrium", (0, 136 * k, top - 20 * k), "sternum", None, "manubrium"),
                    ("sternal body", (2 * k, 136 * k, top - 100 * k), "sternum", None, "body")]
    low, high = np.array([-130.0, -75.0, -20.0]) * k, np.array([130.0, 155.0, 260.0]) * k
    return shapes, lesions, low, high


# ---- shoulders --------------------------------------------------------------------------------------------------

def shoulders(scale: float = 1.0, humeri: bool = True):
    """Scapulae (blade on the back, glenoid facing the humeral head, neck, spine running to the acromion above the head,
    coracoid forwards, the superior angle rising medially above the glenoid's level), humeri (head and upper shaft), and a spine segment and clavicles for the midline."""
    k = scale
    shapes: list[tuple[str, object]] = []
    for n, z in ((1, 150.0), (2, 128.0), (3, 106.0), (4, 84.0)):
        shapes.append((f"vertebrae_T{n}", _Box((-12 * k, -30 * k, (z - 9) * k), (12 * k, -6 * k, (z + 9) * k))))
    lesions = []
    for side, s in (("right", 1.0), ("left", -1.0)):
        scapula = f"scapula_{side}"
        head = np.array((s * 150, -10, 140)) * k
        shapes += [(scapula, _Ellipsoid(np.array((s * 95, -60, 95)) * k, np.array((35, 7, 65)) * k)),  # blade
                   (scapula, _Ellipsoid(head + np.array((s * -24, 0, 0)) * k, np.array((6, 11, 16)) * k)),  # glenoid
                   (scapula, _Capsule(head + np.array((s * -26, -2, -4)) * k, np.array((s * 108, -55, 115)) * k, 8 * k)),
                   (scapula, _Capsule(np.array((s * 90, -66, 130)) * k, head + np.array((s * 2, -14, 30)) * k, 5 * k)),
                   (scapula, _Capsule(head + np.array((s * -24, -4, 14)) * k, head + np.array((s * -20, 34, 20)) * k, 5 * k)),
                   (scapula, _Capsule(np.array((s * 78, -62, 140)) * k, np.array((s * 70, -64, 178)) * k, 6 * k)),  # sup. angle
                   (f"clavicula_{side}", _Capsule(np.array((s * 18, 50, 165)) * k, head + np.array((s * -10, -2, 34)) * k, 6 * k))]
        if humeri:
            shapes += [(f"humerus_{side}", _Ellipsoid(head, np.array((17, 17, 17)) * k)),
                       (f"humerus_{side}", _Capsule(head, head + np.array((s * 8, 0, -170)) * k, 11 * k))]
        lesions += [(f"{side} glenoid", tuple(head + np.array((s * -23, 0, 0)) * k), scapula, side, "glenoid"),
                    (f"{side} coracoid", tuple(head + np.array((s * -21, 28, 19)) * k), scapula, side, "coracoid"),
                    (f"{side} acromion", tuple(head + np.array((s * 0, -14, 29)) * k), scapula, side, "acromion"),
                    (f"{side} scapular blade", (s * 90 * k, -60 * k, 70 * k), scapula, side, "body"),
                    (f"{side} superior angle (above the glenoid, medial)", (s * 72 * k, -63 * k, 170 * k), scapula, side, "body")]
    low, high = np.array([-200.0, -90.0, -60.0]) * k, np.array([200.0, 80.0, 200.0]) * k
    return shapes, lesions, low, high


# ---- a long bone with a physis ----------------------------------------------------------------------------------

def long_bone_with_physis(gap_from_end_mm: float | None, gap_mm: float = 4.0, narrowing: float | None = None,
                          length: float = 300.0, radius: float = 11.0):
    """A right tibia under a right femur (so its ends are known), its proximal epiphysis a separate disc of bone
    ``gap_mm`` thick from the metaphysis at ``gap_from_end_mm`` from the tip (the physis as MRI bone maps show it: a
    thin transverse gap), or joined there by a narrow waist of ``narrowing`` x the radius (a physis partly filled);
    ``None``: no physis seen. Anatomical frame: tibia from (60, 0, 0) down to (60, 0, -length)."""
    shapes: list[tuple[str, object]] = [("femur_right", _Capsule((62, 0, 160), (60, 0, 22), 12)),
                                        ("femur_right", _Ellipsoid((60, 0, 24), (24, 16, 10))),
                                        ("femur_left", _Capsule((-62, 0, 160), (-60, 0, 22), 12)),
                                        ("femur_left", _Ellipsoid((-60, 0, 24), (24, 16, 10)))]
    top, wide = 0.0, 1.9 * radius
    tibia = "tibia_right"
    body_top = top if gap_from_end_mm is None else top - gap_from_end_mm - gap_mm / 2
    shapes += [(tibia, _Capsule((60, 0, body_top - wide), (60, 0, -length + wide), radius)),
               (tibia, _Box((60 - wide, -wide * 0.8, body_top - 2 * wide), (60 + wide, wide * 0.8, body_top))),  # metaphysis
               (tibia, _Box((60 - wide * 0.9, -wide * 0.7, -length), (60 + wide * 0.9, wide * 0.7, -length + 1.6 * wide)))]
    if gap_from_end_mm is not None:
        epi_bottom = top - gap_from_end_mm + gap_mm / 2
        shapes.append((tibia, _Box((60 - wide, -wide * 0.8, epi_bottom), (60 + wide, wide * 0.8, top))))  # epiphysis
        if narrowing is not None:
            r = narrowing * radius
            shapes.append((tibia, _Box((60 - r, -r, body_top - 1), (60 + r, r, epi_bottom + 1))))
    low, high = np.array([-110.0, -40.0, -length - 20]), np.array([110.0, 40.0, 180.0])
    return shapes, low, high
