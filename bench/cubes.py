"""Change tables from the store's cube against the same tables from its rows, in CPU seconds.

``change`` (All crime by area) and ``summary`` (the looking-back table of every default group)
are each run in a fresh process (median of 5), once from the kept cube
(:mod:`geo_service.store.cubes`, what a :class:`~geo_service.store.Store` gives the services) and
once from the rows (the same services given a store that is not a Store, so they read the
partitions as they did before the cube): on synthetic police.uk-style stores of 300k and 3M rows
(36 months, 200 square 1 km beats, 5 % without a location, some outside every beat) and, when
``GEO_SERVICE_HERTS_STORE`` names one, on a copy of a real store. The figures of both must be
equal (checked in each run). Also timed: counting the whole cube at publish, and re-counting it
after one month is added (only that month's partition is counted).

The grid cube (:mod:`geo_service.store.grid_cube`) is timed the same way: the Gi* (999
permutations) and emerging hot-spot maps of All crime over 12 months, with their backtest,
from the grid cube and from the rows (the frames and every figure of the meta must be equal),
over the beats and, on the synthetic stores, over a district of 8 beats added afterwards (a
borough's layer over a larger store); with the grid cube's size and counting CPU, as kept
(each layer at its automatic cell size) and if all six standard sizes were kept. The kernel
density map of All crime is timed from the density cube (counted first, then kept) and from
the rows, its surfaces compared (at most 0.5 % of the rows' peak apart, else the run fails).

``python -m bench cubes`` writes ``bench/results/cubes.json``; quick: 30k and 300k rows, 3 runs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SEED = 20_210_131
MONTHS = 36
TARGETS = {"change_from_cube_3m_cpu_seconds_max": 1.0, "summary_from_cube_3m_cpu_seconds_max": 1.5}

#: What a child process reads through to get the rows: a store that is not a ``Store``.
_ROWS_ONLY = r"""
class RowsOnly:
    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)
"""

_CHILD = (
    r"""
import json, sys, time
from geo_service.config import Settings
from geo_service.services import tables
from geo_service.services.context import group_named, store_groups
from geo_service.services.options import ViewOptions
from geo_service.store import Store

"""
    + _ROWS_ONLY
    + r"""


root, what, how = sys.argv[1:4]
store = Store(root)
seen = store if how == "cube" else RowsOnly(store)
last = store.coverage().all_months()[-1]
opts = ViewOptions(period_end=last, months=12)
settings = Settings()
start = time.process_time()
if what == "change":
    result = tables.change_by_area(seen, group_named(store, settings.groups(), "All crime"), opts)
    figures = result.table[["code", "previous", "current"]].astype(str).values.tolist()
else:
    result = tables.looking_back(seen, store_groups(store, settings.groups()), opts)
    figures = result.table[["group", "previous", "current"]].astype(str).values.tolist()
print(json.dumps({"cpu": time.process_time() - start, "figures": figures}))
"""
)


_HOTSPOT_CHILD = (
    r"""
import json, sys, time
from geo_service.config import Settings
from geo_service.services import hotspots
from geo_service.services.options import HotspotOptions
from geo_service.store import Store

"""
    + _ROWS_ONLY
    + r"""


root, method, how, layer = sys.argv[1:5]
store = Store(root)
seen = store if how == "cube" else RowsOnly(store)
opts = HotspotOptions(category="All crime", method=method, layer=layer)
start = time.process_time()
found = hotspots.hotspot_map(seen, Settings().groups(), opts)
cpu = time.process_time() - start
values = found.frame.drop(columns="geometry").astype(object).values.tolist()
frame = json.dumps(values, default=str)  # floats by repr: every bit compared
print(json.dumps({"cpu": cpu, "figures": [frame, json.dumps(found.meta, sort_keys=True)]}))
"""
)
#: The hotspot maps timed from the grid cube and from the rows.
HOTSPOT_METHODS = ("gistar", "emerging")

_KDE_CHILD = (
    r"""
import json, sys, time
from geo_service.config import Settings
from geo_service.services import context, hotspots
from geo_service.services.options import HotspotOptions, ViewOptions
from geo_service.store import Store

"""
    + _ROWS_ONLY
    + r"""


root, what, how, layer = sys.argv[1:5]
store = Store(root)
seen = store if how.startswith("cube") else RowsOnly(store)
start = time.process_time()
if what == "page":
    groups = context.page_groups(Settings().groups(), context.store_summary(store).categories)
    group = context.resolve_group(groups, "All crime")
    opts = ViewOptions(period_end=store.months()[-1], layer=layer)
    drawn = hotspots.category_hotspots(seen, groups, group, opts)
    found = {m: getattr(drawn, m) for m in ("kde", "dbscan", "gistar", "emerging")}
else:
    opts = HotspotOptions(category="All crime", method=what, layer=layer)
    found = {what: hotspots.hotspot_map(seen, Settings().groups(), opts)}
cpu = time.process_time() - start
# every figure (floats to 9 significant digits: kernel sums in another order), the polygons,
# and the density surface whole
figures = {
    m: json.dumps([
        [f"{v:.9g}" if isinstance(v, float) else str(v) for v in row]
        for row in f.frame.drop(columns="geometry").astype(object).values.tolist()
    ] + [f.frame.geometry.to_wkt().tolist()])
    for m, f in found.items() if f is not None
}
kde = found.get("kde")
print(json.dumps({"cpu": cpu, "figures": figures,
                  "surface": None if kde is None else kde.surface.ravel().tolist()}))
"""
)

_X0, _Y0 = 500_000.0, 200_000.0


def _synthetic(root: Path, rows: int, *, months: int = MONTHS, seed: int = SEED) -> None:
    """A store of ``rows`` police.uk-style incidents over ``months`` months and 200 beats,
    ingested one month at a time (one version)."""
    import geopandas as gpd
    from shapely.geometry import box

    from geo_service import schema
    from geo_service.store import LayerInfo, Store

    cells = [(i, j) for j in range(10) for i in range(20)]
    beats = gpd.GeoDataFrame(
        {
            "code": [f"B{i:02d}{j}" for i, j in cells],
            "name": [f"Beat {i}-{j}" for i, j in cells],
            "parent": pd.array([None] * len(cells), dtype="str"),
            "population": np.full(len(cells), 5000.0),
            "households": np.full(len(cells), 2000.0),
        },
        geometry=[box(_X0 + i * 1000, _Y0 + j * 1000, _X0 + (i + 1) * 1000, _Y0 + (j + 1) * 1000)
                  for i, j in cells],
        crs=schema.CRS,
    )  # fmt: skip
    store = Store(root)
    store.write_layer("beat", beats, info=LayerInfo(path="synthetic"))
    rng = np.random.default_rng(seed)
    batches = (_month_batch(_month(m), rows // months, rng) for m in range(months))
    store.write_incident_batches(batches, kind="police-uk")


def _month(m: int) -> str:
    return f"{2018 + m // 12}-{m % 12 + 1:02d}"


def _month_batch(month: str, rows: int, rng: np.random.Generator) -> Any:
    """One month's file of synthetic rows, joined to the 1 km beats by arithmetic."""
    from geo_service import schema
    from geo_service.store import FileRecord
    from geo_service.store.write import IngestBatch

    x = rng.uniform(_X0 - 1000, _X0 + 21_000, rows)  # some outside every beat
    y = rng.uniform(_Y0, _Y0 + 10_000, rows)
    x[rng.random(rows) < 0.05] = np.nan
    categories = np.array(schema.POLICE_UK_CATEGORIES)
    frame = schema.conform(
        pd.DataFrame(
            {
                "incident_id": [f"s:{month}:{k}" for k in range(rows)],
                "source": "police_uk",
                "category": categories[rng.integers(0, len(categories), rows)],
                "month": month,
                "x": x,
                "y": y,
                "reported_by": "Synthetic Police",
                "source_file": f"{month}-street.csv",
                "source_line": np.arange(rows) + 2,
            }
        )
    )
    frame = _by_arithmetic(frame, {"beat": None})
    record = FileRecord(f"/in/{month}.csv", f"{month}-street.csv", "police_uk", f"sha-{month}",
                        rows, 0, 0, (month,))  # fmt: skip
    return IngestBatch(frame, (record,), pd.DataFrame({"file": [], "line": []}))


def _by_arithmetic(frame: pd.DataFrame, layers: Any) -> pd.DataFrame:
    """The synthetic layers' areas of each row by arithmetic (a stand-in join): the 1 km beats
    and, when stored, the district (the 4 x 2 km at the west end)."""
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    col, row = np.floor((x - _X0) / 1000), np.floor((y - _Y0) / 1000)
    inside = np.isfinite(x) & (col >= 0) & (col < 20)
    column = np.char.zfill(np.nan_to_num(col).astype(int).astype(str), 2)
    named = np.char.add(np.char.add("B", column), np.nan_to_num(row).astype(int).astype(str))
    out = frame.assign(area_beat=pd.array(np.where(inside, named, None), dtype="str"))
    if "district" in layers:
        district = inside & (col < 4) & (row < 2)
        out["area_district"] = pd.array(np.where(district, "D1", None), dtype="str")
    return out


def _add_district(root: Path) -> None:
    """A district of 8 beats (4 x 2 km) at the west end: one borough's layer over a store of
    a whole force, as a national store holds many forces."""
    import geopandas as gpd
    from shapely.geometry import box

    from geo_service import schema
    from geo_service.store import LayerInfo, Store

    district = gpd.GeoDataFrame(
        {"code": ["D1"], "name": ["District"], "parent": pd.array([None], dtype="str"),
         "population": [40_000.0], "households": [16_000.0]},
        geometry=[box(_X0, _Y0, _X0 + 4000, _Y0 + 2000)],
        crs=schema.CRS,
    )  # fmt: skip
    Store(root).write_layer(
        "district", district, info=LayerInfo(path="synthetic"), assign=_by_arithmetic
    )


def _child(root: Path, what: str, how: str, *, code: str = _CHILD, also: tuple[str, ...] = ()
           ) -> dict[str, Any]:  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", code, str(root), what, how, *also],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compare_hotspots(root: Path, runs: int, layer: str) -> dict[str, Any]:
    """Median CPU seconds of the Gi* (999 permutations) and emerging maps of All crime over the
    last 12 months, with their backtested accuracy, from the grid cube and from the rows.

    Each run starts without a kept accuracy (it is kept per version after the first map), so
    every run pays for the backtest as a first request does.
    """
    from geo_service.services.kept import ACCURACY_FILE
    from geo_service.store import Store
    from geo_service.store.layout import version_path

    version_dir = version_path(root, str(Store(root).version()))
    out: dict[str, Any] = {}
    for method in HOTSPOT_METHODS:
        timed: dict[str, list[float]] = {"cube": [], "rows": []}
        figures: dict[str, Any] = {}
        for _ in range(runs):
            for how in ("cube", "rows"):
                for kept in version_dir.glob(ACCURACY_FILE.format(key="*")):
                    kept.unlink()
                result = _child(root, method, how, code=_HOTSPOT_CHILD, also=(layer,))
                timed[how].append(result["cpu"])
                figures[how] = result["figures"]
        if figures["cube"] != figures["rows"]:
            raise AssertionError(f"{root}: the {method} map differs between the cube and the rows")
        out[method] = {how: round(statistics.median(v), 4) for how, v in timed.items()}
    return out


def _compare_kde(root: Path, runs: int, layer: str) -> dict[str, Any]:
    """Median CPU seconds of the kernel density map of All crime over the last 12 months, with
    its backtest: from the density cube when it must first be counted (the first map of a
    layer in a version), from the density cube kept, and from the rows; then the DBSCAN map and
    the category page's four maps (All crime, with the density map's backtest) from the kept
    cube and from the rows. Raises when a figure differs, or the kernel density surfaces by
    more than 1e-9 of the rows' peak (the order of the kernel sums)."""
    from geo_service.services.kept import ACCURACY_FILE
    from geo_service.services.kept_maps import HOTSPOTS_FILE
    from geo_service.store import Store
    from geo_service.store.grid_cube import DENSITY_CUBE_FILE
    from geo_service.store.layout import version_path

    version_dir = version_path(root, str(Store(root).version()))
    # what is timed: (map, read) in the order run; the first kde read counts the cube
    plan = {
        "cube, first": ("kde", "cube"), "cube, kept": ("kde", "cube"), "rows": ("kde", "rows"),
        "dbscan, cube": ("dbscan", "cube"), "dbscan, rows": ("dbscan", "rows"),
        "page, cube": ("page", "cube"), "page, rows": ("page", "rows"),
    }  # fmt: skip
    timed: dict[str, list[float]] = {how: [] for how in plan}
    found: dict[str, Any] = {}
    for _ in range(runs):
        (version_dir / DENSITY_CUBE_FILE.format(layer=layer)).unlink(missing_ok=True)
        for how in timed:
            for kept in [*version_dir.glob(ACCURACY_FILE.format(key="*")),
                         *version_dir.glob(HOTSPOTS_FILE.format(key="*"))]:  # fmt: skip
                kept.unlink()
            found[how] = _child(root, *plan[how], code=_KDE_CHILD, also=(layer,))
            timed[how].append(found[how]["cpu"])
    for cube, rows_key in (("cube, kept", "rows"), ("dbscan, cube", "dbscan, rows"),
                           ("page, cube", "page, rows")):  # fmt: skip
        if found[cube]["figures"] != found[rows_key]["figures"]:
            raise AssertionError(f"{root}: {cube} differs from the rows' map")
    rows = np.asarray(found["rows"]["surface"])
    error = float(np.abs(np.asarray(found["cube, kept"]["surface"]) - rows).max() / rows.max())
    if error > 1e-9:
        raise AssertionError(f"{root}: kde from the density cube is {error:.2e} of peak off")
    return {
        **{how: round(statistics.median(v), 4) for how, v in timed.items()},
        "max_error_of_peak": error,
    }


def _grid_cube_build(root: Path, rows: int | None) -> dict[str, Any]:
    """CPU seconds and file size of the grid cube: as kept (each layer at its automatic cell
    size), after one more month is published (``rows`` given: a synthetic store), and, for the
    choice of what to keep, counting every layer at all six standard cell sizes."""
    import pyarrow.parquet as pq

    from geo_service.analysis.grid import NICE_CELL_SIZES_M
    from geo_service.store import Store, grid_cube
    from geo_service.store.layout import version_path

    store = Store(root)
    version = str(store.version())
    path = version_path(root, version) / grid_cube.GRID_CUBE_FILE
    path.unlink(missing_ok=True)
    start = time.process_time()
    kept = grid_cube.stored_grid_cube(root, version, store.manifest())
    out: dict[str, Any] = {
        "whole_cpu_seconds": round(time.process_time() - start, 3),
        "rows": len(kept),
        "mb": round(path.stat().st_size / 1e6, 2),
        "lattices": grid_cube._file_lattices(path),
    }
    layers = store.layer_names()
    every = [(layer, size) for layer in layers for size in NICE_CELL_SIZES_M]
    start = time.process_time()
    pieces = [
        grid_cube._count_file(version_path(root, version), p, every, "")
        for p in store.manifest().partitions.values()
    ]
    all_sizes = grid_cube.combine(pieces)
    out["all_sizes_cpu_seconds"] = round(time.process_time() - start, 3)
    out["all_sizes_rows"] = all_sizes.num_rows
    with tempfile.TemporaryDirectory() as folder:
        written = Path(folder) / "all.parquet"
        pq.write_table(all_sizes.unify_dictionaries(), written)  # one dictionary per column
        out["all_sizes_mb"] = round(written.stat().st_size / 1e6, 2)
    out["incidents"] = sum(p.rows for p in store.manifest().partitions.values())
    if rows is not None:
        month = _month(MONTHS + 1)  # _cube_build added the month before
        batch = _month_batch(month, rows // MONTHS, np.random.default_rng(SEED + 2))
        store.write_incident_batches(iter([batch]), kind="police-uk")
        version = str(store.version())
        (version_path(root, version) / grid_cube.GRID_CUBE_FILE).unlink()
        start = time.process_time()
        grid_cube.stored_grid_cube(root, version, store.manifest())
        out["one_month_added_cpu_seconds"] = round(time.process_time() - start, 3)
    return out


def _compare(root: Path, runs: int) -> dict[str, Any]:
    """Median CPU seconds of change and summary from the cube and from the rows."""
    out: dict[str, Any] = {}
    for what in ("change", "summary"):
        timed: dict[str, list[float]] = {"cube": [], "rows": []}
        figures: dict[str, Any] = {}
        for _ in range(runs):
            for how in ("cube", "rows"):
                result = _child(root, what, how)
                timed[how].append(result["cpu"])
                figures[how] = result["figures"]
        if figures["cube"] != figures["rows"]:
            raise AssertionError(f"{root}: {what} differs between the cube and the rows")
        out[what] = {how: round(statistics.median(v), 4) for how, v in timed.items()}
    return out


def _cube_build(root: Path, rows: int) -> dict[str, float]:
    """CPU seconds counting the whole cube, then counting the next version's after one more
    month is published (the previous version's rows of the other months are reused)."""
    from geo_service.store import Store, cubes
    from geo_service.store.layout import version_path

    store = Store(root)
    version = str(store.version())
    (version_path(root, version) / cubes.CUBE_FILE).unlink()
    start = time.process_time()
    cubes.stored_cube(root, version, store.manifest())
    whole = time.process_time() - start
    batch = _month_batch(_month(MONTHS), rows // MONTHS, np.random.default_rng(SEED + 1))
    store.write_incident_batches(iter([batch]), kind="police-uk")
    version = str(store.version())
    (version_path(root, version) / cubes.CUBE_FILE).unlink()
    start = time.process_time()
    cubes.stored_cube(root, version, store.manifest())
    return {"whole_cube": round(whole, 3), "one_month_added": round(time.process_time() - start, 3)}


def table(stores: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per store: median CPU seconds of each command from the cube and from the rows."""
    return [
        {
            "store": name,
            "change, cube (s)": entry["change"]["cube"],
            "change, rows (s)": entry["change"]["rows"],
            "summary, cube (s)": entry["summary"]["cube"],
            "summary, rows (s)": entry["summary"]["rows"],
            "whole cube (s)": entry.get("cube_cpu_seconds", {}).get("whole_cube", ""),
            "cube after one month (s)": entry.get("cube_cpu_seconds", {}).get(
                "one_month_added", ""
            ),
        }
        for name, entry in stores.items()
    ]


def grid_table(stores: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per store: median CPU seconds of each hotspot map from the grid cube and rows."""
    return [
        {
            "store": name,
            "layer": layer,
            **{
                f"{method}, {how} (s)": timed[method][how]
                for method in HOTSPOT_METHODS
                for how in ("cube", "rows")
            },
        }
        for name, entry in stores.items()
        for layer, timed in entry.get("hotspots", {}).items()
    ]


def kde_table(stores: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per store and layer: the maps read from the density cube and from the rows."""
    return [
        {
            "store": name,
            "layer": layer,
            "kde, density cube counted first (s)": timed["cube, first"],
            "kde, density cube kept (s)": timed["cube, kept"],
            "kde, rows (s)": timed["rows"],
            "dbscan, density cube (s)": timed["dbscan, cube"],
            "dbscan, rows (s)": timed["dbscan, rows"],
            "category page, density cube (s)": timed["page, cube"],
            "category page, rows (s)": timed["page, rows"],
        }
        for name, entry in stores.items()
        for layer, timed in entry.get("kde", {}).items()
    ]


def grid_build_table(stores: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per store: the kept grid cube's size and counting CPU, against all six sizes."""
    return [
        {
            "store": name + (" + district" if key == "grid_cube_with_district" else ""),
            "incidents": grid["incidents"],
            "lattices kept": ", ".join(f"{a} {c:g} m" for a, c in grid["lattices"]),
            "cube rows": grid["rows"],
            "cube (MB)": grid["mb"],
            "counting (s)": grid["whole_cpu_seconds"],
            "after one month (s)": grid.get("one_month_added_cpu_seconds", ""),
            "all six sizes: rows": grid["all_sizes_rows"],
            "all six sizes (MB)": grid["all_sizes_mb"],
            "all six sizes: counting (s)": grid["all_sizes_cpu_seconds"],
        }
        for name, entry in stores.items()
        for key in ("grid_cube", "grid_cube_with_district")
        if (grid := entry.get(key))
    ]


def run(*, quick: bool) -> dict[str, Any]:
    """Build the synthetic stores, time both reads; raises when their figures differ."""
    sizes = (30_000, 300_000) if quick else (300_000, 3_000_000)
    runs = 3 if quick else 5
    result: dict[str, Any] = {"quick": quick, "runs": runs, "stores": {}}
    with tempfile.TemporaryDirectory(prefix="bench-cubes-") as folder:
        for rows in sizes:
            root = Path(folder) / f"s{rows}"
            start = time.process_time()
            _synthetic(root, rows)
            entry: dict[str, Any] = {"ingest_cpu_seconds": round(time.process_time() - start, 2)}
            entry.update(_compare(root, runs))
            entry["hotspots"] = {"beat": _compare_hotspots(root, runs, "beat")}
            entry["kde"] = {"beat": _compare_kde(root, runs, "beat")}
            entry["cube_cpu_seconds"] = _cube_build(root, rows)
            entry["grid_cube"] = _grid_cube_build(root, rows)
            _add_district(root)
            entry["hotspots"]["district"] = _compare_hotspots(root, runs, "district")
            entry["kde"]["district"] = _compare_kde(root, runs, "district")
            entry["grid_cube_with_district"] = _grid_cube_build(root, None)
            result["stores"][f"synthetic_{rows}"] = entry
            shutil.rmtree(root)
        herts = os.environ.get("GEO_SERVICE_HERTS_STORE")
        if herts and (Path(herts) / "CURRENT").is_file():
            copy = Path(folder) / "herts"
            shutil.copytree(herts, copy)
            _child(copy, "change", "cube")  # the copy's cube is counted once, as at ingest
            result["stores"]["herts"] = _compare(copy, runs)
            grid = _grid_cube_build(copy, None)  # counted once, as at ingest
            result["stores"]["herts"]["hotspots"] = {"ward": _compare_hotspots(copy, runs, "ward")}
            result["stores"]["herts"]["grid_cube"] = grid
            result["stores"]["herts"]["kde"] = {"ward": _compare_kde(copy, runs, "ward")}
    result["table"] = table(result["stores"])
    result["grid_table"] = grid_table(result["stores"])
    result["grid_build_table"] = grid_build_table(result["stores"])
    result["kde_table"] = kde_table(result["stores"])
    return finish(result, f"synthetic_{sizes[-1]}")


def finish(result: dict[str, Any], largest: str) -> dict[str, Any]:
    """``result`` with its headline CPU seconds, targets and which were met (quick: all)."""
    big = result["stores"][largest]
    result["cpu_seconds"] = {
        f"{what}_{how}_{largest}": big[what][how]
        for what in ("change", "summary")
        for how in ("cube", "rows")
    }
    result["targets"] = TARGETS
    result["targets_met"] = {
        "change_from_cube_3m_cpu_seconds_max": result["quick"]
        or big["change"]["cube"] <= TARGETS["change_from_cube_3m_cpu_seconds_max"],
        "summary_from_cube_3m_cpu_seconds_max": result["quick"]
        or big["summary"]["cube"] <= TARGETS["summary_from_cube_3m_cpu_seconds_max"],
    }
    return result
