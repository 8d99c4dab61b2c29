"""Kernel density and DBSCAN maps, hexagon maps, shifts, and the category page's four maps,
read from the density cube (a layer's incidents counted by their own location) are the maps
read from the rows.

Each row of the density cube stands for ``n`` incidents at one stored location. Counts per cell
are sums of whole numbers, so exactly the rows'. DBSCAN merges coincident points into distinct
locations sorted by x then y (:func:`geo_service.analysis.locations.distinct_locations`), so the
rows and the cube give it the same locations, weights and order: the same clusters. Kernel
density chooses its evaluation (exact or binned) by the incidents, not the points, so both make
the same choice, and the surfaces and the automatic bandwidth differ only by the order of their
sums (measured 3e-16 of peak on the Hertfordshire county layer); classes and hit rates are equal.
Checked feature by feature and figure by figure against the maps the same store gives from its
rows (:class:`RowsOnly`), on a synthetic store with unsnapped points and on the Hertfordshire
months, snapped to police.uk's map points (skipped when that store is not there).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geo_service.config import Settings
from geo_service.services import context, hotspots
from geo_service.services.options import HotspotOptions, ShiftOptions, ViewOptions
from geo_service.store import Store, grid_cube
from geo_service.store.layout import version_path
from tests.services.test_hotspot_grid_cube import CountingStore, maps, synthetic_store
from tests.stores import RowsOnly, herts_copy


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return synthetic_store(tmp_path_factory.mktemp("density-cube") / "store", seed=11)


def _rounded(value: Any) -> Any:
    """``value`` (JSON-ready meta) with every float to 9 significant digits (NaN as text, so
    it equals itself)."""
    if isinstance(value, float):
        return "nan" if value != value else float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal but for the order of sums: within 1e-9 of each value or 1e-12 of the largest
    (NaN where NaN)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = float(np.nanmax(np.abs(b), initial=0.0))
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=1e-12 * scale, equal_nan=True)


def _assert_identical(cubed: hotspots.HotspotMap | None, rows: hotspots.HotspotMap | None) -> None:
    """The same features, counts, classes, notes and grid; densities and the bandwidth equal
    but for the order of their sums (:func:`_close`, 9 significant digits in the meta)."""
    assert cubed is not None and rows is not None
    assert list(cubed.frame.columns) == list(rows.frame.columns)
    assert (cubed.frame.dtypes == rows.frame.dtypes).all()
    for column in cubed.frame.columns.drop("geometry"):
        got, want = cubed.frame[column], rows.frame[column]
        if pd.api.types.is_float_dtype(want):
            assert _close(got.to_numpy(), want.to_numpy()), column
        else:
            assert got.equals(want), column
    assert cubed.frame.geometry.geom_equals_exact(rows.frame.geometry, tolerance=0).all()
    # every figure of the meta (bandwidth, class breaks, hit rates, PAI)
    assert _rounded(cubed.meta) == _rounded(rows.meta)
    assert list(cubed.meta) == list(rows.meta)
    for array in ("surface", "previous_surface", "breaks"):
        a, b = getattr(cubed, array), getattr(rows, array)
        assert (a is None and b is None) or _close(a, b), array
    np.testing.assert_array_equal(cubed.grid.inside, rows.grid.inside)


def _page_group(store: Store, name: str) -> tuple[list[Any], Any]:
    """The category page's groups and its group ``name``, as the page resolves them."""
    groups = context.page_groups(Settings().groups(), context.store_summary(store).categories)
    return groups, context.resolve_group(groups, name)


@pytest.mark.parametrize(
    "opts",
    [
        HotspotOptions(category="Burglary", method="kde"),
        HotspotOptions(category="Burglary", method="kde", cell_m=123, months=3),
        HotspotOptions(category="Burglary", method="dbscan"),
        HotspotOptions(category="Burglary", method="dbscan", eps_m=150, min_samples=4),
        HotspotOptions(category="Burglary", method="gistar", hexagons=True, permutations=99),
        HotspotOptions(category="Burglary", method="emerging", hexagons=True),
        HotspotOptions(category="Burglary", method="hdbscan"),
        HotspotOptions(category="Burglary", method="gistar", areas=True, permutations=99),
    ],
    ids=lambda opts: f"{opts.method}-{opts.cell_m or opts.eps_m or ''}-{opts.hexagons}",
)
def test_maps_from_the_density_cube_are_the_rows_maps(store: Store, opts: HotspotOptions) -> None:
    before = CountingStore.reads
    cubed, rows = maps(store, opts)
    assert CountingStore.reads == before + 1  # the rows' map alone read the rows
    assert cubed.meta["incidents"] == rows.meta["incidents"] > 200
    assert len(cubed.frame) > 0 and cubed.meta["accuracy"] is not None
    _assert_identical(cubed, rows)
    kept = version_path(store.root, store.version()) / "cube_density_square.parquet"
    assert kept.is_file()


def test_the_category_page_reads_one_cube_and_draws_the_rows_maps(store: Store) -> None:
    groups, group = _page_group(store, "Burglary")
    opts = ViewOptions(period_end="2021-12", layer="square")
    before = CountingStore.reads
    cubed = hotspots.category_hotspots(store, groups, group, opts)
    assert CountingStore.reads == before  # no read of the rows
    rows = hotspots.category_hotspots(RowsOnly(store), groups, group, opts)
    for name in ("kde", "dbscan", "gistar", "emerging"):
        _assert_identical(getattr(cubed, name), getattr(rows, name))
    assert cubed.kde is not None and cubed.kde.accuracy is not None
    assert cubed.gistar is not None and (cubed.gistar.frame["bin"] == 3).any()
    assert len(cubed.clusters) > 0 and cubed.emerging is not None


def test_density_cube_rows_count_the_rows_by_hand(store: Store) -> None:
    cells = grid_cube.counted_cells(
        store, layer="square", cell_m=grid_cube.DENSITY_CELL_M, categories=["Burglary"],
        month_from="2021-01", month_to="2021-12", density=True,
    )  # fmt: skip
    assert cells is not None
    raw = store.incidents(month_from="2021-01", month_to="2021-12")
    raw = raw.loc[(raw["category"] == "Burglary") & raw["area_square"].notna() & raw["x"].notna()]
    by_hand = raw.groupby(["month", "x", "y"]).size()
    located = cells.loc[cells["x"].notna()]
    counted = located.astype({"month": str}).groupby(["month", "x", "y"])["n"].sum()
    pd.testing.assert_series_equal(counted.sort_index(), by_hand.sort_index(), check_names=False)
    assert int(located["n"].sum()) == len(raw) > 1000


def test_the_density_cube_is_counted_once_per_version(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    counted = grid_cube.count_partition
    monkeypatch.setattr(
        grid_cube, "count_partition", lambda *a, **k: calls.append(1) or counted(*a, **k)
    )
    opts = HotspotOptions(category="Burglary", method="kde", accuracy=False)
    hotspots.hotspot_map(store, Settings().groups(), opts)
    hotspots.hotspot_map(store, Settings().groups(), replace(opts, method="dbscan"))
    assert calls == []  # kept by the first test's map (or counted before this spy)


def test_hertfordshire_maps_from_the_density_cube(tmp_path: Path) -> None:
    store = herts_copy(tmp_path)
    for category in ("Burglary", "Anti-social behaviour", "Violence and sexual offences"):
        for method in ("kde", "dbscan", *(("hdbscan",) if category == "Burglary" else ())):
            opts = HotspotOptions(category=category, method=method, layer="ward", months=12)
            cubed, rows = maps(store, opts)
            _assert_identical(cubed, rows)
        by_area = HotspotOptions(category=category, method="gistar", areas=True, layer="ward",
                                 permutations=99)  # fmt: skip
        _assert_identical(*maps(store, by_area))
        groups, group = _page_group(store, category)
        opts_page = ViewOptions(period_end=store.months()[-1], layer="ward")
        cubed_page = hotspots.category_hotspots(store, groups, group, opts_page)
        rows_page = hotspots.category_hotspots(RowsOnly(store), groups, group, opts_page)
        for name in ("kde", "dbscan", "gistar", "emerging"):
            _assert_identical(getattr(cubed_page, name), getattr(rows_page, name))
        for cells in (False, True):
            shift = ShiftOptions(category=category, layer="ward", months=3, cells=cells)
            cubed_shifts = hotspots.shifts(store, groups, shift)
            rows_shifts = hotspots.shifts(RowsOnly(store), groups, shift)
            pd.testing.assert_frame_equal(
                pd.DataFrame(cubed_shifts.frame.drop(columns="geometry")),
                pd.DataFrame(rows_shifts.frame.drop(columns="geometry")),
                check_exact=True,
            )


@pytest.mark.parametrize(
    "opts",
    [
        ShiftOptions(category="Burglary", months=3),
        ShiftOptions(category="Burglary", months=6, against="year-earlier", cells=True),
        ShiftOptions(category="Burglary", months=3, hexagons=True),
    ],
    ids=["areas", "cells", "hexagons"],
)
def test_shifts_from_the_cubes_are_the_rows_shifts(store: Store, opts: ShiftOptions) -> None:
    groups = Settings().groups()
    before = CountingStore.reads
    cubed = hotspots.shifts(store, groups, opts)
    assert CountingStore.reads == before  # the area cube per area, the density cube per cell
    rows = hotspots.shifts(RowsOnly(store), groups, opts)
    pd.testing.assert_frame_equal(
        pd.DataFrame(cubed.frame.drop(columns="geometry")),
        pd.DataFrame(rows.frame.drop(columns="geometry")),
        check_exact=True,
    )
    assert cubed.frame.geometry.geom_equals_exact(rows.frame.geometry, tolerance=0).all()
    assert cubed.meta == rows.meta
    assert int(cubed.frame["current"].sum()) > 100
