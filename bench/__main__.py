"""Run the benchmarks: ``python -m bench [--quick] [NAME ...]`` (``make bench`` runs them all).

Each benchmark runs in a process of its own (``python -m bench --one NAME``), so one module's
imports, caches and peak memory never count towards another's. The child calls the module's
``run(quick=...)`` and writes ``bench/results/<NAME>.json``; the parent then prints the figures
each result states (CPU seconds, paired ratios) and whether its targets were met, and exits 1
when a benchmark failed or missed a target.

The benchmarks are the modules of :data:`bench.MODULES` and any other ``bench/<name>.py`` that
defines ``run`` (``docs.py``, private ``_*.py`` modules and this file excepted).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import MODULES, RESULTS_DIR, write_result

logger = logging.getLogger("bench")
_HERE = Path(__file__).resolve().parent
_NOT_BENCHMARKS = {"__init__", "__main__", "docs"}


def benchmarks() -> dict[str, str]:
    """Benchmark name -> module: :data:`bench.MODULES`, then the other modules defining ``run``."""
    found = dict(MODULES)
    for path in sorted(_HERE.glob("*.py")):
        name = path.stem
        if name in found or name in _NOT_BENCHMARKS or name.startswith("_"):
            continue
        if "\ndef run(" in path.read_text("utf-8"):
            found[name] = f"bench.{name}"
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks, each in its own process; returns the exit code."""
    known = benchmarks()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(known)}")
    parser.add_argument("--quick", action="store_true", help="small smoke-test sizes")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    parser.add_argument("--one", metavar="NAME", help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.one:
        return _run_one(known[args.one], args.one, quick=args.quick, out=args.out)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; allowed: {', '.join(known)}")
    failed = []
    for name in args.names or list(known):
        if not _run_child(name, quick=args.quick, out=args.out):
            failed.append(name)
    if failed:
        logger.info("failed or missed a target: %s", ", ".join(failed))
    return 1 if failed else 0


def _run_child(name: str, *, quick: bool, out: Path) -> bool:
    """Run one benchmark in a child process and print its figures; True when all went well."""
    logger.info("== %s%s", name, " (quick)" if quick else "")
    command = [sys.executable, "-m", "bench", "--one", name, "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run([*command, *(["--quick"] if quick else [])], check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        logger.info("%s: failed (exit %d) after %.0f s", name, done.returncode, elapsed)
        return False
    path = out / f"{name}-quick.json" if quick else out / f"{name}.json"
    result = json.loads(path.read_text("utf-8"))
    for line in summary_lines(result):
        logger.info("  %s", line)
    logger.info("%s: %.0f s wall; results in %s", name, elapsed, path)
    return all(result.get("targets_met", {}).values()) if not quick else True


def _run_one(module_name: str, name: str, *, quick: bool, out: Path) -> int:
    module = importlib.import_module(module_name)
    result = module.run(quick=quick)
    write_result(f"{name}-quick" if quick else name, result, out_dir=out)
    return 0


def summary_lines(result: dict[str, Any]) -> list[str]:
    """What a result states, one line each: CPU seconds, paired ratios, targets and whether met."""
    lines = []
    for key in ("cpu_seconds", "ratios", "paired_ratios"):
        figures = result.get(key)
        if isinstance(figures, dict) and figures:
            lines.append(f"{key}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    baseline = result.get("baseline")
    if isinstance(baseline, dict) and "ratio_baseline_over_current" in baseline:
        ratios = baseline["ratio_baseline_over_current"]
        lines.append(
            f"before/after vs {baseline.get('ref')}: "
            + ", ".join(f"{k} {v}x" for k, v in ratios.items())
        )
    met = result.get("targets_met")
    if isinstance(met, dict) and met:
        missed = [k for k, ok in met.items() if not ok]
        lines.append(
            f"targets: {len(met) - len(missed)} of {len(met)} met"
            + (f" (missed: {', '.join(missed)})" if missed else "")
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
