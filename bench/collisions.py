"""Repeat-collision sites of one partnership in a national store, in CPU seconds.

A synthetic STATS19-style store: ``rows`` collisions over 36 months spread over Great Britain
(0-650 km east, 0-1,000 km north), 2 % of them in a partnership of 100 square 1 km beats with
some repeat locations. ``collision_sites`` (the ``default`` rule, beat layer) is timed in fresh
processes (median of 5):

* ``kept``: from the kept file of the collisions near the layer (:mod:`geo_service.store.near`);
* ``first``: the same with that file deleted first, so it is built (every collision partition
  scanned once, filtered by the layer's box);
* ``rows``: through a store that is not a ``Store``, which reads every collision of the window
  and keeps those within reach (the read the sites made before the kept file).

The sites, outside sites and severity table of all three must be equal (checked in each run).
``python -m bench collisions`` writes ``bench/results/collisions.json``; quick: 30k rows, 3 runs.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.cubes import _ROWS_ONLY, _child

SEED = 20_261_201
MONTHS = 36
_X0, _Y0 = 500_000.0, 200_000.0
TARGETS = {"kept_300k_cpu_seconds_max": 0.5}

_CHILD = (
    r"""
import hashlib, json, sys, time
from geo_service.services.collisions import collision_sites
from geo_service.services.options import RuleOptions
from geo_service.store import Store

"""
    + _ROWS_ONLY
    + r"""

root, _what, how = sys.argv[1:4]
store = Store(root)
if how == "first":
    for path in store.root.glob("*/*/collisions_near_*.parquet"):
        path.unlink()
seen = RowsOnly(store) if how == "rows" else store
start = time.process_time()
result = collision_sites(seen, RuleOptions("default"), period_end=None, layer="beat")
cpu = time.process_time() - start


def ids(frame):
    return sorted(
        (first, *sorted(rest)) for first, *rest in (s.split(";") for s in frame["collision_ids"])
    )


figures = [ids(result.sites), ids(result.outside), result.severity.astype(str).values.tolist(),
           len(result.collisions)]
digest = hashlib.sha256(json.dumps(figures).encode()).hexdigest()
print(json.dumps({"cpu": cpu, "digest": digest, "sites": len(result.sites),
                  "outside": len(result.outside), "collisions": len(result.collisions)}))
"""
)


def _synthetic(root: Path, rows: int) -> None:
    """The store: the beats, then the collisions in three yearly files."""
    import geopandas as gpd
    from shapely.geometry import box

    from geo_service import schema
    from geo_service.store import FileRecord, LayerInfo, Store

    cells = [(i, j) for j in range(10) for i in range(10)]
    beats = gpd.GeoDataFrame(
        {"code": [f"B{i}{j}" for i, j in cells], "name": [f"Beat {i}-{j}" for i, j in cells],
         "parent": pd.array([None] * len(cells), dtype="str"),
         "population": np.full(len(cells), 5000.0), "households": np.full(len(cells), 2000.0)},
        geometry=[box(_X0 + i * 1000, _Y0 + j * 1000, _X0 + (i + 1) * 1000, _Y0 + (j + 1) * 1000)
                  for i, j in cells],
        crs=schema.CRS,
    )  # fmt: skip
    store = Store(root)
    store.write_layer("beat", beats, info=LayerInfo(path="synthetic"))
    rng = np.random.default_rng(SEED)
    per_year = rows // 3
    for year in range(3):
        local = per_year // 50
        spots = rng.uniform([_X0 - 1500, _Y0 - 1500], [_X0 + 11_500, _Y0 + 11_500], (40, 2))
        near = spots[rng.integers(0, 40, local)] + rng.normal(0, 30, (local, 2))
        far = np.column_stack(
            [rng.uniform(0, 650_000, per_year - local), rng.uniform(0, 1_000_000, per_year - local)]
        )
        xy = np.vstack([near, far])
        month = np.array([f"{2019 + year}-{m:02d}" for m in range(1, 13)])[
            rng.integers(0, 12, per_year)
        ]
        frame = pd.DataFrame({
            "incident_id": [f"stats19:{year}:{k}" for k in range(per_year)], "source": "stats19",
            "category": schema.ROAD_TRAFFIC_COLLISION, "month": month,
            "occurred_at": pd.to_datetime(np.char.add(month.astype(str), "-15")),
            "x": xy[:, 0], "y": xy[:, 1],
            "severity": np.array(["Fatal", "Serious", "Slight"])[
                rng.choice(3, per_year, p=[0.01, 0.19, 0.8])],
            "road_1": "A41", "source_file": f"{2019 + year}.csv",
            "source_line": np.arange(per_year) + 2,
        })  # fmt: skip
        col = np.floor((frame["x"] - _X0) / 1000)
        row = np.floor((frame["y"] - _Y0) / 1000)
        inside = (col >= 0) & (col < 10) & (row >= 0) & (row < 10)
        codes = "B" + col.astype(int).astype(str) + row.astype(int).astype(str)
        frame = schema.conform(frame).assign(
            area_beat=pd.array(codes.where(inside, None), dtype="str")
        )
        name = f"{2019 + year}.csv"
        months = tuple(sorted(set(month.tolist())))
        record = FileRecord(f"/in/{name}", name, "stats19", f"sha-{year}", per_year, 0, 0, months)
        store.write_incidents(frame, [record], rejects=pd.DataFrame(), kind="mapped")


def _compare(root: Path, runs: int) -> dict[str, Any]:
    """Median CPU seconds of each way, alternated run by run; raises when figures differ."""
    times: dict[str, list[float]] = {"first": [], "kept": [], "rows": []}
    digests: set[str] = set()
    last: dict[str, Any] = {}
    for _ in range(runs):
        for how in times:  # "first" leaves the file built for "kept"
            last = _child(root, "sites", how, code=_CHILD)
            times[how].append(last["cpu"])
            digests.add(last["digest"])
    if len(digests) != 1:
        raise AssertionError(f"collision sites differ between the ways read: {digests}")
    near = next(root.glob("*/*/collisions_near_beat.parquet"))
    import pyarrow.parquet as pq

    return {
        **{f"{how}_cpu_seconds": round(statistics.median(t), 3) for how, t in times.items()},
        "sites": last["sites"], "outside": last["outside"], "collisions_drawn": last["collisions"],
        "kept_rows": pq.read_metadata(near).num_rows, "kept_bytes": near.stat().st_size,
    }  # fmt: skip


def table(stores: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per store: the three ways' CPU seconds and the kept file's size."""
    return [
        {
            "store": name, "collisions": int(name.rsplit("_", 1)[1]),
            "kept rows": entry["kept_rows"], "kept (MB)": round(entry["kept_bytes"] / 1e6, 2),
            "sites (outside)": f"{entry['sites']} ({entry['outside']})",
            "kept file (s)": entry["kept_cpu_seconds"],
            "building it (s)": entry["first_cpu_seconds"],
            "rows (s)": entry["rows_cpu_seconds"],
        }
        for name, entry in stores.items()
    ]  # fmt: skip


def run(*, quick: bool) -> dict[str, Any]:
    """Build the synthetic stores and time the three ways; raises when their figures differ."""
    sizes = (30_000,) if quick else (300_000, 3_000_000)
    runs = 3 if quick else 5
    result: dict[str, Any] = {"quick": quick, "runs": runs, "stores": {}}
    with tempfile.TemporaryDirectory(prefix="bench-collisions-") as folder:
        for rows in sizes:
            root = Path(folder) / f"s{rows}"
            _synthetic(root, rows)
            result["stores"][f"synthetic_{rows}"] = _compare(root, runs)
    result["table"] = table(result["stores"])
    kept = result["stores"].get("synthetic_300000", {}).get("kept_cpu_seconds")
    result["targets"] = TARGETS
    result["targets_met"] = {
        "kept_300k_cpu_seconds_max": quick or (kept is not None and kept <= 0.5)
    }
    return result
