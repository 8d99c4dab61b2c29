"""Tests for the accuracy of every map kind beside the naive baselines at the same area."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo_service import schema
from geo_service.analysis.evaluation import (
    accuracy_for,
    cell_areas,
    map_accuracy_for,
    map_kind_backtest,
    map_kinds,
    summarise_map_kinds,
)
from geo_service.analysis.grid import Grid
from geo_service.analysis.hotspot_methods import History

GRID = Grid(x0=0.0, y0=0.0, cell_m=100.0, nx=4, ny=4, inside=np.ones((4, 4), dtype=bool))


def incidents(points: list[tuple[float, float, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(points, columns=["x", "y", "month"])
    frame["incident_id"] = [f"t:{i}" for i in range(len(frame))]
    frame["category"] = "Burglary"
    return schema.conform(frame)


# cell (row, col) centre: (100 col + 50, 100 row + 50)
POINTS = (
    [(50, 50, "2021-01")] * 3  # cell (0,0) x3 in January
    + [(350, 350, "2021-01")]  # cell (3,3)
    + [(150, 50, "2021-02")] * 2  # cell (0,1) x2 in February (the origin of the 2nd row)
    + [(50, 50, "2021-02"), (250, 250, "2021-03"), (50, 50, "2021-03")]
    + [(150, 50, "2021-03"), (350, 350, "2021-03")]
)


def two_cells(history: History) -> np.ndarray:
    """A map marking cells (0, 1) and (2, 2) whatever happened."""
    score = np.zeros(history.grid.shape)
    score[0, 1] = score[2, 2] = 1.0
    return score


def test_map_kind_hit_rate_and_baselines_by_hand() -> None:
    table = map_kind_backtest(
        incidents(POINTS), GRID, kinds={"marked": two_cells},
        first_origin="2021-02", last_origin="2021-02",
    )  # fmt: skip
    row = table.iloc[0]
    # target March: (2,2), (0,0), (0,1), (3,3): 4 incidents; marked cells hold (2,2) and (0,1)
    assert row["cells"] == 2 and row["area_share"] == pytest.approx(2 / 16)
    assert row["hit_rate"] == pytest.approx(2 / 4)
    assert row["pai"] == pytest.approx(0.5 / 0.125)
    # previous 12 months at 2 cells: (0,0) has 4, (0,1) has 2 -> March hits 1 + 1 = 2
    assert row["previous-12-months_hit_rate"] == pytest.approx(2 / 4)
    # previous month (February) at 2 cells: (0,1) 2, (0,0) 1 -> hits 1 + 1
    assert row["previous-month_hit_rate"] == pytest.approx(2 / 4)
    summary = summarise_map_kinds(table).iloc[0]
    assert summary["baseline"] == "previous-12-months"
    assert summary["baseline_pai"] == pytest.approx(4.0)
    assert not summary["beats_baseline"]


def test_baseline_ties_at_the_same_area_are_fair() -> None:
    # January origin: previous month (0,0) 3, (3,3) 1, then 14 tied zero cells
    table = map_kind_backtest(
        incidents(POINTS), GRID, kinds={"marked": two_cells},
        first_origin="2021-01", last_origin="2021-01",
    )  # fmt: skip
    row = table.iloc[0]
    # February target: (0,1) x2, (0,0) x1; marked (0,1) and (2,2) -> 2 of 3
    assert row["hit_rate"] == pytest.approx(2 / 3)
    # baseline's 2 cells: (0,0) and (3,3) -> 1 of 3
    assert row["previous-month_hit_rate"] == pytest.approx(1 / 3)


def test_map_accuracy_for_reports_the_marked_share_and_baseline() -> None:
    accuracy = map_accuracy_for(
        incidents(POINTS), GRID, kind="marked", method=two_cells, last_month="2021-03", months=2
    )
    assert accuracy.coverage == pytest.approx(12.5)
    assert accuracy.hit_rate == pytest.approx((2 / 3 + 2 / 4) / 2)
    assert accuracy.baseline == "previous-12-months"
    assert accuracy.baseline_hit_rate == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert "best naive baseline" in accuracy.with_baseline()


def test_accuracy_for_carries_the_best_baseline() -> None:
    accuracy = accuracy_for(
        incidents(POINTS), GRID, method="prospective", last_month="2021-03", months=2,
        coverage=25,
    )  # fmt: skip
    # 25 % = 4 cells. January origin, both baselines: (0,0) 3, (3,3) 1, then 2 of 14 tied
    # zeros: February (0,0) 1 + 2 * 2/14 of (0,1)'s 2 ... = (1 + 2 * 2 / 14) / 3
    jan = (1 + 2 * 2 / 14) / 3
    # February origin, previous 12: (0,0) 4, (0,1) 2, (3,3) 1, then 1 of 13 zeros -> March
    # (0,0) 1 + (0,1) 1 + (3,3) 1 + (2,2) 1/13
    feb12 = (3 + 1 / 13) / 4
    assert accuracy.baseline == "previous-12-months"
    assert accuracy.baseline_hit_rate == pytest.approx((jan + feb12) / 2)
    assert accuracy.with_baseline().endswith(f"{100 * accuracy.baseline_hit_rate:.0f} %)")


def test_cell_areas_by_hand() -> None:
    layer = gpd.GeoDataFrame(
        {"code": ["W", "E"], "name": ["w", "e"]},
        geometry=[box(0, 0, 200, 400), box(200, 0, 400, 200)],
        crs=27700,
    )
    index = cell_areas(GRID, layer).reshape(4, 4)
    assert (index[:, :2] == 0).all()
    assert (index[:2, 2:] == 1).all()
    assert (index[2:, 2:] == -1).all()


def test_every_map_kind_is_scored_beside_a_baseline() -> None:
    rng = np.random.default_rng(5)
    grid = Grid(x0=0.0, y0=0.0, cell_m=100.0, nx=20, ny=20, inside=np.ones((20, 20), bool))
    centres = np.array([[500.0, 500.0], [1500.0, 1400.0]])
    points = []
    for month in range(1, 13):
        for _ in range(60):
            cx, cy = centres[rng.integers(0, 2)]
            points.append((cx + rng.normal(0, 120), cy + rng.normal(0, 120), f"2021-{month:02d}"))
    layer = gpd.GeoDataFrame(
        {"code": [f"A{i}" for i in range(4)], "name": list("abcd")},
        geometry=[box(x, y, x + 1000, y + 1000) for x in (0, 1000) for y in (0, 1000)],
        crs=27700,
    )
    table = map_kind_backtest(
        incidents(points), grid, kinds=map_kinds(grid, areas=layer),
        first_origin="2021-09", last_origin="2021-11",
    )  # fmt: skip
    summary = summarise_map_kinds(table).set_index("map_kind")
    assert set(summary.index) == {
        "kde", "gistar-cells", "gistar-areas", "dbscan", "hdbscan", "emerging",
    }  # fmt: skip
    assert summary.loc["kde", "area_share"] == pytest.approx(20 / 400)
    marked = summary[summary["origins"] > 0]
    assert {"kde", "gistar-cells", "dbscan", "hdbscan"} <= set(marked.index)
    assert marked["baseline_hit_rate"].notna().all()
    # a map that marked nothing at any origin has no rate to compare, rather than 0 %
    assert summary.loc[summary["origins"] == 0, "hit_rate"].isna().all()
    # two tight hotspots: the density map's top 5 % catches far more than 5 % of incidents
    assert summary.loc["kde", "hit_rate"] > 0.3
