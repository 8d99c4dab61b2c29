"""The rates service: period, per-area rates against pandas, a dual-KDE cell by hand, the
dasymetric basis from a stored address layer, and the refusal without population."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo_service.categories import load_groups
from geo_service.errors import DataError, InputError
from geo_service.reference import add_reference
from geo_service.services import context
from geo_service.services.rates import describe, rates_for_period
from tests.web.conftest import X0, Y0, MemoryStore, beats

H_M = 400.0


@pytest.fixture(scope="module")
def groups(store):
    return context.page_groups(load_groups(), context.store_summary(store).categories)


def quartic(d: np.ndarray, h: float) -> np.ndarray:
    return np.where(d < h, 3 / (math.pi * h * h) * (1 - (d / h) ** 2) ** 2, 0.0)


def test_rates_for_period_against_pandas(store, groups) -> None:
    rates = rates_for_period(store, groups, "Burglary", months=6, cell_m=100.0, bandwidth_m=H_M)
    assert (rates.month_from, rates.month_to) == ("2013-02", "2013-07")
    frame = store.incidents(month_from="2013-02", month_to="2013-07")
    by_beat = frame.loc[frame["category"] == "Burglary", "area_beat"].value_counts()
    areas = rates.areas.set_index("code")
    population = {"D1A": 4000.0, "D1B": 6000.0, "D2A": 5000.0}
    for code, residents in population.items():
        assert areas.loc[code, "count"] == by_beat.get(code, 0)
        expected = 1000.0 * by_beat.get(code, 0) / residents
        assert areas.loc[code, "rate_per_1000"] == pytest.approx(expected, rel=1e-12)
    assert np.isnan(areas.loc["D2B", "rate_per_1000"])
    assert rates.weighting == "areal" and rates.meta["weighting"] == "areal"
    assert rates.meta["bandwidth_m"] == H_M and rates.meta["min_residents"] == 50.0
    assert rates.meta["denominator"] == "population of layer 'beat'"
    assert "areal weighting" in describe(rates) and "400 m" in describe(rates)


def test_dual_kde_cell_by_hand(store, groups) -> None:
    rates = rates_for_period(store, groups, "Burglary", months=6, cell_m=100.0, bandwidth_m=H_M)
    frame = store.incidents(month_from="2013-02", month_to="2013-07")
    # the located burglaries in a beat: one outside every beat is in no rate
    in_beat = frame["area_beat"].isin(rates.areas["code"])
    burglary = frame.loc[(frame["category"] == "Burglary") & frame["x"].notna() & in_beat]
    outside = (frame["category"] == "Burglary") & frame["x"].notna() & ~in_beat
    assert outside.sum() > 0 and rates.cells["count"].sum() == len(burglary)
    cells = rates.cells
    centre = cells.geometry.centroid
    # the cell of most incidents near it; residents as areal weighting puts them (100 m cells
    # inside 1 km beats: 1 % of the beat's residents each)
    best = cells.loc[cells["dual_kde_per_1000"].idxmax()]
    cx, cy = centre.loc[best.name].x, centre.loc[best.name].y
    incidents = quartic(np.hypot(burglary["x"] - cx, burglary["y"] - cy), H_M).sum()
    people = quartic(np.hypot(centre.x - cx, centre.y - cy), H_M) * cells["residents"]
    expected = 1000.0 * incidents / people.sum()
    # the incidents' density is binned (within 1 % of the peak), the residents sit at centres
    assert best["dual_kde_per_1000"] == pytest.approx(expected, rel=0.02)
    one = cells.loc[cells.geometry.centroid.distance(shapely.Point(X0 + 550, Y0 + 550)).idxmin()]
    assert one["residents"] == pytest.approx(4000.0 / 100, rel=1e-9)


def test_dasymetric_from_the_stored_address_layer(tmp_path, frame, groups) -> None:
    # D1A's residents all live in two addresses at (X0+50, Y0+50) and one at (X0+950, Y0+950);
    # D1B holds one; D2A none (areal weighting, named in a note).
    points = [(X0 + 50, Y0 + 50), (X0 + 60, Y0 + 40), (X0 + 950, Y0 + 950), (X0 + 1500, Y0 + 500)]
    layer = gpd.GeoDataFrame(geometry=[shapely.Point(p) for p in points], crs=27700)
    layer.to_file(tmp_path / "uprn.gpkg")
    add_reference(tmp_path, "addresses", tmp_path / "uprn.gpkg")
    memory = MemoryStore(frame, {"beat": beats()})
    memory.root = tmp_path
    rates = rates_for_period(memory, groups, "Burglary", months=6, cell_m=100.0, bandwidth_m=H_M)
    cells = rates.cells.set_index(["row", "col"])["residents"]
    row0 = round((Y0 - rates.cells.geometry.bounds["miny"].min()) / 100)
    col0 = round((X0 - rates.cells.geometry.bounds["minx"].min()) / 100)
    assert cells[(row0, col0)] == pytest.approx(4000.0 * 2 / 3, abs=1e-9)
    assert cells[(row0 + 9, col0 + 9)] == pytest.approx(4000.0 / 3, abs=1e-9)
    assert cells[(row0 + 5, col0 + 15)] == pytest.approx(6000.0, abs=1e-9)
    assert cells[(row0 + 15, col0 + 5)] == pytest.approx(5000.0 / 100, abs=1e-9)  # D2A areal
    assert rates.cells["residents"].sum() == pytest.approx(15000.0, abs=1e-9)
    assert rates.weighting == "dasymetric" and rates.meta["address_points"] == 4
    assert rates.notes and "D2A" in rates.notes[0] and "areal weighting" in rates.notes[0]
    assert "D2B" not in rates.notes[0]  # no residents to place


def test_refused_without_population_naming_the_command(frame, groups) -> None:
    bare = MemoryStore(frame, {"beat": beats().drop(columns="population")})
    with pytest.raises(DataError, match="geo-service boundaries denominators beat") as caught:
        rates_for_period(bare, groups, "Burglary")
    assert caught.value.exit_code == 3 and caught.value.http_status == 422


def test_address_layer_takes_points_and_building_polygons_and_refuses_lines(tmp_path) -> None:
    footprints = [shapely.box(0, 0, 10, 10), shapely.Point(50, 50), shapely.box(20, 0, 30, 4)]
    layer = gpd.GeoDataFrame({"uprn": [1, 2, 3]}, geometry=footprints, crs=27700)
    layer.to_file(tmp_path / "buildings.gpkg")
    info = add_reference(tmp_path, "addresses", tmp_path / "buildings.gpkg")
    assert info.features == 3 and info.dropped == 0
    stored = gpd.read_parquet(info.path)
    assert (stored.geom_type == "Point").all()
    assert all(
        f.contains(p) or f.equals(p) for f, p in zip(footprints, stored.geometry, strict=True)
    )
    lines = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=27700)
    lines.to_file(tmp_path / "lines.gpkg")
    with pytest.raises(InputError, match="no point or polygon features"):
        add_reference(tmp_path, "addresses", tmp_path / "lines.gpkg")


def test_rates_from_the_density_cube_are_the_rows_rates(demo_store, tmp_path) -> None:
    # A Store reads the layer's density cube (counted locations, with n); the same store seen
    # as rows (RowsOnly) gives the same rates per area, counts per cell and dual KDE.
    import shutil

    import pandas as pd

    from geo_service.store import Store
    from tests.stores import RowsOnly

    root = tmp_path / "store"
    shutil.copytree(demo_store.root, root, symlinks=True)
    store = Store(root)
    groups = context.page_groups(load_groups(), context.store_summary(store).categories)
    kwargs = {"months": 12, "period_end": "2013-07", "layer": "beat"}
    cubed = rates_for_period(store, groups, "Dwelling burglary", **kwargs)
    rows = rates_for_period(RowsOnly(store), groups, "Dwelling burglary", **kwargs)
    pd.testing.assert_frame_equal(
        pd.DataFrame(cubed.areas.drop(columns="geometry")),
        pd.DataFrame(rows.areas.drop(columns="geometry")),
        check_exact=True,
    )
    assert cubed.areas["count"].sum() > 50
    from geo_service.store.layout import version_path

    assert (version_path(root, str(store.version())) / "cube_density_beat.parquet").is_file()
    np.testing.assert_array_equal(cubed.cells["count"], rows.cells["count"])
    np.testing.assert_array_equal(cubed.cells["residents"], rows.cells["residents"])
    assert cubed.bandwidth_m == pytest.approx(rows.bandwidth_m, rel=1e-12)
    assert cubed.dual_surface is not None and rows.dual_surface is not None
    assert np.allclose(cubed.dual_surface, rows.dual_surface, rtol=1e-9, equal_nan=True)
