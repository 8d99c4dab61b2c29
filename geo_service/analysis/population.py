"""Population on the grid and crime rates: areal weighting, rates per 1,000 and the dual KDE.

- :func:`population_surface` spreads each area's residents over the grid cells in proportion
  to the share of the area each cell covers (areal weighting): a cell holding 30 % of a ward's
  area gets 30 % of its residents. The cells' totals sum to the areas' totals (every area lies
  on the grid). Given address points (an ``addresses`` reference layer: OS Open UPRN,
  AddressBase, OpenStreetMap address or building points), it is *dasymetric* instead: each
  area's residents go to the cells in proportion to the area's address points in each cell, so
  fields and parks get none; an area holding no address point falls back to areal weighting
  (:func:`areas_without_addresses` names them).
- :func:`rates_per_1000` divides counts by residents.
- :func:`dual_kde` is Levine's risk-adjusted (dual) kernel density (CrimeStat III, Levine 2004,
  chapter 8 "Kernel density interpolation", the dual "ratio of densities"): the incidents'
  kernel density divided by the population's, with the same kernel and bandwidth, so the
  result is incidents per resident near each cell; cells with fewer residents nearby than a
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
    "areas_without_addresses",
    "dual_kde",
    "population_surface",
    "rates_per_1000",
    "smoothed_population",
]

#: Residents nearby (smoothed density over the kernel's peak) below which the dual KDE is masked.
MIN_RESIDENTS = 50.0


def population_surface(
    grid: Grid,
    areas: gpd.GeoDataFrame,
    *,
    column: str = "population",
    addresses: np.ndarray | None = None,
) -> np.ndarray:
    """Residents per grid cell: areal weighting, or dasymetric by address points.

    Parameters
    ----------
    grid
        The square grid (EPSG:27700).
    areas
        Polygons in EPSG:27700 with a numeric ``column`` (residents); areas with no value are
        left out (their cells get nothing from them).
    column
        The denominator column (default ``"population"``).
    addresses
        Address points (shapely points, EPSG:27700), or None for areal weighting. Each area's
        residents are shared among the cells holding its address points, in proportion to the
        number of points in each; a point on a boundary counts for one area only. An area
        holding no point is spread by areal weighting.

    Returns
    -------
    numpy.ndarray
        Residents per cell, shape ``grid.shape`` (floats; every cell of the raster, inside the
        study area or not). The cells sum to the areas' totals when the grid covers the areas.

    Raises
    ------
    InputError
        ``column`` is missing, negative, or no area has a value.
    """
    values = _denominators(areas, column)
    known = np.isfinite(values)
    geoms = areas.geometry.to_numpy()[known]
    residents = values[known]
    flat = np.zeros(grid.nx * grid.ny)
    areal = np.ones(len(geoms), dtype=bool)
    if addresses is not None and len(addresses):
        area_of, cell_of = _address_cells(grid, geoms, np.asarray(addresses, dtype=object))
        held = np.bincount(area_of, minlength=len(geoms))
        share = residents[area_of] / held[area_of]
        flat += np.bincount(cell_of, weights=share, minlength=flat.size)
        areal = held == 0
    flat += _areal(grid, geoms[areal], residents[areal])
    return flat.reshape(grid.shape)


def areas_without_addresses(
    areas: gpd.GeoDataFrame, addresses: np.ndarray, *, column: str = "population"
) -> list[str]:
    """Codes of the areas with residents but no address point (spread by areal weighting).

    Parameters
    ----------
    areas
        Polygons (EPSG:27700) with ``code`` and ``column``.
    addresses
        Address points (EPSG:27700).
    column
        The denominator column.

    Returns
    -------
    list of str
        The codes, in the layer's order.
    """
    values = pd.to_numeric(areas[column], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(values)
    geoms = areas.geometry.to_numpy()[known]
    _, area_i = _points_in(geoms, np.asarray(addresses, dtype=object))
    held = np.bincount(area_i, minlength=len(geoms))
    codes = areas["code"].astype(str).to_numpy()[known]
    return [str(c) for c in codes[held == 0]]


def _denominators(areas: gpd.GeoDataFrame, column: str) -> np.ndarray:
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
    return values


def _areal(grid: Grid, geoms: np.ndarray, residents: np.ndarray) -> np.ndarray:
    """Flat residents per cell of ``geoms`` spread in proportion to the area each cell covers."""
    size = grid.nx * grid.ny
    if not len(geoms):
        return np.zeros(size)
    per_m2 = residents / shapely.area(geoms)
    cells = grid.boxes().ravel()
    area_i, cell_i = shapely.STRtree(cells).query(geoms, predicate="intersects")
    overlap = shapely.area(shapely.intersection(geoms[area_i], cells[cell_i]))
    return np.bincount(cell_i, weights=overlap * per_m2[area_i], minlength=size)


def _points_in(geoms: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point, area) pairs, each point in one area at most (the first of those it touches)."""
    if not len(points) or not len(geoms):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    point_i, area_i = shapely.STRtree(geoms).query(points, predicate="intersects")
    first = np.unique(point_i, return_index=True)[1]
    return point_i[first], area_i[first]


def _address_cells(
    grid: Grid, geoms: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(area, flat cell) of each address point inside an area and on the grid.

    A point on the edge shared by two areas is kept for the first only, so no resident is
    counted twice.
    """
    point_i, area_i = _points_in(geoms, points)
    cell = grid.cell_index(shapely.get_x(points[point_i]), shapely.get_y(points[point_i]))
    # A point on the grid's outer edge falls outside it: clamp it into the nearest cell, so the
    # area's total is kept whole.
    if (cell < 0).any():
        x = np.clip(shapely.get_x(points[point_i]), grid.x0, grid.x0 + grid.nx * grid.cell_m - 1e-6)
        y = np.clip(shapely.get_y(points[point_i]), grid.y0, grid.y0 + grid.ny * grid.cell_m - 1e-6)
        cell = grid.cell_index(x, y)
    return area_i, cell


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
        Cells with fewer residents nearby are NaN (default :data:`MIN_RESIDENTS`). Residents
        nearby are the smoothed density divided by the kernel's height at its centre
        (``3 / (pi h^2)`` for the quartic): the residents who, all standing on the cell, would
        give the same density; for the quartic about those within ``h / sqrt(3)``.

    Returns
    -------
    numpy.ndarray
        ``1000 * incident_density / population_density`` per cell; NaN where masked.
    """
    if np.shape(incident_density) != grid.shape or np.shape(residents) != grid.shape:
        raise InputError(f"densities must have the grid's shape {grid.shape}")
    population = smoothed_population(residents, grid, bandwidth_m=bandwidth_m, kernel=kernel)
    # Residents "near" a cell: the smoothed density over the kernel's height at its centre, i.e.
    # how many residents standing on the cell would give that density. It does not depend on the
    # cell size, and it is the number the ratio's noise depends on.
    peak_per_km2 = float(kernel_stencil(bandwidth_m, grid.cell_m, kernel=kernel).max()) * 1e6
    enough = population / peak_per_km2 >= min_residents
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(enough, 1000.0 * np.asarray(incident_density) / population, np.nan)
