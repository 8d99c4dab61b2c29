"""Tests for the rolling-origin backtest: hit rate, PAI, oracle, baselines and prospective."""

from __future__ import annotations

import glob

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis.evaluation import (
    BACKTEST_COLUMNS,
    accuracy_for,
    backtest,
    best_method,
    coverage_curve,
    hit_rate_curve,
    hit_rate_table,
    summarise_backtest,
)
from geo_service.analysis.grid import Grid, grid_for
from geo_service.analysis.hotspot_methods import (
    History,
    default_bandwidths_m,
    default_methods,
    kde_method,
    recent_counts_method,
)
from geo_service.analysis.kde import kde_surface
from geo_service.errors import InputError
from geo_service.projection import to_bng

ALL_INSIDE = np.ones((4, 4), dtype=bool)


def grid4(inside: np.ndarray = ALL_INSIDE) -> Grid:
    """A 4 x 4 grid of 100 m cells from (0, 0)."""
    return Grid(x0=0.0, y0=0.0, cell_m=100.0, nx=4, ny=4, inside=inside)


def incidents(points: list[tuple[float, float, str]]) -> pd.DataFrame:
    """Canonical incidents from (x, y, month) triples."""
    frame = pd.DataFrame(points, columns=["x", "y", "month"])
    frame["incident_id"] = [f"t:{i}" for i in range(len(frame))]
    frame["category"] = "Burglary"
    return schema.conform(frame)


def test_hit_rate_and_pai_by_hand() -> None:
    scores = np.arange(16, dtype=float).reshape(4, 4)  # top cells: 15, 14, 13, 12 (last row)
    target = np.zeros((4, 4))
    target[3] = [2, 1, 0, 3]  # cells 12..15
    target[0, 0] = 10  # 10 + 6 = 16 incidents in all
    table = hit_rate_table(scores, target, ALL_INSIDE, coverages=(25, 10)).set_index("coverage")
    # 25 %: 4 cells (12..15) hold 2 + 1 + 0 + 3 = 6 of 16
    assert table.loc[25, "hits"] == 6
    assert table.loc[25, "hit_rate"] == pytest.approx(6 / 16)
    assert table.loc[25, "area_share"] == 0.25
    assert table.loc[25, "pai"] == pytest.approx(1.5)
    # the oracle picks cells with 10, 3, 2, 1
    assert table.loc[25, "oracle_hit_rate"] == pytest.approx(16 / 16)
    # 10 % of 16 cells = 1.6 -> 1 cell (15, with 3 incidents)
    assert table.loc[10, "area_share"] == 1 / 16
    assert table.loc[10, "hit_rate"] == pytest.approx(3 / 16)
    assert table.loc[10, "pai"] == pytest.approx(3.0)
    assert table.loc[10, "oracle_hit_rate"] == pytest.approx(10 / 16)


def test_tied_scores_take_expected_hits() -> None:
    scores = np.zeros((4, 4))
    scores[0, :3] = 5.0  # three tied top cells
    target = np.zeros((4, 4))
    target[0, :3] = [3, 0, 3]
    target[2, 2] = 2
    table = hit_rate_table(scores, target, ALL_INSIDE, coverages=(12.5, 25)).set_index("coverage")
    # 2 of the 3 tied cells: expected 2/3 of their 6 hits
    assert table.loc[12.5, "hits"] == pytest.approx(4.0)
    # 4 cells: all three tied (6) plus 1 of the 13 zero-score cells (expected 2/13)
    assert table.loc[25, "hits"] == pytest.approx(6 + 2 / 13)
    uniform = hit_rate_table(np.ones((4, 4)), target, ALL_INSIDE, coverages=(25,))
    assert uniform.loc[0, "hit_rate"] == pytest.approx(0.25)
    assert uniform.loc[0, "pai"] == pytest.approx(1.0)


def test_cells_outside_the_study_area_are_ignored() -> None:
    inside = ALL_INSIDE.copy()
    inside[3, 3] = False
    scores = np.arange(16, dtype=float).reshape(4, 4)
    target = np.zeros((4, 4))
    target[3, 3] = 100  # outside: neither selected nor counted
    target[3, 2] = 1
    target[0, 0] = 3
    table = hit_rate_table(scores, target, inside, coverages=(20,))
    assert table.loc[0, "total"] == 4
    assert table.loc[0, "area_share"] == pytest.approx(3 / 15)  # floor(0.2 * 15) = 3 cells
    assert table.loc[0, "hits"] == 1
    assert table.loc[0, "pai"] == pytest.approx((1 / 4) / (3 / 15))


def test_coverage_curve_runs_from_zero_to_everything() -> None:
    rng = np.random.default_rng(7)
    scores = rng.random((4, 4))
    target = rng.integers(0, 5, size=(4, 4)).astype(float)
    curve = coverage_curve(scores, target, ALL_INSIDE, step_pct=25)
    assert curve["coverage"].tolist() == [0, 25, 50, 75, 100]
    assert curve["hit_rate"].iloc[0] == 0 and curve["hit_rate"].iloc[-1] == pytest.approx(1)
    assert np.all(np.diff(curve["hit_rate"]) >= 0)
    assert np.all(curve["oracle_hit_rate"] >= curve["hit_rate"] - 1e-12)


def test_backtest_rows_and_no_leakage() -> None:
    grid = grid4()
    points = [(50, 50, "2021-01"), (50, 50, "2021-02"), (350, 350, "2021-03"), (50, 50, "2021-04")]
    points += [(150, 150, "2021-04"), (50, 50, "2021-05")]
    seen: list[str] = []

    def spy(history: History) -> np.ndarray:
        seen.append(history.origin)
        assert history.months[-1] == history.origin
        return history.monthly_counts.sum(axis=0).astype(float)

    table = backtest(
        incidents(points),
        grid,
        methods={"all-past": spy},
        first_origin="2021-02",
        last_origin="2021-03",
        horizon_months=2,
        coverages=(10,),
    )
    assert list(table.columns) == list(BACKTEST_COLUMNS)
    assert seen == ["2021-02", "2021-03"]
    rows = table.set_index("origin")
    # origin 2021-02: past = cell (0,0) x2; targets 2021-03..04 = 3 incidents, 1 in cell (0,0)
    assert rows.loc["2021-02", "total"] == 3 and rows.loc["2021-02", "hits"] == 1
    # origin 2021-03: targets 2021-04..05 = 3 incidents, 2 in cell (0,0), the top past cell
    assert rows.loc["2021-03", "hits"] == 2
    assert rows.loc["2021-03", "oracle_hit_rate"] == pytest.approx(2 / 3)


def test_summary_best_method_and_accuracy() -> None:
    table = pd.DataFrame(
        {
            "method": ["a", "a", "b", "b"],
            "origin": ["2021-01", "2021-02", "2021-01", "2021-02"],
            "coverage": [5.0] * 4,
            "hits": [1.0, 3.0, 2.0, 2.0],
            "total": [4.0, 4.0, 4.0, 4.0],
            "hit_rate": [0.25, 0.75, 0.5, 0.5],
            "area_share": [0.05] * 4,
            "pai": [5.0, 15.0, 10.0, 10.0],
            "oracle_hit_rate": [1.0] * 4,
        }
    )
    summary = summarise_backtest(table)
    assert summary["hit_rate"].tolist() == [0.5, 0.5] and summary["method"].tolist() == ["a", "b"]
    assert summary["pai"].tolist() == [10.0, 10.0]
    assert best_method(summary, coverage=5) == "a"  # tie: first name
    with pytest.raises(InputError, match="coverage 10"):
        best_method(summary, coverage=10)
    grid = grid4()
    points = [(50, 50, f"2021-{m:02d}") for m in range(1, 8)] + [(350, 350, "2021-07")]
    accuracy = accuracy_for(
        incidents(points), grid, method="previous-month", last_month="2021-07", months=3
    )
    # origins 2021-04..06; each next month has its incident in cell (0, 0) = last month's cell
    assert (accuracy.first_origin, accuracy.last_origin, accuracy.origins) == (
        "2021-04",
        "2021-06",
        3,
    )
    assert accuracy.hit_rate == pytest.approx((1 + 1 + 0.5) / 3)
    assert "at 5 % of area over the last 3 months" in accuracy.statement()


def test_hit_rate_curve_over_a_backtest() -> None:
    grid = grid4()
    points = [(50, 50, "2021-01"), (350, 350, "2021-02"), (50, 50, "2021-02"), (50, 50, "2021-03")]
    table = backtest(
        incidents(points),
        grid,
        methods={"last": recent_counts_method(months=1)},
        first_origin="2021-01",
        last_origin="2021-02",
        coverages=range(0, 101, 25),
    )
    curve = hit_rate_curve(summarise_backtest(table)).set_index("coverage")
    assert list(curve.columns) == ["last", "oracle"]
    assert curve.loc[0.0].tolist() == [0.0, 0.0]
    assert curve.loc[100.0].tolist() == [1.0, 1.0]
    # 25 % = 4 cells. Origin 01 scores cell 0 only: it and 3 of the 15 tied zero cells, so of
    # 02's two incidents 1 + 3/15 are expected hits (0.6). Origin 02 (cells 0 and 15, then 2 of
    # 14 zero cells) catches 03's one incident in cell 0: 1. Oracle: 1 at both.
    assert curve.loc[25.0, "last"] == pytest.approx((0.6 + 1.0) / 2)
    assert curve.loc[25.0, "oracle"] == 1.0


def test_bad_arguments() -> None:
    grid = grid4()
    frame = incidents([(50, 50, "2021-01")])
    methods = default_methods()
    with pytest.raises(InputError, match="before first origin"):
        backtest(frame, grid, methods=methods, first_origin="2021-03", last_origin="2021-02")
    with pytest.raises(InputError, match="YYYY-MM"):
        backtest(frame, grid, methods=methods, first_origin="March", last_origin="2021-02")
    with pytest.raises(InputError, match="'flat' returned scores of shape"):
        backtest(
            frame,
            grid,
            methods={"flat": lambda history: np.ones(16)},
            first_origin="2021-01",
            last_origin="2021-01",
        )
    with pytest.raises(InputError, match="coverages"):
        hit_rate_table(np.ones((4, 4)), np.ones((4, 4)), ALL_INSIDE, coverages=(150,))
    assert default_bandwidths_m(100) == (250, 500, 1000)
    assert default_bandwidths_m(500) == (500, 1000, 2000)


# --- real data: Hertfordshire police.uk, 13 months -------------------------------------------


@pytest.fixture(scope="module")
def hertfordshire(shared_data) -> tuple[pd.DataFrame, np.ndarray, gpd.GeoDataFrame]:
    files = sorted(glob.glob(str(shared_data / "police-uk-hertfordshire-street" / "*.csv.gz")))
    raw = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    x, y = to_bng(raw["Longitude"].to_numpy(), raw["Latitude"].to_numpy())
    frame = pd.DataFrame({"x": x, "y": y, "month": raw["Month"], "category": raw["Crime type"]})
    frame["incident_id"] = "police_uk:" + pd.Series(np.arange(len(raw))).astype(str)
    dacorum = raw["LSOA name"].fillna("").str.startswith("Dacorum").to_numpy()
    wards_path = shared_data / "ons-boundaries-uk-geojson" / "dacorum" / "dacorum_wards.geojson"
    wards = gpd.read_file(wards_path).to_crs(schema.CRS)
    return schema.conform(frame), dacorum, wards


def _reference_hit_rate(frame: pd.DataFrame, grid: Grid, scores: np.ndarray, k: int) -> float:
    """Top-k cells by score against target counts from a plain pandas groupby."""
    col = ((frame["x"] - grid.x0) // grid.cell_m).astype(int)
    row = ((frame["y"] - grid.y0) // grid.cell_m).astype(int)
    ok = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
    cells = (row[ok] * grid.nx + col[ok]).to_numpy()
    cells = cells[grid.inside.ravel()[cells]]
    counts = pd.Series(cells).value_counts()
    ranked = pd.Series(scores.ravel()).where(grid.inside.ravel()).dropna()
    top = ranked.sort_values(ascending=False).index[:k]
    assert ranked.sort_values(ascending=False).iloc[k - 1] > ranked.sort_values().iloc[0]
    return counts.reindex(top, fill_value=0).sum() / counts.sum()


@pytest.mark.realdata
@pytest.mark.parametrize("category", ["Burglary", "Anti-social behaviour"])
def test_dacorum_backtest_matches_a_pandas_reference(hertfordshire, category) -> None:
    frame, dacorum, wards = hertfordshire
    grid = grid_for(wards, cell_m=200.0)
    subset = frame[dacorum & frame["category"].eq(category).to_numpy()]
    methods = {"kde-500m": kde_method(bandwidth_m=500.0)}
    methods |= {"previous-12-months": recent_counts_method(months=12)}
    table = backtest(subset, grid, methods=methods, first_origin="2021-10", last_origin="2021-12")
    assert len(table) == 2 * 3 * 3
    assert (table["hit_rate"] <= table["oracle_hit_rate"] + 1e-12).all()
    np.testing.assert_allclose(table["pai"], table["hit_rate"] / table["area_share"])
    row = table.query("method == 'kde-500m' and origin == '2021-12' and coverage == 5").iloc[0]
    past = subset[subset["month"] <= "2021-12"]
    scores = kde_surface(past["x"], past["y"], grid, bandwidth_m=500.0)
    k = int(np.floor(0.05 * grid.inside.sum()))
    expected = _reference_hit_rate(subset[subset["month"] == "2022-01"], grid, scores, k)
    assert row["hit_rate"] == pytest.approx(expected)
    # the map beats chance (PAI 1) by a wide margin on real data
    assert table.query("coverage == 5")["pai"].mean() > 4


@pytest.mark.realdata
def test_county_backtest_runs_for_two_categories(hertfordshire, shared_data) -> None:
    frame, _, _ = hertfordshire
    folder = shared_data / "ons-boundaries-uk-geojson" / "hertfordshire" / "wards"
    wards = pd.concat([gpd.read_file(path) for path in sorted(folder.glob("*.geojson"))])
    grid = grid_for(wards.to_crs(schema.CRS), cell_m=500.0)
    for category in ("Vehicle crime", "Violence and sexual offences"):
        subset = frame[frame["category"].eq(category).to_numpy()]
        table = backtest(
            subset,
            grid,
            methods=default_methods(cell_m=500.0),
            first_origin="2021-11",
            last_origin="2021-12",
        )
        summary = summarise_backtest(table)
        assert set(summary["method"]) == {
            "kde-500m",
            "kde-1000m",
            "kde-2000m",
            "previous-month",
            "previous-12-months",
            "prospective",
            "gistar",
        }
        at5 = summary[summary["coverage"] == 5]
        assert (at5["pai"] > 3).all()
        assert best_method(summary) in set(at5["method"])


def test_incident_history_counts_each_month_and_cell_as_pandas_does() -> None:
    from shapely.geometry import box

    from geo_service.analysis.evaluation import incident_history

    rng = np.random.default_rng(4)
    grid = grid_for(box(0, 0, 1000, 800), cell_m=100)
    months = [f"2021-{m:02d}" for m in range(1, 7)]
    frame = pd.DataFrame(
        {"month": rng.choice([*months, "2020-12"], 600), "x": rng.uniform(-50, 1050, 600),
         "y": rng.uniform(0, 800, 600)}
    )  # fmt: skip
    frame.loc[:4, "x"] = np.nan  # unlocated: left out
    counted = frame.assign(n=rng.integers(1, 4, 600))
    for rows, weight in ((frame, None), (counted, "n")):
        history = incident_history(rows, grid, first_month="2021-01", last_month="2021-06")
        assert history.months == tuple(months)
        inside = rows.loc[rows["month"].isin(months) & rows["x"].between(0, 1000, "left")]
        col = (inside["x"] // 100).astype(int)
        row = (inside["y"] // 100).astype(int)
        by_hand = (
            inside.assign(m=inside["month"].map(months.index), c=col, r=row)
            .groupby(["m", "r", "c"])[weight or "x"]
            .agg("sum" if weight else "size")
        )
        got = history.monthly_counts
        assert int(got.sum()) == int(by_hand.sum()) > 300
        for (m, r, c), value in by_hand.items():
            assert got[m, r, c] == value
        located = rows.loc[rows["month"].isin(months) & rows["x"].notna()]
        assert len(history.x) == len(located)  # off-grid points kept, as the methods see them
        assert np.all(np.diff(history.month_index) >= 0)
