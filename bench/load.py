"""Load benchmark: many concurrent clients against ``geo-service serve`` over real HTTP.

The server runs in its own process (``python -m geo_service --store STORE serve``) on a copy of
the Hertfordshire store (13 real police.uk months; ``GEO_SERVICE_LOAD_STORE``, by default
``<repo>/../herts-store``) made for the run, with no derived file of its version but the cubes,
as an ingest leaves it: the server starts on a version nobody has seen. The clients, in this
process, each hold a keep-alive connection and walk a fixed mix of the pages people open (the
overview, every category page of the default groups, ten area pages of the default layer) and
two API answers, each client starting at its own place in the mix. First every URL of the mix is
asked once, and the server's own warm-up awaited, so the measure is of a warm server; then one
client for ``SECONDS``, then 50 clients for ``SECONDS``.

The target (issue 14.3) compares 50 clients on this server with one client on the server of
before (Flask's development server, commit 17e371f): its single-client throughput was measured
with this module on the same mix (``BASELINE``). Set ``GEO_SERVICE_BASELINE_SRC`` to a checkout
of older code to measure it again in the same run. Also reported: seconds from starting
``serve`` to the first ``200`` answer of ``/`` (issue 13.1 target 1.5 s).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
STORE = Path(os.environ.get("GEO_SERVICE_LOAD_STORE", ROOT.parent / "herts-store"))
CLIENTS = 50
SECONDS = 20.0
QUICK_SECONDS = 3.0
AREAS = 10
THREADS = 8
#: One client on Flask's development server (commit 17e371f), this mix, warm; measured with
#: ``GEO_SERVICE_BASELINE_SRC`` on this machine (2 cores shared with other work).
BASELINE = {
    "commit": "17e371f",
    "server": "flask-dev",
    "clients": 1,
    "requests_per_s": 19.9,
    "p99_s": 0.285,
    "with_50_clients": {"requests_per_s": 21.4, "p50_s": 2.30, "p99_s": 3.30, "errors": 0},
    "measured": "2026-11-30",
}
#: How long to wait for the server's own warm-up (every area page of the default layer).
WARM_WAIT_S = 1800.0
TARGETS = {"speed_up_min": 10.0, "p99_s_max": 1.0, "errors_max": 0, "first_page_s_max": 1.5}


@dataclass
class Tally:
    """What the clients of one run saw."""

    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def run(*, quick: bool) -> dict[str, Any]:
    """Start the server on the store, warm the mix, then measure 1 and 50 clients."""
    if not (STORE / "CURRENT").is_file():
        return {"quick": quick, "skipped": f"no store at {STORE} (set GEO_SERVICE_LOAD_STORE)"}
    seconds = QUICK_SECONDS if quick else SECONDS
    baseline = dict(BASELINE)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        older = os.environ.get("GEO_SERVICE_BASELINE_SRC")
        if older:
            store = _fresh_copy(Path(tmp) / "baseline")
            baseline = {"src": older, "server": "as in src", "clients": 1}
            measured = _serve_and_measure(Path(older), store, seconds, clients=(1,), threads=None)
            baseline |= measured["1"]
        store = _fresh_copy(Path(tmp) / "current")
        measured = _serve_and_measure(
            ROOT, store, seconds, clients=(1, CLIENTS), threads=THREADS, wait_warm=not quick
        )
    return result(measured, baseline, quick=quick, seconds=seconds)


def _fresh_copy(into: Path) -> Path:
    """A copy of :data:`STORE` as an ingest leaves a version: its cubes, no other derived file
    (the real store is never written; the server starts on a version it has never shown)."""
    from bench.startup import DERIVED
    from geo_service.store.layout import version_path

    shutil.copytree(STORE, into)
    version = version_path(into, (into / "CURRENT").read_text("utf-8").strip())
    for pattern in DERIVED:
        for path in version.glob(pattern):
            path.unlink()
    return into


def result(
    measured: dict[str, Any], baseline: dict[str, Any], *, quick: bool, seconds: float
) -> dict[str, Any]:
    """The benchmark's result from the runs measured and the baseline, with targets checked."""
    many = measured[str(CLIENTS)]
    before = baseline.get("requests_per_s")
    speed_up = many["requests_per_s"] / before if before else None
    met = {
        "speed_up_min": speed_up is not None and speed_up >= TARGETS["speed_up_min"],
        "p99_s_max": many["p99_s"] <= TARGETS["p99_s_max"],
        "errors_max": many["errors"] <= TARGETS["errors_max"],
        "first_page_s_max": measured["first_page_s"] <= TARGETS["first_page_s_max"],
    }
    table = [
        {"measure": "50 clients: requests/s vs 1 client on the previous server",
         "value": None if speed_up is None else round(speed_up, 1),
         "target": f">= {TARGETS['speed_up_min']:g}x", "met": met["speed_up_min"]},
        {"measure": "50 clients: p99 (s)", "value": many["p99_s"],
         "target": f"<= {TARGETS['p99_s_max']:g}", "met": met["p99_s_max"]},
        {"measure": "50 clients: errors", "value": many["errors"],
         "target": f"<= {TARGETS['errors_max']}", "met": met["errors_max"]},
        {"measure": "start to first 200 of / (wall s)", "value": measured["first_page_s"],
         "target": f"<= {TARGETS['first_page_s_max']:g}", "met": met["first_page_s_max"]},
        {"measure": "server CPU by the first 200 (s)", "value": measured["first_page_cpu_s"],
         "target": "-", "met": "-"},
        {"measure": "1 client: requests/s, p99 (s)",
         "value": f"{measured['1']['requests_per_s']:g}, {measured['1']['p99_s']:g}",
         "target": "-", "met": "-"},
        {"measure": "50 clients: requests/s, p50 (s)",
         "value": f"{many['requests_per_s']:g}, {many['p50_s']:g}", "target": "-", "met": "-"},
        {"measure": "server warm-up, start to done (wall s)",
         "value": measured.get("server_warm_s", "-"), "target": "-", "met": "-"},
    ]  # fmt: skip
    return {
        "quick": quick,
        "store": f"a copy of {STORE} with no derived file but its cubes (as an ingest leaves it)",
        "seconds_per_run": seconds,
        "threads": THREADS,
        "baseline": baseline,
        "runs": measured,
        "speed_up": None if speed_up is None else round(speed_up, 1),
        "targets": TARGETS,
        "targets_met": met,
        "table": table,
    }


def _serve_and_measure(
    src: Path,
    store: Path,
    seconds: float,
    *,
    clients: tuple[int, ...],
    threads: int | None,
    wait_warm: bool = False,
) -> dict[str, Any]:
    """Start a server from the code in ``src``; first page, warm-up, then each client count."""
    port = _free_port()
    command = [sys.executable, "-m", "geo_service", "--store", str(store), "serve"]
    command += ["--port", str(port)] + (["--threads", str(threads)] if threads else [])
    env = os.environ | {"PYTHONPATH": str(src)}
    started = time.perf_counter()
    server = subprocess.Popen(
        command, cwd=src, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    warm = threading.Event()
    threading.Thread(target=_watch_log, args=(server, warm), daemon=True).start()
    try:
        first, first_cpu = _first_page(port, started, server)
        cold, paths, refused = _warm(port, _mix(store))
        results: dict[str, Any] = {
            "first_page_s": round(first, 2),
            "first_page_cpu_s": first_cpu,
            "mix_warm_s": round(cold, 1),
        }
        if wait_warm:
            warm.wait(WARM_WAIT_S)
            results["server_warm_s"] = round(time.perf_counter() - started, 1)
        results |= {"mix": paths, "not_in_mix": refused}
        for n in clients:
            results[str(n)] = _measure(port, paths, clients=n, seconds=seconds)
            log.info("load: %d client(s): %s", n, results[str(n)])
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def _watch_log(server: subprocess.Popen[str], warm: threading.Event) -> None:
    """Set ``warm`` when the server logs that its warm-up is done; drain its log meanwhile."""
    assert server.stderr is not None
    for line in server.stderr:
        if " warm: " in line:
            log.info("server: %s", line.strip())
            warm.set()


def _first_page(
    port: int, started: float, server: subprocess.Popen[str]
) -> tuple[float, float | None]:
    """Seconds from starting the server to its first 200 answer of ``/``, and the CPU seconds
    the server had used by then (steady on a busy machine; None where /proc is missing)."""
    while server.poll() is None:
        try:
            status, _body = _get_once(port, "/")
            if status == 200:
                return time.perf_counter() - started, _cpu_seconds(server.pid)
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"the server exited with code {server.returncode}")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def _mix(root: Path) -> list[str]:
    """The URLs the clients walk: pages of the default layer and groups, two API answers."""
    from geo_service.config import Settings
    from geo_service.services.context import page_groups, store_summary
    from geo_service.store import Store
    from geo_service.web.params import default_layer

    store = Store(root)
    summary = store_summary(store)
    layer = default_layer(summary.layers)
    codes = store.layer(layer)["code"].astype(str).tolist()[:AREAS]
    groups = page_groups(Settings().groups(), summary.categories)
    return [
        "/",
        *(f"/category/{quote(g.name)}" for g in groups),
        *(f"/area/{layer}/{quote(c)}" for c in codes),
        "/api/looking-back.json",
        "/api/summary.json",
    ]


def _warm(port: int, paths: list[str]) -> tuple[float, list[str], dict[str, int]]:
    """Ask every URL once (the server computes what its warm-up has not yet).

    Returns the seconds taken, the URLs answered 200 (the mix) and the others with their status
    (a group the data cannot form answers 422 and is left out of the mix).
    """
    started = time.perf_counter()
    answered: list[str] = []
    refused: dict[str, int] = {}
    for path in paths:
        status, _body = _get_once(port, path, timeout=600)
        if status == 200:
            answered.append(path)
        else:
            refused[path] = status
    return time.perf_counter() - started, answered, refused


def _measure(port: int, paths: list[str], *, clients: int, seconds: float) -> dict[str, Any]:
    tally = Tally()
    stop = time.perf_counter() + seconds
    workers = [
        threading.Thread(target=_client, args=(port, paths, k * 7, stop, tally), daemon=True)
        for k in range(clients)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(tally.latencies_s)
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(tally.errors),
        "first_errors": tally.errors[:5],
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "p99_s": round(latencies[int(0.99 * (len(latencies) - 1))], 4) if latencies else None,
        "max_s": round(latencies[-1], 4) if latencies else None,
    }


def _client(port: int, paths: list[str], offset: int, stop: float, tally: Tally) -> None:
    connection: http.client.HTTPConnection | None = None
    k = offset
    while time.perf_counter() < stop:
        path = paths[k % len(paths)]
        k += 1
        began = time.perf_counter()
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            status = response.status
            if response.will_close:
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException) as exc:
            status = 0
            if connection is not None:
                connection.close()
            connection = None
            with tally.lock:
                tally.errors.append(f"{path}: {exc!r}")
            continue
        took = time.perf_counter() - began
        with tally.lock:
            tally.latencies_s.append(took)
            if status != 200:
                tally.errors.append(f"{path}: HTTP {status}")
    if connection is not None:
        connection.close()


def _get_once(port: int, path: str, *, timeout: float = 5.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
