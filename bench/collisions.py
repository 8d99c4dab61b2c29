"""Repeat-collision sites of one partnership in a national store, in CPU seconds.

A synthetic STATS19-style store: a partnership of 100 square 1 km beats with 1,000 collisions a
year within 1.5 km of it (30 % of them at 40 repeat locations), and the rest of ``rows``
collisions over 36 months spread over Great Britain (0-650 km east, 0-1,000 km north).
``collision_sites`` (the ``default`` rule, beat layer) is timed in fresh processes, the ways
alternated run by run (median of 5):

* ``kept``: from the kept file of the collisions near the layer (:mod:`geo_service.store.near`);
* ``first``: the same with that file deleted first, so it is built (every collision partition
  scanned once, filtered by the layer's box);
* ``rows``: through a store that is not a ``Store``, which reads every collision of the window
  and keeps those within reach (the read the sites made before the kept file).

The sites, outside sites, severity table and collisions drawn of all three must be equal
(checked in each run). With ``BENCH_BASELINE=<git ref>`` that commit's code is timed too, on the
same store, paired with ``kept`` (A B A B ...; the median of the per-pair ratios baseline /
kept): its figures are not compared (before the kept file, sites were found among every
collision of the store). ``python -m bench collisions`` writes ``bench/results/collisions.json``;
quick: 3k and 30k rows, 3 runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from bench.cubes import _ROWS_ONLY
from bench.startup import ROOT, _export, paired_ratio

SEED = 20_261_201
_X0, _Y0 = 500_000.0, 200_000.0
#: Collisions a year within 1.5 km of the partnership (a district of 100 km2 has a few hundred).
LOCAL_PER_YEAR = 1000
#: What the kept file is for: a national store's sites in under a second, at a cost that does not
#: grow with the collisions held elsewhere (3M against 300k). About half of the kept figure is
#: importing scipy.spatial (its KD-tree), paid once per process.
TARGETS = {"kept_3m_cpu_seconds_max": 1.0, "kept_3m_over_300k_max": 1.5}

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
    spots = rng.uniform([_X0 - 1500, _Y0 - 1500], [_X0 + 11_500, _Y0 + 11_500], (40, 2))
    for year in range(3):
        at_spots = rng.integers(0, 40, LOCAL_PER_YEAR * 3 // 10)
        near = np.vstack([
            spots[at_spots] + rng.normal(0, 20, (len(at_spots), 2)),
            rng.uniform([_X0 - 1500, _Y0 - 1500], [_X0 + 11_500, _Y0 + 11_500],
                        (LOCAL_PER_YEAR - len(at_spots), 2)),
        ])  # fmt: skip
        far = rng.uniform([0, 0], [650_000, 1_000_000], (per_year - LOCAL_PER_YEAR, 2))
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


def _child_at(code: Path, root: Path, how: str) -> dict[str, Any]:
    """One fresh process of the code at ``code`` timing one way on the store at ``root``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), "sites", how],
        check=True, capture_output=True, text=True, env=env, cwd=code,  # "-c" puts cwd first
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compare(root: Path, runs: int, baseline: Path | None) -> dict[str, Any]:
    """Median CPU seconds of each way, alternated run by run (and the baseline's, paired with
    ``kept``); raises when the current code's figures differ between ways."""
    times: dict[str, list[float]] = {"first": [], "kept": [], "rows": []}
    before: list[float] = []
    digests: set[str] = set()
    last: dict[str, Any] = {}
    for _ in range(runs):
        for how in times:  # "first" leaves the file built for "kept"
            last = _child_at(ROOT, root, how)
            times[how].append(last["cpu"])
            digests.add(last["digest"])
            if how == "kept" and baseline is not None:
                before.append(_child_at(baseline, root, "kept")["cpu"])
    if len(digests) != 1:
        raise AssertionError(f"collision sites differ between the ways read: {digests}")
    near = next(root.glob("*/*/collisions_near_beat.parquet"))
    result = {
        **{f"{how}_cpu_seconds": round(statistics.median(t), 3) for how, t in times.items()},
        "sites": last["sites"], "outside": last["outside"], "collisions_drawn": last["collisions"],
        "kept_rows": pq.read_metadata(near).num_rows, "kept_bytes": near.stat().st_size,
    }  # fmt: skip
    if before:
        result["baseline_cpu_seconds"] = round(statistics.median(before), 3)
        result["baseline_over_kept"] = round(paired_ratio(before, times["kept"]), 2)
    return result


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
            **(
                {"baseline (s)": entry["baseline_cpu_seconds"],
                 "baseline / kept": entry["baseline_over_kept"]}
                if "baseline_cpu_seconds" in entry else {}
            ),
        }
        for name, entry in stores.items()
    ]  # fmt: skip


def run(*, quick: bool) -> dict[str, Any]:
    """Build the synthetic stores and time the three ways; raises when their figures differ."""
    sizes = (3_000, 30_000) if quick else (300_000, 3_000_000)
    runs = 3 if quick else 5
    result: dict[str, Any] = {"quick": quick, "runs": runs, "stores": {}}
    with tempfile.TemporaryDirectory(prefix="bench-collisions-") as folder:
        ref = os.environ.get("BENCH_BASELINE")
        baseline = _export(ref, Path(folder) / "baseline") if ref else None
        result["baseline"] = ref
        for rows in sizes:
            root = Path(folder) / f"s{rows}"
            _synthetic(root, rows)
            result["stores"][f"synthetic_{rows}"] = _compare(root, runs, baseline)
    result["table"] = table(result["stores"])
    stores = result["stores"]
    small, large = (stores.get(f"synthetic_{n}", {}).get("kept_cpu_seconds") for n in sizes[-2:])
    result["targets"] = TARGETS
    result["targets_met"] = {
        "kept_3m_cpu_seconds_max": quick or (large is not None and large <= 1.0),
        "kept_3m_over_300k_max": quick
        or (small is not None and large is not None and large <= 1.5 * small),
    }
    return result
