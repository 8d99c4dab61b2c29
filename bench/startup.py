"""Start-up benchmark: CPU seconds a user waits for a command, and for a cold page.

Each measurement runs in a fresh process (so every import is paid, as a user pays it) and is
read from ``resource.getrusage(RUSAGE_CHILDREN)`` (user + system CPU seconds, stable on a busy
machine where wall-clock time is not); the figure is the median of :data:`REPEATS` runs.

- **Commands**: ``geo-service --help``, ``status`` and ``change`` on a real store
  (:data:`STORE`: the 13 Hertfordshire police.uk months with ward, district and LSOA layers;
  ``GEO_SERVICE_BENCH_STORE`` overrides it; without one the demo store is built and used, and
  the result says so).
- **Cold pages**: the area page (one ward), a category page and the strategic-assessment report,
  each the first request of a fresh app through the Flask test client; ``page`` is the CPU of
  that request alone (imports and ``create_app`` are reported apart as ``setup``). The area
  page's figure includes the category maps it draws (the hotspot helpers'); ``area_view`` is
  the change tables' part alone, in its own process.
- **The store's state** is said, not assumed. The measurements run on copies of the store made
  for the run (the real store is never written): each code version has its own (their derived
  files may differ), and the first-view cases a copy apart. ``area_page``, ``category_page``
  and ``report_page`` are a fresh process on a version *seen once*: each page was opened once
  before in another process, so the derived files a version keeps beside its manifest (its summary,
  area counts, forecast backtests, hotspot accuracy, patrol zones and category maps:
  :mod:`geo_service.services.kept`, :mod:`geo_service.services.kept_maps`) are there, as they
  are for every version ``serve`` has shown (its warm-up computes them before showing it).
  ``area_page_first`` and ``category_page_first`` are the *very first view after an ingest*:
  every derived file of the version is deleted before each run, so the page computes them.
- **serve**: seconds (wall) from starting ``geo-service serve`` to its first answer of ``/``
  (``serve_first_page``, the issue's measure) and the server's CPU seconds by then
  (``serve_first_page_cpu``); its warm-up starts at once beside the first request.
- **Paired A/B** (``BENCH_BASELINE=<git ref>``): the same measurements of that commit's code,
  run alternately with the current code (A B A B ...), and the median of the per-pair ratios
  ``baseline / current`` (how many times cheaper).

``python -m bench.startup`` writes ``bench/results/startup.json``; ``--quick`` two repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STORE = Path(os.environ.get("GEO_SERVICE_BENCH_STORE", "/work/herts-store"))
REPEATS = 5
QUICK_REPEATS = 2
#: Targets, CPU seconds (issue 13).
TARGETS: dict[str, float] = {
    "help": 0.3,
    "status": 0.6,
    "change": 1.5,
    "area_page": 1.0,
    "category_page": 1.0,
    "report_page": 2.0,
    "serve_first_page": 1.5,
}
#: Cases run after deleting every derived file of the store's version (the first view after an
#: ingest published it).
FIRST_VIEW = frozenset({"area_page_first", "category_page_first"})
#: Derived files a version keeps beside its manifest (computed again when missing).
DERIVED = (
    "summary.parquet", "area_counts.parquet", "backtest-*.parquet", "accuracy-*.parquet",
    "patrol-*.parquet", "hotspots-*.parquet",
)  # fmt: skip
#: Cases whose figure is wall-clock seconds, not CPU seconds.
WALL = frozenset({"serve_first_page"})
#: The area and category shown cold (a ward of the Hertfordshire store; the demo's first beat).
AREA = {"ward": "E05009002", "beat": None}
CATEGORY = "Burglary"

_PAGE = """
import json, sys, time
start = time.process_time()
from geo_service.config import Settings
from geo_service.web import create_app
client = create_app(Settings(store=sys.argv[1], tiles="none")).test_client()
ready = time.process_time()
response = client.get(sys.argv[2])
done = time.process_time()
assert response.status_code == 200, (sys.argv[2], response.status_code)
print(json.dumps({"setup": ready - start, "page": done - ready}))
"""

_AREA_VIEW = """
import json, sys, time
from geo_service.config import load_settings
from geo_service.services import context, tables
from geo_service.services.options import ViewOptions
from geo_service.store import Store
store = Store(sys.argv[1])
groups = context.page_groups(load_settings(None).groups(), context.store_summary(store).categories)
opts = ViewOptions(period_end=store.months()[-1], layer=sys.argv[2])
start = time.process_time()
tables.area_view(store, groups, sys.argv[3], opts)
print(json.dumps({"area_view": time.process_time() - start}))
"""


def run(*, quick: bool = False) -> dict[str, Any]:
    """Measure every command and cold page (and the baseline's, with ``BENCH_BASELINE``)."""
    repeats = QUICK_REPEATS if quick else REPEATS
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        store, layer, code, note = _store(Path(tmp))
        baseline_ref = os.environ.get("BENCH_BASELINE")
        baseline = _export(baseline_ref, Path(tmp) / "baseline") if baseline_ref else None
        # Each code version runs on copies of its own (one version's derived files may not be
        # the other's), and the first-view cases on a copy apart: deleting its derived files
        # must not make the seen-once cases that follow cold.
        runs = [("current", ROOT)] + ([("baseline", baseline)] if baseline is not None else [])
        copies = {
            label: _prepared(store, Path(tmp) / label, layer, code, code_root=code_root)
            for label, code_root in runs
        }
        current: dict[str, list[float]] = {name: [] for name in copies["current"].cases}
        before: dict[str, list[float]] = {name: [] for name in copies["current"].cases}
        for _ in range(repeats):
            for name in current:
                if name == "serve_first_page_cpu":
                    continue  # measured with serve_first_page, by the same run
                for label, _code_root in reversed(runs):  # baseline first, then current
                    figures = _measure_case(name, copies[label])
                    for key, value in figures.items():
                        (before if label == "baseline" else current)[key].append(value)
    figures = {name: round(statistics.median(v), 3) for name, v in current.items()}
    cpu = {k: v for k, v in figures.items() if not k.startswith("serve_")}
    result: dict[str, Any] = {
        "quick": quick,
        "repeats": repeats,
        "store": note,
        "store_state": {
            "copy": (
                "the measurements run on copies of the store made for the run: each code "
                "version its own, and the first-view cases a copy apart"
            ),
            "area_page, category_page, report_page": (
                "version seen once: each page opened once before in another process, so the "
                "version's derived files (summary, area counts, forecast backtests, hotspot "
                "accuracy, patrol zones, category maps) are kept"
            ),
            "area_page_first, category_page_first": (
                "first view after an ingest: every derived file of the version deleted before "
                "each run"
            ),
        },
        "unit": "CPU seconds (user + system), median of repeats, each in a fresh process; "
        "serve_first_page in wall seconds",
        "cpu_seconds": cpu,
        "serve": {k: v for k, v in figures.items() if k.startswith("serve_")},
        "targets": TARGETS,
        "targets_met": {}
        if quick
        else {k: figures[k] <= t for k, t in TARGETS.items() if k in figures},
    }
    if baseline is not None:
        result["baseline"] = {
            "ref": baseline_ref,
            "cpu_seconds": {k: round(statistics.median(v), 3) for k, v in before.items()},
            "ratio_baseline_over_current": {
                k: paired_ratio(v, current[k]) for k, v in before.items()
            },
        }
    result["table"] = _table(result, figures)
    return result


@dataclass(frozen=True)
class _Copies:
    """One code version's copies of the store and the cases run on them."""

    code_root: Path
    seen: Path  # each page opened once (derived files kept)
    first: Path  # for the first-view cases (derived files deleted before each run)
    cases: dict[str, list[str]]


def _prepared(store: Path, into: Path, layer: str, code: str, *, code_root: Path) -> _Copies:
    """Two copies of ``store`` under ``into`` for the code at ``code_root``: ``seen`` with each
    page opened once (the state of a version ``serve`` has shown: derived files kept) and
    ``first`` for the first-view cases."""
    seen, first = into / "seen", into / "first"
    shutil.copytree(store, seen)
    shutil.copytree(store, first)
    cases = _cases(seen, first, layer, code)
    for name, case in cases.items():
        if case and case[0] == "-c" and name not in FIRST_VIEW:
            _measure(case, code_root=code_root)
    return _Copies(code_root, seen, first, cases)


def _measure_case(name: str, copies: _Copies) -> dict[str, float]:
    """The figures of one run of case ``name`` (two for ``serve``: wall and CPU)."""
    if name in FIRST_VIEW:
        _forget_derived(copies.first)
    if name == "serve_first_page":
        wall, cpu = _serve_first_page(copies.seen, code_root=copies.code_root)
        return {"serve_first_page": wall, "serve_first_page_cpu": cpu}
    return {name: _measure(copies.cases[name], code_root=copies.code_root)}


def _forget_derived(store: Path) -> None:
    """Delete the derived files of the store's version, as a newly published version has none."""
    from geo_service.store.layout import version_path

    version = version_path(store, (store / "CURRENT").read_text("utf-8").strip())
    for pattern in DERIVED:
        for path in version.glob(pattern):
            path.unlink()


def _serve_first_page(store: Path, *, code_root: Path) -> tuple[float, float]:
    """Wall seconds from starting ``serve`` to its first 200 answer of ``/``, and the server's
    CPU seconds by then (Linux /proc)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "geo_service", "--store", str(store), "serve"]
    started = time.perf_counter()
    server = subprocess.Popen(
        [*command, "--port", str(port)], cwd=code_root, env=_env(code_root),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as answer:
                    if answer.status == 200:
                        wall = time.perf_counter() - started
                        fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1]
                        ticks = fields.split()
                        cpu = (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK")
                        return wall, cpu
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"serve exited with code {server.returncode}")
    finally:
        server.terminate()
        server.wait(timeout=30)


def paired_ratio(baseline: list[float], current: list[float]) -> float:
    """Median of the per-pair ratios ``baseline[i] / current[i]`` (runs made alternately)."""
    return round(statistics.median(b / a for b, a in zip(baseline, current, strict=True)), 2)


def _store(tmp: Path) -> tuple[Path, str, str, str]:
    """(store, layer, area code, description): the real store (only copied, never written by
    the run), else a fresh demo store."""
    if (STORE / "CURRENT").is_file():
        return STORE, "ward", str(AREA["ward"]), f"{STORE} (13 Hertfordshire police.uk months)"
    demo = tmp / "demo-store"
    subprocess.run(
        [sys.executable, "-m", "geo_service", "--store", str(demo), "-q", "demo"],
        check=True, cwd=ROOT, env=_env(ROOT), capture_output=True,
    )  # fmt: skip
    return demo, "beat", "D1A", "the demo store (no real store found)"


def _cases(seen: Path, first: Path, layer: str, code: str) -> dict[str, list[str]]:
    """Name -> argv after ``python``: the first-view cases on store ``first``, the others on
    ``seen``."""
    cli = ["-m", "geo_service", "--store", str(seen)]
    return {
        "help": ["-m", "geo_service", "--help"],
        "status": [*cli, "status"],
        "change": [*cli, "change", "--layer", layer],
        "area_page": ["-c", _PAGE, str(seen), f"/area/{layer}/{code}"],
        "category_page": ["-c", _PAGE, str(seen), f"/category/{CATEGORY}"],
        "report_page": ["-c", _PAGE, str(seen), "/report"],
        "area_page_first": ["-c", _PAGE, str(first), f"/area/{layer}/{code}"],
        "category_page_first": ["-c", _PAGE, str(first), f"/category/{CATEGORY}"],
        "area_view": ["-c", _AREA_VIEW, str(seen), layer, code],
        "serve_first_page": [],
        "serve_first_page_cpu": [],
    }


def _measure(argv: list[str], *, code_root: Path) -> float:
    """CPU seconds of one run of ``python argv`` with ``code_root`` first on the path; for a
    page, the request's own CPU (the script prints it)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, *argv], cwd=code_root, env=_env(code_root), capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed ({done.returncode}): {done.stderr[-2000:]}")
    if argv[0] == "-c":
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        return float(figures.get("page", figures.get("area_view")))
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _env(code_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(code_root)
    return env


def _export(ref: str, into: Path) -> Path:
    """The package at git ``ref``, unpacked into ``into`` (for the paired A/B runs)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", ref, "geo_service", "templates", "static", "boundaries"],
        cwd=ROOT, capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _table(result: dict[str, Any], figures: dict[str, float]) -> list[dict[str, Any]]:
    """Rows for the docs (bench.docs): measure, target, seconds (CPU, or wall for
    ``serve_first_page``), baseline seconds and ratio."""
    baseline = result.get("baseline", {})
    rows = []
    for name, seconds in figures.items():
        row: dict[str, Any] = {
            "measure": name,
            "target (s)": TARGETS.get(name, "-"),
            "s": seconds,
            "kind": "wall" if name in WALL else "CPU",
        }
        if baseline:
            row["before (s)"] = baseline["cpu_seconds"][name]
            row["before / after"] = baseline["ratio_baseline_over_current"][name]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.startup [--quick]``: run and write bench/results/startup.json."""
    from bench import write_result

    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REPEATS} repeats")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    path = write_result("startup-quick" if args.quick else "startup", result)
    print(json.dumps(result["cpu_seconds"], indent=2))
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
