#!/usr/bin/env python3
"""Time the panel's refreshes (core + MRML adapter, what ``CRMOAnalyzerLogic`` runs): after one edit, and after one point is placed.

1. One edit, 100 lesions: a scene with the phantom bone map (label map + color table) and a point list of 100 lesions
   inside its bones, analysed once (not timed); then "one reader edit" repeated: record one finding in the study and in
   the scene (``mrml.store_annotations``), then ``mrml.publish`` (lesion table, distribution table, report text).
   Target: <= 30 ms median.
2. One point placed, 128-Mvoxel bone map (``--shape``, default 512^3): the first analysis reads the bone map (shown
   with a progress dialog in the panel); each point placed after it re-analyses the point list with the bone map read
   once (``mrml.analyze_nodes`` reuses it until the node changes), stores and publishes. Target: well under 0.5 s, the
   longest the panel may block without a progress dialog.

    python3 benchmarks/bench_refresh.py [--lesions 100] [--repeat 50] [--shape 512 512 512] [--points 10]

Needs ``slicer-core``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CRMOAnalyzer"))


def build(n_lesions: int, seed: int = 3):
    """Scene, point-list node and analysed study with ``n_lesions`` points inside phantom bones."""
    import slicer
    import vtk

    from CRMOAnalyzerLib.slicer import mrml
    from CRMOAnalyzerLib.io.geometry import to_ras
    from CRMOAnalyzerLib.samples.phantom import make_phantom

    phantom = make_phantom()
    scene = slicer.vtkMRMLScene()
    mrml.prepare_scene(scene)
    bones = mrml.labelmap_node(scene, phantom.bones, "Bones")

    rng = np.random.default_rng(seed)
    k, j, i = np.nonzero(phantom.bones.array)
    chosen = rng.choice(len(k), size=n_lesions, replace=False)
    positions = to_ras(phantom.bones.affine, np.column_stack([i[chosen], j[chosen], k[chosen]]))
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Lesions")
    for index, position in enumerate(positions, start=1):
        points.AddControlPoint(vtk.vtkVector3d(*position), f"L{index}")
    study = mrml.analyze_nodes(lesions=points, bones=bones)
    mrml.publish(study, scene)
    return scene, points, study


def placed_point(shape: tuple[int, int, int], points: int) -> None:
    """Print the refresh after each of ``points`` points is placed, with a bone map of ``shape`` voxels."""
    import slicer
    import vtk

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_localize import bone_blocks

    from CRMOAnalyzerLib.slicer import mrml
    from CRMOAnalyzerLib.io.images import LabelMap

    array, names = bone_blocks(shape)
    scene = slicer.vtkMRMLScene()
    mrml.prepare_scene(scene)
    bones = mrml.labelmap_node(scene, LabelMap(array, np.eye(4), "benchmark bones", names), "Bones")
    lesions = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Lesions")
    rng = np.random.default_rng(5)
    k, j, i = (int(n) for n in np.array(shape) // 2)

    def refresh() -> float:
        start = time.perf_counter()
        study = mrml.analyze_nodes(lesions=lesions, bones=bones)
        mrml.store_annotations(study, lesions)
        mrml.publish(study, scene, parent=lesions)
        return (time.perf_counter() - start) * 1000.0

    lesions.AddControlPoint(vtk.vtkVector3d(float(i), float(j), float(k)), "first")
    first = refresh()
    times = []
    for n in range(points):
        position = [float(rng.integers(8, d - 8)) for d in shape[::-1]]
        lesions.AddControlPoint(vtk.vtkVector3d(*position), f"P{n}")
        times.append(refresh())
    del array
    print(f"bone map {np.prod(shape) / 1e6:.1f} Mvoxels ({shape[0]}x{shape[1]}x{shape[2]}), {len(names)} bones:")
    print(f"  first analysis (reads the bone map; the panel shows a progress dialog): {first:8.1f} ms")
    print(f"  each point placed after it ({points} points), median {statistics.median(times):8.1f} ms, "
          f"max {max(times):8.1f} ms: {'under' if max(times) < 500 else 'NOT under'} 0.5 s")


def timed(function, repeat: int) -> list[float]:
    times = []
    for run in range(repeat):
        start = time.perf_counter()
        function(run)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 512), metavar=("K", "J", "I"))
    parser.add_argument("--points", type=int, default=10)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    scene, points, study = build(args.lesions)
    print(f"set-up (phantom, scene, first analysis): {time.perf_counter() - start:.1f} s; "
          f"{len(study.lesions)} lesions, {sum(1 for lesion in study.lesions if lesion.assigned)} in a bone")

    from CRMOAnalyzerLib.slicer import mrml
    from CRMOAnalyzerLib.reading.distribution import distribution
    from CRMOAnalyzerLib.reading.read import render_report
    from CRMOAnalyzerLib.reading.tables import distribution_rows, lesion_rows

    def edit(run: int) -> None:
        lesion = study.lesions[run % len(study.lesions)]
        lesion.findings["marrow_edema"] = not lesion.findings.get("marrow_edema", False)
        mrml.store_annotations(study, points, [lesion.id])
        mrml.publish(study, scene)

    edit(0)  # warm caches (templates, vocabulary)
    parts = {
        "one edit -> store + publish (total)": timed(edit, args.repeat),
        "  store_annotations (one lesion)": timed(lambda r: mrml.store_annotations(study, points, [study.lesions[r % len(study.lesions)].id]), args.repeat),
        "  publish (tables + report nodes)": timed(lambda r: mrml.publish(study, scene), args.repeat),
        "    core: lesion_rows": timed(lambda r: lesion_rows(study), args.repeat),
        "    core: distribution_rows": timed(lambda r: distribution_rows(study), args.repeat),
        "    core: distribution": timed(lambda r: distribution(study), args.repeat),
        "    core: render_report": timed(lambda r: render_report(study), args.repeat),
    }
    print(f"refresh after one edit, {len(study.lesions)} lesions, {args.repeat} runs (ms):")
    for name, times in parts.items():
        print(f"{name:<40} median {statistics.median(times):7.2f}   p90 {np.percentile(times, 90):7.2f}   min {min(times):7.2f}")
    total = statistics.median(parts["one edit -> store + publish (total)"])
    print(f"target <= 30 ms: {'met' if total <= 30.0 else 'NOT met'} (median {total:.1f} ms)")
    tables = scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems()
    print(f"table nodes in the scene after {2 * args.repeat + 2} publishes: {tables}")
    placed_point(tuple(args.shape), args.points)
    return 0


if __name__ == "__main__":
    sys.exit(main())
