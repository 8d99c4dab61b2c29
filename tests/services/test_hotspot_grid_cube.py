"""Gi* and emerging hot-spot maps read from the grid cube are identical to the maps read from rows.

A :class:`~geo_service.store.Store` hands the hotspot services its grid cube (counted cell
centres); the same store seen through :class:`RowsOnly` (not a Store) hands them its rows. The
features, z-scores, p-values, FDR bins, emerging classes, counts and backtested accuracy must be
equal - not close - on a synthetic store with points on and a hair either side of cell edges,
and on the real Hertfordshire months (skipped when that store is not there). Options the cube
does not carry read the rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo_service import schema
from geo_service.config import Settings
from geo_service.services import hotspots
from geo_service.services.options import HotspotOptions
from geo_service.store import FileRecord, LayerInfo, Store
from tests.stores import RowsOnly, herts_copy

NO_REJECTS = pd.DataFrame({"file": [], "line": []})
X0, Y0 = 500_000.0, 200_000.0
MONTHS = [f"{2020 + m // 12}-{m % 12 + 1:02d}" for m in range(24)]


class CountingStore(Store):
    """A store that counts the reads of its rows."""

    reads = 0

    def incidents(self, **kw: Any) -> pd.DataFrame:
        type(self).reads += 1
        return super().incidents(**kw)


def _squares() -> gpd.GeoDataFrame:
    """Four 5 km squares making a 10 km block (automatic cells: 100 m)."""
    corners = [(0, 0), (1, 0), (0, 1), (1, 1)]
    return gpd.GeoDataFrame(
        {"code": [f"S{i}{j}" for i, j in corners], "name": [f"{i}{j}" for i, j in corners],
         "parent": pd.array([None] * 4, "str"), "population": [1000.0] * 4,
         "households": [np.nan] * 4},
        geometry=[box(X0 + 5000 * i, Y0 + 5000 * j, X0 + 5000 * (i + 1), Y0 + 5000 * (j + 1))
                  for i, j in corners],
        crs=schema.CRS,
    )  # fmt: skip


def _assign(frame: pd.DataFrame, layers: Any) -> pd.DataFrame:
    """The squares by arithmetic (a stand-in join): nothing outside the block."""
    i = np.floor((frame["x"].to_numpy() - X0) / 5000)
    j = np.floor((frame["y"].to_numpy() - Y0) / 5000)
    ok = (i >= 0) & (i < 2) & (j >= 0) & (j < 2)
    codes = np.where(ok, np.char.add(np.char.add("S", np.nan_to_num(i).astype(int).astype(str)),
                                     np.nan_to_num(j).astype(int).astype(str)), None)  # fmt: skip
    return frame.assign(**{schema.area_column(n): pd.array(codes, dtype="str") for n in layers})


def _month_rows(month: str, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """Burglaries: a hot cluster that grows, a uniform scatter, and points on 100 m edges."""
    n_hot, n_flat, n_edge = 30 + 3 * k, 80, 60
    hot = rng.normal([X0 + 3000, Y0 + 6000], 250, (n_hot, 2))
    flat = rng.uniform([X0 - 500, Y0], [X0 + 10_500, Y0 + 10_000], (n_flat, 2))
    edge = X0 + 100.0 * rng.integers(20, 80, (n_edge, 2)) + [0, Y0 - X0]
    edge[::3, 0] = np.nextafter(edge[::3, 0], 0)  # a hair west of an edge
    edge[1::3, 1] = np.nextafter(edge[1::3, 1], np.inf)  # a hair north of one
    xy = np.vstack([hot, flat, edge])
    n = len(xy)
    frame = pd.DataFrame(
        {"incident_id": [f"{month}:{i}" for i in range(n)], "source": "police_uk",
         "category": np.where(rng.random(n) < 0.8, "Burglary", "Robbery"), "month": month,
         "x": xy[:, 0], "y": xy[:, 1], "source_file": f"{month}.csv",
         "source_line": np.arange(n) + 2, "reported_by": "Test Police"}
    )  # fmt: skip
    frame.loc[frame.index[-3:], "x"] = np.nan  # no location
    return _assign(schema.conform(frame), ["square"])


def synthetic_store(root: Path, seed: int) -> Store:
    """The squares and 24 months of :func:`_month_rows` (a :class:`CountingStore`)."""
    store = CountingStore(root)
    store.write_layer("square", _squares(), info=LayerInfo(path="squares"))
    rng = np.random.default_rng(seed)
    frame = pd.concat([_month_rows(m, k, rng) for k, m in enumerate(MONTHS)], ignore_index=True)
    record = FileRecord("/in/all.csv", "all.csv", "police_uk", "sha", len(frame), 0, 0,
                        tuple(MONTHS))  # fmt: skip
    store.write_incidents(frame, [record], rejects=NO_REJECTS, kind="police-uk")
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return synthetic_store(tmp_path_factory.mktemp("grid-cube") / "store", seed=7)


def maps(store: Store, opts: HotspotOptions) -> tuple[hotspots.HotspotMap, hotspots.HotspotMap]:
    """The map of ``opts`` from ``store`` (its cubes) and from its rows (:class:`RowsOnly`)."""
    groups = Settings().groups()
    return hotspots.hotspot_map(store, groups, opts), hotspots.hotspot_map(
        RowsOnly(store), groups, opts
    )


def _assert_identical(cubed: hotspots.HotspotMap, rows: hotspots.HotspotMap) -> None:
    pd.testing.assert_frame_equal(
        pd.DataFrame(cubed.frame), pd.DataFrame(rows.frame), check_exact=True
    )
    # every figure of the meta, the accuracy's hit rates and PAI included, to the last bit
    assert json.dumps(cubed.meta, sort_keys=True) == json.dumps(rows.meta, sort_keys=True)
    np.testing.assert_array_equal(cubed.grid.inside, rows.grid.inside)


@pytest.mark.parametrize("method", ["gistar", "emerging"])
def test_synthetic_maps_from_the_cube_are_the_rows_maps(store: Store, method: str) -> None:
    opts = HotspotOptions(category="Burglary", method=method, permutations=99, seed=3)
    before = CountingStore.reads
    cubed, rows = maps(store, opts)
    assert CountingStore.reads == before + 1  # the rows' map alone read the partitions
    assert cubed.meta["cell_m"] == 100.0 and cubed.meta["accuracy"] is not None
    _assert_identical(cubed, rows)
    if method == "gistar":
        assert (cubed.frame["bin"] == 3).sum() > 0 and (cubed.frame["p_sim"] < 1).all()
    else:
        assert len(cubed.frame) > 0


def test_a_cell_count_by_hand(store: Store) -> None:
    opts = HotspotOptions(category="Burglary", method="gistar", permutations=0, accuracy=False)
    cubed, _ = maps(store, opts)
    raw = store.incidents(month_from="2021-01", month_to="2021-12")
    raw = raw.loc[(raw["category"] == "Burglary") & raw["area_square"].notna()]
    busiest = cubed.frame.sort_values("count").iloc[-1]
    x0 = cubed.grid.x0 + busiest["col"] * 100.0
    y0 = cubed.grid.y0 + busiest["row"] * 100.0
    held = (raw["x"] >= x0) & (raw["x"] < x0 + 100) & (raw["y"] >= y0) & (raw["y"] < y0 + 100)
    assert busiest["count"] == held.sum() > 10
    assert int(cubed.frame["count"].sum()) == len(raw) == cubed.meta["incidents"]


@pytest.mark.parametrize(
    "opts",
    [
        HotspotOptions(category="Burglary", method="gistar", cell_m=120, accuracy=False),
        HotspotOptions(category="Burglary", method="gistar", cell_m=50, accuracy=False),
    ],
    ids=["odd-cell", "cell-not-kept"],
)
def test_what_the_cube_does_not_carry_reads_rows(store: Store, opts: HotspotOptions) -> None:
    before = CountingStore.reads
    hotspots.hotspot_map(store, Settings().groups(), opts)
    assert CountingStore.reads == before + 1


def test_kept_hertfordshire_store_maps_from_the_cube(tmp_path: Path) -> None:
    store = herts_copy(tmp_path)
    for method, category in [("gistar", "All crime"), ("emerging", "Anti-social behaviour"),
                             ("gistar", "Burglary")]:  # fmt: skip
        opts = HotspotOptions(category=category, method=method, layer="ward")
        cubed, rows = maps(store, opts)
        assert cubed.meta["cell_m"] == 500.0
        _assert_identical(cubed, rows)
