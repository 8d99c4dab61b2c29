"""Hotspot layers for a category page: density, clusters, Gi* hot cells, emerging classes, accuracy.

Framework-free like :mod:`geo_service.web.services`: it picks the incidents of the two periods
and calls :mod:`geo_service.analysis` (grid, kernel density, class breaks, clusters, Gi*,
emerging hotspots, backtest). The density class breaks are computed once from both periods'
surfaces, so the previous and current maps share their classes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.analysis import emerging, evaluation, gistar, kde
from geo_service.analysis.clusters import dbscan_clusters
from geo_service.analysis.counts import select
from geo_service.analysis.grid import Grid, grid_for
from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup
from geo_service.schema import CRS, has_location

log = logging.getLogger(__name__)

#: Class-break method of the density map: head/tail breaks suit crime's heavy-tailed densities.
BREAKS = "head_tail"
#: Emerging-hotspot classes drawn (the hot ones; cold spots are not patrol targets).
DRAWN_KIND = "hot spot"
#: Percentage of the study area a hotspot map's top cells cover when scoring it.
COVERAGE_PCT = 5.0


@dataclass(frozen=True, eq=False)
class Hotspots:
    """The hotspot layers of one category and period pair."""

    grid: Grid
    surface: np.ndarray
    breaks: np.ndarray
    bandwidth_m: float
    clusters: gpd.GeoDataFrame
    hot_cells: gpd.GeoDataFrame
    emerging: gpd.GeoDataFrame
    accuracy: evaluation.Accuracy | None


def hotspots_for(
    incidents: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    group: CategoryGroup,
    previous: Period,
    current: Period,
) -> Hotspots:
    """Density (current period), clusters, Gi* hot cells, emerging classes and accuracy."""
    grid = grid_for(areas)
    before = _located(select(incidents, group=group, period=previous))
    after = _located(select(incidents, group=group, period=current))
    bandwidth = _bandwidth(after, before)
    surface_before = _surface(before, grid, bandwidth)
    surface_after = _surface(after, grid, bandwidth)
    inside = grid.inside
    breaks = kde.class_breaks([surface_before[inside], surface_after[inside]], method=BREAKS)
    clusters = _clusters(after, areas)
    accuracy = _accuracy(pd.concat([before, after]), grid, bandwidth_m=bandwidth, current=current)
    return Hotspots(
        grid=grid,
        surface=surface_after,
        breaks=breaks,
        bandwidth_m=bandwidth,
        clusters=clusters,
        hot_cells=_hot_cells(after, grid),
        emerging=_emerging(pd.concat([before, after]), grid, Period(previous.start, current.end)),
        accuracy=accuracy,
    )


def clip_to(spots: Hotspots, area: gpd.GeoDataFrame) -> Hotspots:
    """``spots`` with only the clusters and cells that touch ``area``."""
    shape = area.geometry.union_all()

    def touching(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return frame[frame.intersects(shape)] if len(frame) else frame

    return Hotspots(
        grid=spots.grid,
        surface=spots.surface,
        breaks=spots.breaks,
        bandwidth_m=spots.bandwidth_m,
        clusters=touching(spots.clusters),
        hot_cells=touching(spots.hot_cells),
        emerging=touching(spots.emerging),
        accuracy=spots.accuracy,
    )


def _located(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[has_location(frame)]


def _bandwidth(after: pd.DataFrame, before: pd.DataFrame) -> float:
    # One bandwidth for both periods, so their surfaces (and shared breaks) compare.
    points = after if len(after) >= 2 else before
    if len(points) < 2:
        return kde.POLICE_UK_MIN_BANDWIDTH_M
    return float(kde.auto_bandwidth_m(points["x"].to_numpy(), points["y"].to_numpy()))


def _surface(points: pd.DataFrame, grid: Grid, bandwidth_m: float) -> np.ndarray:
    x = points["x"].to_numpy(dtype=float)
    y = points["y"].to_numpy(dtype=float)
    return kde.kde_surface(x, y, grid, bandwidth_m=bandwidth_m)


def _clusters(points: pd.DataFrame, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if len(points) < 10:
        return _empty_cells()
    x = points["x"].to_numpy(dtype=float)
    y = points["y"].to_numpy(dtype=float)
    return dbscan_clusters(x, y, areas=areas)


def _accuracy(
    incidents: pd.DataFrame, grid: Grid, *, bandwidth_m: float, current: Period
) -> evaluation.Accuracy | None:
    """Backtest of the density map (this bandwidth): each month of the current period predicted."""
    if len(incidents) < 2:
        return None
    name = f"kde-{bandwidth_m:.0f}m"
    methods = {name: evaluation.kde_method(bandwidth_m=bandwidth_m)}
    return evaluation.accuracy_for(
        incidents,
        grid,
        method=name,
        methods=methods,
        last_month=current.end,
        months=current.n_months,
        coverage=COVERAGE_PCT,
    )


def _hot_cells(points: pd.DataFrame, grid: Grid) -> gpd.GeoDataFrame:
    """Grid cells that are Gi* hot spots (90 % or more, FDR) on the current period's counts."""
    if len(points) < 10 or grid.inside.sum() < 3:
        return _empty_cells()
    counts = grid.counts(points["x"].to_numpy(dtype=float), points["y"].to_numpy(dtype=float))
    cells = gistar.gi_star_grid(grid, counts, permutations=0)
    return cells.loc[cells["bin"] > 0, ["count", "label", "geometry"]].reset_index(drop=True)


def _emerging(points: pd.DataFrame, grid: Grid, period: Period) -> gpd.GeoDataFrame:
    """Emerging-hotspot class of each cell from monthly Gi* over both periods (hot ones only)."""
    if len(points) < 10 or period.n_months < 3 or grid.inside.sum() < 3:
        return _empty_cells()
    inside = grid.inside.ravel()
    months = points["month"].astype(str).to_numpy()
    x, y = points["x"].to_numpy(dtype=float), points["y"].to_numpy(dtype=float)
    steps = np.stack(
        [grid.counts(x[months == m], y[months == m]).ravel()[inside] for m in period.months]
    )
    classes = emerging.emerging_hotspots(steps, gistar.grid_weights(grid))
    cells = grid.to_geodataframe()
    cells["pattern"] = classes["pattern"].to_numpy()
    hot = cells["pattern"].astype(str).str.endswith(DRAWN_KIND)
    return cells.loc[hot, ["pattern", "geometry"]].reset_index(drop=True)


def _empty_cells() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"count": pd.Series(dtype="int64")}, geometry=[], crs=CRS)
