"""Run the benchmarks: ``python -m bench [--quick] [NAME ...]`` (``make bench`` runs them all)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from bench import MODULES, RESULTS_DIR, write_result

logger = logging.getLogger("bench")


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and write their results; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(MODULES)}")
    parser.add_argument("--quick", action="store_true", help="small smoke-test sizes")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    unknown = [n for n in args.names if n not in MODULES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; allowed: {', '.join(MODULES)}")
    for name in args.names or list(MODULES):
        module = importlib.import_module(MODULES[name])
        logger.info("%s: running%s", name, " (quick)" if args.quick else "")
        result = module.run(quick=args.quick)
        path = write_result(f"{name}-quick" if args.quick else name, result, out_dir=args.out)
        logger.info("%s: results in %s", name, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
