#!/usr/bin/env python3
"""Speed and memory of ``crmo-analyzer analyze`` on a large volume, against SimpleITK alone.

Generates a uint8 lesion map of ~128 Mvoxels with 100 lesions and a dense bone map on the same grid
(uncompressed NRRD), then prints:

- the whole process: ``crmo-analyzer analyze`` (the console script beside this Python, not a pyenv shim; the
  package byte-compiled first, as an installed wheel or Slicer extension is)
  against a Python process that only reads both files with SimpleITK and runs LabelShapeStatisticsImageFilter
  on the lesion map; best of ``--runs`` (5), the two interleaved so that a slow spell of the machine hits both;
  each process's peak memory (``wait4``'s ru_maxrss) against the inputs' size;
- how long the process takes to end once analyze returns: as the console script ends it, and with the
  interpreter's teardown of numpy, SimpleITK and ITK;
- each step's share of the analyze process (python start, imports, read, localize and its parts, write and its
  parts) beside the SimpleITK process's (python start, import, read, label statistics), from one more process
  per run that times the same CLI call step by step;
- localize-and-measure alone in a fresh process (file reading excluded), against SimpleITK's label statistics and
  a per-label loop; the CLI's cold start; the panel refresh for 100 lesions.

    python3 benchmarks/bench_localize.py [--shape 512 512 512] [--lesions 100] [--runs 5] [--repeat 3]

Targets: issue 19, the whole ``analyze`` process at no more than 1.0x the SimpleITK process, its peak memory no
more than the inputs + 25% above what the interpreter with numpy and SimpleITK holds; issue "Speed and robustness",
localize-and-measure within 1.5x of SimpleITK's LabelShapeStatistics, cold start < 0.5 s, refresh < 30 ms.
Figures only: no test asserts a time.
"""

from __future__ import annotations

import argparse
import compileall
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
#: ``--bones long``: long bones, clavicles and vertebrae only (no hip bone, scapula, rib, sternum or sacrum, whose
#: sub-locations measure the bone's own shape and its neighbours')
PAIRED_LONG = ["femur", "humerus", "clavicula", "tibia", "fibula", "radius", "ulna"]
MIDLINE_LONG = [f"vertebrae_T{n}" for n in range(1, 13)] + [f"vertebrae_L{n}" for n in range(1, 6)]


def bone_blocks(shape: tuple[int, int, int], paired: list[str] = PAIRED,
                midline: list[str] = MIDLINE) -> tuple[np.ndarray, dict[int, str]]:
    """A dense bone map: blocks of named bones filling most of the volume (right | midline | left along i)."""
    nk, nj, ni = shape
    bones = np.zeros(shape, np.uint8)
    names: dict[int, str] = {}
    value = 0
    # left half of x (RAS -x is patient left when the direction is LPS identity: x index grows to the patient's left)
    columns = []
    for base in paired:
        for side in ("left", "right"):
            value += 1
            names[value] = base.format(side=side) if "{side}" in base else f"{base}_{side}"
            columns.append((value, side))
    for name in midline:
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


def make_inputs(folder: Path, shape: tuple[int, int, int], n_lesions: int, seed: int = 1, kinds: str = "all") -> dict:
    """A dense bone map (columns of bones filling most of the volume) and sparse spherical lesions; ``kinds``
    "long": long bones, clavicles and vertebrae only."""
    import SimpleITK as sitk

    rng = np.random.default_rng(seed)
    nk, nj, ni = shape
    bones, names = bone_blocks(shape) if kinds == "all" else bone_blocks(shape, PAIRED_LONG, MIDLINE_LONG)
    lesions = np.zeros(shape, np.uint8 if n_lesions < 256 else np.uint16)
    kk, jj, ii = np.ogrid[:nk, :nj, :ni]
    for n in range(1, n_lesions + 1):
        r = int(rng.integers(4, 11))
        c = [int(rng.integers(r + 2, d - r - 2)) for d in shape]
        sl = tuple(slice(ci - r, ci + r + 1) for ci in c)
        ball = ((kk[sl[0]] - c[0]) ** 2 + (jj[:, sl[1]] - c[1]) ** 2 + (ii[:, :, sl[2]] - c[2]) ** 2) <= r * r
        lesions[sl][ball] = n
    for array, name in ((bones, "bones.nrrd"), (lesions, "lesions.nrrd")):
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
lesions = read_labelmap(folder + "/lesions.nrrd")
bones = read_labelmap(folder + "/bones.nrrd") if method.startswith("tool") else None
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


#: the SimpleITK process the whole ``analyze`` process is held against: read both files, label statistics of the lesions
REFERENCE = r"""
import sys, time
start = time.perf_counter()
import SimpleITK as sitk
imported = time.perf_counter()
bones = sitk.ReadImage(sys.argv[1] + "/bones.nrrd")
lesions = sitk.ReadImage(sys.argv[1] + "/lesions.nrrd")
read = time.perf_counter()
statistics = sitk.LabelShapeStatisticsImageFilter()
statistics.Execute(lesions)
done = time.perf_counter()
print(len(statistics.GetLabels()), imported - start, read - imported, done - read)
"""

#: the analyze command in one process, timed step by step (wrappers around the steps; the same CLI call)
STEPS = r"""
import json, sys, time
start = time.perf_counter()
import numpy, SimpleITK
runtime = time.perf_counter()
from CRMOAnalyzerLib.cli.main import main
import CRMOAnalyzerLib.pipeline
imported = time.perf_counter()
import importlib
modules = {name: importlib.import_module("CRMOAnalyzerLib." + name) for name in (
    "pipeline", "io.images", "localization.localize", "localization.bonemap", "localization.measure", "model")}
localization = time.perf_counter()  # imported here to time its steps; analyze imports it while the files are read
spent = {}

import threading

def timed(owner, name, key):  # key: a name (kept apart in a thread beside the main one), or a function of the args
    function = getattr(owner, name, None)
    if function is None:
        return
    def wrapper(*args, **kwargs):
        begin = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            if callable(key):
                label = key(*args)
            else:
                label = key if threading.current_thread() is threading.main_thread() else key + " (beside)"
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - begin
    setattr(owner, name, wrapper)

timed(modules["io.images"], "_read_sitk", lambda path, what: "read " + what)  # each map apart: both read at once
timed(modules["pipeline"], "analyze_files", "read and localize")
timed(modules["pipeline"], "write_outputs", "write")
timed(modules["localization.bonemap"], "label_runs", "bone-map runs")
timed(modules["localization.localize"], "measure_labels", "lesion pass")
timed(modules["localization.measure"], "measure_labels", "lesion pass")  # beside the bone map, in a thread
timed(modules["localization.localize"]._Localizer, "frame", "frames")
timed(modules["localization.localize"]._Localizer, "_flat_frame", "frames of flat bones")
timed(modules["model"].Study, "to_dict", "study.json content")
timed(modules["pipeline"], "write_json", "files")
timed(modules["pipeline"], "write_text", "files")
report = importlib.import_module("CRMOAnalyzerLib.reading.report")
timed(report, "render_parts", "report (with the reading)")
timed(report, "_template", "template (import jinja2, compile)")
before = time.perf_counter()
code = main(sys.argv[1:])
end = time.perf_counter()
print(json.dumps({"code": code, "runtime import": runtime - start, "package import": imported - runtime,
                  "localization import": localization - imported, "total": end - start - (before - localization),
                  **spent}))
"""


def analyze_command() -> list[str]:
    """``crmo-analyzer``: the console script installed beside this Python (a pyenv shim adds a shell), else ``-m``."""
    script = Path(sys.executable).with_name("crmo-analyzer")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from CRMOAnalyzerLib.cli.main import entry_point; entry_point()"]


def run_process(command: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak resident bytes and standard output of a fresh process.

    The peak comes from GNU time (``/usr/bin/time -f %M``) when there is one: a child forked from this process would
    start its ru_maxrss from this process's size (inputs made here), not from its own.
    """
    timer = Path("/usr/bin/time")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        wrapped = [str(timer), "-f", "%M", "-o", rss.name] + command if timer.exists() else command
        start = time.perf_counter()
        process = subprocess.Popen(wrapped, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code:
            raise RuntimeError(f"{command[:3]} failed ({code}): {err.read().decode()[-2000:]}")
        peak = int(rss.read().split()[-1]) if timer.exists() else usage.ru_maxrss
        return elapsed, peak * 1024, out.read().decode()


#: the analyze command in one process, then the time it ends at: (a) as the console script ends it (``_end_now``),
#: (b) as a plain ``sys.exit`` would (the interpreter's teardown of numpy, SimpleITK and ITK)
ENDING = r"""
import sys, time
from CRMOAnalyzerLib.cli.main import _end_now, main
code = main(sys.argv[2:])
print(time.time(), flush=True)
_end_now(code) if sys.argv[1] == "now" else sys.exit(code)
"""


def process_end(command: list[str], env: dict) -> float:
    """Seconds from the command's return to the end of its process (the parent's clock, one machine)."""
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=env)
        os.wait4(process.pid, 0)
        ended = time.time()
        out.seek(0)
        return ended - float(out.read().split()[-1])


def compile_package(checkout: Path) -> None:
    """Byte-compile the package of a checkout, as pip does when it installs a wheel and Slicer when it builds the
    extension: an editable checkout in an environment that sets PYTHONDONTWRITEBYTECODE would otherwise compile every
    module from source in every process (numpy's, SimpleITK's and jinja2's bytecode came with their wheels)."""
    compileall.compile_dir(str(checkout / "CRMOAnalyzer" / "CRMOAnalyzerLib"), quiet=1)


def whole_process(folder: Path, runs: int, input_bytes: int, baseline: Path | None = None) -> dict:
    """``crmo-analyzer analyze`` against the SimpleITK process: best of ``runs``, interleaved; steps and peak memory.

    ``baseline``: another checkout of the project (e.g. ``git worktree add /tmp/before HEAD~3``) whose ``analyze``
    runs interleaved with these, for before/after figures taken under the same load.
    """
    for checkout in (ROOT, baseline) if baseline else (ROOT,):
        compile_package(checkout)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "CRMOAnalyzer")}
    inputs = ["analyze", "--bones", str(folder / "bones.nrrd"), "--bone-labels", str(folder / "names.json"),
              "--lesions", str(folder / "lesions.nrrd"), "--force"]
    reference = [sys.executable, "-c", REFERENCE, str(folder)]
    analyze = analyze_command() + ["-q"] + inputs
    steps = [sys.executable, "-c", STEPS, "-q"] + inputs
    bare = [sys.executable, "-c", "pass"]
    runtime = [sys.executable, "-c", "import numpy, SimpleITK"]
    ending = {way: [sys.executable, "-c", ENDING, way, "-q"] + inputs for way in ("now", "teardown")}
    found: dict[str, list] = {"sitk": [], "analyze": [], "steps": [], "bare": [], "runtime": [], "baseline": [],
                              "now": [], "teardown": []}
    before_env = {**os.environ, "PYTHONPATH": str(baseline / "CRMOAnalyzer")} if baseline else None
    run_process(reference)  # warm the page cache
    for n in range(runs):  # interleaved, so that a slow spell of the machine hits both
        found["sitk"].append(run_process(reference, env))
        found["analyze"].append(run_process(analyze + ["--out", str(folder / f"out-{n}")], env))
        if before_env:
            found["baseline"].append(run_process(analyze + ["--out", str(folder / f"before-{n}")], before_env))
        found["steps"].append(run_process(steps + ["--out", str(folder / f"steps-{n}")], env))
        for way, command in ending.items():
            found[way].append(process_end(command + ["--out", str(folder / f"{way}-{n}")], env))
        found["bare"].append(run_process(bare))
        found["runtime"].append(run_process(runtime))
    sitk_best = min(found["sitk"], key=lambda r: r[0])
    tool_best = min(found["analyze"], key=lambda r: r[0])
    ratio = tool_best[0] / sitk_best[0]
    print(f"whole process, best of {runs} interleaved: crmo-analyzer analyze {tool_best[0] * 1000:.0f} ms, "
          f"SimpleITK read + LabelShapeStatistics {sitk_best[0] * 1000:.0f} ms: ratio {ratio:.2f}x (target <= 1.00x)")
    print("  all runs (ms): analyze " + " ".join(f"{r[0] * 1000:.0f}" for r in found["analyze"])
          + "; SimpleITK " + " ".join(f"{r[0] * 1000:.0f}" for r in found["sitk"]))
    if found["baseline"]:
        before = min(found["baseline"], key=lambda r: r[0])
        print(f"  baseline {baseline}: analyze {before[0] * 1000:.0f} ms best ({before[0] / sitk_best[0]:.2f}x), peak "
              f"{max(r[1] for r in found['baseline']) / 2**20:.0f} MiB; runs " + " ".join(f"{r[0] * 1000:.0f}" for r in found["baseline"]))
    bare_s = min(r[0] for r in found["bare"])
    runtime_s = min(r[0] for r in found["runtime"])
    runtime_rss = min(r[1] for r in found["runtime"])
    # the SimpleITK process's steps (from its best run) and the analyze process's (best of each step over the runs)
    _, sitk_import, sitk_read, sitk_stats = (float(x) for x in sitk_best[2].split())
    print(f"  SimpleITK process: python start {bare_s * 1000:.0f} ms, import SimpleITK (numpy too) {sitk_import * 1000:.0f} ms, "
          f"read {sitk_read * 1000:.0f} ms, label statistics {sitk_stats * 1000:.0f} ms")
    timings = [json.loads(r[2].strip().splitlines()[-1]) for r in found["steps"]]
    best = min(timings, key=lambda t: t["total"])  # the steps of the fastest timed run, so that they add up
    total = bare_s + best["total"]
    print(f"  analyze, step by step (the fastest of {runs} timed runs: {total * 1000:.0f} ms with python start):")
    rows = [("python start", bare_s), ("import numpy + SimpleITK", best["runtime import"]),
            ("import CRMOAnalyzerLib (cli, pipeline)", best["package import"]),
            ("import the localization (*)", best["localization import"]),
            ("read and localize (from the main thread)", best["read and localize"])]
    for label, seconds in rows:
        print(f"  {label:42s} {seconds * 1000:6.0f} ms  {100 * seconds / total:4.0f}%")
    for key, label in (("read bone map", "read the bone map (SimpleITK, a thread)"),
                       ("read lesion map", "read the lesion map (another, at once)"),
                       ("bone-map runs", "bone-map runs (two threads)"), ("lesion pass (beside)", "lesion pass (beside them)"),
                       ("frames", "frames"), ("frames of flat bones", "frames of flat bones")):
        if key in best:
            print(f"    {label:40s} {best[key] * 1000:6.0f} ms  {100 * best[key] / total:4.0f}%")
    print(f"  {'write (study.json, report.txt)':42s} {best.get('write', 0) * 1000:6.0f} ms  {100 * best.get('write', 0) / total:4.0f}%")
    for key in ("report (with the reading)", "template (import jinja2, compile) (beside)", "study.json content", "files"):
        if key in best:  # the template: ahead, in a thread
            print(f"    {key:40s} {best[key] * 1000:6.0f} ms  {100 * best[key] / total:4.0f}%")
    print("  (*) timed here ahead of the steps; analyze imports it while the two files are read, in threads")
    accounted = (bare_s + best["runtime import"] + best["package import"] + best["localization import"]
                 + best["read and localize"] + best.get("write", 0))
    print(f"  {'rest (arguments, exit, between steps)':42s} {(total - accounted) * 1000:6.0f} ms  {100 * (total - accounted) / total:4.0f}%")
    flat = best.get("frames of flat bones", 0.0)
    if flat > 0.05 * total:
        print(f"  (the frames of flat bones, sublocation.py, take {flat * 1000:.0f} ms of the timed run, "
              f"{100 * flat / total:.0f}%: without them the ratio would be about {ratio * (1 - flat / total):.2f}x)")
    tool_peak = max(r[1] for r in found["analyze"])
    sitk_peak = max(r[1] for r in found["sitk"])
    mib = 2 ** 20
    print(f"  peak memory (highest of the runs): analyze {tool_peak / mib:.0f} MiB, SimpleITK {sitk_peak / mib:.0f} MiB; "
          f"inputs {input_bytes / mib:.0f} MiB; python with numpy + SimpleITK imported {runtime_rss / mib:.0f} MiB")
    extra = tool_peak - runtime_rss
    print(f"  analyze holds {extra / mib:.0f} MiB above that runtime: {100 * extra / input_bytes:.0f}% of the inputs "
          f"(target <= 125%); SimpleITK {100 * (sitk_peak - runtime_rss) / input_bytes:.0f}%")
    print(f"  python start {bare_s * 1000:.0f} ms, with numpy + SimpleITK imported {runtime_s * 1000:.0f} ms")
    print(f"  the process's end after analyze returns: {min(found['now']) * 1000:.0f} ms as the console script ends it, "
          f"{min(found['teardown']) * 1000:.0f} ms with the interpreter's teardown (best of {runs})")
    return {"ratio": ratio, "steps": best, "peak": tool_peak}


def cold_start(repeat: int = 11) -> list[float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(analyze_command() + ["--help"], capture_output=True, check=True,  # -m ran no main: now it runs
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
    parser.add_argument("--runs", type=int, default=5, help="whole-process runs of each (best of them)")
    parser.add_argument("--bones", choices=("all", "long"), default="all", help="the bone map's bones: all (hip bones, "
                        "scapulae, ribs, sternum, sacrum too) or long (long bones, clavicles, vertebrae)")
    parser.add_argument("--skip-loop", action="store_true", help="skip the (slow) per-label loop")
    parser.add_argument("--whole-only", action="store_true", help="only the whole-process figures (issue 19)")
    parser.add_argument("--baseline", type=Path, metavar="DIR", help="another checkout whose analyze runs interleaved "
                        "with this one's (before/after figures under the same load)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmo-bench-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        facts = make_inputs(folder, tuple(args.shape), args.lesions, kinds=args.bones)
        print(f"inputs ({args.bones} bones): {facts['voxels'] / 1e6:.1f} Mvoxels, {args.lesions} lesions ({facts['lesion_voxels']} voxels), "
              f"bone map {100 * facts['bone_fraction']:.0f}% labelled, {facts['input_bytes'] / 2**20:.0f} MiB in memory "
              f"(made in {time.perf_counter() - t:.1f} s)")
        whole_process(folder, args.runs, facts["input_bytes"], args.baseline)
        if args.whole_only:
            return
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
