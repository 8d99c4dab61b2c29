"""Tests for the analysis grid: extent, automatic cell size, inside mask, counts, cell polygons."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from geo_service.analysis.grid import Grid, auto_cell_m, grid_for, hex_grid_for
from geo_service.errors import InputError
from geo_service.schema import CRS


def test_extent_is_aligned_to_whole_cells() -> None:
    grid = grid_for(box(1030, 2010, 1460, 2240), cell_m=100)
    # floor(1030 / 100) * 100 = 1000, ceil((1460 - 1000) / 100) = 5 columns, rows 2000..2300.
    assert (grid.x0, grid.y0, grid.nx, grid.ny) == (1000, 2000, 5, 3)
    assert grid.shape == (3, 5)
    assert grid.cell_area_km2 == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("width_m", "height_m", "expected_m"),
    [(24_000, 20_000, 100.0), (50_000, 45_000, 250.0), (3_000, 9_000, 25.0), (1_000, 900, 25.0),
     (100_000, 300_000, 1000.0), (12_000, 60_000, 100.0)],
)  # fmt: skip
def test_auto_cell_size_is_shorter_side_over_100_rounded_down(
    width_m: float, height_m: float, expected_m: float
) -> None:
    assert auto_cell_m(box(0, 0, width_m, height_m)) == expected_m


def test_inside_mask_by_centre_and_by_overlap() -> None:
    # A right triangle over a 4 x 4 grid of 1 m cells. Cell (i, j) has centre (i + .5, j + .5),
    # inside (or on the hypotenuse x + y = 4) when i + j <= 3: 4 + 3 + 2 + 1 = 10 cells.
    triangle = Polygon([(0, 0), (4, 0), (0, 4)])
    grid = grid_for(triangle, cell_m=1)
    xc, yc = grid.centres()
    expected = xc + yc <= 4  # centres on the hypotenuse (x + y = 4) touch the boundary
    np.testing.assert_array_equal(grid.inside, expected)
    assert grid.inside.sum() == 10
    overlap = grid_for(triangle, cell_m=1, inside="overlap")
    # Cell [i, i+1] x [j, j+1] meets x + y <= 4 when its lower-left corner does, i + j <= 4:
    # columns i = 0..3 hold 4, 4, 3, 2 such cells.
    assert overlap.inside.sum() == 13


def test_counts_match_numpy_histogram2d() -> None:
    rng = np.random.default_rng(1)
    grid = grid_for(box(0, 0, 1000, 700), cell_m=50)
    x = rng.uniform(-100, 1100, 5000)
    y = rng.uniform(-100, 800, 5000)
    expected, _, _ = np.histogram2d(y, x, bins=[np.arange(0, 701, 50), np.arange(0, 1001, 50)])
    np.testing.assert_array_equal(grid.counts(x, y), expected)
    w = rng.uniform(0, 3, 5000)
    weighted, _, _ = np.histogram2d(
        y, x, bins=[np.arange(0, 701, 50), np.arange(0, 1001, 50)], weights=w
    )
    np.testing.assert_allclose(grid.counts(x, y, w), weighted)


def test_cell_index_edges_and_missing_points() -> None:
    grid = grid_for(box(0, 0, 300, 200), cell_m=100)
    x = np.array([0.0, 99.999, 100.0, 299.9, 300.0, -0.1, np.nan, 150.0])
    y = np.array([0.0, 0.0, 0.0, 199.9, 0.0, 0.0, 10.0, np.inf])
    np.testing.assert_array_equal(grid.cell_index(x, y), [0, 0, 1, 5, -1, -1, -1, -1])


def test_to_geodataframe_keeps_inside_cells_in_flat_order() -> None:
    grid = grid_for(Polygon([(0, 0), (300, 0), (0, 300)]), cell_m=100)
    values = np.arange(9.0).reshape(3, 3)
    frame = grid.to_geodataframe({"value": values})
    assert frame.crs == CRS
    np.testing.assert_array_equal(frame["cell"], np.flatnonzero(grid.inside.ravel()))
    np.testing.assert_array_equal(frame["value"], values.ravel()[frame["cell"]])
    np.testing.assert_allclose(frame.geometry.area, 10_000.0)
    first = frame.geometry.iloc[0]
    assert first.equals(box(0, 0, 100, 100))
    with pytest.raises(InputError, match="expected 3x3 cells"):
        grid.to_geodataframe({"bad": np.zeros(4)})


def test_bad_boundaries_and_sizes_are_refused() -> None:
    with pytest.raises(InputError, match="positive number of metres"):
        grid_for(box(0, 0, 10, 10), cell_m=0)
    with pytest.raises(InputError, match="expected EPSG:27700"):
        grid_for(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs="EPSG:4326"))
    with pytest.raises(InputError, match="empty"):
        grid_for(Polygon())
    with pytest.raises(InputError, match="at most"):
        grid_for(box(0, 0, 1e6, 1e6), cell_m=1)
    with pytest.raises(InputError, match="allowed: centre, overlap"):
        grid_for(box(0, 0, 10, 10), inside="middle")


def test_grid_is_not_mutable() -> None:
    grid = grid_for(box(0, 0, 10, 10), cell_m=5)
    assert isinstance(grid, Grid)
    with pytest.raises(ValueError, match="read-only"):
        grid.inside[0, 0] = False


def test_dacorum_grid_covers_the_district(shared_data: Path) -> None:
    wards = gpd.read_file(shared_data / "ons-boundaries-uk-geojson/dacorum/dacorum_wards.geojson")
    wards = wards.to_crs(CRS)
    grid = grid_for(wards)
    assert grid.cell_m == 100.0  # bbox about 24 x 20 km
    area_km2 = grid.inside.sum() * grid.cell_area_km2
    # SOURCE.md: 212.5 km2; centre-in cells of 100 m match it to well under 1 %.
    assert area_km2 == pytest.approx(wards.union_all().area / 1e6, rel=0.005)
    assert area_km2 == pytest.approx(212.5, rel=0.01)
    assert shapely.box(grid.x0, grid.y0, grid.x0 + grid.nx * 100, grid.y0 + grid.ny * 100).covers(
        wards.union_all()
    )


def test_hexagons_hold_the_points_nearest_their_centres() -> None:
    boundary = Polygon([(0, 0), (3000, 0), (3000, 2000), (0, 2000)])
    hexes = hex_grid_for(boundary, cell_m=200)
    rng = np.random.default_rng(6)
    x, y = rng.uniform(0, 3000, 4000), rng.uniform(0, 2000, 4000)
    index = hexes.cell_index(x, y)
    assert (index >= 0).all()  # the grid covers the whole boundary
    xc, yc = (c.ravel() for c in hexes.centres())
    nearest = np.argmin(np.hypot(x[:, None] - xc[None], y[:, None] - yc[None]), axis=1)
    np.testing.assert_array_equal(index, nearest)
    assert hexes.counts(x, y).sum() == 4000
    assert hexes.cell_index(np.array([np.nan, -1e6]), np.array([0.0, 0.0])).tolist() == [-1, -1]


def test_hexagon_polygons_tile_and_neighbours() -> None:
    hexes = hex_grid_for(box(0, 0, 2000, 2000), cell_m=100)
    frame = hexes.to_geodataframe({"value": np.ones(hexes.shape)})
    area = math.sqrt(3) / 2 * 100**2
    np.testing.assert_allclose(frame.geometry.area, area)
    assert frame.geometry.union_all().area == pytest.approx(len(frame) * area, rel=1e-9)
    # centre-inside hexagons cover the square to within a ragged edge of half a cell
    assert len(frame) * area == pytest.approx(2000 * 2000, rel=0.05)
    neighbours = hexes.neighbours()
    xc, yc = (c.ravel() for c in hexes.centres())
    inner = np.flatnonzero((neighbours >= 0).all(axis=1))
    assert inner.size > 0
    d = np.hypot(xc[neighbours[inner]] - xc[inner, None], yc[neighbours[inner]] - yc[inner, None])
    np.testing.assert_allclose(d, 100.0)
