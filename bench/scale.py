"""Scale benchmark: one ingest in a single process and on a Dask cluster (``make bench-scale``).

``python -m bench.scale [--rows N] [--workers 2] [--scheduler tcp://HOST:PORT] [--data DIR]``

N synthetic police.uk rows (default 10 million) are written as 120 monthly files (ten years,
``YYYY-MM/YYYY-MM-synthetic-street.csv``, the generator of :mod:`bench.ingest`: ~25 % ASB
without an id, ~2 % without coordinates, ~9 % outside the 25 synthetic wards). The same files
are then ingested into two fresh stores holding the wards, each run in a fresh process:

- ``single``: :func:`geo_service.ingest.ingest_files` with no scheduler (this process);
- ``dask``: the same call with ``scheduler=`` a LocalCluster of ``--workers`` worker processes
  (1 thread each) started by that process, or the existing scheduler given by ``--scheduler``.

Measured: wall seconds; CPU seconds of the client process (the LocalCluster's scheduler runs in
it) and of every worker process (``getrusage`` read on the workers before and after); peak
resident memory (``VmHWM``) of the client and of each worker. The two stores must hold identical
counts (rows, per month, per ward, the summaries): the run fails otherwise.

From the measured costs it projects a 60M-row ingest (police.uk's size since 2010) on a
16-worker cluster: worker CPU per row and client CPU per row are taken from the Dask run, memory
per worker from its peak over the largest partition. It is a projection, not a measurement, and
the result says so.

Results go to ``bench/results/scale.json``; ``python -m bench.docs`` copies its table into
docs/scale.md. Not part of ``make bench`` or ``make test`` (10M rows take several minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench import RESULTS_DIR, write_result
from bench.ingest import SEED, TEN_YEARS, write_police_files, write_wards

DEFAULT_ROWS = 10_000_000
#: The projection's cluster and size: police.uk's street-level rows since 2010 (~60M), and the
#: months they span (2010-12 .. 2025-12).
PROJECTED_ROWS = 60_000_000
PROJECTED_WORKERS = 16
PROJECTED_MONTHS = 181


def main(argv: list[str] | None = None) -> int:
    """Generate the files, run both engines, check they agree, write the result."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to generate")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument(
        "--scheduler", help="an existing Dask scheduler (tcp://HOST:PORT) instead of a LocalCluster"
    )
    parser.add_argument(
        "--data", type=Path, help="folder for the files and stores (shared storage for a cluster)"
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument(
        "--tables-only", action="store_true",
        help="rewrite the tables of bench/results/scale.json from its own figures (no run)",
    )  # fmt: skip
    parser.add_argument("--stage", nargs=3, help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args(argv)
    if args.tables_only:
        path = (args.out or RESULTS_DIR) / "scale.json"
        document = json.loads(path.read_text("utf-8"))
        path.write_text(json.dumps(with_tables(document), indent=2) + "\n", "utf-8")
        return 0
    if args.stage:
        engine, data, store = args.stage
        result = _stage(engine, Path(data), Path(store), workers=args.workers)
        print(json.dumps(result))
        return 0
    result = with_tables(
        measure(args.rows, workers=args.workers, scheduler=args.scheduler, folder=args.data)
    )
    kwargs = {"out_dir": args.out} if args.out else {}
    path = write_result("scale", result, **kwargs)
    print(json.dumps(result["table"], indent=2))
    print(f"written {path}")
    return 0


def measure(
    rows: int, *, workers: int, scheduler: str | None = None, folder: Path | None = None
) -> dict[str, Any]:
    """Both runs over ``rows`` generated rows; raises when their counts differ."""
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="geo-bench-scale-", dir=folder) as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        wards = write_wards(work / "wards.parquet", seed=SEED)
        files = write_police_files(work / "police", rows, seed=SEED, months=TEN_YEARS)
        generated_s = time.perf_counter() - started
        single = _child("single", work / "police", work / "single", workers=workers, wards=wards)
        dask = _child(
            scheduler or "local", work / "police", work / "dask", workers=workers, wards=wards
        )
    _check_identical(single, dask)
    return _result(
        rows, files, single, dask, workers=workers, scheduler=scheduler,
        generated_s=generated_s, load=(load_before, list(os.getloadavg())),
    )  # fmt: skip


def _child(engine: str, data: Path, store: Path, *, workers: int, wards: Path) -> dict[str, Any]:
    """One ingest in a fresh process (its peak memory its own); returns its figures."""
    root = Path(__file__).resolve().parents[1]
    store.mkdir(parents=True)
    shutil.copy(wards, store.parent / f"{store.name}-wards.parquet")
    command = [
        sys.executable, "-m", "bench.scale", "--workers", str(workers),
        "--stage", engine, str(data), str(store),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(root))
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.scale {engine} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------------ the child's side
def _stage(engine: str, data: Path, store_path: Path, *, workers: int) -> dict[str, Any]:
    """Ingest ``data`` into a fresh store with the wards; ``engine``: single, local or address."""
    import geopandas as gpd

    from bench.ingest import _stored_ward_counts
    from geo_service.store import LayerInfo, Store

    store = Store(store_path)
    wards = gpd.read_parquet(store_path.parent / f"{store_path.name}-wards.parquet")
    store.write_layer("ward", wards, info=LayerInfo(path="synthetic", synthetic=True))
    if engine == "single":
        figures = _timed_ingest(store, data, scheduler=None)
        figures["partition_costs"] = _partition_costs(store, data)
    elif engine == "local":
        figures = _on_local_cluster(store, data, workers=workers)
    else:
        figures = _on_cluster(store, data, engine)
    manifest = store.manifest()
    figures["rows_per_month"] = {p.month: p.rows for p in manifest.partitions.values()}
    figures["ward_counts"] = dict(sorted(_stored_ward_counts(store).items()))
    return figures


def _timed_ingest(store: Any, data: Path, *, scheduler: str | None) -> dict[str, Any]:
    from geo_service.ingest import ingest_files

    start, cpu_start = time.perf_counter(), _cpu_seconds()
    summary = ingest_files(store, "police-uk", [data], scheduler=scheduler)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    plain = summary.as_dict()
    plain["ingest_id"] = plain["rejects_path"] = None
    plain["files"] = len(plain["files"])
    return {
        "seconds": round(seconds, 2),
        "client_cpu_seconds": round(cpu, 2),
        "client_peak_memory_mb": round(_peak_memory_mb(), 1),
        "summary": plain,
    }


def _partition_costs(store: Any, data: Path, *, sample: int = 4) -> dict[str, Any]:
    """CPU seconds of :func:`load_batch` in this process (threads=1, as on a worker) over the
    first ``sample`` months; the bytes a worker would send back for one with its rows (the
    pickled :func:`load_batch` result) and the bytes it sends once it staged the month itself
    (the pickled :func:`stage_alone` result, staged into a scratch folder against the store as
    it was before the ingest: an empty store with the wards)."""
    import pickle

    from geo_service.ingest.files import batches, load_batch
    from geo_service.sources._dates import month_from_name
    from geo_service.store import Store
    from geo_service.store.layout import version_path
    from geo_service.store.write import IngestBatch, stage_alone

    months = batches("police-uk", sorted(data.rglob("*-street.csv")))[:sample]
    before = Store(store.root.parent / f"{store.root.name}-costs")
    before.write_layer("ward", store.layer("ward"), info=store.manifest().layers["ward"])
    layers = {name: before.layer(name) for name in before.layer_names()}
    current = version_path(before.root, str(before.version()))
    cpu, sizes, staged_sizes = 0.0, [], []
    for k, month in enumerate(months):
        start = _cpu_seconds()
        done = load_batch(month, kind="police-uk", layers=layers, options={}, stored=frozenset(),
                          threads=1)  # fmt: skip
        cpu += _cpu_seconds() - start
        sizes.append(len(pickle.dumps(done, protocol=5)))
        assert isinstance(done.batch, IngestBatch)
        staged = stage_alone(
            current, before.root / "scratch", before.manifest(), done.batch,
            month=str(month_from_name(month[0])), folder=str(k),
        )  # fmt: skip
        staged_sizes.append(len(pickle.dumps(staged, protocol=5)))
    shutil.rmtree(before.root)
    return {
        "months": len(months),
        "load_batch_cpu_seconds_each": round(cpu / len(months), 3),
        "result_mb_each": round(sum(sizes) / len(sizes) / 1e6, 1),
        "staged_result_kb_each": round(sum(staged_sizes) / len(staged_sizes) / 1e3, 1),
    }


def _on_local_cluster(store: Any, data: Path, *, workers: int) -> dict[str, Any]:
    import logging

    import distributed

    with distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:  # fmt: skip
        figures = _on_cluster(store, data, cluster.scheduler_address)
    figures["cluster"] = f"LocalCluster({workers} workers x 1 thread, processes)"
    return figures


def _on_cluster(store: Any, data: Path, address: str) -> dict[str, Any]:
    """The ingest on the cluster at ``address``, with its workers' CPU and peak memory."""
    import distributed

    with distributed.Client(address) as client:
        before = client.run(_warmed_usage)
        figures = _timed_ingest(store, data, scheduler=address)
        after = client.run(_worker_usage)
    figures["workers"] = [
        {
            "worker": name,
            "cpu_seconds": round(after[name]["cpu"] - before[name]["cpu"], 2),
            "memory_at_start_mb": round(before[name]["rss_mb"], 1),
            "peak_memory_mb": round(after[name]["peak_mb"], 1),
        }
        for name in sorted(after)
    ]
    figures["cluster"] = address
    return figures


def _warmed_usage() -> dict[str, float]:
    """On a worker: :func:`_worker_usage` once the ingest's modules are imported (so the
    memory at start is what a worker holds before its first partition)."""
    import geo_service.ingest.files  # noqa: F401

    return _worker_usage()


def _worker_usage() -> dict[str, float]:
    """On a worker: its process's CPU seconds, resident and peak resident memory (MB)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
        "peak_mb": int(status["VmHWM"].split()[0]) / 1024,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------ the result
def _check_identical(single: Mapping[str, Any], dask: Mapping[str, Any]) -> None:
    for key in ("summary", "rows_per_month", "ward_counts"):
        if single[key] != dask[key]:
            raise RuntimeError(f"the engines disagree on {key}: {single[key]} != {dask[key]}")


def _result(
    rows: int,
    files: int,
    single: dict[str, Any],
    dask: dict[str, Any],
    *,
    workers: int,
    scheduler: str | None,
    generated_s: float,
    load: tuple[list[float], list[float]],
) -> dict[str, Any]:
    largest = max(single["rows_per_month"].values())
    worker_cpu = sum(w["cpu_seconds"] for w in dask["workers"])
    dask_cpu = dask["client_cpu_seconds"] + worker_cpu
    table = [
        {
            "engine": "single process",
            "wall s": single["seconds"],
            "CPU s (all processes)": single["client_cpu_seconds"],
            "client CPU s": single["client_cpu_seconds"],
            "client peak MB": single["client_peak_memory_mb"],
            "worker peak MB": "-",
        },
        {
            "engine": f"Dask, {workers} workers" if scheduler is None else f"Dask at {scheduler}",
            "wall s": dask["seconds"],
            "CPU s (all processes)": round(dask_cpu, 2),
            "client CPU s": dask["client_cpu_seconds"],
            "client peak MB": dask["client_peak_memory_mb"],
            "worker peak MB": " / ".join(str(w["peak_memory_mb"]) for w in dask["workers"]),
        },
    ]
    summary = single["summary"]
    return {
        "rows": rows,
        "full_size": rows == DEFAULT_ROWS,
        "size_note": (
            "the full 10M rows"
            if rows == DEFAULT_ROWS
            else f"{rows:,} rows, not the full {DEFAULT_ROWS:,} (--rows)"
        ),
        "files": files,
        "largest_partition_rows": largest,
        "generate_seconds": round(generated_s, 1),
        "load_average_before": load[0],
        "load_average_after": load[1],
        "identical": {"summary": True, "rows_per_month": True, "ward_counts": True},
        "stored": summary["stored"],
        "rows_read": summary["rows_read"],
        "in_a_ward": sum(single["ward_counts"].values()),
        "wall_ratio_single_over_dask": round(single["seconds"] / dask["seconds"], 2),
        "single": _without_counts(single),
        "dask": _without_counts(dask),
        "projection": _projection(rows, largest, dask, workers=workers),
        "table": table,
    }


def with_tables(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with the docs' other tables (facts, workers, projection) from its figures."""
    dask, projection = result["dask"], result["projection"]
    load = result["load_average_before"][0], result["load_average_after"][0]
    facts = [
        {"measure": "rows (synthetic police.uk)", "value": f"{result['rows']:,}"},
        {"measure": "size run", "value": result["size_note"]},
        {"measure": "monthly files (= partitions)", "value": result["files"]},
        {"measure": "largest partition, rows", "value": f"{result['largest_partition_rows']:,}"},
        {"measure": "stored (both engines)", "value": f"{result['stored']:,}"},
        {"measure": "in a ward (both engines)", "value": f"{result['in_a_ward']:,}"},
        {"measure": "summary, rows per month, rows per ward identical", "value": "yes"},
        {"measure": "wall time, single / Dask", "value": result["wall_ratio_single_over_dask"]},
        {"measure": "load average before / after (1 min)",
         "value": f"{load[0]:.1f} / {load[1]:.1f}"},
    ]  # fmt: skip
    costs = result["single"]["partition_costs"]
    per_partition = [
        {"cost per monthly partition": "load_batch CPU s in one process (pickling excluded)",
         "value": costs["load_batch_cpu_seconds_each"]},
        {"cost per monthly partition": "worker CPU s on the cluster (all the worker did)",
         "value": projection["from"]["worker_cpu_seconds_per_partition"]},
        {"cost per monthly partition": "load_batch result with the rows, MB (sent before)",
         "value": costs["result_mb_each"]},
        {"cost per monthly partition": "result of a worker that staged its month, kB (sent now)",
         "value": costs.get("staged_result_kb_each", "-")},
        {"cost per monthly partition":
             "client CPU s (move staged files, checksums, manifest, cubes; the scheduler)",
         "value": round(dask["client_cpu_seconds"] / result["files"], 3)},
    ]  # fmt: skip
    workers = [
        {"worker": f"worker {k + 1}", "CPU s": w["cpu_seconds"],
         "memory with modules loaded, MB": w["memory_at_start_mb"],
         "peak MB": w["peak_memory_mb"]}
        for k, w in enumerate(dask["workers"])
    ]  # fmt: skip
    source = projection["from"]
    projected = [
        {"quantity": "rows / months / rows per month",
         "value": f"{projection['rows']:,} / {projection['months']} / "
                  f"{projection['rows_per_month']:,}"},
        {"quantity": "workers", "value": projection["workers"]},
        {"quantity": "measured worker CPU s per partition / per million rows",
         "value": f"{source['worker_cpu_seconds_per_partition']} / "
                  f"{source['worker_cpu_seconds_per_million_rows']}"},
        {"quantity": "measured client CPU s per million rows",
         "value": source["client_cpu_seconds_per_million_rows"]},
        {"quantity": "projected worker time each, s", "value": projection["worker_seconds_each"]},
        {"quantity": "projected client (serial) time, s",
         "value": projection["client_seconds"]},
        {"quantity": "projected wall time at least, s",
         "value": f"{projection['wall_seconds_at_least']} (bound by {projection['bound_by']})"},
        {"quantity": "projected peak memory per worker, MB",
         "value": projection["worker_peak_memory_mb"]},
    ]  # fmt: skip
    return result | {
        "facts": facts, "workers_table": workers, "projection_table": projected,
        "partition_table": per_partition,
    }  # fmt: skip


def _without_counts(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k not in ("rows_per_month", "ward_counts")}


def _projection(
    rows: int, largest: int, dask: Mapping[str, Any], *, workers: int
) -> dict[str, Any]:
    """60M rows on 16 workers, from the Dask run's measured per-row costs (a projection)."""
    worker_cpu = sum(w["cpu_seconds"] for w in dask["workers"])
    worker_s_per_row = worker_cpu / rows
    client_s_per_row = dask["client_cpu_seconds"] / rows
    base_mb = max(w["memory_at_start_mb"] for w in dask["workers"])
    peak_mb = max(w["peak_memory_mb"] for w in dask["workers"])
    mb_per_partition_row = max(0.0, peak_mb - base_mb) / largest
    per_month = PROJECTED_ROWS / PROJECTED_MONTHS
    workers_s = PROJECTED_ROWS * worker_s_per_row / PROJECTED_WORKERS
    client_s = PROJECTED_ROWS * client_s_per_row
    return {
        "what": (
            "a projection, not a measurement: the Dask run's worker CPU seconds per row and "
            "client CPU seconds per row, scaled linearly to the rows and spread over the "
            "workers; assumes one free core per worker, input files on storage every worker "
            "reads as fast as here, and a client whose serial work (moving each month the "
            "workers staged into place, checksumming the new partitions, the manifest, the "
            "cubes, and the scheduler it hosts) grows with the rows; the larger of the two is "
            "the lower bound on the wall time; worker memory grows from the memory "
            "with the modules loaded by the measured peak's excess per row of the largest "
            "partition (it includes up to two finished partitions waiting to be collected)"
        ),
        "from": {
            "measured_rows": rows,
            "measured_workers": workers,
            "measured_partitions": len(dask["rows_per_month"]),
            "worker_cpu_seconds_per_partition": round(worker_cpu / len(dask["rows_per_month"]), 3),
            "worker_cpu_seconds_per_million_rows": round(worker_s_per_row * 1e6, 2),
            "client_cpu_seconds_per_million_rows": round(client_s_per_row * 1e6, 2),
            "worker_memory_mb_with_modules_loaded": round(base_mb, 1),
            "worker_peak_mb_over_largest_partition": round(peak_mb, 1),
            "largest_partition_rows": largest,
        },
        "rows": PROJECTED_ROWS,
        "months": PROJECTED_MONTHS,
        "rows_per_month": round(per_month),
        "workers": PROJECTED_WORKERS,
        "worker_seconds_each": round(workers_s, 1),
        "client_seconds": round(client_s, 1),
        "wall_seconds_at_least": round(max(workers_s, client_s), 1),
        "bound_by": "the client's serial work" if client_s >= workers_s else "the workers",
        "worker_peak_memory_mb": round(base_mb + mb_per_partition_row * per_month, 1),
    }


if __name__ == "__main__":
    sys.exit(main())
