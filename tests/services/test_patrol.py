"""Patrol zones: the selected share of cells, zones as connected cells, counts checked against a
plain point-in-polygon count, the zones' cells against the chosen forecast candidate run on a
history counted by hand, the statement's figures against the forecast backtest's rows."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_service.analysis.forecast import bandwidth_of, describe, forecast_candidates
from geo_service.analysis.grid import grid_for
from geo_service.analysis.hotspot_methods import History
from geo_service.config import Settings
from geo_service.errors import InputError, NotFoundError
from geo_service.reference import add_reference, names_within, read_reference
from geo_service.services.evaluation import evaluate
from geo_service.services.options import EvaluateOptions
from geo_service.services.patrol import PatrolOptions, area_of, patrol_zones
from tests.web.conftest import MONTHS, X0, Y0, MemoryStore, beats, incidents


@pytest.fixture(scope="module")
def store() -> MemoryStore:
    return MemoryStore(incidents(), {"beat": beats()})


@pytest.fixture(scope="module")
def groups():
    return Settings().groups()


@pytest.fixture(scope="module")
def burglary(store, groups):
    return patrol_zones(store, groups, PatrolOptions(category="Burglary", cell_m=100.0))


def test_zones_cover_the_asked_share_of_cells(burglary) -> None:
    # 2 km x 2 km of 100 m cells: 400 inside, 5 % = 20 cells.
    assert burglary.zones["cells"].sum() == 20
    assert burglary.area_share == pytest.approx(0.05)
    assert burglary.levels["area_share"].tolist() == pytest.approx([0.01, 0.05, 0.10])
    assert burglary.zones["area_km2"].sum() == pytest.approx(0.20)
    assert burglary.zones["zone"].tolist() == list(range(1, len(burglary.zones) + 1))
    assert (np.diff(burglary.zones["forecast"]) <= 0).all()


def test_zones_are_separate_connected_pieces(burglary) -> None:
    shapes = list(burglary.zones.geometry)
    # One piece each (cells touching at a corner count as touching: joined by a tiny buffer) ...
    assert all(s.buffer(0.01).geom_type == "Polygon" for s in shapes)
    # ... and no two zones touch, not even at a corner.
    assert all(a.distance(b) > 0 for i, a in enumerate(shapes) for b in shapes[i + 1 :])


def test_zone_counts_equal_a_point_in_polygon_count(burglary) -> None:
    frame = incidents()
    burglaries = frame[(frame["category"] == "Burglary") & frame["x"].notna()]
    points = gpd.GeoSeries(gpd.points_from_xy(burglaries["x"], burglaries["y"]), crs="EPSG:27700")
    months = burglaries["month"].to_numpy()
    for zone in burglary.zones.itertuples():
        inside = points.within(zone.geometry).to_numpy()
        assert zone.last_month == int((inside & (months == MONTHS[-1])).sum())
        assert zone.last_year == int((inside & np.isin(months, MONTHS[-12:])).sum())
    # The burglaries cluster around (X0+200, Y0+300): zone 1 holds that point.
    assert burglary.zones.geometry.iloc[0].contains(shapely.Point(X0 + 200, Y0 + 300))
    assert burglary.zones["areas"].iloc[0].startswith("Town <b>Centre</b>")
    # No roads layer here: the zone is named from its incidents' location texts.
    assert burglary.zones["names"].iloc[0] == ("High Street",)


@pytest.fixture(scope="module")
def burglary_evaluation(store, groups):
    return evaluate(
        store,
        groups,
        EvaluateOptions(category="Burglary", coverages=(1.0, 5.0, 10.0), cell_m=100.0),
    )


def test_statement_figures_are_the_forecast_backtest(burglary, burglary_evaluation) -> None:
    evaluation = burglary_evaluation
    default = evaluation.default
    assert default is not None and default.method == "forecast"
    assert burglary.method == default.map_method == "blend-h12-a0.2"
    # The nested choice's row of the forecast backtest, recomputed from its per-origin rows.
    table = evaluation.forecast_table
    rows = table[(table["method"] == "forecast") & (table["coverage"] == 5.0)]
    assert len(rows) == burglary.origins == 12
    assert burglary.hit_rate == pytest.approx(rows["hit_rate"].mean())
    assert burglary.pai == pytest.approx(rows["pai"].mean())
    assert burglary.hit_rate == pytest.approx(default.hit_rate)
    # Beside it, the better of the two naive baselines at 5 %.
    base = table[table["method"].isin(["previous-12-months", "previous-month"])]
    means = base[base["coverage"] == 5.0].groupby("method")["hit_rate"].mean()
    assert burglary.baseline == means.idxmax()
    assert burglary.baseline_hit_rate == pytest.approx(means.max())
    assert burglary.hit_rate > burglary.baseline_hit_rate
    assert burglary.forecast_month == "2013-08" and burglary.last_month == "2013-07"
    text = burglary.statement()
    assert f"held {100 * burglary.hit_rate:.0f} % of each month's incidents" in text
    assert "a map drawn at random would hold 5 %" in text
    assert f"Last year's counts alone would have held {100 * means.max():.0f} %." in text
    assert burglary.method_text == (
        "counts per 100 m cell over the past 12 months, recent months weighted more "
        "(half-life 12 months), blended with a 250 m kernel (kernel share 20 %)"
    )
    assert burglary.bandwidth_m == 250.0
    assert burglary.how_made().startswith("Counts per 100 m cell over the past 12 months")


def _history_by_hand(frame: pd.DataFrame, category: str, cell_m: float) -> History:
    """The 24 months to 2013-07 of one category counted on the beats' grid with numpy."""
    grid = grid_for(beats(), cell_m=cell_m)
    rows = frame[(frame["category"] == category) & frame["x"].notna()]
    cube = np.zeros((24, grid.ny, grid.nx))
    for m, month in enumerate(MONTHS):
        at = rows[rows["month"] == month]
        col = np.floor((at["x"].to_numpy() - grid.x0) / cell_m).astype(int)
        row = np.floor((at["y"].to_numpy() - grid.y0) / cell_m).astype(int)
        ok = (col >= 0) & (col < grid.nx) & (row >= 0) & (row < grid.ny)
        np.add.at(cube[m], (row[ok], col[ok]), 1)
    return History(grid, tuple(MONTHS), cube, rows["x"].to_numpy(), rows["y"].to_numpy(),
                   np.array([MONTHS.index(m) for m in rows["month"]]))  # fmt: skip


def test_zone_cells_are_the_top_cells_of_the_chosen_candidate(burglary) -> None:
    history = _history_by_hand(incidents(), "Burglary", 100.0)
    scores = forecast_candidates(cell_m=100.0)[burglary.method](history)
    inside = scores[history.grid.inside]
    kth = np.sort(inside)[::-1][19]  # 20 cells = 5 % of the 400 inside
    # The cells the zones cover, by their centres.
    grid = history.grid
    centres = gpd.GeoSeries(gpd.points_from_xy(
        grid.x0 + (np.arange(grid.nx * grid.ny) % grid.nx + 0.5) * grid.cell_m,
        grid.y0 + (np.arange(grid.nx * grid.ny) // grid.nx + 0.5) * grid.cell_m,
    ), crs="EPSG:27700")  # fmt: skip
    covered = centres.within(shapely.union_all(burglary.zones.geometry.to_numpy()))
    covered = covered.to_numpy().reshape(grid.shape)
    assert covered.sum() == 20
    # Every outlined cell scores at least the 20th best; every other inside cell at most.
    assert (scores[covered] >= kth).all()
    assert (scores[grid.inside & ~covered] <= kth).all()
    # The zones' forecasts are those cells' scores summed.
    assert burglary.zones["forecast"].sum() == pytest.approx(scores[covered].sum())


def test_a_baseline_default_is_said_plainly(burglary) -> None:
    as_baseline = replace(burglary, method="previous-12-months",
                          method_text="last 12 months' counts per 100 m cell")  # fmt: skip
    text = as_baseline.statement()
    assert text.startswith(
        "No smoothing method beat last year's counts for Burglary in back-tests, so these zones "
        "are last year's counts per cell. These "
    )
    assert "alone would have held" not in text
    assert "no smoothing method" in as_baseline.how_made()


def test_within_keeps_zones_touching_the_area(store, burglary) -> None:
    d2b = area_of(store, "beat", "D2B")
    found = burglary.within(d2b)
    assert all(g.intersects(d2b.geometry.iloc[0]) for g in found.zones.geometry)
    assert found.zones["zone"].tolist() == list(range(1, len(found.zones) + 1))
    # the area is named, and the back-tested share is said to be the whole study area's
    assert burglary.focus is None and found.focus == "Ashridge (D2B)"
    statement = found.statement()
    assert statement.startswith(f"{len(found.zones)} of the zones touch Ashridge (D2B).")
    assert "Across the whole study area the zones, 5 % of its area, held" in statement
    with pytest.raises(NotFoundError, match="no area 'XX'"):
        area_of(store, "beat", "XX")


def test_coverage_outside_the_offer_is_refused(store, groups) -> None:
    with pytest.raises(InputError, match="expected one of 1, 5, 10"):
        patrol_zones(store, groups, PatrolOptions(category="Burglary", coverage=7.0))


def test_reference_roads_name_streets_inside_a_zone(tmp_path) -> None:
    roads = gpd.GeoDataFrame(
        {"name1": ["High Street", "", None], "roadNumber": ["A4251", "B440", None]},
        geometry=[
            shapely.LineString([(0, 0), (1000, 0)]),
            shapely.LineString([(0, 50), (100, 50)]),
            shapely.LineString([(0, 80), (50, 80)]),
        ],
        crs="EPSG:27700",
    )
    path = tmp_path / "roads.gpkg"
    roads.to_file(path)
    info = add_reference(tmp_path / "store", "roads", path)
    assert (info.features, info.named) == (3, 2)
    stored = read_reference(tmp_path / "store", "roads")
    assert stored is not None and list(stored.columns) == ["name", "ref", "kind", "geometry"]
    # 200 m of High Street, 100 m of the B440 inside the box: longest first.
    box = shapely.box(-10, -10, 190, 100)
    assert names_within(stored, box) == ("High Street (A4251)", "B440")


def test_reference_without_name_columns_is_refused(tmp_path) -> None:
    lines = gpd.GeoDataFrame(
        {"colour": ["red"]}, geometry=[shapely.LineString([(0, 0), (1, 1)])], crs="EPSG:27700"
    )
    path = tmp_path / "lines.geojson"
    lines.to_file(path)
    with pytest.raises(InputError, match=r"no name or road-number column.*found colour"):
        add_reference(tmp_path / "store", "roads", path)
    assert read_reference(tmp_path / "store", "roads") is None


def test_every_candidate_is_described_in_words() -> None:
    names = forecast_candidates(cell_m=250.0)
    words = {name: describe(name, cell_m=250.0) for name in names}
    assert all(words[name] != name for name in names)
    assert words["previous-12-months"] == "last 12 months' counts per 250 m cell"
    assert words["ewma-h6"] == (
        "counts per 250 m cell over the past 12 months, recent months weighted more "
        "(half-life 6 months)"
    )
    # The blend's kernel is max(250 m, 2 cells), the empirical-Bayes neighbourhood max(500 m,
    # 4 cells): 500 m and 1,000 m on 250 m cells.
    assert words["blend-h3-a0.5"].endswith("blended with a 500 m kernel (kernel share 50 %)")
    assert words["eb-h12"].startswith("empirical-Bayes smoothed rates: counts per 250 m cell")
    assert "within 1,000 m" in words["eb-h12"]
    assert bandwidth_of("eb-h12", cell_m=250.0) == 1000.0
    assert bandwidth_of("ewma-h3", cell_m=250.0) is None


def test_close_figures_keep_a_decimal_so_they_never_read_the_same(burglary) -> None:
    # Violence in Hertfordshire: 57.3 % against last year's counts' 56.8 %.
    close = replace(burglary, hit_rate=0.573, baseline_hit_rate=0.568)
    assert close.percents() == ("57.3 %", "56.8 %")
    assert "held 57.3 % of each month's incidents" in close.statement()
    assert close.statement().endswith("Last year's counts alone would have held 56.8 %.")
    assert replace(burglary, hit_rate=0.61, baseline_hit_rate=0.57).percents() == ("61 %", "57 %")


def test_police_uk_apostrophe_capitals_read_as_people_write_them() -> None:
    import geopandas as gpd
    import shapely

    from geo_service.services.patrol import _with_incident_places

    zone = gpd.GeoDataFrame(
        {"zone": [1], "names": [()]}, geometry=[shapely.box(0, 0, 100, 100)], crs="EPSG:27700"
    )
    texts = ["On or near St Peter'S Street"] * 2 + ["On or near O'Shea Close"]
    # points outside the zone are not counted (twice "Far Road" would outrank "O'Shea Close")
    places = pd.DataFrame(
        {
            "text": [*texts, "On or near Far Road", "On or near Far Road"],
            "x": [10.0, 10.0, 10.0, 500.0, 100.5],
            "y": [10.0] * 5,
            "n": [1.0] * 5,
        }
    )
    assert _with_incident_places(zone, places) == [("St Peter's Street", "O'Shea Close")]
    # a counted location stands for its n incidents: three at O'Shea Close outrank two
    counted = places.iloc[1:].assign(n=[1.0, 3.0, 1.0, 1.0])
    assert _with_incident_places(zone, counted) == [("O'Shea Close", "St Peter's Street")]


def test_a_time_of_day_group_reads_the_times_it_selects_on(groups) -> None:
    # The burglaries become violence with injury: those of even rows at 22:00 (night), the
    # others at 14:00. Night-time violence keeps 19:00-06:00, so its zones count the night
    # rows only; the history read once lacked occurred_at and time_known (KeyError).
    frame = incidents()
    violent = frame.index[frame["category"] == "Burglary"]
    frame.loc[violent, "category"] = "Violence and sexual offences"
    frame.loc[violent, "subcategory"] = "Violence with injury"
    night = violent[::2]
    frame.loc[night, "occurred_at"] = frame.loc[night, "occurred_at"] + pd.Timedelta(hours=8)
    found = patrol_zones(
        MemoryStore(frame, {"beat": beats()}),
        groups,
        PatrolOptions(category="Night-time violence", cell_m=100.0),
    )
    kept = frame.loc[night]
    kept = kept[kept["x"].notna()]
    points = gpd.GeoSeries(gpd.points_from_xy(kept["x"], kept["y"]), crs="EPSG:27700")
    months = kept["month"].to_numpy()
    assert len(kept) < (frame["category"] == "Violence and sexual offences").sum()
    for zone in found.zones.itertuples():
        inside = points.within(zone.geometry).to_numpy()
        assert zone.last_year == int((inside & np.isin(months, MONTHS[-12:])).sum())
    assert found.zones["last_year"].sum() > 0
