"""Cohort speed: aggregation time for 100 / 1,000 / 10,000 study.json files, and analysis throughput.

Prints figures, asserts nothing (speed depends on the machine). Target: 1,000 studies aggregated
in at most 10 s on 2 cores, growing linearly.

    python3 benchmarks/bench_cohort.py [--sizes 100 1000 10000] [--workers 2] [--image-sets 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from CRMOAnalyzerLib.cohort import run_cohort
from CRMOAnalyzerLib.cohort.synthetic import write_image_sets, write_studies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--image-sets", type=int, default=4, help="synthetic image sets to analyze (0: skip)")
    parser.add_argument("--figures", action="store_true", help="include drawing the figures in the timed run")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}, workers: {args.workers}")
    with tempfile.TemporaryDirectory(prefix="crmo-bench-") as tmp:
        root = Path(tmp)
        run_cohort([], root / "warm-up", workers=1, progress=False, figures=False)  # imports, not timed
        base = None
        for size in args.sizes:
            studies = root / f"studies-{size}"
            write_studies(studies, size, seed=size)
            started = time.perf_counter()
            result = run_cohort([studies], root / f"out-{size}", workers=args.workers, progress=False,
                                figures=args.figures)
            seconds = time.perf_counter() - started
            started = time.perf_counter()
            again = run_cohort([studies], root / f"out-{size}", workers=args.workers, progress=False, figures=False)
            resume = time.perf_counter() - started
            per = 1000.0 * seconds / size
            base = base or per
            print(f"{size:>6} study.json: {seconds:7.2f} s ({per:.2f} ms per study, x{per / base:.2f} of the first); "
                  f"failures {len(result.failures)}; re-run skipping {again.skipped}: {resume:.2f} s")
        if args.image_sets:
            manifest = write_image_sets(root / "images", args.image_sets, seed=1, spacing=4.0)
            for workers in (1, args.workers):
                started = time.perf_counter()
                result = run_cohort([manifest], root / f"images-out-{workers}", workers=workers, progress=False,
                                    figures=False)
                seconds = time.perf_counter() - started
                print(f"image sets (4 mm phantom, {args.image_sets} cases, {workers} worker(s)): {seconds:.1f} s, "
                      f"{args.image_sets / seconds * 60 / workers:.1f} cases per minute per core; "
                      f"failures {len(result.failures)}")


if __name__ == "__main__":
    main()
