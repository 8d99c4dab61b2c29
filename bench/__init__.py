"""Benchmarks of geo_service, run by ``make bench`` (``python -m bench``).

The protocol every benchmark module follows:

- it is listed in :data:`MODULES` (name -> module) and exposes
  ``run(*, quick: bool) -> dict[str, object]`` returning JSON-ready results; ``quick=True`` is a
  smoke run of a few seconds (used by the tests), ``quick=False`` the real sizes;
- its inputs are synthetic and seeded, so results are comparable between machines;
- it states its targets in the result (``"targets"``) and whether they were met
  (``"targets_met"``), and raises if a correctness check (e.g. identical counts) fails;
- ``python -m bench`` writes each result, with :func:`machine_info`, to
  ``bench/results/<name>.json`` (``<name>-quick.json`` for quick runs).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

#: Benchmark name -> module; a listed module that does not exist yet is skipped with a note.
MODULES: Mapping[str, str] = {
    "ingest": "bench.ingest",
    "hotspots": "bench.hotspots",
    "evaluation": "bench.evaluation",
    "web": "bench.web",
    "load": "bench.load",
}

RESULTS_DIR = Path(__file__).resolve().parent / "results"

_PACKAGES = (
    "numpy", "pandas", "pyarrow", "geopandas", "shapely", "pyproj", "pyogrio", "scipy",
    "scikit-learn", "folium", "flask", "esda", "libpysal",
)  # fmt: skip


def machine_info() -> dict[str, object]:
    """Where and with what a benchmark ran: cores, memory, Python, package versions, commit."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "time": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "packages": versions,
        "commit": _commit(),
    }


def write_result(name: str, result: Mapping[str, object], *, out_dir: Path = RESULTS_DIR) -> Path:
    """Write ``result`` with machine info to ``<out_dir>/<name>.json`` (atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    temporary = out_dir / f"{name}.json.tmp"
    document = {"benchmark": name, "machine": machine_info(), **result}
    temporary.write_text(json.dumps(document, indent=2, default=str) + "\n", "utf-8")
    os.replace(temporary, path)
    return path


def timed(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    """``(seconds, value)`` of one call (wall-clock, perf_counter)."""
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def _memory_gb() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages / 1e9, 1)


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() or None
