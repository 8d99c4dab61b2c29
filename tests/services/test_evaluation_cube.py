"""Backtests and patrol zones from the density cube: the same tables, zones and street names as
from the rows, resting on the incidents of the layer's areas (as the tables and maps count
them)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geo_service.config import Settings
from geo_service.services.evaluation import Evaluation, evaluate, forecast_backtest
from geo_service.services.options import EvaluateOptions
from geo_service.services.patrol import PatrolOptions, PatrolZones, patrol_zones
from geo_service.store import Store
from tests.services.test_hotspot_grid_cube import CountingStore, synthetic_store
from tests.stores import RowsOnly, herts_copy


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return synthetic_store(tmp_path_factory.mktemp("evaluation-cube") / "store", seed=5)


def _frames(result: Evaluation) -> dict[str, pd.DataFrame | None]:
    return {
        "table": result.table,
        "summary": result.summary,
        "forecast_table": result.forecast_table,
        "map_accuracy": result.map_accuracy,
    }


def _assert_same(cubed: Evaluation, rows: Evaluation) -> None:
    for name, frame in _frames(cubed).items():
        other = _frames(rows)[name]
        assert frame is not None and other is not None, name
        pd.testing.assert_frame_equal(frame, other, check_exact=True, obj=name)
    assert cubed.default == rows.default and cubed.best_method == rows.best_method
    assert (cubed.cell_m, cubed.first_origin, cubed.last_origin) == (
        rows.cell_m, rows.first_origin, rows.last_origin,
    )  # fmt: skip


def test_the_backtest_from_the_cube_is_the_rows_backtest(store: Store) -> None:
    opts = EvaluateOptions(category="Burglary", months=4)
    groups = Settings().groups()
    before = CountingStore.reads
    cubed = evaluate(store, groups, opts, with_map_kinds=True)
    assert CountingStore.reads == before  # no read of the rows
    rows = evaluate(RowsOnly(store), groups, opts, with_map_kinds=True)
    assert CountingStore.reads == before + 1
    _assert_same(cubed, rows)
    assert cubed.map_accuracy is not None
    assert {"kde", "dbscan", "hdbscan", "emerging"} <= set(cubed.map_accuracy["map_kind"])
    kept = forecast_backtest(store, groups, opts)
    assert kept.default == cubed.default
    pd.testing.assert_frame_equal(kept.forecast_summary, cubed.forecast_summary, check_exact=True)


def test_the_backtest_counts_the_incidents_of_the_layers_areas(store: Store) -> None:
    # each origin's target is the next month's burglaries inside a square, by plain pandas: the
    # scatter west of the squares (x < X0) is left out, as the tables and maps leave it out
    result = evaluate(store, Settings().groups(), EvaluateOptions(category="Burglary", months=4))
    raw = store.incidents(categories=["Burglary"])
    inside = raw.loc[raw["area_square"].notna() & raw["x"].notna()]
    outside = raw.loc[raw["area_square"].isna() & raw["x"].notna()]
    assert len(outside) > 100  # what the rows' backtest counted before
    totals = result.table.drop_duplicates("origin").set_index("origin")["total"]
    months = sorted(inside["month"].astype(str).unique())
    assert list(totals.index) == months[-5:-1]
    for origin, total in totals.items():
        target = months[months.index(str(origin)) + 1]
        assert total == int((inside["month"].astype(str) == target).sum()) > 150


def test_kept_hertfordshire_store_backtests_from_the_cube(tmp_path: Path) -> None:
    store = herts_copy(tmp_path)
    groups = Settings().groups()
    for category in ("Burglary", "Anti-social behaviour"):
        opts = EvaluateOptions(category=category, months=3, layer="ward")
        cubed = evaluate(store, groups, opts, with_map_kinds=category == "Burglary")
        rows = evaluate(RowsOnly(store), groups, opts, with_map_kinds=category == "Burglary")
        if category != "Burglary":
            assert cubed.map_accuracy is None and rows.map_accuracy is None
            cubed = Evaluation(**{**cubed.__dict__, "map_accuracy": pd.DataFrame()})
            rows = Evaluation(**{**rows.__dict__, "map_accuracy": pd.DataFrame()})
        _assert_same(cubed, rows)


def _zones_equal(cubed: PatrolZones, rows: PatrolZones) -> None:
    pd.testing.assert_frame_equal(
        pd.DataFrame(cubed.zones.drop(columns="geometry")),
        pd.DataFrame(rows.zones.drop(columns="geometry")),
        check_exact=True,
    )
    assert cubed.zones.geometry.geom_equals_exact(rows.zones.geometry, tolerance=0).all()
    assert cubed.meta() == rows.meta()


def test_patrol_zones_from_the_cube_are_the_rows_zones(store: Store) -> None:
    opts = PatrolOptions(category="Burglary")
    before = CountingStore.reads
    cubed = patrol_zones(store, Settings().groups(), opts)
    assert CountingStore.reads == before  # the streets' names too come from the cube
    rows = patrol_zones(RowsOnly(store), Settings().groups(), opts)
    assert len(cubed.zones) > 0
    _zones_equal(cubed, rows)


def test_kept_hertfordshire_patrol_zones_from_the_cube(tmp_path: Path) -> None:
    store = herts_copy(tmp_path)
    for category in ("Burglary", "Anti-social behaviour"):
        opts = PatrolOptions(category=category, layer="ward")
        cubed = patrol_zones(store, Settings().groups(), opts)
        rows = patrol_zones(RowsOnly(store), Settings().groups(), opts)
        _zones_equal(cubed, rows)
        # police.uk's "On or near" streets name the zones, from the cube's location text
        assert any(names for names in cubed.zones["names"]), category
