#!/usr/bin/env python3
"""Speed and memory of localize-and-measure on a large volume, against SimpleITK and a per-label loop.

Generates a lesion map of ~128 Mvoxels with 100 lesions and a dense bone map on the same grid, then
runs each method in a fresh process (file reading excluded from the times) and prints:
time, peak memory above the loaded inputs, the CLI's cold start, and the panel refresh for 100 lesions.

    python3 benchmarks/bench_localize.py [--shape 512 512 512] [--lesions 100] [--repeat 3]

Targets (issue "Speed and robustness"): localize-and-measure within 1.5x of SimpleITK's
LabelShapeStatistics on the lesion map; peak memory within input size + 25%; cold start < 0.5 s;
refresh < 30 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "CRMOAnalyzer"))

PAIRED = ["femur", "humerus", "clavicula", "scapula", "hip"] + [f"rib_{{side}}_{n}" for n in range(1, 13)]
MIDLINE = [f"vertebrae_T{n}" for n in range(1, 13)] + [f"vertebrae_L{n}" for n in range(1, 6)] + ["sacrum", "sternum"]


def bone_blocks(shape: tuple[int, int, int]) -> tuple[np.ndarray, dict[int, str]]:
    """A dense bone map: blocks of named bones filling most of the volume (right | midline | left along i)."""
    nk, nj, ni = shape
    bones = np.zeros(shape, np.uint8)
    names: dict[int, str] = {}
    value = 0
    # left half of x (RAS -x is patient left when the direction is LPS identity: x index grows to the patient's left)
    columns = []
    for base in PAIRED:
        for side in ("left", "right"):
            value += 1
            names[value] = base.format(side=side) if "{side}" in base else f"{base}_{side}"
            columns.append((value, side))
    for name in MIDLINE:
        value += 1
        names[value] = name
        columns.append((value, None))
    # tile bones into blocks: midline bones in the central third of i, paired bones left/right of it
    centre = [(v, s) for v, s in columns if s is None]
    lefts = [(v, s) for v, s in columns if s == "left"]
    rights = [(v, s) for v, s in columns if s == "right"]
    third = ni // 3
    for group, (i0, i1) in ((rights, (0, third)), (centre, (third, 2 * third)), (lefts, (2 * third, ni))):
        edges = np.linspace(0, nk, len(group) + 1).astype(int)
        for (v, _), k0, k1 in zip(group, edges[:-1], edges[1:]):
            bones[k0:k1, 2:nj - 2, i0 + 1:i1 - 1] = v
    return bones, names


def make_inputs(folder: Path, shape: tuple[int, int, int], n_lesions: int, seed: int = 1) -> dict:
    """A dense bone map (columns of bones filling most of the volume) and sparse spherical lesions."""
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    nk, nj, ni = shape
    bones, names = bone_blocks(shape)
    lesions = np.zeros(shape, np.uint16)
    kk, jj, ii = np.ogrid[:nk, :nj, :ni]
    for n in range(1, n_lesions + 1):
        r = int(rng.integers(4, 11))
        c = [int(rng.integers(r + 2, d - r - 2)) for d in shape]
        sl = tuple(slice(ci - r, ci + r + 1) for ci in c)
        ball = ((kk[sl[0]] - c[0]) ** 2 + (jj[:, sl[1]] - c[1]) ** 2 + (ii[:, :, sl[2]] - c[2]) ** 2) <= r * r
        lesions[sl][ball] = n
    for array, name in ((bones, "bones.nii"), (lesions, "lesions.nii")):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((1.0, 1.0, 1.0))
        sitk.WriteImage(image, str(folder / name), False)
    (folder / "names.json").write_text(json.dumps({str(k): v for k, v in names.items()}))
    return {"voxels": int(np.prod(shape)), "input_bytes": int(bones.nbytes + lesions.nbytes),
            "lesion_voxels": int(np.count_nonzero(lesions)), "bone_fraction": float(np.count_nonzero(bones) / bones.size)}


WORKER = r'''
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import SimpleITK as sitk
folder, method = sys.argv[1], sys.argv[2]

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

def peak_rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

from CRMOAnalyzerLib.io.images import read_labelmap
from CRMOAnalyzerLib.localization.bonemap import BoneMap
from CRMOAnalyzerLib.localization.localize import localize_labels
lesions = read_labelmap(folder + "/lesions.nii")
bones = read_labelmap(folder + "/bones.nii") if method.startswith("tool") else None
names = {{int(k): v for k, v in json.load(open(folder + "/names.json")).items()}}
with open("/proc/self/clear_refs", "w") as f:  # the peak from here on, not the file reading's
    f.write("5")
loaded = rss()
t = time.perf_counter()
c = time.process_time()
if method == "tool":
    found = localize_labels(BoneMap(bones, names), lesions)
    count = len(found)
elif method == "tool-warm":  # a long-lived process (the Slicer panel, a cohort worker): the best of 3 in one process
    times = []
    for _ in range(3):
        start = time.perf_counter()
        count = len(localize_labels(BoneMap(bones, names), lesions))
        times.append(time.perf_counter() - start)
    t = time.perf_counter() - min(times)
elif method == "sitk":
    f = sitk.LabelShapeStatisticsImageFilter()
    f.SetComputePerimeter(False)
    f.Execute(lesions.as_sitk())
    count = len(f.GetLabels())
else:  # per-label loop: a full-volume mask per lesion
    array = lesions.array
    values = np.unique(array)
    count = 0
    for v in values[values > 0]:
        k, j, i = np.nonzero(array == v)
        _ = (len(k), k.mean(), j.mean(), i.mean())
        count += 1
elapsed, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({{"seconds": elapsed, "cpu": cpu, "labels": count, "rss_loaded": loaded, "peak": peak_rss(), "rss_end": rss()}}))
'''


def run_worker(folder: Path, method: str) -> dict:
    code = WORKER.format(root=str(ROOT / "CRMOAnalyzer"))
    out = subprocess.run([sys.executable, "-c", code, str(folder), method], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_start(repeat: int = 11) -> list[float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "CRMOAnalyzerLib.cli.main", "--help"], capture_output=True, check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "CRMOAnalyzer")})
        times.append(time.perf_counter() - t)
    return times


def python_start(repeat: int = 11) -> list[float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 512), metavar=("K", "J", "I"))
    parser.add_argument("--lesions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-loop", action="store_true", help="skip the (slow) per-label loop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmo-bench-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        facts = make_inputs(folder, tuple(args.shape), args.lesions)
        print(f"inputs: {facts['voxels'] / 1e6:.1f} Mvoxels, {args.lesions} lesions ({facts['lesion_voxels']} voxels), "
              f"bone map {100 * facts['bone_fraction']:.0f}% labelled, {facts['input_bytes'] / 2**20:.0f} MiB in memory "
              f"(made in {time.perf_counter() - t:.1f} s)")
        methods = ("sitk", "tool", "tool-warm") + (() if args.skip_loop else ("loop",))
        runs: dict[str, list[dict]] = {method: [] for method in methods}
        for repeat in range(args.repeat):  # interleaved, so that a slow spell of the machine hits every method
            for method in methods:
                if method != "loop" or repeat == 0:
                    runs[method].append(run_worker(folder, method))
        results = {}
        for method in methods:
            best = min(runs[method], key=lambda r: r["seconds"])
            results[method] = best
            extra = (max(r["peak"] for r in runs[method]) - best["rss_loaded"]) / 2**20
            print(f"{method:9s}: {best['seconds'] * 1000:8.0f} ms wall, {min(r['cpu'] for r in runs[method]) * 1000:8.0f} ms CPU "
                  f"(best of {len(runs[method])}), {best['labels']} labels; peak {extra:+.0f} MiB above the loaded inputs "
                  "(highest of the runs)")
        ratio = results["tool"]["seconds"] / results["sitk"]["seconds"]
        cpu_ratio = min(r["cpu"] for r in runs["tool"]) / min(r["cpu"] for r in runs["sitk"])
        tool_extra = max(0, max(r["peak"] for r in runs["tool"]) - results["tool"]["rss_loaded"])
        warm = results["tool-warm"]["seconds"] / results["sitk"]["seconds"]
        print(f"localize-and-measure / SimpleITK LabelShapeStatistics: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU in a fresh process; "
              f"{warm:.2f}x in a warm one (target <= 1.5x)")
        print(f"tool peak memory above inputs: {100 * tool_extra / facts['input_bytes']:.0f}% of the input size (target <= 25%)")
    start, bare = cold_start(), python_start()
    print(f"cold start 'crmo-analyzer --help': {1000 * min(start):.0f} ms best, {1000 * statistics.median(start):.0f} ms median "
          f"of {len(start)} (bare python: {1000 * min(bare):.0f} / {1000 * statistics.median(bare):.0f} ms; target < 500 ms)")
    refresh = ROOT / "benchmarks" / "bench_refresh.py"
    if refresh.exists():
        out = subprocess.run([sys.executable, str(refresh)], capture_output=True, text=True)
        lines = out.stdout.strip().splitlines()
        print("panel refresh (benchmarks/bench_refresh.py):", next((line for line in lines if line.startswith("target")),
                                                                    (lines or [out.stderr.strip()])[-1]))


if __name__ == "__main__":
    main()
