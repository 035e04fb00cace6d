#!/usr/bin/env python3
"""Localization on partial exams (issue 13): right, explicitly unknown with a warning, or wrong, per exam type.

Builds the exams radiologists have from the synthetic phantom, in every pose and on every grid of the test CASES
(``Testing/conftest.py``), with the maps and the lesions of known answer of ``Testing/test_localize_exams.py``
(imported, not copied): both knees (a 250 mm field of view cutting femora and tibiae), the right knee alone, a
limb-only map (TotalSegmentator's appendicular bones: no trunk, no skull), one leg from pelvis to foot, tibiae,
fibulae and tarsal bones named by side, the forearms resting on the chest, and one tibia alone (no femur, patella or
trunk: its side and end cannot be known). Each lesion's bone, side, sub-location and (long bones) bone end is
compared with the truth; a field differing from the truth is an accepted "unknown" only when the answer is none and
a warning says so ("side unknown", "end unknown", "sub-location unknown"); any other difference is WRONG, and is
listed by exam, case and lesion name. The WRONG column must be 0.

Prints one row per exam type: cases, lesions, right, explicit unknown with a warning (by field), wrong; then the
wrong lesions, and the right lesions that still carry an "unknown" warning (``--verbose``: the unknown ones too).
Figures only, no asserts (the tests in ``Testing/test_localize_exams.py`` assert).

    python3 benchmarks/bench_exams.py [--cases identity oblique ...] [--exams knees one_knee ...] [--verbose]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "CRMOAnalyzer"), str(ROOT / "Testing")]

from conftest import CASES  # noqa: E402
from test_localize_exams import (FOREARMS, KNEE, LIMB, ONE_KNEE, ONE_LEG, SIDE_NAMED, TRUNK_AND_HEAD,  # noqa: E402
                                 crop, only, points, relabel)

from CRMOAnalyzerLib.io.markups import PointLesion  # noqa: E402
from CRMOAnalyzerLib.localization.bonemap import BoneMap  # noqa: E402
from CRMOAnalyzerLib.localization.localize import analyze  # noqa: E402
from CRMOAnalyzerLib.samples.phantom import make_phantom  # noqa: E402

FIELDS = ("bone", "side", "sublocation", "bone_end")
#: the warnings that make a missing answer an explicit "unknown" (a cut bone's "sub-location unknown" leaves the end
#: unknown too)
ACCEPTED = {"side": ("side unknown",), "sublocation": ("sub-location unknown",),
            "bone_end": ("end unknown", "sub-location unknown")}
KNEES_BOX, RIGHT_KNEE_BOX = ((-115, -30, -660), (115, 60, -410)), ((30, -30, -660), (115, 60, -410))
LIMBS_BOX, RIGHT_LEG_BOX = ((-250, -150, -950), (250, 200, 700)), ((38, -60, -950), (130, 140, -40))


def at(phantom, name: str, xyz) -> PointLesion:
    """A point lesion at the anatomical position ``xyz`` (mm) of the phantom."""
    return PointLesion(name, phantom.pose.to_ras(np.array([xyz], dtype=float))[0])


def from_specs(phantom, specs) -> list[tuple[PointLesion, dict]]:
    """The lesions of a test's spec list (name, where, bone, side, sub-location, end) with their truth."""
    return [(lesion, dict(zip(FIELDS, spec[2:]))) for lesion, spec in zip(points(phantom, specs), specs)]


def knees(phantom):
    """Both knees, 250 mm high, and one lesion in the femur's shaft near the cut (the test's ``near_cut``)."""
    near_cut = ("R femur near the cut", ("femur", "right", 110, "distal"), "femur_right", "right", "diaphysis", None)
    return crop(phantom, *KNEES_BOX), from_specs(phantom, KNEE + [near_cut])


def one_knee(phantom):
    """The right knee alone: no midline, the side from the named femur."""
    lesions = from_specs(phantom, ONE_KNEE) + [(at(phantom, "patella", (66.0, 38.0, -528.0)),
                                                {"bone": "patella", "side": "right"})]
    return crop(phantom, *RIGHT_KNEE_BOX), lesions


def limbs(phantom):
    """TotalSegmentator's appendicular bones with the named humeri and femora: no trunk, no skull."""
    return crop(phantom, *LIMBS_BOX, drop=TRUNK_AND_HEAD), from_specs(phantom, LIMB)


def one_leg(phantom):
    """The right leg segmented from the pelvis to the foot."""
    lesions = from_specs(phantom, ONE_LEG) + [(at(phantom, "tarsus", (60.0, 10.0, -862.0)),
                                               {"bone": "tarsal", "side": "right"})]
    return crop(phantom, *RIGHT_LEG_BOX, segmented_only=True), lesions


def side_named(phantom):
    """Tibiae, fibulae and tarsal bones only, each named by side: the phantom's own tibia and fibula lesions."""
    bonemap = only(relabel(phantom, SIDE_NAMED), {n for pair in SIDE_NAMED.values() for n in pair})
    lesions = [(p, {f: s[f] for f in FIELDS}) for p, s in zip(phantom.points, phantom.expected)
               if s["bone"] in ("tibia", "fibula")]
    lesions += [(at(phantom, f"{side} tarsus", (x, 10.0, -862.0)), {"bone": "tarsal", "side": side})
                for side, x in (("right", 60.0), ("left", -60.0))]
    return bonemap, lesions


def forearms(phantom):
    """The whole skeleton, the forearms resting on the chest (wrists nearer the trunk than the elbows)."""
    return BoneMap(phantom.bones, phantom.bones.names), from_specs(phantom, FOREARMS)


def one_tibia(phantom):
    """The right knee without femur and patella: one side-less tibia, nothing named, no trunk."""
    bonemap = crop(phantom, *RIGHT_KNEE_BOX, drop={"femur_right", "patella"})
    return bonemap, from_specs(phantom, ONE_KNEE[1:2])


#: name: (title, builder, phantom options)
EXAMS = {
    "knees": ("knee field of view (both knees)", knees, {}),
    "one_knee": ("one knee only (the right)", one_knee, {}),
    "limbs": ("limb-only map (no trunk, no skull)", limbs, {}),
    "one_leg": ("one leg, pelvis to foot", one_leg, {}),
    "side_named": ("side-named segments (tibia, fibula, tarsus)", side_named, {}),
    "forearms": ("forearms on the chest (whole skeleton)", forearms, {"arms": "on_chest"}),
    "one_tibia": ("one tibia alone (no femur, patella, trunk)", one_tibia, {}),
}


def judge(lesion, truth: dict) -> tuple[list[str], list[str]]:
    """The fields answered "unknown" with their warning, and the fields answered wrongly (differing, no warning)."""
    unknown, wrong = [], []
    for field, value in truth.items():
        got = getattr(lesion, field)
        if got == value:
            continue
        if got is None and any(w.startswith(ACCEPTED.get(field, ())) for w in lesion.warnings):
            unknown.append(field)
        else:
            wrong.append(field)
    return unknown, wrong


def shown(lesion, truth: dict) -> str:
    return ", ".join(f"{f} {getattr(lesion, f)!r}" + ("" if getattr(lesion, f) == v else f" (truth {v!r})")
                     for f, v in truth.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES),
                        help="poses and grids of Testing/conftest.py (default: all)")
    parser.add_argument("--exams", nargs="+", choices=list(EXAMS), default=list(EXAMS), help="default: all")
    parser.add_argument("--verbose", action="store_true", help="list the unknown lesions too, and show the core's log")
    args = parser.parse_args(argv)
    logger = logging.getLogger("CRMOAnalyzerLib")
    if not args.verbose:
        logger.addHandler(logging.NullHandler())  # the warnings are counted, not printed as they come
    started = time.perf_counter()
    tally = {exam: Counter() for exam in args.exams}
    wrong_lines, unknown_lines, noted_lines = [], [], []
    for case in args.cases:  # one phantom at a time, dropped after its exams
        for options in {tuple(sorted(EXAMS[exam][2].items())) for exam in args.exams}:
            phantom = make_phantom(*CASES[case], **dict(options))
            for exam in [e for e in args.exams if tuple(sorted(EXAMS[e][2].items())) == options]:
                bonemap, lesions = EXAMS[exam][1](phantom)
                study = analyze(bonemap, [p for p, _ in lesions])
                for lesion, (point, truth) in zip(study.lesions, lesions):
                    unknown_fields, wrong_fields = judge(lesion, truth)
                    where = f"  {exam} / {case} / {point.label}: {shown(lesion, truth)}"
                    tally[exam]["lesions"] += 1
                    if wrong_fields:
                        tally[exam]["wrong"] += 1
                        wrong_lines.append(where + f"; warnings {lesion.warnings}")
                    elif unknown_fields:
                        tally[exam]["unknown"] += 1
                        tally[exam].update(f"field {f}" for f in unknown_fields)
                        unknown_lines.append(where + f"; warnings {lesion.warnings}")
                    else:
                        tally[exam]["right"] += 1
                        spurious = [w for w in lesion.warnings if "unknown" in w]
                        if spurious:
                            noted_lines.append(where + f"; warnings {spurious}")
            del phantom
    rows = []
    for exam, counts in tally.items():
        by_field = ", ".join(f"{k[6:]} {n}" for k, n in sorted(counts.items()) if k.startswith("field ")) or "-"
        rows.append((EXAMS[exam][0], len(args.cases), counts["lesions"], counts["right"], counts["unknown"], by_field,
                     counts["wrong"]))
    seconds = time.perf_counter() - started

    header = ("exam", "cases", "lesions", "right", "unknown+warning", "(fields)", "WRONG")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).ljust(w) if i in (0, 5) else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths))))
    totals = [sum(r[i] for r in rows) for i in (2, 3, 4, 6)]
    print(f"total: {totals[0]} lesions, {totals[1]} right, {totals[2]} unknown with a warning, {totals[3]} WRONG")
    print(f"cases: {', '.join(args.cases)}")
    print(f"wrong (an answer other than the truth, no warning): {len(wrong_lines)}")
    print("\n".join(wrong_lines))
    print(f"right but carrying an 'unknown' warning: {len(noted_lines)}")
    print("\n".join(noted_lines))
    if args.verbose:
        print(f"unknown with a warning: {len(unknown_lines)}")
        print("\n".join(unknown_lines))
    print(f"run time: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
