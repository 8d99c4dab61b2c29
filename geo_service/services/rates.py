"""Rates per 1,000 residents for a category: per area, per grid cell and as a dual KDE.

The denominators are the study layer's ``population`` (see ``boundaries denominators``);
:mod:`geo_service.analysis.population` spreads them over the grid by areal weighting.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from geo_service.analysis.kde import auto_bandwidth_m, kde_surface
from geo_service.analysis.population import (
    MIN_RESIDENTS,
    dual_kde,
    population_surface,
    rates_per_1000,
)
from geo_service.categories import CategoryGroup
from geo_service.errors import DataError
from geo_service.schema import area_column, has_location
from geo_service.services.context import (
    StoreLike,
    formed_group,
    require_incidents,
    study_grid,
    study_layer_name,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Rates:
    """A category's rates per 1,000 residents over a period.

    Attributes
    ----------
    category, layer, month_from, month_to
        What was counted, on which layer, over which months ("YYYY-MM").
    areas
        One row per area: ``code``, ``name``, ``population``, ``count``, ``rate_per_1000``
        (NaN without residents) and the polygons (EPSG:27700).
    cells
        One row per inside grid cell: ``cell``, ``row``, ``col``, ``count``, ``residents``
        (areal weighting), ``rate_per_1000`` (NaN without residents), ``dual_kde_per_1000``
        (Levine's dual KDE; NaN where the smoothed residents are below ``min_residents``) and
        the squares.
    bandwidth_m
        The kernel radius of both densities of the dual KDE.
    min_residents
        Smoothed residents per cell below which the dual KDE is masked.
    """

    category: str
    layer: str
    month_from: str
    month_to: str
    areas: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    bandwidth_m: float
    min_residents: float


def category_rates(
    store: StoreLike,
    groups: Sequence[CategoryGroup],
    category: str,
    *,
    month_from: str,
    month_to: str,
    layer: str | None = None,
    cell_m: float | None = None,
    bandwidth_m: float | None = None,
) -> Rates:
    """Rates per 1,000 residents of ``category`` per area and per cell, and the dual KDE.

    Parameters
    ----------
    store
        The store read.
    groups
        The settings' category groups.
    category
        Category or group name.
    month_from, month_to
        First and last month counted, "YYYY-MM".
    layer
        Study layer; None: the default study layer. It must carry ``population``.
    cell_m
        Grid cell size in metres; None: automatic.
    bandwidth_m
        Kernel radius in metres; None: the automatic bandwidth of the incidents.

    Returns
    -------
    Rates

    Raises
    ------
    DataError
        No study layer, or it has no population, or no located incident.
    """
    require_incidents(store)
    group = formed_group(store, groups, category).group
    name = study_layer_name(store, layer)
    if name is None:
        raise DataError("rates need an area layer with population (boundaries denominators)")
    areas = store.layer(name)
    if not pd.to_numeric(areas["population"], errors="coerce").notna().any():
        raise DataError(f"layer {name!r} has no population; add it with `boundaries denominators`")
    frame = store.incidents(month_from=month_from, month_to=month_to)
    incidents = frame.loc[group.mask(frame)]
    located = incidents.loc[has_location(incidents)]
    if located.empty:
        raise DataError(f"no located incidents of {group.name!r} in {month_from}..{month_to}")
    grid = study_grid(areas, located, cell_m=cell_m)
    x, y = located["x"].to_numpy(float), located["y"].to_numpy(float)
    h = float(bandwidth_m) if bandwidth_m is not None else auto_bandwidth_m(x, y)
    residents = population_surface(grid, areas)
    counts = grid.counts(x, y)
    dual = dual_kde(kde_surface(x, y, grid, bandwidth_m=h), residents, grid, bandwidth_m=h)
    cells = grid.to_geodataframe(
        {
            "count": counts,
            "residents": residents,
            "rate_per_1000": rates_per_1000(counts, residents),
            "dual_kde_per_1000": dual,
        }
    )
    per_area = _area_rates(areas, incidents, name)
    return Rates(group.name, name, month_from, month_to, per_area, cells, h, MIN_RESIDENTS)


def _area_rates(areas: gpd.GeoDataFrame, incidents: pd.DataFrame, layer: str) -> gpd.GeoDataFrame:
    column = area_column(layer)
    counts = incidents[column].value_counts() if column in incidents.columns else pd.Series()
    out = areas[["code", "name", "population", "geometry"]].copy()
    out["count"] = out["code"].map(counts).fillna(0).astype("int64").to_numpy()
    out["rate_per_1000"] = rates_per_1000(out["count"], out["population"])
    return out[["code", "name", "population", "count", "rate_per_1000", "geometry"]]
