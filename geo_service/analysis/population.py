"""Population on the grid and crime rates: areal weighting, rates per 1,000 and the dual KDE.

- :func:`population_surface` spreads each area's residents over the grid cells in proportion
  to the share of the area each cell covers (areal weighting): a cell holding 30 % of a ward's
  area gets 30 % of its residents. The cells' totals sum to the areas' totals (every area lies
  on the grid). Dasymetric weighting (residents only where buildings or addresses are) needs a
  building or address layer, which the product does not load; see docs/rates.md.
- :func:`rates_per_1000` divides counts by residents.
- :func:`dual_kde` is Levine's risk-adjusted (dual) kernel density (CrimeStat III, Levine 2004,
  chapter 8 "Kernel density interpolation", the dual "ratio of densities"): the incidents'
  kernel density divided by the population's, with the same kernel and bandwidth, so the
  result is incidents per resident near each cell; cells whose smoothed population is below a
  threshold are masked (NaN), since a ratio over a handful of residents is noise.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service.analysis.grid import Grid
from geo_service.analysis.kde import kernel_stencil
from geo_service.errors import InputError

__all__ = [
    "MIN_RESIDENTS",
    "dual_kde",
    "population_surface",
    "rates_per_1000",
    "smoothed_population",
]

#: Smoothed residents per cell below which the dual KDE is masked.
MIN_RESIDENTS = 50.0


def population_surface(
    grid: Grid, areas: gpd.GeoDataFrame, *, column: str = "population"
) -> np.ndarray:
    """Residents per grid cell by areal weighting of each area's ``column``.

    Parameters
    ----------
    grid
        The square grid (EPSG:27700).
    areas
        Polygons in EPSG:27700 with a numeric ``column`` (residents); areas with no value are
        left out (their cells get nothing from them).
    column
        The denominator column (default ``"population"``).

    Returns
    -------
    numpy.ndarray
        Residents per cell, shape ``grid.shape`` (floats; every cell of the raster, inside the
        study area or not).

    Raises
    ------
    InputError
        ``column`` is missing, negative, or no area has a value.
    """
    if column not in areas.columns:
        raise InputError(
            f"the layer has no {column!r} column; add it with `boundaries denominators`"
        )
    values = pd.to_numeric(areas[column], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(values)
    if not known.any():
        raise InputError(f"no area of the layer has a {column!r} value")
    if (values[known] < 0).any():
        raise InputError(f"{column!r} must be non-negative")
    geoms = areas.geometry.to_numpy()[known]
    per_m2 = values[known] / shapely.area(geoms)
    cells = grid.boxes().ravel()
    area_i, cell_i = shapely.STRtree(cells).query(geoms, predicate="intersects")
    overlap = shapely.area(shapely.intersection(geoms[area_i], cells[cell_i]))
    flat = np.bincount(cell_i, weights=overlap * per_m2[area_i], minlength=grid.nx * grid.ny)
    return flat.reshape(grid.shape)


def rates_per_1000(counts: np.ndarray | pd.Series, residents: np.ndarray | pd.Series) -> np.ndarray:
    """Incidents per 1,000 residents; NaN where there are no residents.

    Parameters
    ----------
    counts, residents
        Same shape: incidents and residents per area or cell.

    Returns
    -------
    numpy.ndarray
        ``1000 * counts / residents`` (NaN where ``residents`` is 0 or missing).
    """
    c = np.asarray(counts, dtype=float)
    r = np.asarray(residents, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(r > 0, 1000.0 * c / r, np.nan)


def smoothed_population(
    residents: np.ndarray, grid: Grid, *, bandwidth_m: float, kernel: str = "quartic"
) -> np.ndarray:
    """Kernel density of the residents (placed at cell centres), residents per km^2.

    Parameters
    ----------
    residents
        Residents per cell, shape ``grid.shape`` (:func:`population_surface`).
    grid
        The grid.
    bandwidth_m
        Kernel radius (quartic) or standard deviation (Gaussian), metres.
    kernel
        ``"quartic"`` (default) or ``"gaussian"``.

    Returns
    -------
    numpy.ndarray
        Residents per km^2 near each cell centre, shape ``grid.shape``.
    """
    from scipy.signal import fftconvolve

    stencil = kernel_stencil(bandwidth_m, grid.cell_m, kernel=kernel)
    smooth = fftconvolve(np.asarray(residents, dtype=float), stencil, mode="same")
    return (
        np.where(smooth < 1e-12 * stencil.max() * max(float(np.sum(residents)), 1.0), 0.0, smooth)
        * 1e6
    )


def dual_kde(
    incident_density: np.ndarray,
    residents: np.ndarray,
    grid: Grid,
    *,
    bandwidth_m: float,
    kernel: str = "quartic",
    min_residents: float = MIN_RESIDENTS,
) -> np.ndarray:
    """Levine's dual (risk-adjusted) KDE: incidents per 1,000 residents near each cell.

    Parameters
    ----------
    incident_density
        The incidents' kernel density, incidents per km^2
        (:func:`~geo_service.analysis.kde.kde_surface` with the same ``bandwidth_m`` and
        ``kernel``).
    residents
        Residents per cell (:func:`population_surface`).
    grid
        The grid.
    bandwidth_m, kernel
        The kernel, the same as the incidents'.
    min_residents
        Cells whose smoothed residents (per km^2 times the cell's area) are below this are NaN
        (default :data:`MIN_RESIDENTS`).

    Returns
    -------
    numpy.ndarray
        ``1000 * incident_density / population_density`` per cell; NaN where masked.
    """
    if np.shape(incident_density) != grid.shape or np.shape(residents) != grid.shape:
        raise InputError(f"densities must have the grid's shape {grid.shape}")
    population = smoothed_population(residents, grid, bandwidth_m=bandwidth_m, kernel=kernel)
    enough = population * grid.cell_area_km2 >= min_residents
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(enough, 1000.0 * np.asarray(incident_density) / population, np.nan)
