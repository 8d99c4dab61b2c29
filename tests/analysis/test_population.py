"""Tests for the population surface, rates per 1,000 and Levine's dual KDE."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Polygon, box

from geo_service.analysis.grid import Grid
from geo_service.analysis.kde import kde_surface
from geo_service.analysis.population import (
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
    people = smoothed_population(residents, grid, bandwidth_m=150.0) * grid.cell_area_km2
    assert np.array_equal(np.isnan(dual), people < 50.0)
    assert np.isfinite(dual[0, 0]) and np.isnan(dual[3, 3])
