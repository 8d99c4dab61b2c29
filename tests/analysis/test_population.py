"""Tests for the population surface, rates per 1,000 and Levine's dual KDE."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from geo_service.analysis.grid import Grid
from geo_service.analysis.kde import kde_surface
from geo_service.analysis.population import (
    areas_without_addresses,
    dual_kde,
    population_surface,
    rates_per_1000,
    smoothed_population,
)
from geo_service.errors import InputError


def grid4() -> Grid:
    """A 4 x 4 grid of 100 m cells from (0, 0)."""
    return Grid(x0=0.0, y0=0.0, cell_m=100.0, nx=4, ny=4, inside=np.ones((4, 4), dtype=bool))


def areas() -> gpd.GeoDataFrame:
    """Two areas: the left half of the grid (1,000 residents) and an odd polygon (333)."""
    return gpd.GeoDataFrame(
        {"code": ["A", "B"], "name": ["a", "b"], "population": [1000.0, 333.0]},
        geometry=[box(0, 0, 200, 400), Polygon([(200, 0), (400, 0), (400, 250), (250, 130)])],
        crs=27700,
    )


def test_areal_weighting_by_hand() -> None:
    surface = population_surface(grid4(), areas())
    # area A covers 8 whole cells: 125 residents each
    np.testing.assert_allclose(surface[:, :2], 125.0)
    # cell (row 3, col 3) is outside both areas
    assert surface[3, 3] == 0.0


def test_areal_weighting_preserves_area_totals() -> None:
    layer = areas()
    surface = population_surface(grid4(), layer)
    assert abs(surface.sum() - layer["population"].sum()) <= 1e-9
    only_b = population_surface(grid4(), layer.iloc[[1]])
    assert abs(only_b.sum() - 333.0) <= 1e-9
    assert abs(surface[:, 2:].sum() - 333.0) <= 1e-9


def test_areas_without_population_are_left_out_and_no_column_is_refused() -> None:
    layer = areas()
    layer.loc[1, "population"] = np.nan
    assert population_surface(grid4(), layer).sum() == pytest.approx(1000.0, abs=1e-9)
    with pytest.raises(InputError, match="boundaries denominators"):
        population_surface(grid4(), layer.drop(columns="population"))


def test_dasymetric_weighting_by_hand() -> None:
    # A (1,000 residents, left half) holds 4 address points: 3 in cell (0, 0), 1 in cell (2, 1);
    # B (333) holds none and falls back to areal weighting.
    points = np.array(
        [Point(10, 10), Point(50, 50), Point(90, 20), Point(150, 250), Point(390, 390)]
    )
    layer = areas()
    surface = population_surface(grid4(), layer, addresses=points)
    assert surface[0, 0] == pytest.approx(750.0, abs=1e-9)
    assert surface[2, 1] == pytest.approx(250.0, abs=1e-9)
    assert surface[:, :2].sum() == pytest.approx(1000.0, abs=1e-9)
    # B as by areal weighting alone; the point at (390, 390) lies in no area and counts nowhere
    np.testing.assert_allclose(
        surface[:, 2:], population_surface(grid4(), layer.iloc[[1]])[:, 2:], atol=1e-12
    )
    assert abs(surface.sum() - 1333.0) <= 1e-9
    assert areas_without_addresses(layer, points) == ["B"]


def test_dasymetric_counts_a_boundary_point_once_and_keeps_totals() -> None:
    # Points on A's and B's shared edge (x = 200) and on the grid's outer edge (x = 0, y = 400)
    points = np.array([Point(200, 50), Point(0, 400), Point(300, 50), Point(300, 60)])
    layer = areas()
    surface = population_surface(grid4(), layer, addresses=points)
    assert abs(surface.sum() - 1333.0) <= 1e-9
    assert abs(surface[:, :2].sum() + surface[:, 2:].sum() - 1333.0) <= 1e-9
    # A's points: (200, 50) -> A (the first area it touches) in cell (0, 2); (0, 400) -> cell (3, 0)
    assert surface[3, 0] == pytest.approx(500.0, abs=1e-9)
    assert surface[0, 2] == pytest.approx(500.0, abs=1e-9)
    # B's two points are both in cell (0, 3)
    assert surface[0, 3] == pytest.approx(333.0, abs=1e-9)
    assert np.count_nonzero(surface) == 3


def test_dasymetric_on_random_points_preserves_every_area_total() -> None:
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 400, size=(200, 2))
    points = shapely.points(xy)
    layer = areas()
    for code, population in (("A", 1000.0), ("B", 333.0)):
        one = layer.loc[layer["code"] == code]
        assert abs(population_surface(grid4(), one, addresses=points).sum() - population) <= 1e-9
    # each cell of A gets A's residents times its share of A's points
    in_a = shapely.contains_xy(layer.geometry.iloc[0], xy[:, 0], xy[:, 1])
    cells = Grid.counts(grid4(), xy[in_a, 0], xy[in_a, 1])
    expected = 1000.0 * cells / in_a.sum()
    got = population_surface(grid4(), layer.iloc[[0]], addresses=points)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_rates_per_1000() -> None:
    np.testing.assert_allclose(
        rates_per_1000([5, 0, 3], [2500, 100, 0]), [2.0, 0.0, np.nan], equal_nan=True
    )


def quartic(d: float, h: float) -> float:
    return 3 / (math.pi * h * h) * (1 - (d / h) ** 2) ** 2 if d < h else 0.0


def test_dual_kde_is_the_ratio_of_two_direct_kernel_sums() -> None:
    grid = grid4()
    h = 250.0
    # incidents at cell centres, so the direct sums are exact whatever the binning
    px = np.array([50.0, 50.0, 150.0, 350.0])
    py = np.array([50.0, 50.0, 250.0, 150.0])
    residents = population_surface(grid, areas())
    density = kde_surface(px, py, grid, bandwidth_m=h)
    dual = dual_kde(density, residents, grid, bandwidth_m=h, min_residents=0.0)
    xc, yc = grid.centres()
    for r in range(4):
        for c in range(4):
            cx, cy = xc[r, c], yc[r, c]
            crime = sum(quartic(math.hypot(cx - x, cy - y), h) for x, y in zip(px, py, strict=True))
            people = sum(
                residents[i, j] * quartic(math.hypot(cx - xc[i, j], cy - yc[i, j]), h)
                for i in range(4)
                for j in range(4)
            )
            assert dual[r, c] == pytest.approx(1000 * crime / people, rel=1e-9)
            assert smoothed_population(residents, grid, bandwidth_m=h)[r, c] == pytest.approx(
                people * 1e6, rel=1e-9
            )


def test_dual_kde_masks_cells_of_few_residents() -> None:
    grid = grid4()
    residents = np.zeros((4, 4))
    residents[0, 0] = 1000.0
    density = kde_surface(np.array([50.0]), np.array([50.0]), grid, bandwidth_m=150.0)
    dual = dual_kde(density, residents, grid, bandwidth_m=150.0, min_residents=50.0)
    # residents nearby: smoothed density over the quartic's peak 3 / (pi h^2)
    peak_per_km2 = 3 / (math.pi * 150.0**2) * 1e6
    people = smoothed_population(residents, grid, bandwidth_m=150.0) / peak_per_km2
    assert people[0, 0] == pytest.approx(1000.0, rel=1e-9)
    # (1, 1) is 141 m away: 1000 * (1 - (141.4 / 150)^2)^2 = 12.3 residents nearby, masked
    assert people[1, 1] == pytest.approx(1000 * (1 - 20000 / 22500) ** 2, rel=1e-9)
    assert np.array_equal(np.isnan(dual), people < 50.0)
    assert np.isfinite(dual[0, 0]) and np.isfinite(dual[0, 1]) and np.isnan(dual[1, 1])
    assert np.isnan(dual[3, 3])
